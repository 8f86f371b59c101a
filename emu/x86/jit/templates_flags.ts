/**
 * Flags in templates: which templates set flags from the block's locals and of what lazy kind (`producerOf`), how a
 * later template reads a condition or CF from those locals (`condition`, `carry`) or writes them into the CPU
 * (`flagSync`), and which instructions read the flags before them or set flags no one sees (`readsFlags`,
 * `flagsDead`).
 *
 * @module
 */
import { CF, F_ADC, F_ADD, F_DEC, F_INC, F_LOGIC, F_SBB, F_SUB, MASK, OF, PF, SF, SIGN, ZF } from "../flags.ts";
import { OF_SHIFT, SF_SHIFT, ZF_CF } from "./names.ts";
import type { Insn, JitTemplate } from "../insn.ts";
import { eagerOf, isEager, OF64 } from "./eager.ts";
import { isShift64, isShiftNarrow, shift64KeepsFlags } from "./templates64.ts";
import { F_EAGER64, memOk, NO_MODRM, type Producer } from "./templates_site.ts";

/** ALU kinds (ModRM.reg / opcode bits 3-5) with a template, and their lazy kind: ADD OR AND SUB XOR CMP. */
const ALU_KIND: readonly (number | undefined)[] = [
  F_ADD,
  F_LOGIC,
  undefined,
  undefined,
  F_LOGIC,
  F_SUB,
  F_LOGIC,
  F_SUB,
];

export const ALU_OP = ["+", "|", "", "", "&", "-", "^", "-"];

/** Statements writing the lazy-flags record of the producer whose operands are in the locals into the CPU. */
export function flagSync(p: Producer): string {
  if (p.fop === F_EAGER64) return " c.fop = 0; c.fbits = E;";
  if (p.size === 8) return ` c.fop = 0; c.fbits = ${eagerOf(p)};`;
  const cin = p.fop === F_INC || p.fop === F_DEC || p.fop === F_ADC || p.fop === F_SBB ? " c.fcin = C;" : "";
  return ` c.fop = ${p.fop}; c.fa = A; c.fb = B; c.fres = V; c.fsize = ${p.size};${cin}`;
}

/** CF of `p` from the locals, or read from the CPU. */
export function carry(p: Producer | null): string {
  if (p === null) return "c.cf()";
  if (p.fop === F_EAGER64) return `(E & ${CF})`;
  if (p.size === 8) return "K";
  switch (p.fop) {
    case F_ADD:
      return "(V < A ? 1 : 0)";
    case F_SUB:
      return "(A < B ? 1 : 0)";
    case F_ADC:
    case F_SBB:
      return `(${CARRIED_CF.get(p.fop)} ? 1 : 0)`;
    case F_LOGIC:
      return "0";
    default:
      return "C";
  }
}

/**
 * CF of a 32-bit ADC and SBB from their locals: the operands A and B, the result V and the carry-in C (as flags.ts
 * cf). A sum that wraps to A again carried when C was 1 (B = 2^32 - 1), not when it was 0 (B = 0); a difference
 * borrows when A < B + C.
 */
const CARRIED_CF: ReadonlyMap<number, string> = new Map([
  [F_ADC, "(V < A || (C !== 0 && V === A))"],
  [F_SBB, "(A < B || (C !== 0 && A === B))"],
]);

/** Condition `cc` (Jcc's low nibble) from the locals of `p`, or read from the CPU. */
export function condition(cc: number, p: Producer | null): string {
  const base = p === null ? undefined : conditionOf(cc >> 1, p);
  if (base === undefined) return `c.cond(${cc})`;
  return cc & 1 ? `!(${base})` : `(${base})`;
}

/** Sign-extends a local of `size` bytes, for signed comparisons. */
function signed(v: string, size: number): string {
  return size === 4 ? `(${v} | 0)` : `((${v} << ${32 - 8 * size}) >> ${32 - 8 * size})`;
}

