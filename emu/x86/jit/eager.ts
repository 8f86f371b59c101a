/**
 * Templates that leave their flags eager, in the local E (EFLAGS bits):
 * 32-bit rotates and shifts by an immediate and IMUL with two or three
 * operands, on registers. They follow ops/shift.ts and ops/muldiv.ts to
 * the bit, vendor differences included (the undefined AF of shifts, OF
 * after a count above one, and the multiply's SF/ZF/AF/PF: AMD keeps them,
 * Intel sets SF and PF from the result and clears ZF and AF). Where they
 * keep flags of the instruction before, those come from its locals when it
 * was a template (`eagerOf`), else from the CPU.
 *
 * @module
 */
import { AF, F_ADC, F_ADD, F_DEC, F_INC, F_LOGIC, F_SBB, F_SUB, MASK, OF, SF, SIGN, ZF } from "../flags.ts";
import { OF_CF, PF_SHIFT } from "./names.ts";
import type { Insn } from "../insn.ts";
import { regRead, regWrite } from "./operands.ts";

/** The flag kind of templates whose flags are eager in E. */
export const F_EAGER_LOCAL = -1;

/** What eager.ts needs to know of the flag producer before (as templates.ts Producer). */
interface Before {
  readonly fop: number;
  readonly size: number;
}

/** The six arithmetic flags of `p`'s locals as an EFLAGS expression, or the CPU's. */
export function eagerOf(p: Before | null): string {
  if (p === null) return "c.arith()";
  if (p.fop === F_EAGER_LOCAL) return "E";
  if (p.size === 8) {
    // templates.ts producer64: operands A/AH, B/BH, result V/H, CF in K.
    const of = OF64.get(p.fop);
    return `(K | (PARITY[V & ${MASK[1]}] << ${PF_SHIFT}) | ${p.fop === F_LOGIC ? "0" : `((A ^ B ^ V) & ${AF})`} | ` +
      `((V | H) === 0 ? ${ZF} : 0) | (H >= ${SIGN[4]} ? ${SF} : 0)${of ? ` | (${of} ? ${OF} : 0)` : ""})`;
  }
  const sign = String(SIGN[p.size]);
  const cf = p.fop === F_ADD
    ? "(V < A ? 1 : 0)"
    : p.fop === F_SUB
    ? "(A < B ? 1 : 0)"
    : p.fop === F_ADC
    ? "(V < A || (C !== 0 && V === A) ? 1 : 0)"
    : p.fop === F_SBB
    ? "(A < B || (C !== 0 && A === B) ? 1 : 0)"
    : p.fop === F_LOGIC
    ? "0"
    : "C";
  const af = p.fop === F_LOGIC ? "0" : `((A ^ B ^ V) & ${AF})`;
  const of = p.fop === F_ADD || p.fop === F_ADC
    ? `((A ^ V) & (B ^ V) & ${sign} ? ${OF} : 0)`
    : p.fop === F_SUB || p.fop === F_SBB
    ? `((A ^ B) & (A ^ V) & ${sign} ? ${OF} : 0)`
    : p.fop === F_INC
    ? `(V === ${sign} ? ${OF} : 0)`
    : p.fop === F_DEC
    ? `(V === ${sign} - 1 ? ${OF} : 0)`
    : "0";
  return `(${cf} | (PARITY[V & ${
    MASK[1]
  }] << ${PF_SHIFT}) | ${af} | (V === 0 ? ${ZF} : 0) | (V >= ${sign} ? ${SF} : 0) | ${of})`;
}

/** OF of a 64-bit producer (templates.ts producer64) by lazy kind, from its locals; none for logic. */
export const OF64: ReadonlyMap<number, string> = new Map([
  [F_ADD, "((AH ^ H) & (BH ^ H)) < 0"],
  [F_INC, "((AH ^ H) & (BH ^ H)) < 0"],
  [F_SUB, "((AH ^ BH) & (AH ^ H)) < 0"],
  [F_DEC, "((AH ^ BH) & (AH ^ H)) < 0"],
]);

/** SF and PF of a 32-bit result in V. */
const SIGN_PARITY = `(PARITY[V & ${MASK[1]}] << ${PF_SHIFT}) | (V >= ${SIGN[4]} ? ${SF} : 0)`;
/** ZF, SF and PF of a 32-bit result in V. */
const RESULT = `${SIGN_PARITY} | (V === 0 ? ${ZF} : 0)`;
/** Intel's OF of SHL, ROL (and RCL) by any count: the operand A's two top bits XORed (ops/shift.ts). */
const TOP_TWO = `(((A >>> 31) ^ (A >>> 30)) & 1 ? ${OF} : 0)`;
/** The OF of ROR by 1: the operand A's MSB XOR its bit 0. */
const ROR_OF1 = `(((A >>> 31) ^ A) & 1 ? ${OF} : 0)`;

