/**
 * The shift and rotate family: ROL ROR RCL RCR SHL SHR SAR by 1, by CL and
 * by an immediate, and SHLD/SHRD.
 *
 * Flags depend on the masked count (count & 31, or & 63 with 64-bit
 * operands); effects.ts implements the rules:
 * - SHL/SHR/SAR: count 0 changes nothing; otherwise CF, SF, ZF, PF are set,
 *   AF is undefined, OF is defined only for count 1, and CF is undefined for
 *   SHL/SHR when the count is at least the operand width (SDM).
 * - ROL/ROR, RCL/RCR: count 0 changes nothing; CF is set (for RCL/RCR only
 *   when the rotation, count mod width+1, is not 0); OF is defined only for
 *   count 1 and undefined otherwise; SF, ZF, AF, PF are unaffected.
 * - SHLD/SHRD: as SHL for the flags; a count above the operand width leaves
 *   the result and the flags undefined, so the generator keeps 16-bit counts
 *   at most 16.
 *
 * @module
 */
import { defineForms, type FlagRule, type FormSpec } from "../encodings.ts";

const KINDS: readonly { name: string; ext: number; rule: FlagRule; reads?: string }[] = [
  { name: "rol", ext: 0, rule: "rotate" },
  { name: "ror", ext: 1, rule: "rotate" },
  { name: "rcl", ext: 2, rule: "rotateCarry", reads: "C" },
  { name: "rcr", ext: 3, rule: "rotateCarry", reads: "C" },
  { name: "shl", ext: 4, rule: "shift" },
  { name: "shr", ext: 5, rule: "shift" },
  { name: "sar", ext: 7, rule: "shift" },
];

function shifts(): FormSpec[] {
  const out: FormSpec[] = [];
  for (const { name, ext, rule, reads } of KINDS) {
    const flags = { rule, reads };
    out.push(
      { mnemonic: name, opcode: [0xd0], ext, operands: ["Eb", "1"], flags },
      { mnemonic: name, opcode: [0xd1], ext, operands: ["Ev", "1"], flags },
      { mnemonic: name, opcode: [0xd2], ext, operands: ["Eb", "CL"], flags, special: "count" },
      { mnemonic: name, opcode: [0xd3], ext, operands: ["Ev", "CL"], flags, special: "count" },
      { mnemonic: name, opcode: [0xc0], ext, operands: ["Eb", "Ib"], flags },
      { mnemonic: name, opcode: [0xc1], ext, operands: ["Ev", "Ib"], flags },
    );
  }
  return out;
}

const DOUBLE = { rule: "doubleShift" as const };

/** The shift family. */
export const SHIFT = defineForms("shift", [
  ...shifts(),
  { mnemonic: "shld", opcode: [0x0f, 0xa4], operands: ["Ev", "Gv", "Ib"], flags: DOUBLE },
  { mnemonic: "shld", opcode: [0x0f, 0xa5], operands: ["Ev", "Gv", "CL"], flags: DOUBLE, special: "count" },
  { mnemonic: "shrd", opcode: [0x0f, 0xac], operands: ["Ev", "Gv", "Ib"], flags: DOUBLE },
  { mnemonic: "shrd", opcode: [0x0f, 0xad], operands: ["Ev", "Gv", "CL"], flags: DOUBLE, special: "count" },
]);
