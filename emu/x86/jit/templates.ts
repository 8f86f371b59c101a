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
 * see it (plan.ts decides).
 *
 * @module
 */
import { F_ADD, F_DEC, F_INC, F_LOGIC, F_SUB } from "../flags.ts";
import type { Exec, Insn } from "../insn.ts";
import * as alu from "../ops/alu.ts";
import * as ctl from "../ops/control.ts";
import * as mov from "../ops/mov.ts";
import * as c64 from "../long/control64.ts";
import * as a64 from "../long/alu64.ts";
import { RIP_BASE } from "../long/modrm64.ts";
import { stackBranch, stackTemplate } from "./stack.ts";

/** The flag kind of a 64-bit template: eager flags in the local E (as EFLAGS bits). */
export const F_EAGER64 = -1;

/** A template's code, and whether it may queue an exit or write a code page (the block then checks). */
export interface Template {
  readonly code: string;
  readonly mayExit: boolean;
}

/** The flag-setting template before this instruction in the block, whose operands are in the locals. */
export interface Producer {
  /** Its lazy-flags kind (F_ADD, F_SUB, F_LOGIC, F_INC, F_DEC). */
  readonly fop: number;
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
  /** Whether its own flags must be written to the CPU. */
  readonly storeFlags: boolean;
  /** The name of its decoded record in the block's code. */
  readonly name: string;
  /** The block's entry: its EIP, or its whole RIP in 64-bit mode. */
  readonly entry: number;
  /** Iterations a block that loops to its own entry runs before it returns (a branch there continues a loop). */
  readonly loops: number;
  /** The name of its semantic function in the block's code. */
  readonly fn: string;
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
const ALU_EXPR = ["(A + B) >>> 0", "(A | B) >>> 0", "", "", "(A & B) >>> 0", "(A - B) >>> 0", "(A ^ B) >>> 0"];

/** The register `n` (0-15) as an expression, and its 32-bit write (a 32-bit write zeroes the upper half). */
const reg = (n: number) => `r[${n << 1}]`;
const setReg = (n: number, v: string) => `r[${n << 1}] = ${v}; r[${(n << 1) + 1}] = 0;`;

/** The lazy-flags record of the producer whose operands are in the locals. */
function flagStore(fop: number, store: boolean): string {
  if (!store) return "";
  if (fop === F_EAGER64) return " c.fop = 0; c.fbits = E;";
  const cin = fop === F_INC || fop === F_DEC ? " c.fcin = C;" : "";
  return ` c.fop = ${fop}; c.fa = A; c.fb = B; c.fres = V; c.fsize = 4;${cin}`;
}

/** CF of `p` from the locals, or read from the CPU. */
function carry(p: Producer | null): string {
  if (p === null) return "c.cf()";
  switch (p.fop) {
    case F_ADD:
      return "(V < A ? 1 : 0)";
    case F_SUB:
      return "(A < B ? 1 : 0)";
    case F_LOGIC:
      return "0";
    case F_EAGER64:
      return "(E & 1)";
    default:
      return "C";
  }
}

/** Condition `cc` (Jcc's low nibble) from the locals of `p`, or read from the CPU. */
export function condition(cc: number, p: Producer | null): string {
  const base = p === null ? undefined : conditionOf(cc >> 1, p.fop);
  if (base === undefined) return `c.cond(${cc})`;
  return cc & 1 ? `!(${base})` : `(${base})`;
}

function conditionOf(kind: number, fop: number): string | undefined {
  if (fop === F_EAGER64) return EAGER_CONDITIONS[kind];
  const zf = "V === 0", sf = "V >= 0x80000000";
  const of = fop === F_ADD
    ? "((A ^ V) & (B ^ V)) < 0"
    : fop === F_SUB
    ? "((A ^ B) & (A ^ V)) < 0"
    : fop === F_INC
    ? "V === 0x80000000"
    : fop === F_DEC
    ? "V === 0x7fffffff"
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
      return undefined; // PF: from the CPU
    case 6:
      return fop === F_SUB ? "(A | 0) < (B | 0)" : `(${sf}) !== (${of})`;
    default:
      return fop === F_SUB ? "(A | 0) <= (B | 0)" : `${zf} || (${sf}) !== (${of})`;
  }
}

