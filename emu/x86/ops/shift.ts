/**
 * Shifts and rotates: group 2 (C0/C1/D0-D3: ROL ROR RCL RCR SHL SHR SAL
 * SAR by 1, CL or imm8) and SHLD/SHRD. The count is masked to 5 bits; a
 * zero count changes nothing, not even the flags.
 *
 * The flags the manuals leave undefined follow the vendor personality. AMD
 * (as this project's EPYC host computes them): AF is set by SHL/SHR/SAR/
 * SHLD/SHRD; OF after any count is, for a left shift or rotate, MSB(result)
 * XOR CF, and for a right one the XOR of the result's two top bits (so 0
 * for SHR and SAR by more than 1) — the count-1 formulas, extended.
 * Intel (our choice, the SDM leaving them undefined): AF is cleared; OF is
 * computed as for a count of 1 from the operand (SHR: its MSB; RCR: its MSB
 * XOR CF; SHRD/SHLD: whether the sign changed).
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { AF, CF, MASK, OF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { ECX } from "../state.ts";

function countOf(cpu: Cpu, d: Insn): number {
  const op = d.op;
  if (op === 0xd0 || op === 0xd1) return 1;
  if (op === 0xd2 || op === 0xd3) return cpu.getReg(ECX, 1) & 0x1f;
  return d.imm & 0x1f;
}

/** Shifts or rotates `a` by `c` (1-31) per ModRM.reg; sets the flags; returns the result. */
export function shift(cpu: Cpu, kind: number, a: number, c: number, size: number): number {
  const bits = size * 8, m = MASK[size], msb = bits - 1;
  let r: number, cf: number, of: number;
  switch (kind) {
    case 0: { // ROL
      const k = c % bits;
      r = k ? (((a << k) | (a >>> (bits - k))) & m) >>> 0 : a;
      cf = r & 1;
      of = ((r >>> msb) & 1) ^ cf;
      return rotFlags(cpu, r, cf, of);
    }
    case 1: { // ROR
      const k = c % bits;
      r = k ? (((a >>> k) | (a << (bits - k))) & m) >>> 0 : a;
      cf = (r >>> msb) & 1;
      of = cf ^ ((r >>> (msb - 1)) & 1);
      return rotFlags(cpu, r, cf, of);
    }
    case 2: { // RCL
      const k = c % (bits + 1);
      r = a;
      cf = cpu.cf();
      for (let i = 0; i < k; i++) {
        const out = (r >>> msb) & 1;
        r = (((r << 1) | cf) & m) >>> 0;
        cf = out;
      }
      of = ((r >>> msb) & 1) ^ cf;
      return rotFlags(cpu, r, cf, of);
    }
    case 3: { // RCR
      const k = c % (bits + 1);
      r = a;
      cf = cpu.cf();
      of = ((r >>> msb) & 1) ^ cf;
      for (let i = 0; i < k; i++) {
        const out = r & 1;
        r = ((r >>> 1) | (cf << msb)) >>> 0;
        cf = out;
      }
      if (cpu.vendor.name === "amd") of = ((r >>> msb) ^ (r >>> (msb - 1))) & 1;
      return rotFlags(cpu, r, cf, of);
    }
    case 5: // SHR
      r = c < 32 ? a >>> c : 0;
      cf = c - 1 < 32 ? (a >>> (c - 1)) & 1 : 0;
      of = c > 1 && cpu.vendor.name === "amd" ? 0 : (a >>> msb) & 1;
      break;
    case 7: { // SAR
      const sa = (a << (32 - bits)) >> (32 - bits);
      r = ((sa >> Math.min(c, 31)) & m) >>> 0;
      cf = (sa >> Math.min(c - 1, 31)) & 1;
      of = 0;
      break;
    }
    default: // SHL, SAL
      r = c < 32 ? ((a << c) & m) >>> 0 : 0;
      cf = c <= bits ? (a >>> (bits - c)) & 1 : 0;
      of = ((r >>> msb) & 1) ^ cf;
  }
  cpu.setResultFlags(r, size, cf | (of ? OF : 0) | shiftAf(cpu));
  return r;
}

/** The undefined AF of SHL/SHR/SAR/SHLD/SHRD: set on AMD, clear on Intel (see the module doc). */
export function shiftAf(cpu: Cpu): number {
  return cpu.vendor.name === "amd" ? AF : 0;
}

function rotFlags(cpu: Cpu, r: number, cf: number, of: number): number {
  cpu.setArith((cpu.arith() & ~(CF | OF)) | cf | (of ? OF : 0));
  return r;
}

/** Group 2: ROL ROR RCL RCR SHL SHR SAL SAR r/m by 1, CL or imm8. */
export function shiftGroup(cpu: Cpu, d: Insn): void {
  const a = cpu.readRm(d);
  const c = countOf(cpu, d);
  if (c === 0) return;
  cpu.writeRm(d, shift(cpu, d.reg, a, c, d.size));
}

/** 0F A4/A5 SHLD and 0F AC/AD SHRD r/m, reg, imm8/CL. */
export function shiftDouble(cpu: Cpu, d: Insn): void {
  const c = (d.op & 1 ? cpu.getReg(ECX, 1) : d.imm) & 0x1f;
  const a = cpu.readRm(d);
  if (c === 0) return;
  const b = cpu.getReg(d.reg, d.size), bits = d.size * 8, m = MASK[d.size];
  const left = d.op < 0x1a8;
  let r = 0, cf = 0;
  // Shift bit by bit through the concatenation: simple and exact for any count.
  let hiBits = a, src = b;
  for (let i = 0; i < c; i++) {
    if (left) {
      cf = (hiBits >>> (bits - 1)) & 1;
      hiBits = (((hiBits << 1) | ((src >>> (bits - 1)) & 1)) & m) >>> 0;
      src = ((src << 1) & m) >>> 0;
    } else {
      cf = hiBits & 1;
      hiBits = ((hiBits >>> 1) | ((src & 1) << (bits - 1))) >>> 0;
      src >>>= 1;
    }
  }
  r = hiBits;
  let of = ((r ^ a) >>> (bits - 1)) & 1;
  if (cpu.vendor.name === "amd") {
    // Left: CF XOR the MSB of the destination alone shifted (a 16-bit SHLD by 16 shifts all of it out).
    const top = left ? (c < bits ? a >>> (bits - 1 - c) : 0) ^ cf : (r >>> (bits - 1)) ^ (r >>> (bits - 2));
    of = top & 1;
  }
  cpu.setResultFlags(r, d.size, cf | (of ? OF : 0) | shiftAf(cpu));
  cpu.writeRm(d, r);
}
