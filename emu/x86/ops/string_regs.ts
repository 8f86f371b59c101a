/**
 * The registers of the string instructions (MOVS, CMPS, STOS, LODS, SCAS,
 * INS, OUTS): the item step that EFLAGS.DF gives, the source segment, and
 * rSI, rDI and rCX read and advanced with the instruction's address size.
 * Outside 64-bit mode that size is 16 or 32 bits and a register wraps at
 * it; in 64-bit mode it is 64 bits (a signed address) or, with a 67
 * prefix, 32 bits, written with the register's upper half cleared.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { DF, MASK } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { DS, ECX } from "../state.ts";
import { regSigned, TWO32 } from "../long/access.ts";

/** The signed distance from one item to the next: the item size, negative when EFLAGS.DF is set. */
export function stepOf(cpu: Cpu, d: Insn): number {
  return cpu.eflRest & DF ? -d.size : d.size;
}

/** The segment of the source operand (DS:rSI unless a segment prefix overrides it). */
export function sourceSeg(d: Insn): number {
  return d.seg >= 0 ? d.seg : DS;
}

/** Adds `by` to register `reg` at a 16- or 32-bit address size (outside 64-bit mode), wrapping at it. */
export function advance(cpu: Cpu, reg: number, d: Insn, by: number): void {
  cpu.setReg(reg, d.asize, ((cpu.getReg(reg, d.asize) + by) & MASK[d.asize]) >>> 0);
}

/** In 64-bit mode: the address in register `n` at the instruction's address size (64 bits signed, or 32). */
export function addressLong(cpu: Cpu, n: number, d: Insn): number {
  return d.asize === 8 ? regSigned(cpu, n) : cpu.r32[n << 1];
}

/** In 64-bit mode: adds `by` to register `n` at the instruction's address size (a 32-bit one clears the upper half). */
export function advanceLong(cpu: Cpu, n: number, d: Insn, by: number): void {
  const r = cpu.r32, lo = r[n << 1] + by;
  r[n << 1] = lo >>> 0;
  r[(n << 1) + 1] = d.asize === 8 ? (r[(n << 1) + 1] + Math.floor(lo / TWO32)) >>> 0 : 0;
}

/** In 64-bit mode: the REP count in RCX (or ECX), as a number (2^32 stands for any count of 2^32 or more). */
export function countLong(cpu: Cpu, d: Insn): number {
  const lo = cpu.r32[ECX << 1], hi = d.asize === 8 ? cpu.r32[(ECX << 1) + 1] : 0;
  return hi ? TWO32 : lo;
}