/** Conditions from eager flags in E: O, C, Z, BE, S, P, L, LE. */
const EAGER_CONDITIONS = [
  "(E & 0x800) !== 0",
  "(E & 1) !== 0",
  "(E & 0x40) !== 0",
  "(E & 0x41) !== 0",
  "(E & 0x80) !== 0",
  "(E & 4) !== 0",
  "(((E >> 7) ^ (E >> 11)) & 1) !== 0",
  "(E & 0x40) !== 0 || (((E >> 7) ^ (E >> 11)) & 1) !== 0",
];

/** The effective address of a 32-bit memory operand (no override of the address size), or undefined. */
function address(d: Insn): string | undefined {
  if (d.mode === 8 || d.asize !== 4) return undefined;
  const parts = [String(d.disp | 0)];
  if (d.base >= 0) parts.push(reg(d.base));
  if (d.index >= 0) parts.push(d.scale ? `(${reg(d.index)} << ${d.scale})` : reg(d.index));
  return `((${parts.join(" + ")}) >>> 0)`;
}

/** The segment of a memory operand. */
const segment = (d: Insn) => (d.seg >= 0 ? d.seg : d.eaSeg);

const EAGER: Producer = { fop: F_EAGER64 };

/** Whether `t` is a template's flag kind: sets every flag from locals A, B, V (C). */
export function producerOf(d: Insn): Producer | null {
  if (d.size === 8 && d.mod === 3) {
    const e = d.exec;
    if (e === a64.aluRmReg64 || e === a64.aluRegRm64) return ALU_KIND[(d.op >> 3) & 7] === undefined ? null : EAGER;
    if (e === a64.aluRmImm64) return ALU_KIND[d.reg] === undefined ? null : EAGER;
    if (e === a64.incDec64) return EAGER;
    return null;
  }
  if (d.size === 8 && d.exec === a64.aluAccImm64) return ALU_KIND[(d.op >> 3) & 7] === undefined ? null : EAGER;
  if (d.size !== 4) return null;
  const e = d.exec;
  if (e === alu.aluRmReg || e === alu.aluRegRm || e === alu.aluAccImm) {
    if (d.mod !== 3 && e !== alu.aluAccImm) return null;
    const fop = ALU_KIND[(d.op >> 3) & 7];
    return fop === undefined ? null : { fop };
  }
  if (e === alu.aluRmImm && d.mod === 3) {
    const fop = ALU_KIND[d.reg];
    return fop === undefined ? null : { fop };
  }
  if (e === alu.testRmReg && d.mod === 3) return { fop: F_LOGIC };
  if (e === alu.testAccImm) return { fop: F_LOGIC };
  if (e === alu.incDecReg && d.mode !== 8) return { fop: d.op >= 0x48 ? F_DEC : F_INC };
  if (e === alu.incDecRm && d.mod === 3) return { fop: d.reg === 1 ? F_DEC : F_INC };
  return null;
}

/** True for templates that can neither fault nor touch memory (the flags before them stay unobservable). */
export function isQuiet(d: Insn): boolean {
  if (producerOf(d)) return true;
  if (d.size !== 4 && d.exec !== mov.lea) return false;
  const e: Exec = d.exec;
  if ((e === mov.movRmReg || e === mov.movRegRm) && d.mod === 3) return true;
  if (e === mov.movRegImm && d.mode !== 8) return true;
  if (e === mov.movRmImm && d.mod === 3) return true;
  return e === mov.lea && d.osize === 4 && address(d) !== undefined;
}

