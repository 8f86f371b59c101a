/**
 * The encoding table as a whole: every family's forms, lookup by id, and
 * the setup forms the generator uses to aim instructions (`mov reg, imm`,
 * `mov cl, imm8`, `cmp reg, reg` to define the flags, `push imm`).
 *
 * @module
 */
import { defineForms, type Form } from "./encodings.ts";
import { ALU } from "./forms/alu.ts";
import { BCD } from "./forms/bcd.ts";
import { BIT } from "./forms/bit.ts";
import { COND } from "./forms/cond.ts";
import { BSWAP, FLAGOP, LAHF } from "./forms/misc.ts";
import { MOV } from "./forms/mov.ts";
import { MULDIV } from "./forms/muldiv.ts";
import { SHIFT } from "./forms/shift.ts";
import { STACK } from "./forms/stack.ts";
import { STRING } from "./forms/string.ts";
import { XCHG } from "./forms/xchg.ts";

/** The families the generator draws from, in report order. */
export const FAMILIES: Readonly<Record<string, readonly Form[]>> = {
  alu: ALU,
  shift: SHIFT,
  muldiv: MULDIV,
  bit: BIT,
  bcd: BCD,
  string: STRING,
  stack: STACK,
  mov: MOV,
  cond: COND,
  xchg: XCHG,
  bswap: BSWAP,
  lahf: LAHF,
  flagop: FLAGOP,
};

/** Family names in report order. */
export const FAMILY_NAMES: readonly string[] = Object.keys(FAMILIES);

/** The setup forms: instructions the generator adds to aim or prepare the family's instruction. */
export const SETUP = defineForms("setup", [
  { mnemonic: "mov", opcode: [0xb8], operands: ["Zv", "Iv"] },
  { mnemonic: "movb", opcode: [0xb0], operands: ["Zb", "Ib"] },
  { mnemonic: "cmp", opcode: [0x39], operands: ["Ev", "Gv"], flags: { writes: "OSZAPC" }, writes: [] },
  { mnemonic: "push", opcode: [0x68], operands: ["Iz"], d64: true, stack: -1, writes: [] },
]);

/** The setup forms by mnemonic. */
export const SETUP_MOV = SETUP[0], SETUP_MOVB = SETUP[1], SETUP_CMP = SETUP[2], SETUP_PUSH = SETUP[3];

const BY_ID = new Map<string, Form>();
for (const f of [...Object.values(FAMILIES).flat(), ...SETUP]) {
  if (BY_ID.has(f.id)) throw new Error(`encoding table: duplicate form id ${f.id}`);
  BY_ID.set(f.id, f);
}

/** The form with id `id`; throws naming the id when the table has none. */
export function formById(id: string): Form {
  const f = BY_ID.get(id);
  if (!f) throw new RangeError(`form "${id}" is not in the encoding table`);
  return f;
}