function conditionOf(kind: number, p: Producer): string | undefined {
  const fop = p.fop;
  if (fop === F_EAGER64) return EAGER_CONDITIONS[kind];
  if (p.size === 8) return condition64(kind, fop);
  const sign = String(SIGN[p.size]);
  const zf = "V === 0", sf = `V >= ${sign}`;
  const of = fop === F_ADD || fop === F_ADC
    ? `((A ^ V) & (B ^ V) & ${sign}) !== 0`
    : fop === F_SUB || fop === F_SBB
    ? `((A ^ B) & (A ^ V) & ${sign}) !== 0`
    : fop === F_INC
    ? `V === ${sign}`
    : fop === F_DEC
    ? `V === ${sign} - 1`
    : "false";
  const cf = fop === F_ADD
    ? "V < A"
    : fop === F_SUB
    ? "A < B"
    : fop === F_LOGIC
    ? "false"
    : CARRIED_CF.get(fop) ?? "C !== 0";
  switch (kind) {
    case 0:
      return of;
    case 1:
      return cf;
    case 2:
      return zf;
    case 3:
      return fop === F_SUB ? "A <= B" : `${cf} || ${zf}`;
    case 4:
      return sf;
    case 5:
      return `PARITY[V & ${MASK[1]}] !== 0`;
    case 6:
      return fop === F_SUB ? `${signed("A", p.size)} < ${signed("B", p.size)}` : `(${sf}) !== (${of})`;
    default:
      return fop === F_SUB ? `${signed("A", p.size)} <= ${signed("B", p.size)}` : `${zf} || (${sf}) !== (${of})`;
  }
}

/** Condition `kind` (Jcc's low nibble over 2) of a 64-bit producer of lazy kind `fop`, from producer64's locals. */
function condition64(kind: number, fop: number): string {
  const zf = "(V | H) === 0", sf = `H >= ${SIGN[4]}`, of = OF64.get(fop) ?? "false";
  return [of, "K !== 0", zf, `K !== 0 || ${zf}`, sf, `PARITY[V & ${MASK[1]}] !== 0`, `(${sf}) !== (${of})`][kind] ??
    `${zf} || (${sf}) !== (${of})`;
}

/** Conditions from eager flags in E: O, C, Z, BE, S, P, L, LE. */
const EAGER_CONDITIONS = [
  `(E & ${OF}) !== 0`,
  `(E & ${CF}) !== 0`,
  `(E & ${ZF}) !== 0`,
  `(E & ${ZF_CF}) !== 0`,
  `(E & ${SF}) !== 0`,
  `(E & ${PF}) !== 0`,
  `(((E >> ${SF_SHIFT}) ^ (E >> ${OF_SHIFT})) & 1) !== 0`,
  `(E & ${ZF}) !== 0 || (((E >> ${SF_SHIFT}) ^ (E >> ${OF_SHIFT})) & 1) !== 0`,
];

/** 64-bit producers by lazy kind (their flags come from the locals of producer64). */
const LAZY64 = new Map([F_ADD, F_SUB, F_LOGIC, F_INC, F_DEC].map((fop) => [fop, { fop, size: 8 }]));

const EAGER32: Producer = { fop: F_EAGER64, size: 4 }, EAGER64: Producer = { fop: F_EAGER64, size: 8 };

/** The lazy kind of the ALU operation in opcode bits 3-5 (ADC, SBB: of 32 bits only). */
function aluOp(d: Insn): number | undefined {
  return aluKind(d, (d.op >> 3) & 7);
}

/** The lazy flag kind of ALU operation `kind` of `d` (a 32-bit ADC or SBB keeps its carry-in in C: carried32). */
function aluKind(d: Insn, kind: number): number | undefined {
  return ALU_KIND[kind] ?? (d.size === 4 ? (kind === 2 ? F_ADC : F_SBB) : undefined);
}

/**
 * The lazy kinds of the 64-bit ALU operations (producer64): ADC and SBB too, whose flags follow from the operands, the
 * result and CF in K as ADD's and SUB's do (a 32-bit ADC's and SBB's follow from A, B, V and the carry-in C: F_ADC,
 * F_SBB, carried32).
 */
const ALU_KIND64: readonly number[] = [F_ADD, F_LOGIC, F_ADD, F_SUB, F_LOGIC, F_SUB, F_LOGIC, F_SUB];

/** The lazy kind of the 64-bit ALU operation of `kind` (ModRM.reg / opcode bits 3-5). */
function aluOp64(kind: number): number {
  return ALU_KIND64[kind];
}

