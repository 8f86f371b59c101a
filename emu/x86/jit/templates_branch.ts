/**
 * The branch templates that end a block or leave it through a side exit: Jcc, JMP rel, CALL rel and RET (the last two
 * through stack.ts), and what codegen.ts and block.ts ask of a relative branch (its target, whether it loops back to
 * the block's entry, the opening of a forward skip).
 *
 * @module
 */
import { MASK } from "../flags.ts";
import { EFER_LMA, TWO47 } from "../long/access.ts";
import type { Insn, JitTemplate } from "../insn.ts";
import { callRel32, callRel64, type Leave, ret32, ret64 } from "./stack.ts";
import { num } from "./pool.ts";
import { condition } from "./templates_flags.ts";
import type { Producer, Site } from "./templates_site.ts";

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
