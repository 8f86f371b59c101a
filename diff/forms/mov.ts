/**
 * The move family (no control flow): MOV in its register, memory,
 * immediate and moffs forms, MOVZX, MOVSX, MOVSXD, LEA, XLAT, CBW/CWDE/CDQE,
 * CWD/CDQ/CQO and the multi-byte NOP. None changes a flag.
 *
 * @module
 */
import { defineForms } from "../encodings.ts";

/** The mov family. */
export const MOV = defineForms("mov", [
  { mnemonic: "mov", opcode: [0x88], operands: ["Eb", "Gb"] },
  { mnemonic: "mov", opcode: [0x89], operands: ["Ev", "Gv"] },
  { mnemonic: "mov", opcode: [0x8a], operands: ["Gb", "Eb"] },
  { mnemonic: "mov", opcode: [0x8b], operands: ["Gv", "Ev"] },
  { mnemonic: "mov", opcode: [0xc6], ext: 0, operands: ["Eb", "Ib"] },
  { mnemonic: "mov", opcode: [0xc7], ext: 0, operands: ["Ev", "Iz"] },
  { mnemonic: "mov", opcode: [0xb0], operands: ["Zb", "Ib"] },
  { mnemonic: "mov", opcode: [0xb8], operands: ["Zv", "Iv"] },
  { mnemonic: "mov", opcode: [0xa0], operands: ["AL", "Ob"] },
  { mnemonic: "mov", opcode: [0xa1], operands: ["rAX", "Ov"] },
  { mnemonic: "mov", opcode: [0xa2], operands: ["Ob", "AL"] },
  { mnemonic: "mov", opcode: [0xa3], operands: ["Ov", "rAX"] },
  { mnemonic: "movzx", opcode: [0x0f, 0xb6], operands: ["Gv", "Eb"] },
  { mnemonic: "movzx", opcode: [0x0f, 0xb7], operands: ["Gv", "Ew"] },
  { mnemonic: "movsx", opcode: [0x0f, 0xbe], operands: ["Gv", "Eb"] },
  { mnemonic: "movsx", opcode: [0x0f, 0xbf], operands: ["Gv", "Ew"] },
  { mnemonic: "movsxd", opcode: [0x63], operands: ["Gv", "Ed"], modes: ["64"] },
  { mnemonic: "lea", opcode: [0x8d], operands: ["Gv", "M"] },
  { mnemonic: "xlat", opcode: [0xd7], operands: ["AL"], special: "xlat" },
  { mnemonic: "cbw", opcode: [0x98], operands: ["rAX"] },
  { mnemonic: "cwd", opcode: [0x99], operands: ["rAX"], writes: [] },
  { mnemonic: "nop", opcode: [0x0f, 0x1f], ext: 0, operands: ["Ev"], writes: [] },
]);