/** Whether the ALU template `d` is ADC or SBB, which read CF. */
function withCarry(d: Insn): boolean {
  const kind = d.jit === "aluRmImm" || d.jit === "aluRmImm64" ? d.reg : (d.op >> 3) & 7;
  return kind === 2 || kind === 3;
}

/**
 * The lazy kind of the flags each producer template sets from locals A, B, V (C), by template name: undefined when
 * this form of it has none (a memory destination, ADC/SBB...). F_EAGER64 for eager.ts's templates; the `*64` names
 * are those of 64-bit operands.
 */
const PRODUCERS: Readonly<Partial<Record<JitTemplate, (d: Insn) => number | undefined>>> = {
  aluAccImm: aluOp,
  aluRegRm: (d) => memOk(d) ? aluOp(d) : undefined,
  aluRmReg: (d) => d.mod === 3 || (((d.op >> 3) & 7) === 7 && memOk(d)) ? aluOp(d) : rmwKind(d),
  aluRmImm: (d) => d.mod === 3 || (d.reg === 7 && memOk(d)) ? aluKind(d, d.reg) : rmwKind(d),
  testRmReg: (d) => memOk(d) ? F_LOGIC : undefined,
  testRmImm: (d) => memOk(d) ? F_LOGIC : undefined,
  testAccImm: () => F_LOGIC,
  incDecReg: (d) => d.mode !== 8 ? (d.op >= 0x48 ? F_DEC : F_INC) : undefined,
  incDecRm: (d) => d.mod === 3 ? (d.reg === 1 ? F_DEC : F_INC) : rmwKind(d),
  imul2: (d) => isEager(d) || (d.size === 8 && memOk(d)) ? F_EAGER64 : undefined,
  mulAcc: (d) => (d.size === 4 || d.size === 8) && (d.reg === 4 || d.reg === 5) && memOk(d) ? F_EAGER64 : undefined,
  shiftGroup: (d) => isEager(d) || isShift64(d) || isShiftNarrow(d) ? F_EAGER64 : undefined,
  shiftGroupZx: (d) => isEager(d) || isShiftNarrow(d) ? F_EAGER64 : undefined,
  aluRmReg64: (d) => d.mod === 3 || (((d.op >> 3) & 7) === 7 && memOk(d)) ? aluOp64((d.op >> 3) & 7) : rmwKind(d),
  aluRegRm64: (d) => memOk(d) ? aluOp64((d.op >> 3) & 7) : undefined,
  aluAccImm64: (d) => aluOp64((d.op >> 3) & 7),
  aluRmImm64: (d) => d.mod === 3 || (d.reg === 7 && memOk(d)) ? aluOp64(d.reg) : rmwKind(d),
  incDec64: (d) => d.mod === 3 ? (d.reg === 1 ? F_DEC : F_INC) : rmwKind(d),
  notNeg: (d) => d.mod === 3 && d.reg === 3 && (d.size === 4 || d.size === 8) ? F_SUB : undefined,
};

/** The flag kind `d` sets from locals A, B, V (C), or null when it has no producer template. */
export function producerOf(d: Insn): Producer | null {
  const fop = PRODUCERS[d.jit]?.(d);
  if (fop === undefined) return null;
  if (d.size === 8) return fop === F_EAGER64 ? EAGER64 : LAZY64.get(fop) ?? null;
  return fop === F_EAGER64 ? EAGER32 : { fop, size: d.size };
}

/**
 * The flag kind of an ALU operation (not CMP) or INC/DEC on a memory destination with a template address (rmw): of 8,
 * 16 and 32 bits lazy, as the interpreter's (ops/alu.ts alu, incdec: its slow path reads them back from the CPU's
 * record); of 64 bits eager in E, as alu64 leaves them (c.arith()).
 */
function rmwKind(d: Insn): number | undefined {
  if (!d.rmw || (d.mode !== 8 && d.asize !== 4)) return undefined;
  if (d.size === 8) return F_EAGER64;
  const op = rmwOp(d);
  return op === 8 ? F_INC : op === 9 ? F_DEC : op === 2 ? F_ADC : op === 3 ? F_SBB : ALU_KIND[op];
}

