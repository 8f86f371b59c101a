/**
 * BOUND: checks a signed array index against a pair of bounds in memory
 * and raises #BR when it lies outside them.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { BR, fault } from "../fault.ts";
import type { Insn } from "../insn.ts";
import { MASK } from "../flags.ts";

/** 62: BOUND r16/32, m16&16/m32&32 (a register operand is #UD, left to the decoder's MEMONLY). */
export function bound(cpu: Cpu, d: Insn): void {
  const size = d.osize, seg = cpu.seg(d), off = cpu.ea(d);
  const shift = 32 - 8 * size;
  const lower = (cpu.read(seg, off, size) << shift) >> shift;
  const upper = (cpu.read(seg, (off + size) & MASK[d.asize], size) << shift) >> shift;
  const index = (cpu.getReg(d.reg, size) << shift) >> shift;
  if (index < lower || index > upper) fault(BR);
}
