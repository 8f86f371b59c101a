/**
 * Templates: the common integer instructions with 32-bit operands written
 * out as JavaScript, their registers, immediates, addresses and flag kinds
 * as constants: MOV, MOVSXD, LEA, the ALU operations (ADC/SBB of 32 and 64
 * bits only), TEST, INC/DEC, NOT/NEG, SETcc, NOP, and the Jcc/JMP that
 * end a block. The ALU operations and INC/DEC on a memory destination (a
 * read-modify-write: `rmw`) change the bytes in place when the write TLB
 * holds the page, with eager flags, and call their semantic function
 * otherwise. A low byte register (AL, SIL, R8B...) is read and written as
 * the low byte of its 32-bit half, so that a looping block keeps it in a
 * local.
 *
 * Flags stay lazy (flags.ts): a template that sets them keeps its operands
 * and result in the block's locals A, B, V (and the carry-in C of INC/DEC),
 * so that a Jcc or INC/DEC after it in the same block evaluates from
 * locals, and writes the lazy record into the CPU only when something may
 * see it (codegen.ts decides).
 *
 * @module
 */
import { CF, F_ADC, F_ADD, F_DEC, F_INC, F_LOGIC, F_SBB, F_SUB, MASK, OF, PF, SF, SIGN, ZF } from "../flags.ts";
import { EFER_LMA, TWO32, TWO47 } from "../long/access.ts";
import { TLB_MASK } from "../memory.ts";
import {
  CANONICAL_HIGH_TOP,
  HIGH16,
  OF_SHIFT,
  PAGE_MASK,
  PAGE_SHIFT,
  PAGE_SIZE,
  PAGES_PER_4G,
  SF_SHIFT,
  ZF_CF,
} from "./names.ts";
import type { Insn, JitTemplate } from "../insn.ts";
import { callRel32, callRel64, type Leave, popReg32, popReg64, pushReg32, pushReg64, ret32, ret64 } from "./stack.ts";
import { eagerOf, F_EAGER_LOCAL, imulCode, isEager, OF64, shiftCode } from "./eager.ts";
import {
  canonicalHigh,
  loadInto,
  MASK_TEXT,
  offset,
  regRead as fileRead,
  regWrite as fileWrite,
  RELOAD,
  segmentOf,
  SPILL,
  storeFrom,
} from "./operands.ts";
import { R8_INDEX } from "../state.ts";
import { num } from "./pool.ts";
import {
  cmovCode,
  imul64Code,
  isShift64,
  isShiftNarrow,
  mulAccCode,
  shift64Code,
  shift64KeepsFlags,
  shiftNarrowCode,
} from "./templates64.ts";

/** The flag kind of templates with eager flags in the local E (64-bit ALU, eager.ts). */
export const F_EAGER64 = F_EAGER_LOCAL;

/** A template's code, and whether it may queue an exit or write a code page (the block then checks). */
export interface Template {
  readonly code: string;
  readonly mayExit: boolean;
}

/** The flag-setting template before this instruction in the block, whose operands are in the locals. */
export interface Producer {
  /** Its lazy-flags kind (F_ADD, F_ADC, F_SUB, F_SBB, F_LOGIC, F_INC, F_DEC, or F_EAGER64). */
  readonly fop: number;
  /** Operand size in bytes. */
  readonly size: number;
}

/** What a template knows of its place in the block. */
export interface Site {
  /** This instruction's EIP (low half of RIP). */
  readonly eip: number;
  /** The next instruction's EIP, or the whole RIP in 64-bit mode. */
  readonly next: number;
  /** The CS limit the block was compiled for (not used in 64-bit mode). */
  readonly csLimit: number;
  /** The flag producer before it in the block, or null when the flags are in the CPU. */
  readonly producer: Producer | null;
  /**
   * Statements that write the flags still held in the block's locals into the CPU (or nothing): they run first on
   * every path that leaves the template's code (a slow path that may fault or exit, a call, a return).
   */
  readonly sync: string;
  /** What runs before a branch back to the block's entry continues its loop (the flags the loop carries stay). */
  readonly backSync: string;
  /** Leaves the block when an exit was queued or a code page written (after a store's slow path), or nothing. */
  readonly stop: string;
  /** The name of its decoded record in the block's code. */
  readonly name: string;
  /** The block's entry: its EIP, or its whole RIP in 64-bit mode. */
  readonly entry: number;
  /**
   * The most iterations a block that loops to its own entry runs before it returns (a branch there continues a
   * loop while the iterations stay under LIM, which its code computes on entry from this and its budget).
   */
  readonly loops: number;
  /** The name of its semantic function in the block's code. */
  readonly fn: string;
  /** The CPU presents AMD's behaviour where the vendors differ (eager.ts). */
  readonly amd: boolean;
  /**
   * No one can see the flags this instruction sets (flagsDead): a multiply then needs no flags of the instruction
   * before it (AMD's kept SF, ZF, AF, PF). Absent: false.
   */
  readonly flagsDead?: boolean;
}

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
const ALU_OP = ["+", "|", "", "", "&", "-", "^", "-"];