/** The operation of an ALU or INC/DEC template with a memory destination: its kind (ALU order; INC 8, DEC 9). */
export function rmwOp(d: Insn): number {
  if (d.jit === "incDecRm" || d.jit === "incDec64") return d.reg === 1 ? 9 : 8;
  return d.jit === "aluRmImm" || d.jit === "aluRmImm64" ? d.reg : (d.op >> 3) & 7;
}

/** The templates of ALU operations (ADC and SBB among them read CF). */
const ALU: ReadonlySet<JitTemplate> = new Set([
  "aluRmReg",
  "aluRegRm",
  "aluAccImm",
  "aluRmImm",
  "aluRmReg64",
  "aluRegRm64",
  "aluAccImm64",
  "aluRmImm64",
]);

/** INC and DEC, which keep CF. */
const INC_DEC: ReadonlySet<JitTemplate> = new Set(["incDecReg", "incDecRm", "incDec64"]);

/**
 * Whether `d`, a flag producer, CMOVcc or SETcc, reads flags of the instruction before it (INC/DEC keep CF; 64-bit
 * ADC/SBB read it; rotates keep the other flags; AMD's MUL and IMUL keep SF, ZF, AF, PF; CMOVcc and SETcc test a
 * condition).
 */
export function readsFlags(d: Insn, amd: boolean): boolean {
  if (INC_DEC.has(d.jit) || d.jit === "cmov" || d.jit === "setcc") return true;
  if (ALU.has(d.jit)) return withCarry(d);
  const p = producerOf(d);
  if (p === null || p.fop !== F_EAGER64) return false;
  if (d.jit === "imul2" || d.jit === "mulAcc") return amd;
  return d.size === 8 ? shift64KeepsFlags(d) : d.reg < 2 || d.op === 0xd3;
}

/**
 * Instructions of a register or an immediate that neither read nor write the flags and can neither fault nor leave a
 * block (LEA computes an address and reads none; LEA of a register and LOCK raise #UD): flagsDead looks past them.
 */
function flagFree(d: Insn): boolean {
  if (d.lock) return false;
  switch (d.jit) {
    case "lea":
      return d.mod !== 3;
    case "movRegImm":
      return true;
    case "movRmReg":
    case "movRegRm":
    case "movzx":
    case "movsx":
    case "movsxd":
      return d.mod === 3;
    default:
      return false;
  }
}

/**
 * Whether `d` sets all six arithmetic flags without reading any, and cannot fault or leave the block before: an ALU
 * operation other than ADC and SBB (CMP among them), or TEST, on registers or with an immediate (82, invalid in 64-bit
 * mode, left out).
 */
function overwritesFlags(d: Insn): boolean {
  if (d.lock || !ALU.has(d.jit) && d.jit !== "testRmReg" && d.jit !== "testRmImm" && d.jit !== "testAccImm") {
    return false;
  }
  if (NO_MODRM.has(d.jit)) return d.jit === "testAccImm" || !withCarry(d);
  return d.mod === 3 && d.op !== 0x82 && (d.jit === "testRmReg" || d.jit === "testRmImm" || !withCarry(d));
}

/**
 * Whether `insns[i]` is a multiply (MUL, IMUL: whose flags read those before it only to keep some of them) and no one
 * can see the flags it sets: on the way from it to `end` (the end of its path through the block: the main path's
 * length, or the block's for a tail), before anything reads the flags, faults, calls out or leaves, an instruction
 * sets them all again (overwritesFlags), with only flagFree ones between. Such a multiply reads none of the flags
 * before it (Site.flagsDead), so that a loop whose MUL follows its branch back (the kernel's mpihelp_submul_1 in
 * 32-bit mode: MUL; ADD; ADC ... INC; JNZ) does not write out the flags it carries and read them back every iteration.
 * Other instructions are never dead here: ADC, RCL, CMOVcc... compute their results from the flags.
 */
export function flagsDead(insns: readonly Insn[], i: number, end: number): boolean {
  if (insns[i].jit !== "mulAcc" && insns[i].jit !== "imul2") return false;
  for (let j = i + 1; j < end; j++) {
    const d = insns[j];
    if (overwritesFlags(d)) return true;
    if (!flagFree(d)) return false;
  }
  return false;
}