/** The template of `d` at `site`, or undefined when it is called through its semantic function. */
export function template(d: Insn, site: Site): Template | undefined {
  const e = d.exec;
  const stack = stackTemplate(d, site);
  if (stack !== undefined) return { code: stack, mayExit: true };
  const p = producerOf(d);
  if (p) return { code: producerCode(d, p.fop, site), mayExit: false };
  if (e === mov.lea) {
    const ea = address(d);
    return d.osize === 4 && ea ? { code: setReg(d.reg, ea), mayExit: false } : undefined;
  }
  if (d.size !== 4) return undefined;
  if ((e === mov.movRmReg || e === mov.movRegRm) && d.mod === 3) {
    const [to, from] = e === mov.movRmReg ? [d.rm, d.reg] : [d.reg, d.rm];
    return { code: setReg(to, reg(from)), mayExit: false };
  }
  if (e === mov.movRegImm && d.mode !== 8) return { code: setReg(d.op & 7, String(d.imm >>> 0)), mayExit: false };
  if (e === mov.movRmImm && d.mod === 3) return { code: setReg(d.rm, String(d.imm >>> 0)), mayExit: false };
  if (d.mod === 3) return undefined;
  let ea = address(d), at = `c.eip = ${site.eip};`;
  if (ea === undefined && d.mode === 8 && d.asize === 8 && d.base >= 0 && d.base !== RIP_BASE && d.index < 0) {
    // base + disp as a signed number: exact where canonical, and far out of range (so faulting alike) where not.
    ea = `((r[${(d.base << 1) + 1}] | 0) * 4294967296 + r[${d.base << 1}] + ${d.disp | 0})`;
  } else if (ea === undefined && d.mode === 8) {
    // 64-bit addressing (RIP-relative included) through the CPU's own effective-address code.
    ea = `c.ea(${site.name})`;
    at = `c.eip = ${site.eip}; c.nextEip = ${site.next};`;
  }
  if (ea === undefined) return undefined;
  const load = `c.mem.read32(c.lin(${segment(d)}, ${ea}, 4, false))`;
  const store = (v: string) => `c.mem.write32(c.lin(${segment(d)}, ${ea}, 4, true), ${v});`;
  if (e === mov.movRegRm) return { code: `${at} ${setReg(d.reg, load)}`, mayExit: false };
  if (e === mov.movRmReg) return { code: `${at} ${store(reg(d.reg))}`, mayExit: true };
  if (e === mov.movRmImm) return { code: `${at} ${store(String(d.imm >>> 0))}`, mayExit: true };
  return undefined;
}

/** An ALU, TEST or INC/DEC template on registers. */
function producerCode(d: Insn, fop: number, site: Site): string {
  const e = d.exec;
  const store = flagStore(fop, site.storeFlags);
  if (fop === F_EAGER64) return producer64(d, site, store);
  if (fop === F_INC || fop === F_DEC) {
    const n = e === alu.incDecReg ? d.op & 7 : d.rm;
    const op = fop === F_INC ? "(A + 1) >>> 0" : "(A - 1) >>> 0";
    return `C = ${carry(site.producer)}; A = ${reg(n)}; B = 1; V = ${op}; ${setReg(n, "V")}${store}`;
  }
  let dst: number, a: string, b: string, kind: number;
  if (e === alu.testRmReg || e === alu.testAccImm) {
    [dst, kind] = [-1, 4];
    [a, b] = e === alu.testRmReg ? [reg(d.rm), reg(d.reg)] : [reg(0), String(d.imm >>> 0)];
  } else if (e === alu.aluRmImm) {
    [dst, kind, a, b] = [d.rm, d.reg, reg(d.rm), String(d.imm >>> 0)];
  } else if (e === alu.aluAccImm) {
    [dst, kind, a, b] = [0, (d.op >> 3) & 7, reg(0), String(d.imm >>> 0)];
  } else if (e === alu.aluRmReg) {
    [dst, kind, a, b] = [d.rm, (d.op >> 3) & 7, reg(d.rm), reg(d.reg)];
  } else {
    [dst, kind, a, b] = [d.reg, (d.op >> 3) & 7, reg(d.reg), reg(d.rm)];
  }
  const write = kind === 7 || dst < 0 ? "" : ` ${setReg(dst, "V")}`;
  return `A = ${a}; B = ${b}; V = ${ALU_EXPR[kind === 7 ? 5 : kind]};${write}${store}`;
}