/**
 * The OF of ROL/ROR `d` by `k`: AMD's from the result (`amdOf`); Intel's as for a count of 1 (`of1`), except by an
 * immediate above 1 in 64-bit mode (where the semantics is wrapped to zero-extend): unchanged (ops/shift.ts keepsOf).
 */
function rotateOf(d: Insn, amd: boolean, k: number, amdOf: string, of1: string): string {
  return amd ? amdOf : k === 1 || d.jit === "shiftGroup" ? of1 : `(P & ${OF})`;
}

/** The shift group, wrapped or not (64-bit mode zero-extends through a wrapper: `shiftGroupZx`). */
function isShiftGroup(d: Insn): boolean {
  return d.jit === "shiftGroup" || d.jit === "shiftGroupZx";
}

/** The count of a shift by 1 or by an immediate, or 0 (by CL, or an immediate that masks to 0: no template). */
function countOf(d: Insn): number {
  if (d.op === 0xd1) return 1;
  return d.op === 0xc1 ? d.imm & 0x1f : 0;
}

/** Whether `d` has an eager template. */
export function isEager(d: Insn): boolean {
  if (d.size !== 4 || d.mod !== 3) return false;
  if (isShiftGroup(d)) return countOf(d) !== 0 && d.reg !== 2 && d.reg !== 3; // RCL/RCR: by the semantics
  return d.jit === "imul2";
}

/**
 * IMUL r32, r/m32 (, imm) on registers (template `imul2`, isEager), with `before` the flag producer before it; `dead`
 * when no one sees the flags it sets (templates.ts flagsDead): only CF and OF then, nothing read.
 */
export function imulCode(d: Insn, before: Before | null, amd: boolean, dead = false): string {
  const b = d.op === 0x1af ? regRead(d.reg, 4) : String(d.imm >>> 0);
  // The low half exactly; the double product decides overflow (exact when it fits in 32 bits, beyond when not).
  const flags = dead
    ? `(T1 ? ${OF_CF} : 0)`
    : amd
    ? `(P & ~${OF_CF}) | (T1 ? ${OF_CF} : 0)`
    : `(T1 ? ${OF_CF} : 0) | ${SIGN_PARITY}`;
  const keep = amd && !dead ? `P = ${eagerOf(before)}; ` : "";
  return `${keep}A = ${regRead(d.rm, 4)}; B = ${b}; V = Math.imul(A, B) >>> 0; ` +
    `T1 = (A | 0) * (B | 0) !== (V | 0) ? 1 : 0; E = ${flags}; ${regWrite(d.reg, 4, "V")}`;
}

/**
 * A 32-bit rotate or shift of a register by 1 or an immediate (templates `shiftGroup`, `shiftGroupZx`, isEager), with
 * `before` the flag producer before it.
 */
export function shiftCode(d: Insn, before: Before | null, amd: boolean): string {
  const k = countOf(d), n = d.rm;
  // The flags kept by a rotate are read before the locals change.
  const a = `${d.reg < 2 ? `P = ${eagerOf(before)}; ` : ""}A = ${regRead(n, 4)}; `;
  let body: string;
  switch (d.reg) {
    case 0: // ROL
      body = `V = ((A << ${k}) | (A >>> ${32 - k})) >>> 0; T1 = V & 1; ` +
        `E = (P & ~${OF_CF}) | T1 | ${rotateOf(d, amd, k, `(((V >>> 31) ^ T1) ? ${OF} : 0)`, TOP_TWO)};`;
      break;
    case 1: // ROR
      body = `V = ((A >>> ${k}) | (A << ${32 - k})) >>> 0; T1 = V >>> 31; ` +
        `E = (P & ~${OF_CF}) | T1 | ${rotateOf(d, amd, k, `((T1 ^ ((V >>> 30) & 1)) ? ${OF} : 0)`, ROR_OF1)};`;
      break;
    case 5: // SHR
      body = `V = A >>> ${k}; T1 = (A >>> ${k - 1}) & 1; ` +
        `E = T1 | ${k > 1 && amd ? "0" : `(A >= ${SIGN[4]} ? ${OF} : 0)`} | ${amd ? AF : 0} | ${RESULT};`;
      break;
    case 7: // SAR
      body = `V = ((A | 0) >> ${k}) >>> 0; T1 = ((A | 0) >> ${k - 1}) & 1; E = T1 | ${amd ? AF : 0} | ${RESULT};`;
      break;
    default: // SHL, SAL
      body = `V = (A << ${k}) >>> 0; T1 = (A >>> ${32 - k}) & 1; ` +
        `E = T1 | ${amd ? `(((V >>> 31) ^ T1) ? ${OF} : 0)` : TOP_TWO} | ${amd ? AF : 0} | ${RESULT};`;
  }
  return `${a}${body} ${regWrite(n, 4, "V")}`;
}
