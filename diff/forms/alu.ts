/**
 * The integer ALU family: ADD OR ADC SBB AND SUB XOR CMP in all their
 * encodings, TEST, INC, DEC, NOT and NEG.
 *
 * Flags (Intel SDM vol. 2, AMD APM vol. 3, "Flags Affected"): ADD, ADC, SUB,
 * SBB, CMP and NEG set all six status flags; AND, OR, XOR and TEST clear OF
 * and CF, set SF, ZF and PF, and leave AF undefined; INC and DEC leave CF
 * alone; NOT changes no flag.
 *
 * @module
 */
import { defineForms, type FormSpec } from "../encodings.ts";

const ARITH = { writes: "OSZAPC" };
const LOGIC = { writes: "OSZPC", undefined: "A", note: "SDM/APM: AF undefined after AND, OR, XOR, TEST" };
const OPS = [
  { name: "add", flags: ARITH },
  { name: "or", flags: LOGIC },
  { name: "adc", flags: { ...ARITH, reads: "C" } },
  { name: "sbb", flags: { ...ARITH, reads: "C" } },
  { name: "and", flags: LOGIC },
  { name: "sub", flags: ARITH },
  { name: "xor", flags: LOGIC },
  { name: "cmp", flags: ARITH },
] as const;

function binary(): FormSpec[] {
  const out: FormSpec[] = [];
  OPS.forEach(({ name, flags }, k) => {
    const isCmp = name === "cmp";
    const writes = isCmp ? [] : undefined;
    const lock = !isCmp;
    const base = 8 * k;
    out.push(
      { mnemonic: name, opcode: [base], operands: ["Eb", "Gb"], flags, writes, lock },
      { mnemonic: name, opcode: [base + 1], operands: ["Ev", "Gv"], flags, writes, lock },
      { mnemonic: name, opcode: [base + 2], operands: ["Gb", "Eb"], flags, writes },
      { mnemonic: name, opcode: [base + 3], operands: ["Gv", "Ev"], flags, writes },
      { mnemonic: name, opcode: [base + 4], operands: ["AL", "Ib"], flags, writes },
      { mnemonic: name, opcode: [base + 5], operands: ["rAX", "Iz"], flags, writes },
      { mnemonic: name, opcode: [0x80], ext: k, operands: ["Eb", "Ib"], flags, writes, lock },
      { mnemonic: name, opcode: [0x81], ext: k, operands: ["Ev", "Iz"], flags, writes, lock },
      { mnemonic: name, opcode: [0x82], ext: k, operands: ["Eb", "Ib"], flags, writes, lock, modes: ["16", "32"] },
      { mnemonic: name, opcode: [0x83], ext: k, operands: ["Ev", "Ibs"], flags, writes, lock },
    );
  });
  return out;
}

const TEST = { ...LOGIC };
const INCDEC = { writes: "OSZAP" };

/** The alu family. */
export const ALU = defineForms("alu", [
  ...binary(),
  { mnemonic: "test", opcode: [0x84], operands: ["Eb", "Gb"], flags: TEST, writes: [] },
  { mnemonic: "test", opcode: [0x85], operands: ["Ev", "Gv"], flags: TEST, writes: [] },
  { mnemonic: "test", opcode: [0xa8], operands: ["AL", "Ib"], flags: TEST, writes: [] },
  { mnemonic: "test", opcode: [0xa9], operands: ["rAX", "Iz"], flags: TEST, writes: [] },
  { mnemonic: "test", opcode: [0xf6], ext: 0, operands: ["Eb", "Ib"], flags: TEST, writes: [] },
  { mnemonic: "test", opcode: [0xf7], ext: 0, operands: ["Ev", "Iz"], flags: TEST, writes: [] },
  { mnemonic: "not", opcode: [0xf6], ext: 2, operands: ["Eb"], lock: true },
  { mnemonic: "not", opcode: [0xf7], ext: 2, operands: ["Ev"], lock: true },
  { mnemonic: "neg", opcode: [0xf6], ext: 3, operands: ["Eb"], flags: ARITH, lock: true },
  { mnemonic: "neg", opcode: [0xf7], ext: 3, operands: ["Ev"], flags: ARITH, lock: true },
  { mnemonic: "inc", opcode: [0xfe], ext: 0, operands: ["Eb"], flags: INCDEC, lock: true },
  { mnemonic: "inc", opcode: [0xff], ext: 0, operands: ["Ev"], flags: INCDEC, lock: true },
  { mnemonic: "dec", opcode: [0xfe], ext: 1, operands: ["Eb"], flags: INCDEC, lock: true },
  { mnemonic: "dec", opcode: [0xff], ext: 1, operands: ["Ev"], flags: INCDEC, lock: true },
  { mnemonic: "inc", opcode: [0x40], operands: ["Zv"], flags: INCDEC, modes: ["16", "32"] },
  { mnemonic: "dec", opcode: [0x48], operands: ["Zv"], flags: INCDEC, modes: ["16", "32"] },
]);
