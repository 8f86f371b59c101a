/**
 * Templates: the common integer instructions with 32-bit operands written
 * out as JavaScript, their registers, immediates, addresses and flag kinds
 * as constants: MOV, LEA, the ALU operations but ADC/SBB, TEST, INC/DEC,
 * and the Jcc/JMP that end a block.
 *
 * Flags stay lazy (flags.ts): a template that sets them keeps its operands
 * and result in the block's locals A, B, V (and the carry-in C of INC/DEC),
 * so that a Jcc or INC/DEC after it in the same block evaluates from
 * locals, and writes the lazy record into the CPU only when something may
 * see it (codegen.ts decides).
 *
 * @module
 */
import { CF, F_ADD, F_DEC, F_INC, F_LOGIC, F_SUB, MASK, OF, PF, SF, SIGN, ZF } from "../flags.ts";
import { EFER_LMA, TWO47 } from "../long/access.ts";
import { OF_SHIFT, SF_SHIFT, ZF_CF } from "./names.ts";
import type { Insn } from "../insn.ts";
import { stackBranch, stackTemplate } from "./stack.ts";
import { eagerCode, eagerOf, F_EAGER_LOCAL, isEager, OF64 } from "./eager.ts";
import { loadInto, MASK_TEXT, offset, regRead, regWrite, segmentOf, storeFrom } from "./operands.ts";

/** The flag kind of templates with eager flags in the local E (64-bit ALU, eager.ts). */
export const F_EAGER64 = F_EAGER_LOCAL;

/** A template's code, and whether it may queue an exit or write a code page (the block then checks). */
export interface Template {
  readonly code: string;
  readonly mayExit: boolean;
}

