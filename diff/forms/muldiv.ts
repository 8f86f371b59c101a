/**
 * The multiply and divide family: MUL, IMUL (one, two and three operands),
 * DIV, IDIV.
 *
 * Flags: MUL and IMUL define CF and OF; SF, ZF, AF and PF are undefined.
 * DIV and IDIV leave all six status flags undefined (SDM and APM). A
 * quotient that does not fit, or a zero divisor, raises #DE: the generator
 * sometimes zeroes the dividend's high half so that some divisions complete.
 *
 * @module
 */
import { defineForms } from "../encodings.ts";

const MUL = { writes: "OC", undefined: "SZAP" };
const DIV = { undefined: "OSZAPC" };

/** The muldiv family. */
export const MULDIV = defineForms("muldiv", [
  { mnemonic: "mul", opcode: [0xf6], ext: 4, operands: ["Eb"], flags: MUL, writes: [] },
  { mnemonic: "mul", opcode: [0xf7], ext: 4, operands: ["Ev"], flags: MUL, writes: [] },
  { mnemonic: "imul", opcode: [0xf6], ext: 5, operands: ["Eb"], flags: MUL, writes: [] },
  { mnemonic: "imul", opcode: [0xf7], ext: 5, operands: ["Ev"], flags: MUL, writes: [] },
  { mnemonic: "div", opcode: [0xf6], ext: 6, operands: ["Eb"], flags: DIV, writes: [], special: "div" },
  { mnemonic: "div", opcode: [0xf7], ext: 6, operands: ["Ev"], flags: DIV, writes: [], special: "div" },
  { mnemonic: "idiv", opcode: [0xf6], ext: 7, operands: ["Eb"], flags: DIV, writes: [], special: "div" },
  { mnemonic: "idiv", opcode: [0xf7], ext: 7, operands: ["Ev"], flags: DIV, writes: [], special: "div" },
  { mnemonic: "imul", opcode: [0x0f, 0xaf], operands: ["Gv", "Ev"], flags: MUL },
  { mnemonic: "imul", opcode: [0x69], operands: ["Gv", "Ev", "Iz"], flags: MUL },
  { mnemonic: "imul", opcode: [0x6b], operands: ["Gv", "Ev", "Ibs"], flags: MUL },
]);
