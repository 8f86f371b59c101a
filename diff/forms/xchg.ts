/**
 * The exchange family: XCHG, XADD, CMPXCHG, CMPXCHG8B and CMPXCHG16B.
 *
 * Flags: XADD sets them as ADD, CMPXCHG as CMP; CMPXCHG8B/16B set ZF only.
 * XCHG with memory is locked with or without the prefix. CMPXCHG16B needs a
 * 16-byte aligned operand (else #GP).
 *
 * @module
 */
import { defineForms } from "../encodings.ts";

/** XADD and CMPXCHG set the six arithmetic flags as ADD and CMP do. */
const ARITHMETIC = { writes: "OSZAPC" };

/** The xchg family. */
export const XCHG = defineForms("xchg", [
  { mnemonic: "xchg", opcode: [0x86], operands: ["Eb", "Gb"], writes: [0, 1], lock: true },
  { mnemonic: "xchg", opcode: [0x87], operands: ["Ev", "Gv"], writes: [0, 1], lock: true },
  { mnemonic: "xchg", opcode: [0x90], operands: ["Zv", "rAX"], writes: [0, 1] },
  { mnemonic: "xadd", opcode: [0x0f, 0xc0], operands: ["Eb", "Gb"], writes: [0, 1], lock: true, flags: ARITHMETIC },
  { mnemonic: "xadd", opcode: [0x0f, 0xc1], operands: ["Ev", "Gv"], writes: [0, 1], lock: true, flags: ARITHMETIC },
  { mnemonic: "cmpxchg", opcode: [0x0f, 0xb0], operands: ["Eb", "Gb"], lock: true, flags: ARITHMETIC },
  { mnemonic: "cmpxchg", opcode: [0x0f, 0xb1], operands: ["Ev", "Gv"], lock: true, flags: ARITHMETIC },
  { mnemonic: "cmpxchg8b", opcode: [0x0f, 0xc7], ext: 1, operands: ["Mq"], lock: true, flags: { writes: "Z" } },
  {
    mnemonic: "cmpxchg16b",
    opcode: [0x0f, 0xc7],
    ext: 1,
    operands: ["Mdq"],
    modes: ["64"],
    rexW: true,
    lock: true,
    flags: { writes: "Z" },
    special: "align16",
  },
]);
