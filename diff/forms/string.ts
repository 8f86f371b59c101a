/**
 * The string family: MOVS, CMPS, STOS, LODS, SCAS (byte and operand size),
 * with and without REP/REPE/REPNE, address-size and segment-override
 * prefixes (the override applies to the ds:rsi source only).
 *
 * Flags: CMPS and SCAS set all six status flags like CMP; the others change
 * none. All read DF.
 *
 * @module
 */
import { defineForms } from "../encodings.ts";

const CMP = { reads: "D", writes: "OSZAPC" };
const MOVE = { reads: "D" };

/** The string family. */
export const STRING = defineForms("string", [
  { mnemonic: "movsb", opcode: [0xa4], operands: [], flags: MOVE, rep: "rep", special: "string" },
  { mnemonic: "movs", opcode: [0xa5], operands: [], size: "v", flags: MOVE, rep: "rep", special: "string" },
  { mnemonic: "cmpsb", opcode: [0xa6], operands: [], flags: CMP, rep: "repcc", special: "string" },
  { mnemonic: "cmps", opcode: [0xa7], operands: [], size: "v", flags: CMP, rep: "repcc", special: "string" },
  { mnemonic: "stosb", opcode: [0xaa], operands: [], flags: MOVE, rep: "rep", special: "string" },
  { mnemonic: "stos", opcode: [0xab], operands: [], size: "v", flags: MOVE, rep: "rep", special: "string" },
  { mnemonic: "lodsb", opcode: [0xac], operands: [], flags: MOVE, rep: "rep", special: "string" },
  { mnemonic: "lods", opcode: [0xad], operands: [], size: "v", flags: MOVE, rep: "rep", special: "string" },
  { mnemonic: "scasb", opcode: [0xae], operands: [], flags: CMP, rep: "repcc", special: "string" },
  { mnemonic: "scas", opcode: [0xaf], operands: [], size: "v", flags: CMP, rep: "repcc", special: "string" },
]);
