/**
 * 64-bit mode accessors: RIP as a signed number, effective addresses with
 * REX registers and RIP-relative operands, canonical linear addresses (#GP,
 * or #SS for stack references), 64-bit registers and memory operands as
 * 32-bit halves, and the 64-bit stack.
 *
 * Numbers: an address or offset in 64-bit mode is a signed double (exact,
 * since a canonical address is below 2^47 in magnitude); a linear address
 * handed to paging is the 48-bit form, 0 to 2^48-1. 64-bit data are two
 * uint32 halves, never a BigInt.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { AC, fault, GP, SSF } from "../fault.ts";
import { AC as EFLAGS_AC } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { AR_L, CS, ESP, FS, GS, SS } from "../state.ts";
import type { State } from "../state.ts";
import { RIP_BASE } from "../modrm.ts";

import { CR0_AM, EFER_LMA } from "../control_bits.ts";

/** EFER bits, defined in control_bits.ts: re-exported for the block compiler and vcpu_state.ts. */
export { EFER_LMA, EFER_LME, EFER_NXE, EFER_SCE } from "../control_bits.ts";
export const TWO32 = 4294967296, TWO47 = 140737488355328, TWO48 = 281474976710656;
/** An offset that is certainly not canonical (what a 64-bit value too large for a double becomes). */
const FAR = 2 ** 62;

/** The result of a 64-bit read: [low half, high half]. Callers copy it before the next access. */
export const qv = new Uint32Array(2);

/** True in 64-bit mode (EFER.LMA with CS.L), not in compatibility mode. */
export function in64(s: State): boolean {
  return (s.efer & EFER_LMA) !== 0 && (s.segAr[CS] & AR_L) !== 0;
}

/** A 64-bit value given as halves, as a signed number (exact when it is canonical; else far out of range). */
export function signed(lo: number, hi: number): number {
  const h = hi | 0;
  if (h >= 0x200000 || h < -0x200000) return h < 0 ? -FAR : FAR;
  return h * TWO32 + lo;
}

/** RIP as a signed number. */
export function getRip(s: State): number {
  return signed(s.eip, s.ripHigh);
}

/** Sets RIP from a signed number. */
export function setRip(s: State, v: number): void {
  s.eip = v >>> 0;
  s.ripHigh = Math.floor(v / TWO32) >>> 0;
}

/** The 48-bit linear address of RIP (#GP unless canonical). */
export function ripLinear(s: State): number {
  const r = getRip(s);
  if (r < -TWO47 || r >= TWO47) fault(GP, 0);
  return r < 0 ? r + TWO48 : r;
}

/** True when the signed address is canonical (bits 63:47 all equal). */
export function canonical(v: number): boolean {
  return v >= -TWO47 && v < TWO47;
}

/** The 48-bit linear form of a canonical signed address. */
export function lin48(v: number): number {
  return v < 0 ? v + TWO48 : v;
}

/** The signed (canonical) form of a 48-bit linear address. */
export function fromLin48(lin: number): number {
  return lin >= TWO47 ? lin - TWO48 : lin;
}

/** Register n (0-15) as a signed number. */
export function regSigned(s: State, n: number): number {
  return signed(s.r32[n << 1], s.r32[(n << 1) + 1]);
}

/** Writes register n (0-15) from a signed number. */
export function setRegSigned(s: State, n: number, v: number): void {
  s.r32[n << 1] = v >>> 0;
  s.r32[(n << 1) + 1] = Math.floor(v / TWO32) >>> 0;
}

/**
 * The effective address of a memory operand in 64-bit mode: a signed
 * number with a 64-bit address size, the zero-extended low 32 bits with a
 * 32-bit one. A RIP-relative operand adds the next instruction's RIP
 * (`cpu.nextEip` holds it as a signed number in 64-bit mode).
 */
export function ea64(cpu: Cpu, d: Insn): number {
  // A negative displacement borrows from the high half through the carry below.
  let lo = d.disp, hi = 0;
  const b = d.base;
  if (b === RIP_BASE) {
    const r = cpu.nextEip;
    lo += r >>> 0;
    hi += Math.floor(r / TWO32);
  } else if (b >= 0) {
    lo += cpu.r32[b << 1];
    hi += cpu.r32[(b << 1) + 1] | 0;
  }
  if (d.index >= 0) {
    const s = d.scale, i = d.index << 1;
    lo += (cpu.r32[i] << s) >>> 0;
    hi += s ? (cpu.r32[i + 1] << s) | (cpu.r32[i] >>> (32 - s)) : cpu.r32[i + 1] | 0;
  }
  const carry = Math.floor(lo / TWO32);
  lo -= carry * TWO32;
  const high = (hi + carry) >>> 0;
  eaHalves[0] = lo;
  eaHalves[1] = high;
  if (d.asize === 4) return lo;
  return signed(lo, high);
}

