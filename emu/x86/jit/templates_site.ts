/**
 * What every template module shares: a template's code (`Template`), its place in the block (`Site`) and the flag
 * producer before it (`Producer`), and the small writers of registers, halves and slow-path prologues they all use.
 *
 * @module
 */
import { MASK } from "../flags.ts";
import type { Insn, JitTemplate } from "../insn.ts";
import { F_EAGER_LOCAL } from "./eager.ts";
import { regRead as fileRead, regWrite as fileWrite } from "./operands.ts";
import { R8_INDEX } from "../state.ts";
import { num } from "./pool.ts";

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

/**
 * Register `n` of `size` bytes (operands.ts regRead), a low byte register (AL-BL, SPL-DIL, R8B-R15B) as the low byte of
 * its 32-bit half: a looping block keeps the registers it names in locals only when it names no 8- or 16-bit view
 * (codegen.ts cacheRegisters), and the kernel's loops test a carry with SETB SIL; MOVZX ESI, SIL.
 */
export function regRead(n: number, size: number): string {
  const k = R8_INDEX[n];
  return size === 1 && (k & 7) === 0 ? `(r[${k >> 2}] & ${MASK[1]})` : fileRead(n, size);
}

/** Writes `v` (already masked) to register `n` of `size` bytes (operands.ts regWrite; a low byte as regRead). */
export function regWrite(n: number, size: number, v: string): string {
  const k = R8_INDEX[n];
  if (size !== 1 || (k & 7) !== 0) return fileWrite(n, size, v);
  return `r[${k >> 2}] = ((r[${k >> 2}] & ${~MASK[1] >>> 0}) | ${v}) >>> 0;`;
}

/** Whether a memory operand of `d` has a template address (not 16-bit addressing) and is only read. */
export function readableMemory(d: Insn): boolean {
  return d.mod !== 3 && !d.rmw && (d.mode === 8 || d.asize === 4);
}

/** Whether an ALU or TEST template's r/m operand is a register or memory it only reads (readableMemory). */
export function memOk(d: Insn): boolean {
  return d.mod === 3 || readableMemory(d);
}

/** Producer templates without ModRM (`mod` stays 0 in their records): they have no memory operand. */
export const NO_MODRM: ReadonlySet<JitTemplate> = new Set(["aluAccImm", "testAccImm", "incDecReg", "aluAccImm64"]);

/** Whether `d` (an instruction with a producer template) reads a memory operand. */
export function readsMemory(d: Insn): boolean {
  return d.mod !== 3 && !NO_MODRM.has(d.jit);
}

/** Emits the template of an instruction at its place in the block, or undefined to call its semantic function. */
export type Emitter = (d: Insn, site: Site) => Template | undefined;

/** A template's code that cannot queue an exit (or nothing). */
export function pure(code: string | undefined): Template | undefined {
  return code === undefined ? undefined : { code, mayExit: false };
}

/** Where a memory template sets EIP and writes out the flags before its slow path. */
export function at(site: Site): string {
  return `c.eip = ${num(site.eip)};${site.sync}`;
}

/** A 64-bit register's halves as two register-file expressions. */
export function halves(n: number): [string, string] {
  return [`r[${n << 1}]`, `r[${(n << 1) + 1}]`];
}

/** Writes the halves `lo`, `hi` to the 64-bit register `n`. */
export function setHalves(n: number, lo: string, hi: string): string {
  return `r[${n << 1}] = ${lo}; r[${(n << 1) + 1}] = ${hi};`;
}

/** The low half of register `n`. */
export const reg = (n: number) => `r[${n << 1}]`;