/**
 * Register `n` of `size` bytes (operands.ts regRead), a low byte register (AL-BL, SPL-DIL, R8B-R15B) as the low byte of
 * its 32-bit half: a looping block keeps the registers it names in locals only when it names no 8- or 16-bit view
 * (codegen.ts cacheRegisters), and the kernel's loops test a carry with SETB SIL; MOVZX ESI, SIL.
 */
function regRead(n: number, size: number): string {
  const k = R8_INDEX[n];
  return size === 1 && (k & 7) === 0 ? `(r[${k >> 2}] & ${MASK[1]})` : fileRead(n, size);
}

/** Writes `v` (already masked) to register `n` of `size` bytes (operands.ts regWrite; a low byte as regRead). */
function regWrite(n: number, size: number, v: string): string {
  const k = R8_INDEX[n];
  if (size !== 1 || (k & 7) !== 0) return fileWrite(n, size, v);
  return `r[${k >> 2}] = ((r[${k >> 2}] & ${~MASK[1] >>> 0}) | ${v}) >>> 0;`;
}

/** Statements writing the lazy-flags record of the producer whose operands are in the locals into the CPU. */
export function flagSync(p: Producer): string {
  if (p.fop === F_EAGER64) return " c.fop = 0; c.fbits = E;";
  if (p.size === 8) return ` c.fop = 0; c.fbits = ${eagerOf(p)};`;
  const cin = p.fop === F_INC || p.fop === F_DEC || p.fop === F_ADC || p.fop === F_SBB ? " c.fcin = C;" : "";
  return ` c.fop = ${p.fop}; c.fa = A; c.fb = B; c.fres = V; c.fsize = ${p.size};${cin}`;
}

