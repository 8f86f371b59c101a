/**
 * The stack family: PUSH and POP (register, r/m, immediate), PUSHF/POPF,
 * PUSHA/POPA (not in 64-bit mode), ENTER and LEAVE. In 64-bit mode the
 * operand size defaults to 64 bits and a 66 prefix makes it 16.
 *
 * Flags: PUSHF reads them all; POPF writes them (at CPL 3 with IOPL 0 it
 * leaves IF and IOPL alone); the rest change none. POPF is preceded by a
 * `push imm` of its image so that TF is rarely set.
 *
 * @module
 */
import { defineForms } from "../encodings.ts";

const LEGACY = ["16", "32"] as const;

/** The stack family. */
export const STACK = defineForms("stack", [
  { mnemonic: "push", opcode: [0x50], operands: ["Zv"], d64: true, stack: -1, writes: [] },
  { mnemonic: "pop", opcode: [0x58], operands: ["Zv"], d64: true, stack: 1 },
  { mnemonic: "push", opcode: [0xff], ext: 6, operands: ["Ev"], d64: true, stack: -1, writes: [] },
  { mnemonic: "pop", opcode: [0x8f], ext: 0, operands: ["Ev"], d64: true, stack: 1 },
  { mnemonic: "push", opcode: [0x68], operands: ["Iz"], d64: true, stack: -1, writes: [] },
  { mnemonic: "push", opcode: [0x6a], operands: ["Ibs"], d64: true, stack: -1, writes: [] },
  { mnemonic: "pushf", opcode: [0x9c], operands: [], d64: true, stack: -1, flags: { reads: "OSZAPCD" } },
  {
    mnemonic: "popf",
    opcode: [0x9d],
    operands: [],
    d64: true,
    stack: 1,
    flags: { writes: "OSZAPCD" },
    special: "popf",
  },
  { mnemonic: "pusha", opcode: [0x60], operands: [], modes: LEGACY, stack: -8, size: "v" },
  { mnemonic: "popa", opcode: [0x61], operands: [], modes: LEGACY, stack: 8, size: "v" },
  { mnemonic: "enter", opcode: [0xc8], operands: ["Iw", "Ib"], d64: true, special: "enter", writes: [] },
  { mnemonic: "leave", opcode: [0xc9], operands: [], d64: true, special: "leave" },
]);