/** The flag-setting template before this instruction in the block, whose operands are in the locals. */
export interface Producer {
  /** Its lazy-flags kind (F_ADD, F_SUB, F_LOGIC, F_INC, F_DEC, or F_EAGER64). */
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

/** Statements writing the lazy-flags record of the producer whose operands are in the locals into the CPU. */
export function flagSync(p: Producer): string {
  if (p.fop === F_EAGER64) return " c.fop = 0; c.fbits = E;";
  if (p.size === 8) return ` c.fop = 0; c.fbits = ${eagerOf(p)};`;
  const cin = p.fop === F_INC || p.fop === F_DEC ? " c.fcin = C;" : "";
  return ` c.fop = ${p.fop}; c.fa = A; c.fb = B; c.fres = V; c.fsize = ${p.size};${cin}`;
}

/** CF of `p` from the locals, or read from the CPU. */
function carry(p: Producer | null): string {
  if (p === null) return "c.cf()";
  if (p.size === 8) return "K";
  switch (p.fop) {
    case F_ADD:
      return "(V < A ? 1 : 0)";
    case F_SUB:
      return "(A < B ? 1 : 0)";
    case F_LOGIC:
      return "0";
    case F_EAGER64:
      return `(E & ${CF})`;
    default:
      return "C";
  }
}

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
  const of = fop === F_ADD
    ? `((A ^ V) & (B ^ V) & ${sign}) !== 0`
    : fop === F_SUB
    ? `((A ^ B) & (A ^ V) & ${sign}) !== 0`
    : fop === F_INC
    ? `V === ${sign}`
    : fop === F_DEC
    ? `V === ${sign} - 1`
    : "false";
  const cf = fop === F_ADD ? "V < A" : fop === F_SUB ? "A < B" : fop === F_LOGIC ? "false" : "C !== 0";
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
const EAGER32: Producer = { fop: F_EAGER64, size: 4 };

/** Whether a memory operand of `d` has a template address (not 16-bit addressing) and is only read. */
function readableMemory(d: Insn): boolean {
  return d.mod !== 3 && !d.rmw && (d.mode === 8 || d.asize === 4);
}

/** The flag kind `d` sets from locals A, B, V (C), or null when it has no producer template. */
export function producerOf(d: Insn): Producer | null {
  const e = d.jit;
  if (d.size === 8) {
    if (d.mod !== 3 && e !== "aluAccImm64") return null;
    if (e === "aluRmReg64" || e === "aluRegRm64" || e === "aluAccImm64") {
      return LAZY64.get(ALU_KIND[(d.op >> 3) & 7] ?? -1) ?? null;
    }
    if (e === "aluRmImm64") return LAZY64.get(ALU_KIND[d.reg] ?? -1) ?? null;
    return e === "incDec64" ? LAZY64.get(d.reg === 1 ? F_DEC : F_INC)! : null;
  }
  if (isEager(d)) return EAGER32;
  const size = d.size;
  const memOk = d.mod === 3 || readableMemory(d);
  let fop: number | undefined;
  if (e === "aluAccImm") fop = ALU_KIND[(d.op >> 3) & 7];
  else if (e === "aluRegRm" && memOk) fop = ALU_KIND[(d.op >> 3) & 7];
  else if (e === "aluRmReg" && (d.mod === 3 || ((d.op >> 3) & 7) === 7 && memOk)) fop = ALU_KIND[(d.op >> 3) & 7];
  else if (e === "aluRmImm" && (d.mod === 3 || (d.reg === 7 && memOk))) fop = ALU_KIND[d.reg];
  else if ((e === "testRmReg" || e === "testRmImm") && memOk) fop = F_LOGIC;
  else if (e === "testAccImm") fop = F_LOGIC;
  else if (e === "incDecReg" && d.mode !== 8) fop = d.op >= 0x48 ? F_DEC : F_INC;
  else if (e === "incDecRm" && d.mod === 3) fop = d.reg === 1 ? F_DEC : F_INC;
  return fop === undefined ? null : { fop, size };
}

/** Whether `d` (an instruction with a producer template) reads a memory operand. */
function readsMemory(d: Insn): boolean {
  const e = d.jit;
  // Instructions without ModRM leave `mod` at 0: they have no memory operand.
  return d.mod !== 3 && e !== "aluAccImm" && e !== "testAccImm" && e !== "incDecReg" && e !== "aluAccImm64";
}

/** The template of `d` at `site`, or undefined when it is called through its semantic function. */
export function template(d: Insn, site: Site): Template | undefined {
  const e = d.jit;
  const stack = stackTemplate(d, site);
  if (stack !== undefined) return { code: stack, mayExit: true };
  const p = producerOf(d);
  if (p) {
    const code = d.size === 8
      ? producer64(d, site)
      : p.fop !== F_EAGER64
      ? producer(d, p, site)
      : eagerCode(d, site.producer, site.amd);
    return { code, mayExit: false };
  }
  if (e === "lea") {
    const off = d.mode !== 8 && d.osize === 4 ? offset(d, site.next) : undefined;
    return off ? { code: regWrite(d.reg, 4, off), mayExit: false } : undefined;
  }
  if (d.size === 8) return undefined;
  const size = d.size;
  if ((e === "movRmReg" || e === "movRegRm") && d.mod === 3) {
    const [to, from] = e === "movRmReg" ? [d.rm, d.reg] : [d.reg, d.rm];
    return { code: regWrite(to, size, regRead(from, size)), mayExit: false };
  }
  if (e === "movRegImm" && d.mode !== 8) {
    return { code: regWrite(d.op & 7, size, String(d.imm >>> 0)), mayExit: false };
  }
  if (e === "movRmImm" && d.mod === 3) return { code: regWrite(d.rm, size, String(d.imm >>> 0)), mayExit: false };
  if (d.mod === 3 && (e === "movzx" || e === "movsx") && d.osize === 4) {
    const from = regRead(d.rm, d.op & 1 ? 2 : 1);
    return { code: regWrite(d.reg, 4, e === "movzx" ? from : extend(from, d.op & 1 ? 2 : 1)), mayExit: false };
  }
  if (d.mod === 3) return undefined;
  const off = offset(d, site.next);
  if (off === undefined) return undefined;
  const at = `c.eip = ${site.eip};${site.sync}`, seg = segmentOf(d);
  const mode = d.mode;
  if (e === "movRegRm") {
    return { code: `${loadInto(seg, off, size, mode, at)} ${regWrite(d.reg, size, "MV")}`, mayExit: false };
  }
  if (e === "movRmReg") {
    return { code: storeFrom(seg, off, size, mode, regRead(d.reg, size), at, site.stop), mayExit: false };
  }
  if (e === "movRmImm") {
    return { code: storeFrom(seg, off, size, mode, String(d.imm >>> 0), at, site.stop), mayExit: false };
  }
  if ((e === "movzx" || e === "movsx") && d.osize === 4) {
    const n = d.op & 1 ? 2 : 1;
    const value = e === "movzx" ? "MV" : extend("MV", n);
    return { code: `${loadInto(seg, off, n, mode, at)} ${regWrite(d.reg, 4, value)}`, mayExit: false };
  }
  return undefined;
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
    ? `${loadInto(segmentOf(d), offset(d, site.next)!, size, d.mode, `c.eip = ${site.eip};${site.sync} `)} `
    : "";
  const rm = mem ? "MV" : regRead(d.rm, size);
  if (p.fop === F_INC || p.fop === F_DEC) {
    const n = e === "incDecReg" ? d.op & 7 : d.rm;
    const v = fit(p.fop === F_INC ? "A + 1" : "A - 1");
    return `C = ${carry(site.producer)}; A = ${regRead(n, size)}; B = 1; V = ${v}; ${regWrite(n, size, "V")}`;
  }
  const imm = String((d.imm & MASK[size]) >>> 0);
  let dst: number, a: string, b: string, kind: number;
  if (e === "testRmReg" || e === "testRmImm" || e === "testAccImm") {
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
  return `${at}A = ${a}; B = ${b}; V = ${fit(`A ${ALU_OP[kind]} B`)};${write}`;
}

/** The low half of register `n`. */
const reg = (n: number) => `r[${n << 1}]`;

/**
 * A 64-bit ALU or INC/DEC template on registers, as alu64: the operands in A/AH and B/BH, the result in V (low) and
 * H (high), CF in K; the other flags are computed from them only where they are used (eager.ts eagerOf).
 */
function producer64(d: Insn, site: Site): string {
  const e = d.jit;
  const hi = (n: number) => `r[${(n << 1) + 1}]`;
  let dst: number, kind: number, a: [string, string], b: [string, string], pre = "";
  if (e === "incDec64") {
    [dst, kind, a, b] = [d.rm, d.reg === 1 ? 5 : 0, [reg(d.rm), hi(d.rm)], ["1", "0"]];
    pre = `C = ${carry(site.producer)}; `;
  } else if (e === "aluRmImm64") {
    [dst, kind, a, b] = [d.rm, d.reg, [reg(d.rm), hi(d.rm)], [String(d.imm >>> 0), String(d.imm2 >>> 0)]];
  } else if (e === "aluAccImm64") {
    [dst, kind, a, b] = [0, (d.op >> 3) & 7, [reg(0), hi(0)], [String(d.imm >>> 0), String(d.imm2 >>> 0)]];
  } else if (e === "aluRmReg64") {
    [dst, kind, a, b] = [d.rm, (d.op >> 3) & 7, [reg(d.rm), hi(d.rm)], [reg(d.reg), hi(d.reg)]];
  } else {
    [dst, kind, a, b] = [d.reg, (d.op >> 3) & 7, [reg(d.reg), hi(d.reg)], [reg(d.rm), hi(d.rm)]];
  }
  let body = `${pre}A = ${a[0]}; AH = ${a[1]}; B = ${b[0]}; BH = ${b[1]}; `;
  if (kind === 0) {
    body += `L = A + B; V = L >>> 0; L = AH + BH + (L > ${MASK[4]} ? 1 : 0); H = L >>> 0; K = L > ${MASK[4]} ? 1 : 0;`;
  } else if (kind === 5 || kind === 7) {
    body += "L = A - B; V = L >>> 0; L = AH - BH - (L < 0 ? 1 : 0); H = L >>> 0; K = L < 0 ? 1 : 0;";
  } else {
    const op = kind === 1 ? "|" : kind === 4 ? "&" : "^";
    body += `V = (A ${op} B) >>> 0; H = (AH ${op} BH) >>> 0; K = 0;`;
  }
  if (e === "incDec64") body += " K = C;";
  if (kind !== 7) body += ` r[${dst << 1}] = V; r[${(dst << 1) + 1}] = H;`;
  return body;
}

/**
 * A Jcc/JMP rel, CALL rel or RET: at the end of a block (`last`), or a Jcc on the way whose taken branch leaves
 * through `exit`. Undefined when it is called through its semantic function.
 */
export function branch(d: Insn, site: Site, exit: number, last: boolean): string | undefined {
  const e = d.jit;
  const cond = e === "jcc" || e === "jccLong";
  if (e === "callRel" || e === "callRelLong" || e === "ret" || e === "retLong") {
    const rel = d.osize === 2 ? (d.imm << 16) >> 16 : d.imm | 0;
    const target = e === "callRel" || e === "callRelLong" ? goTo(d, site.next + rel, site.csLimit) : undefined;
    return stackBranch(d, site, target, (kind) => `return ((n + 1) << 6) | ${kind};`);
  }
  const t = jumpTarget(d, site.next);
  if (t === undefined) return undefined;
  const target = goTo(d, t, site.csLimit);
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
}

/** The target of a Jcc or JMP rel (`next` is the RIP after it), or undefined for any other instruction. */
function jumpTarget(d: Insn, next: number): number | undefined {
  const e = d.jit;
  if (e !== "jcc" && e !== "jccLong" && e !== "jmpRel" && e !== "jmpRelLong") return undefined;
  const rel = d.op < 0x100 && d.op !== 0xe9 ? (d.imm << 24) >> 24 : d.osize === 2 ? (d.imm << 16) >> 16 : d.imm | 0;
  return d.mode === 8 ? (d.osize === 2 ? (next + rel) & MASK[2] : next + rel) : next + rel;
}

/** Whether `d` is a Jcc or JMP rel whose target is the block's entry `entry` (so the block loops there). */
export function loopsBack(d: Insn, next: number, entry: number): boolean {
  const t = jumpTarget(d, next);
  if (t === undefined) return false;
  return (d.mode === 8 ? t : (t & MASK[d.osize]) >>> 0) === entry;
}

/**
 * Whether `d`, a flag producer, reads flags of the instruction before it (INC/DEC keep CF; rotates keep the other
 * flags; AMD's IMUL keeps SF, ZF, AF, PF).
 */
export function readsFlags(d: Insn, amd: boolean): boolean {
  const e = d.jit;
  if (e === "incDecReg" || e === "incDecRm" || e === "incDec64") return true;
  const p = producerOf(d);
  return p !== null && p.fop === F_EAGER64 && d.size !== 8 && (d.jit === "imul2" ? amd : d.reg < 2);
}

/** Sets the instruction pointer to `t` (as the interpreter would), or undefined when that faults. */
function goTo(d: Insn, t: number, csLimit: number): string | undefined {
  if (d.mode === 8) {
    const v = d.osize === 2 ? t & MASK[2] : t;
    if (v < -TWO47 || v >= TWO47) return undefined;
    return `c.eip = ${v >>> 0}; c.ripHigh = ${Math.floor(v / 2 ** 32) >>> 0};`;
  }
  const v = (t & MASK[d.osize]) >>> 0;
  if (v > csLimit) return undefined;
  return `c.eip = ${v}; if (c.efer & ${EFER_LMA}) c.ripHigh = 0;`;
}