/** CF of `p` from the locals, or read from the CPU. */
function carry(p: Producer | null): string {
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

/** Whether a memory operand of `d` has a template address (not 16-bit addressing) and is only read. */
function readableMemory(d: Insn): boolean {
  return d.mod !== 3 && !d.rmw && (d.mode === 8 || d.asize === 4);
}

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

/** Whether an ALU or TEST template's r/m operand is a register or memory it only reads (readableMemory). */
function memOk(d: Insn): boolean {
  return d.mod === 3 || readableMemory(d);
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

/** Producer templates without ModRM (`mod` stays 0 in their records): they have no memory operand. */
const NO_MODRM: ReadonlySet<JitTemplate> = new Set(["aluAccImm", "testAccImm", "incDecReg", "aluAccImm64"]);

/** Whether `d` (an instruction with a producer template) reads a memory operand. */
function readsMemory(d: Insn): boolean {
  return d.mod !== 3 && !NO_MODRM.has(d.jit);
}

/** Emits the template of an instruction at its place in the block, or undefined to call its semantic function. */
type Emitter = (d: Insn, site: Site) => Template | undefined;

/** A template's code that cannot queue an exit (or nothing). */
function pure(code: string | undefined): Template | undefined {
  return code === undefined ? undefined : { code, mayExit: false };
}

/** A stack template's code (or nothing): its slow paths check for a queued exit themselves (Site.stop). */
function stack(emit: (d: Insn, site: Site) => string | undefined): Emitter {
  return (d, site) => pure(emit(d, site));
}

/** An ALU, TEST or INC/DEC template (producerOf); of a memory destination, rmw. */
function flags(d: Insn, site: Site): Template | undefined {
  const p = producerOf(d);
  if (p === null) return undefined;
  if (d.mod !== 3 && d.rmw) return pure(rmw(d, site));
  return pure(d.size === 8 ? producer64(d, site) : producer(d, p, site));
}

/** An eager template (eager.ts), as `code` writes it. */
function eager(code: typeof imulCode): Emitter {
  return (d, site) => isEager(d) ? pure(code(d, site.producer, site.amd, site.flagsDead === true)) : undefined;
}

/**
 * LEA with a 32-bit operand, or in 64-bit mode a 32- or 64-bit one (the address computed with the address size, then
 * truncated, as ops/mov.ts leaLong).
 */
function lea(d: Insn, site: Site): Template | undefined {
  if (d.mode === 8) {
    const o = offset(d, site.next)!, n = d.reg << 1;
    if (d.size === 8) return pure(`${o} r[${n}] = LA; r[${n + 1}] = LH;`);
    return d.size === 4 ? pure(`${o} r[${n}] = LA; r[${n + 1}] = 0;`) : undefined;
  }
  return pure(d.osize === 4 ? mapOffset(offset(d, site.next), (o) => regWrite(d.reg, 4, o)) : undefined);
}

function mapOffset(off: string | undefined, f: (o: string) => string): string | undefined {
  return off === undefined ? undefined : f(off);
}

/** Where a memory template sets EIP and writes out the flags before its slow path. */
function at(site: Site): string {
  return `c.eip = ${num(site.eip)};${site.sync}`;
}

/** A 64-bit register's halves as two register-file expressions. */
function halves(n: number): [string, string] {
  return [`r[${n << 1}]`, `r[${(n << 1) + 1}]`];
}

/** Writes the halves `lo`, `hi` to the 64-bit register `n`. */
function setHalves(n: number, lo: string, hi: string): string {
  return `r[${n << 1}] = ${lo}; r[${(n << 1) + 1}] = ${hi};`;
}

/** MOV r/m64, r64 (ops/mov.ts movRmReg64): between registers, or an 8-byte store. */
function movRmReg64(d: Insn, site: Site): Template | undefined {
  const [lo, hi] = halves(d.reg);
  if (d.mod === 3) return pure(setHalves(d.rm, lo, hi));
  return pure(storeFrom(segmentOf(d), offset(d, site.next)!, 8, 8, lo, at(site), site.stop, hi));
}

/** MOV r64, r/m64 (ops/mov.ts movRegRm64): between registers, or an 8-byte load. */
function movRegRm64(d: Insn, site: Site): Template | undefined {
  if (d.mod === 3) return pure(setHalves(d.reg, ...halves(d.rm)));
  return pure(`${loadInto(segmentOf(d), offset(d, site.next)!, 8, 8, at(site))} ${setHalves(d.reg, "MV", "MH")}`);
}

/** MOV r/m, reg (8, 16, 32 bits; 64 bits: movRmReg64): between registers, or a store. */
function movRmReg(d: Insn, site: Site): Template | undefined {
  if (d.size === 8) return movRmReg64(d, site);
  const value = regRead(d.reg, d.size);
  if (d.mod === 3) return pure(regWrite(d.rm, d.size, value));
  return pure(
    mapOffset(offset(d, site.next), (off) => storeFrom(segmentOf(d), off, d.size, d.mode, value, at(site), site.stop)),
  );
}

/** MOV reg, r/m (8, 16, 32 bits; 64 bits: movRegRm64): between registers, or a load. */
function movRegRm(d: Insn, site: Site): Template | undefined {
  if (d.size === 8) return movRegRm64(d, site);
  if (d.mod === 3) return pure(regWrite(d.reg, d.size, regRead(d.rm, d.size)));
  return pure(
    mapOffset(
      offset(d, site.next),
      (off) => `${loadInto(segmentOf(d), off, d.size, d.mode, at(site))} ${regWrite(d.reg, d.size, "MV")}`,
    ),
  );
}

/**
 * MOV reg, imm (8, 16, 32 bits); in 64-bit mode of 32 or 64 bits, REX.B selecting R8-R15 (ops/mov.ts
 * movRegImmLong).
 */
function movRegImm(d: Insn): Template | undefined {
  if (d.mode === 8) {
    const n = (d.op & 7) | ((d.rex & 1) << 3);
    if (d.size === 8) return pure(setHalves(n, String(d.imm >>> 0), String(d.imm2 >>> 0)));
    return d.size === 4 ? pure(setHalves(n, String(d.imm >>> 0), "0")) : undefined;
  }
  return d.size === 8 ? undefined : pure(regWrite(d.op & 7, d.size, String(d.imm >>> 0)));
}

/** MOV r/m, imm (8, 16, 32 bits): to a register, or a store. */
function movRmImm(d: Insn, site: Site): Template | undefined {
  if (d.size === 8) {
    const [lo, hi] = [String(d.imm >>> 0), String(d.imm2 >>> 0)];
    if (d.mod === 3) return pure(setHalves(d.rm, lo, hi));
    return pure(storeFrom(segmentOf(d), offset(d, site.next)!, 8, 8, lo, at(site), site.stop, hi));
  }
  const value = String(d.imm >>> 0);
  if (d.mod === 3) return pure(regWrite(d.rm, d.size, value));
  return pure(
    mapOffset(offset(d, site.next), (off) => storeFrom(segmentOf(d), off, d.size, d.mode, value, at(site), site.stop)),
  );
}

/** MOVZX or MOVSX (`signed`) to a 32-bit register, from a register or memory. */
function movExtend(signed: boolean): Emitter {
  return (d, site) => {
    if (d.size === 8 || d.osize !== 4) return undefined;
    const n = d.op & 1 ? 2 : 1;
    const widen = (v: string) => signed ? extend(v, n) : v;
    if (d.mod === 3) return pure(regWrite(d.reg, 4, widen(regRead(d.rm, n))));
    return pure(
      mapOffset(
        offset(d, site.next),
        (off) => `${loadInto(segmentOf(d), off, n, d.mode, at(site))} ${regWrite(d.reg, 4, widen("MV"))}`,
      ),
    );
  };
}

/** IMUL r64, r/m64 [, imm] (templates64.ts), of a register or a memory source it only reads. */
function imul64(d: Insn, site: Site): Template | undefined {
  if (producerOf(d) === null) return undefined;
  const mem = d.mod !== 3;
  const load = mem ? `${loadInto(segmentOf(d), offset(d, site.next)!, 8, 8, at(site))} ` : "";
  return pure(imul64Code(d, site.amd, keptFlags(site), load, mem ? ["MV", "MH"] : halves(d.rm)));
}

/** The flags before a multiply at `site` (eager.ts eagerOf), or null when no one sees the multiply's (flagsDead). */
function keptFlags(site: Site): string | null {
  return site.flagsDead ? null : eagerOf(site.producer);
}

/** MUL or IMUL r/m32 or r/m64 into rDX:rAX (templates64.ts), of a register or a memory source it only reads. */
function mulAcc(d: Insn, site: Site): Template | undefined {
  if (producerOf(d) === null) return undefined;
  const mem = d.mod !== 3;
  const load = mem ? `${loadInto(segmentOf(d), offset(d, site.next)!, d.size, d.mode, at(site))} ` : "";
  return pure(mulAccCode(d, site.amd, keptFlags(site), load, mem ? ["MV", "MH"] : halves(d.rm)));
}

/** A shift or rotate of a 64-bit register by 1 or an immediate (templates64.ts). */
function shift64(d: Insn, site: Site): Template | undefined {
  return isShift64(d) ? pure(shift64Code(d, site.amd, eagerOf(site.producer))) : undefined;
}

/** A shift of a 16-bit register by 1 or an immediate, or of a 32-bit one by CL (templates64.ts). */
function shiftNarrow(d: Insn, site: Site): Template {
  return { code: shiftNarrowCode(d, site.amd, eagerOf(site.producer)), mayExit: false };
}

/** CMOVcc of 32 or 64 bits (templates64.ts), from a register or memory: a MOV reg, r/m made under a condition. */
function cmov(d: Insn, site: Site): Template | undefined {
  if (d.size !== 8 && d.size !== 4) return undefined;
  if (d.mod === 3) return pure(cmovCode(d, condition(d.op & 0xf, site.producer), "", halves(d.rm)));
  if (!readableMemory(d)) return undefined;
  const load = `${loadInto(segmentOf(d), offset(d, site.next)!, d.size, d.mode, at(site))} `;
  return pure(cmovCode(d, condition(d.op & 0xf, site.producer), load, ["MV", "MH"]));
}

/** MOVSXD r64, r/m32 (ops/mov.ts movsxd): the source's sign in the high half. */
function movsxd(d: Insn, site: Site): Template | undefined {
  const n = d.reg << 1;
  const widen = (v: string) => `T1 = ${v}; r[${n}] = T1 >>> 0; r[${n + 1}] = (T1 | 0) < 0 ? ${MASK[4]} : 0;`;
  if (d.mod === 3) return pure(widen(reg(d.rm)));
  return pure(`${loadInto(segmentOf(d), offset(d, site.next)!, 4, 8, at(site))} ${widen("MV")}`);
}

/** SETcc (ops/mov.ts setcc): 1 or 0 to a byte register, or a byte store. */
function setcc(d: Insn, site: Site): Template | undefined {
  const v = `(${condition(d.op & 0xf, site.producer)} ? 1 : 0)`;
  if (d.mod === 3) return pure(regWrite(d.rm, 1, v));
  return pure(
    mapOffset(offset(d, site.next), (off) => storeFrom(segmentOf(d), off, 1, d.mode, v, at(site), site.stop)),
  );
}

/** NOT or NEG (F7 /2, /3; ops/alu.ts notRm, not64, negRm, neg64) of a 32- or 64-bit register; NEG sets SUB's flags. */
function notNeg(d: Insn, site: Site): Template | undefined {
  if (d.mod !== 3 || (d.size !== 4 && d.size !== 8)) return undefined;
  if (d.reg === 3) return flags(d, site);
  const [lo, hi] = halves(d.rm);
  return pure(d.size === 8 ? setHalves(d.rm, `~${lo} >>> 0`, `~${hi} >>> 0`) : regWrite(d.rm, 4, `~${lo} >>> 0`));
}

/** A NOP: no code. 90 is one unless F3 makes it PAUSE (which the devices see) or REX.B XCHG R8, rAX. */
function nop(d: Insn): Template | undefined {
  return d.op === 0x90 && (d.rep === 0xf3 || d.rex & 1) ? undefined : pure("");
}

/** The templates of instructions a block's body may hold, by name (the decode table's `jit`, insn.ts JitTemplate). */
const TEMPLATES: Readonly<Partial<Record<JitTemplate, Emitter>>> = {
  aluRmReg: flags,
  aluRegRm: flags,
  aluAccImm: flags,
  aluRmImm: flags,
  testRmReg: flags,
  testRmImm: flags,
  testAccImm: flags,
  incDecReg: flags,
  incDecRm: flags,
  aluRmReg64: flags,
  aluRegRm64: flags,
  aluAccImm64: flags,
  aluRmImm64: flags,
  incDec64: flags,
  imul2: (d, site) => d.size === 8 ? imul64(d, site) : eager(imulCode)(d, site),
  mulAcc,
  shiftGroup: (d, site) =>
    d.size === 8 ? shift64(d, site) : isShiftNarrow(d) ? shiftNarrow(d, site) : eager(shiftCode)(d, site),
  shiftGroupZx: (d, site) => isShiftNarrow(d) ? shiftNarrow(d, site) : eager(shiftCode)(d, site),
  lea,
  movRmReg,
  movRegRm,
  cmov,
  movRegImm,
  movRmImm,
  movzx: movExtend(false),
  movsx: movExtend(true),
  movsxd,
  setcc,
  notNeg,
  nop,
  pushReg: stack(pushReg32),
  popReg: stack(popReg32),
  pushRegLong: stack(pushReg64),
  popRegLong: stack(popReg64),
};

/** The template of `d` at `site`, or undefined when it is called through its semantic function. */
export function template(d: Insn, site: Site): Template | undefined {
  return TEMPLATES[d.jit]?.(d, site);
}

/** Sign-extends an 8- or 16-bit value to 32 bits, unsigned. */
function extend(v: string, size: number): string {
  return `((${v} << ${32 - 8 * size}) >> ${32 - 8 * size}) >>> 0`;
}

/** An ALU, TEST or INC/DEC template of 8, 16 or 32 bits: register operands, or a memory source it only reads. */
function producer(d: Insn, p: Producer, site: Site): string {
  const e = d.jit, size = p.size, mask = MASK_TEXT[size];
  const fit = (x: string) => (size === 4 ? `(${x}) >>> 0` : `(${x}) & ${mask}`);
  const mem = readsMemory(d);
  const at = mem
    ? `${loadInto(segmentOf(d), offset(d, site.next)!, size, d.mode, `c.eip = ${num(site.eip)};${site.sync} `)} `
    : "";
  const rm = mem ? "MV" : regRead(d.rm, size);
  if (p.fop === F_INC || p.fop === F_DEC) {
    const n = e === "incDecReg" ? d.op & 7 : d.rm;
    const v = fit(p.fop === F_INC ? "A + 1" : "A - 1");
    return `C = ${carry(site.producer)}; A = ${regRead(n, size)}; B = 1; V = ${v}; ${regWrite(n, size, "V")}`;
  }
  const imm = String((d.imm & MASK[size]) >>> 0);
  let dst: number, a: string, b: string, kind: number;
  if (e === "notNeg") {
    // NEG: 0 - r/m.
    [dst, kind, a, b] = [d.rm, 5, "0", rm];
  } else if (e === "testRmReg" || e === "testRmImm" || e === "testAccImm") {
    [dst, kind] = [-1, 4];
    [a, b] = e === "testRmReg" ? [rm, regRead(d.reg, size)] : e === "testRmImm" ? [rm, imm] : [regRead(0, size), imm];
  } else if (e === "aluRmImm") {
    [dst, kind, a, b] = [d.rm, d.reg, rm, imm];
  } else if (e === "aluAccImm") {
    [dst, kind, a, b] = [0, (d.op >> 3) & 7, regRead(0, size), String(d.imm >>> 0)];
  } else if (e === "aluRmReg") {
    [dst, kind, a, b] = [d.rm, (d.op >> 3) & 7, rm, regRead(d.reg, size)];
  } else {
    [dst, kind, a, b] = [d.reg, (d.op >> 3) & 7, regRead(d.reg, size), rm];
  }
  const write = kind === 7 || dst < 0 ? "" : ` ${regWrite(dst, size, "V")}`;
  if (kind === 2 || kind === 3) return `${at}${carried32(kind, a, b, site)}${write}`;
  return `${at}A = ${a}; B = ${b}; V = ${fit(`A ${ALU_OP[kind]} B`)};${write}`;
}

/**
 * A 32-bit ADC (`kind` 2) or SBB (3) of `a` and `b`: the carry-in into C (after any load, whose slow path writes out
 * the flags of the locals as they were), the result in V; its flags lazy (F_ADC, F_SBB), from A, B, V and C.
 */
function carried32(kind: number, a: string, b: string, site: Site): string {
  return `C = ${carry(site.producer)}; A = ${a}; B = ${b}; V = (A ${kind === 2 ? "+ B +" : "- B -"} C) >>> 0;`;
}

/** The low half of register `n`. */
const reg = (n: number) => `r[${n << 1}]`;

/**
 * A 64-bit ALU, TEST or INC/DEC template on registers or a memory source it only reads, as alu64: the operands in
 * A/AH and B/BH, the result in V (low) and H (high), CF in K; the other flags are computed from them only where they
 * are used (eager.ts eagerOf).
 */
function producer64(d: Insn, site: Site): string {
  const e = d.jit;
  const hi = (n: number) => `r[${(n << 1) + 1}]`;
  const mem = readsMemory(d);
  let dst: number, kind: number, a: [string, string], b: [string, string];
  let pre = mem ? `${loadInto(segmentOf(d), offset(d, site.next)!, 8, 8, at(site))} ` : "";
  const rm: [string, string] = mem ? ["MV", "MH"] : [reg(d.rm), hi(d.rm)];
  if (e === "notNeg") {
    // NEG: 0 - r/m.
    [dst, kind, a, b] = [d.rm, 5, ["0", "0"], rm];
  } else if (e === "testRmReg") {
    [dst, kind, a, b] = [-1, 4, rm, [reg(d.reg), hi(d.reg)]];
  } else if (e === "incDec64") {
    [dst, kind, a, b] = [d.rm, d.reg === 1 ? 5 : 0, [reg(d.rm), hi(d.rm)], ["1", "0"]];
    pre = `C = ${carry(site.producer)}; `;
  } else if (e === "aluRmImm64") {
    [dst, kind, a, b] = [d.rm, d.reg, rm, [String(d.imm >>> 0), String(d.imm2 >>> 0)]];
  } else if (e === "aluAccImm64") {
    [dst, kind, a, b] = [0, (d.op >> 3) & 7, [reg(0), hi(0)], [String(d.imm >>> 0), String(d.imm2 >>> 0)]];
  } else if (e === "aluRmReg64") {
    [dst, kind, a, b] = [d.rm, (d.op >> 3) & 7, rm, [reg(d.reg), hi(d.reg)]];
  } else {
    [dst, kind, a, b] = [d.reg, (d.op >> 3) & 7, [reg(d.reg), hi(d.reg)], rm];
  }
  // ADC and SBB read CF (into C) after the load, whose slow path writes out the flags of the locals as they were.
  if (kind === 2 || kind === 3) pre += `C = ${carry(site.producer)}; `;
  let body = `${pre}A = ${a[0]}; AH = ${a[1]}; B = ${b[0]}; BH = ${b[1]}; `;
  if (kind === 0 || kind === 2) {
    body += `L = A + B${kind === 2 ? " + C" : ""}; V = L >>> 0; L = AH + BH + (L > ${MASK[4]} ? 1 : 0); H = L >>> 0; ` +
      `K = L > ${MASK[4]} ? 1 : 0;`;
  } else if (kind === 3 || kind === 5 || kind === 7) {
    body += `L = A - B${kind === 3 ? " - C" : ""}; V = L >>> 0; L = AH - BH - (L < 0 ? 1 : 0); H = L >>> 0; ` +
      "K = L < 0 ? 1 : 0;";
  } else {
    const op = kind === 1 ? "|" : kind === 4 ? "&" : "^";
    body += `V = (A ${op} B) >>> 0; H = (AH ${op} BH) >>> 0; K = 0;`;
  }
  if (e === "incDec64") body += " K = C;";
  if (kind !== 7 && dst >= 0) body += ` r[${dst << 1}] = V; r[${(dst << 1) + 1}] = H;`;
  return body;
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
function rmwOp(d: Insn): number {
  if (d.jit === "incDecRm" || d.jit === "incDec64") return d.reg === 1 ? 9 : 8;
  return d.jit === "aluRmImm" || d.jit === "aluRmImm64" ? d.reg : (d.op >> 3) & 7;
}

/** Reads `size` bytes of the page UC at RK into MV (and MH: the high half of 8). */
function rmwBytes(size: number): string {
  const at = (i: number) => (i === 0 ? "UC[RK]" : `UC[RK + ${i}]`);
  const word = (o: number, n: number) => {
    const parts = Array.from({ length: n }, (_, i) => (i === 0 ? at(o) : `(${at(o + i)} << ${8 * i})`));
    return n === 4 ? `(${parts.join(" | ")}) >>> 0` : parts.join(" | ");
  };
  return size === 8 ? `MV = ${word(0, 4)}; MH = ${word(4, 4)};` : `MV = ${word(0, size)};`;
}

/** Writes V (and H, for 8 bytes) as `size` bytes at RK of the page UC. */
function rmwStore(size: number): string {
  const shifts = ["V", "V >> 8", "V >> 16", "V >> 24", "H", "H >> 8", "H >> 16", "H >> 24"];
  return shifts.slice(0, size).map((x, i) => `UC[RK${i ? ` + ${i}` : ""}] = ${x};`).join(" ");
}

/**
 * The arithmetic of a memory destination's operation `op` (rmwOp) of `size` bytes: the operand read in MV (MH), the
 * other `b` (halves), CF of the flags before in C; the result into V (H); of 64 bits the flags into E, as ops/alu.ts
 * alu64 (of fewer, they stay lazy in the locals, as alu and incdec record them).
 */
function rmwArith(op: number, size: number, b: readonly [string, string]): string {
  const inc = op >= 8;
  const [kind, fop] = inc
    ? [op === 9 ? 5 : 0, op === 9 ? F_DEC : F_INC]
    : [op, [F_ADD, F_LOGIC, F_ADD, F_SUB, F_LOGIC, F_SUB, F_LOGIC, F_SUB][op]];
  const withC = kind === 2 || kind === 3;
  if (size === 8) {
    let body = `A = MV; AH = MH; B = ${inc ? 1 : b[0]}; BH = ${inc ? 0 : b[1]}; `;
    if (kind === 0 || kind === 2) {
      body += `L = A + B${withC ? " + C" : ""}; V = L >>> 0; L = AH + BH + (L > ${MASK[4]} ? 1 : 0); ` +
        `H = L >>> 0; K = L > ${MASK[4]} ? 1 : 0;`;
    } else if (kind === 3 || kind === 5) {
      body += `L = A - B${withC ? " - C" : ""}; V = L >>> 0; L = AH - BH - (L < 0 ? 1 : 0); H = L >>> 0; ` +
        "K = L < 0 ? 1 : 0;";
    } else {
      const o = kind === 1 ? "|" : kind === 4 ? "&" : "^";
      body += `V = (A ${o} B) >>> 0; H = (AH ${o} BH) >>> 0; K = 0;`;
    }
    if (inc) body += " K = C;";
    return `${body} E = ${eagerOf({ fop, size: 8 })};`;
  }
  // 8, 16, 32 bits: lazy flags (rmwKind) from A, B, V and the carry-in or kept CF in C.
  const fit = (x: string) => (size === 4 ? `(${x}) >>> 0` : `(${x}) & ${MASK[size]}`);
  const v = inc
    ? (op === 9 ? "A - 1" : "A + 1")
    : withC
    ? (kind === 2 ? "A + B + C" : "A - B - C")
    : `A ${ALU_OP[kind]} B`;
  return `A = MV; B = ${inc ? 1 : b[0]}; V = ${fit(v)};`;
}

/**
 * An ALU operation (not CMP) or INC/DEC on memory (a read-modify-write): when the write TLB holds the page (the last
 * page stored to, or a look-up) and the operand lies inside it, the bytes are read, changed and written there, the
 * flags lazy in the locals (of 64 bits eager in E); anything else (a segment check, a watchpoint, a miss, a page's
 * end) calls the semantic function, which reads with write intent, faults as the interpreter does, and leaves the
 * flags in the CPU (read back into the locals or E).
 * The write TLB holds no code or MMIO page, so only the semantic function may queue an exit or write code: the block
 * then leaves after it.
 */
function rmw(d: Insn, site: Site): string {
  const size = d.size, seg = segmentOf(d), mode = d.mode, op = rmwOp(d);
  const [reg, sz] = [d.reg, size === 8 ? 4 : size];
  const b: [string, string] = d.jit === "aluRmImm" || d.jit === "aluRmImm64"
    ? [String((d.imm & MASK[sz]) >>> 0), size === 8 ? String(d.imm2 >>> 0) : "0"]
    : size === 8
    ? halves(reg)
    : [regRead(reg, size), "0"];
  const withC = op === 2 || op === 3 || op >= 8;
  let fast: string, linear: string;
  if (mode === 8) {
    fast = seg >= 4
      ? "false"
      : `(${canonicalHigh("LH", false)} || (LH === ${CANONICAL_HIGH_TOP} && LA <= ${TWO32 - size})) && FA`;
    linear = `PG = (LH & ${HIGH16}) * ${PAGES_PER_4G} + (LA >>> ${PAGE_SHIFT});`;
  } else {
    fast = `GW${seg} && LA <= GL${seg} - ${size - 1}`;
    linear = `LA = (GB${seg} + LA) >>> 0; PG = LA >>> ${PAGE_SHIFT};`;
  }
  // The page it last changed (UT: its tag, UC: its bytes, UO: its offset in them), else the write TLB's look-up.
  const hit = `(UT === PG + TB || ((TI = (LA >>> ${PAGE_SHIFT}) & ${TLB_MASK}), wTag[TI] === PG + TB && ` +
    "((UT = PG + TB), (UC = wBuf[TI]), (UO = wOff[TI]), true)))";
  const off = offset(d, site.next)!;
  const setOff = mode === 8 ? off : `LA = ${off};`;
  const next = site.next;
  const ip = mode === 8
    ? `c.eip = ${num(next >>> 0)}; c.ripHigh = ${num(Math.floor(next / 2 ** 32) >>> 0)};`
    : `c.eip = ${num(next)};`;
  // Not the block's last instruction (site.stop): after the semantic function, leave when it queued an exit or wrote
  // code, as codegen.ts does after a call.
  // The semantic function leaves the flags in the CPU: eager ones (64 bits) are read back into E, the lazy record of
  // the others into the locals (ops/alu.ts alu and incdec record the operands, the result and C as these do).
  const stop = site.stop === ""
    ? ""
    : ` if (c.exits.length !== 0 || c.codeGen !== g) { ${ip}${SPILL} return ((n + 1) << 6) | 2; }`;
  const back = size === 8 ? "E = c.arith();" : `A = c.fa; B = c.fb; V = c.fres;${withC ? " C = c.fcin;" : ""}`;
  const slow = `${site.sync} c.eip = ${num(site.eip)}; c.nextEip = ${num(next)}; ${site.fn}(c, ${site.name}); ` +
    `${RELOAD} ${back}${stop}`;
  return `var UT, UC, UO; ${withC ? `C = ${carry(site.producer)}; ` : ""}${setOff} OK = 0; if (${fast}) { ${linear} ` +
    `if (${hit} && (LA & ${PAGE_MASK}) <= ${PAGE_SIZE - size}) { OK = 1; RK = UO + (LA & ${PAGE_MASK}); ` +
    `${rmwBytes(size)} ${rmwArith(op, size, b)} ${rmwStore(size)} } } if (OK === 0) { ${slow} }`;
}

/** Emits a branch at its place: at the end of a block (`last`), or a Jcc on the way whose taken branch leaves through `exit`. */
type BranchEmitter = (d: Insn, site: Site, exit: number, last: boolean) => string | undefined;

/** How a block's code leaves through exit `kind` (BlockFn). */
const leave: Leave = (kind) => `return ((n + 1) << 6) | ${kind};`;

/** CALL rel's checked destination (goTo), or undefined when it faults. */
function callTarget(d: Insn, site: Site): string | undefined {
  const rel = d.osize === 2 ? (d.imm << 16) >> 16 : d.imm | 0;
  return goTo(d, site.next + rel, site.csLimit);
}

/** A Jcc (`cond`) or JMP rel. */
function jump(cond: boolean): BranchEmitter {
  return (d, site, exit, last) => {
    const target = goTo(d, jumpTarget(d, site.next), site.csLimit);
    if (target === undefined) return undefined;
    // Back to the block's own start: the next iteration without leaving the function, up to `loops` of them.
    const taken = loopsBack(d, site.next, site.entry)
      ? `if (++n < LIM) {${site.backSync} continue; } ${target}${site.sync} return (n << 6) | ${exit};`
      : `${target}${site.sync} return ((n + 1) << 6) | ${exit};`;
    if (!cond) return taken;
    const test = `if (${condition(d.op & 0xf, site.producer)}) { ${taken} }`;
    // On the way through a block, not taken simply goes on; at its end, the block leaves for the next instruction.
    if (!last) return test;
    return `${test}\n${goTo(d, site.next, Infinity)!}${site.sync} return ((n + 1) << 6);`;
  };
}

/** The templates of the branches that end a block, by name (safe.ts ENDS lists them all). */
const BRANCHES: Readonly<Partial<Record<JitTemplate, BranchEmitter>>> = {
  jcc: jump(true),
  jccLong: jump(true),
  jmpRel: jump(false),
  jmpRelLong: jump(false),
  callRel: (d, site) => callRel32(d, site, callTarget(d, site), leave),
  callRelLong: (d, site) => callRel64(d, site, callTarget(d, site), leave),
  ret: (d, site) => ret32(d, site, leave),
  retLong: (d, site) => ret64(d, site, leave),
};

/**
 * A Jcc/JMP rel, CALL rel or RET: at the end of a block (`last`), or a Jcc on the way whose taken branch leaves
 * through `exit`. Undefined when it is called through its semantic function.
 */
export function branch(d: Insn, site: Site, exit: number, last: boolean): string | undefined {
  return BRANCHES[d.jit]?.(d, site, exit, last);
}

/** The branches to a relative target: Jcc and JMP rel. */
const JUMPS: ReadonlySet<JitTemplate> = new Set(["jcc", "jccLong", "jmpRel", "jmpRelLong"]);

/** The target of a Jcc or JMP rel `d` (`next` is the RIP after it). */
function jumpTarget(d: Insn, next: number): number {
  const rel = d.op < 0x100 && d.op !== 0xe9 ? (d.imm << 24) >> 24 : d.osize === 2 ? (d.imm << 16) >> 16 : d.imm | 0;
  return d.mode === 8 ? (d.osize === 2 ? (next + rel) & MASK[2] : next + rel) : next + rel;
}

/**
 * Where the Jcc or JMP rel `d` goes (`next` is the RIP after it), as the block's code counts instruction pointers (the
 * whole RIP in 64-bit mode, else EIP truncated to the operand size); undefined for other instructions.
 */
export function relativeTarget(d: Insn, next: number): number | undefined {
  if (!JUMPS.has(d.jit)) return undefined;
  const t = jumpTarget(d, next);
  return d.mode === 8 ? t : (t & MASK[d.osize]) >>> 0;
}

/** Whether `d` is a Jcc or JMP rel whose target is the block's entry `entry` (so the block loops there). */
export function loopsBack(d: Insn, next: number, entry: number): boolean {
  return relativeTarget(d, next) === entry;
}

/**
 * The opening of a forward branch inside a block: the Jcc `d` skips the instructions up to its target when its
 * condition holds, so they run inside `if (<not taken>) {` (codegen.ts closes it before the target).
 */
export function skipOpen(d: Insn, producer: Producer | null): string {
  return `if (${condition((d.op & 0xf) ^ 1, producer)}) {`;
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

/** Sets the instruction pointer to `t` (as the interpreter would), or undefined when that faults. */
function goTo(d: Insn, t: number, csLimit: number): string | undefined {
  if (d.mode === 8) {
    const v = d.osize === 2 ? t & MASK[2] : t;
    if (v < -TWO47 || v >= TWO47) return undefined;
    return `c.eip = ${num(v >>> 0)}; c.ripHigh = ${num(Math.floor(v / 2 ** 32) >>> 0)};`;
  }
  const v = (t & MASK[d.osize]) >>> 0;
  if (v > csLimit) return undefined;
  return `c.eip = ${num(v)}; if (c.efer & ${EFER_LMA}) c.ripHigh = 0;`;
}