/** The exact halves [low, high] of the last effective address `ea64` computed (LEA's result need not be canonical). */
export const eaHalves = new Uint32Array(2);

/** The 48-bit linear address of seg:off for `size` bytes in 64-bit mode: FS/GS add their base; #GP/#SS unless canonical. */
export function linear64(cpu: Cpu, seg: number, off: number, size: number): number {
  const a = seg === FS || seg === GS ? off + cpu.segBase[seg] : off;
  if (a < -TWO47 || a + size > TWO47) fault(seg === SS ? SSF : GP, 0);
  // Alignment check: CR0.AM, RFLAGS.AC, CPL 3, a misaligned 2-, 4- or 8-byte access.
  if (a & (size - 1) && size <= 8 && cpu.cpl === 3 && cpu.cr0 & CR0_AM && cpu.eflRest & EFLAGS_AC && !cpu.mem.sys) {
    fault(AC, 0);
  }
  return a < 0 ? a + TWO48 : a;
}

/**
 * Reads 8 bytes at seg:off into `qv` (with write intent for a read-modify-write: #PF then says W/R = 1). Outside
 * RAM it is one MMIO read of 8 bytes (per page), whose replayed data the restarted instruction takes.
 */
export function readQ(cpu: Cpu, seg: number, off: number, rmw = false): void {
  const lin = cpu.lin(seg, off, 8, rmw);
  if (rmw) cpu.mem.probeWrite(lin, 8);
  cpu.mem.read64(lin, qv);
}

/** Writes 8 bytes at seg:off; both pages are checked before either half is written; MMIO is one 8-byte write. */
export function writeQ(cpu: Cpu, seg: number, off: number, lo: number, hi: number): void {
  const lin = cpu.lin(seg, off, 8, true);
  cpu.mem.write64(lin, lo >>> 0, hi >>> 0);
}

/** Reads a 64-bit r/m operand into `qv`. */
export function readRmQ(cpu: Cpu, d: Insn): void {
  if (d.mod === 3) {
    qv[0] = cpu.r32[d.rm << 1];
    qv[1] = cpu.r32[(d.rm << 1) + 1];
  } else readQ(cpu, cpu.seg(d), cpu.ea(d), d.rmw);
}

/** Writes a 64-bit r/m operand. */
export function writeRmQ(cpu: Cpu, d: Insn, lo: number, hi: number): void {
  if (d.mod === 3) {
    cpu.r32[d.rm << 1] = lo;
    cpu.r32[(d.rm << 1) + 1] = hi;
  } else writeQ(cpu, cpu.seg(d), cpu.ea(d), lo, hi);
}

/** Writes a 64-bit register. */
export function setQ(cpu: State, n: number, lo: number, hi: number): void {
  cpu.r32[n << 1] = lo;
  cpu.r32[(n << 1) + 1] = hi;
}

// ---- the 64-bit stack -------------------------------------------------------

/** Pushes `size` (2, 4 or 8) bytes; for 8, `hi` is the high half. */
export function pushLong(cpu: Cpu, lo: number, size: number, hi = 0): void {
  const sp = regSigned(cpu, ESP) - size;
  if (size === 8) writeQ(cpu, SS, sp, lo, hi);
  else cpu.write(SS, sp, size, lo);
  setRegSigned(cpu, ESP, sp);
}

/** Reads `size` (2, 4 or 8) bytes `depth` bytes above RSP; an 8-byte read leaves its halves in `qv` and returns the low one. */
export function peekLong(cpu: Cpu, depth: number, size: number): number {
  const sp = regSigned(cpu, ESP) + depth;
  if (size === 8) {
    readQ(cpu, SS, sp);
    return qv[0];
  }
  return cpu.read(SS, sp, size);
}

/** Adds `n` to RSP. */
export function addRsp(cpu: Cpu, n: number): void {
  setRegSigned(cpu, ESP, regSigned(cpu, ESP) + n);
}

/** Pops `size` bytes (as `peekLong`). */
export function popLong(cpu: Cpu, size: number): number {
  const v = peekLong(cpu, 0, size);
  addRsp(cpu, size);
  return v;
}

/** Reads a little-endian 64-bit ABI field as a signed number (exact for canonical addresses and below 2^53). */
export function getS64(v: DataView, at: number): number {
  return signed(v.getUint32(at, true), v.getUint32(at + 4, true));
}

/** Writes a signed number (from `getS64` or `signed`) as a little-endian 64-bit ABI field. */
export function setS64(v: DataView, at: number, x: number): void {
  v.setUint32(at, x >>> 0, true);
  v.setUint32(at + 4, Math.floor(x / TWO32) >>> 0, true);
}