/** A 64-bit ALU or INC/DEC template on registers: the result in V (low) and H (high), the flags in E, as alu64. */
function producer64(d: Insn, site: Site, store: string): string {
  const e = d.exec;
  const hi = (n: number) => `r[${(n << 1) + 1}]`;
  let dst: number, kind: number, a: [string, string], b: [string, string], pre = "";
  if (e === a64.incDec64) {
    [dst, kind, a, b] = [d.rm, d.reg === 1 ? 5 : 0, [reg(d.rm), hi(d.rm)], ["1", "0"]];
    pre = `C = ${carry(site.producer)}; `;
  } else if (e === a64.aluRmImm64) {
    [dst, kind, a, b] = [d.rm, d.reg, [reg(d.rm), hi(d.rm)], [String(d.imm >>> 0), String(d.imm2 >>> 0)]];
  } else if (e === a64.aluAccImm64) {
    [dst, kind, a, b] = [0, (d.op >> 3) & 7, [reg(0), hi(0)], [String(d.imm >>> 0), String(d.imm2 >>> 0)]];
  } else if (e === a64.aluRmReg64) {
    [dst, kind, a, b] = [d.rm, (d.op >> 3) & 7, [reg(d.rm), hi(d.rm)], [reg(d.reg), hi(d.reg)]];
  } else {
    [dst, kind, a, b] = [d.reg, (d.op >> 3) & 7, [reg(d.reg), hi(d.reg)], [reg(d.rm), hi(d.rm)]];
  }
  let body = `${pre}A = ${a[0]}; AH = ${a[1]}; B = ${b[0]}; BH = ${b[1]}; `;
  if (kind === 0) {
    body += "L = A + B; V = L >>> 0; L = AH + BH + (L > 0xffffffff ? 1 : 0); H = L >>> 0; " +
      "E = (L > 0xffffffff ? 1 : 0) | (((AH ^ H) & (BH ^ H)) < 0 ? 0x800 : 0) | ((A ^ B ^ V) & 0x10);";
  } else if (kind === 5 || kind === 7) {
    body += "L = A - B; V = L >>> 0; L = AH - BH - (L < 0 ? 1 : 0); H = L >>> 0; " +
      "E = (L < 0 ? 1 : 0) | (((AH ^ BH) & (AH ^ H)) < 0 ? 0x800 : 0) | ((A ^ B ^ V) & 0x10);";
  } else {
    const op = kind === 1 ? "|" : kind === 4 ? "&" : "^";
    body += `V = (A ${op} B) >>> 0; H = (AH ${op} BH) >>> 0; E = 0;`;
  }
  body += " E |= PARITY[V & 0xff] << 2 | ((V | H) === 0 ? 0x40 : 0) | (H >= 0x80000000 ? 0x80 : 0);";
  if (e === a64.incDec64) body += " E = (E & ~1) | C;";
  if (kind !== 7) body += ` r[${dst << 1}] = V; r[${(dst << 1) + 1}] = H;`;
  return body + store;
}

/** The Jcc/JMP rel that ends a block, or undefined (then called through its semantic function). */
export function branch(d: Insn, site: Site): string | undefined {
  const e = d.exec;
  const cond = e === ctl.jcc || e === c64.jccLong;
  if (e === ctl.callRel || e === c64.callRelLong || e === ctl.ret || e === c64.retLong) {
    const rel = d.osize === 2 ? (d.imm << 16) >> 16 : d.imm | 0;
    const t = d.mode === 8 ? site.next + rel : site.next + rel;
    const target = e === ctl.callRel || e === c64.callRelLong ? goTo(d, t, site.csLimit) : undefined;
    return stackBranch(d, site, target, (kind) => `return ((n + 1) << 2) | ${kind};`);
  }
  if (!cond && e !== ctl.jmpRel && e !== c64.jmpRelLong) return undefined;
  const rel = d.op < 0x100 && d.op !== 0xe9 ? (d.imm << 24) >> 24 : d.osize === 2 ? (d.imm << 16) >> 16 : d.imm | 0;
  const t = d.mode === 8 ? (d.osize === 2 ? (site.next + rel) & 0xffff : site.next + rel) : site.next + rel;
  const target = goTo(d, t, site.csLimit);
  if (target === undefined) return undefined;
  // Back to the block's own start: the next iteration without leaving the function, up to `loops` of them.
  const back = (d.mode === 8 ? t : (t & (d.osize === 2 ? 0xffff : 0xffffffff)) >>> 0) === site.entry;
  const taken = back
    ? `if (++n < ${site.loops}) continue; ${target} return (n << 2) | 1;`
    : `${target} return ((n + 1) << 2) | 1;`;
  if (!cond) return taken;
  const fall = goTo(d, site.next, Infinity)!;
  return `if (${condition(d.op & 0xf, site.producer)}) { ${taken} }\n${fall} return ((n + 1) << 2);`;
}

/** Sets the instruction pointer to `t` (as the interpreter would), or undefined when that faults. */
function goTo(d: Insn, t: number, csLimit: number): string | undefined {
  if (d.mode === 8) {
    const v = d.osize === 2 ? t & 0xffff : t;
    if (v < -(2 ** 47) || v >= 2 ** 47) return undefined;
    return `c.eip = ${v >>> 0}; c.ripHigh = ${Math.floor(v / 2 ** 32) >>> 0};`;
  }
  const v = (t & (d.osize === 2 ? 0xffff : 0xffffffff)) >>> 0;
  if (v > csLimit) return undefined;
  return `c.eip = ${v}; if (c.efer & 0x400) c.ripHigh = 0;`;
}
