/**
 * Shifts and rotates at every operand size: group 2 (C0/C1/D0-D3: ROL ROR
 * RCL RCR SHL SHR SAL SAR by 1, CL or imm8) and SHLD/SHRD. The count is
 * masked to 5 bits (6 with a 64-bit operand, whose value is two uint32
 * halves); a zero count changes nothing, not even the flags.
 *
 * The flags the manuals leave undefined follow the vendor personality. AMD
 * (as this project's EPYC host computes them): AF is set by SHL/SHR/SAR/
 * SHLD/SHRD; OF after any count is, for a left shift or rotate, MSB(result)
 * XOR CF, and for a right one the XOR of the result's two top bits (so 0
 * for SHR and SAR by more than 1) — the count-1 formulas, extended.
 * Intel (as this project's Intel host, family 6 model 167, computes them):
 * AF is cleared; OF after any count is the OF a count of 1 would give,
 * from the operand: for SHL, ROL, RCL and SHLD its two top bits XORed, for
 * SHR its MSB, for SAR 0, for ROR its MSB XOR its bit 0, for RCR its MSB
 * XOR CF, for SHRD its MSB XOR bit 0 of the source; except that in 64-bit
 * mode ROL and ROR of a register by an immediate count above 1 (C0/C1)
 * leave OF unchanged (of a memory operand, by CL, or outside 64-bit mode
 * they follow the rule). An 8- or 16-bit RCL or RCR whose count is a
 * multiple of 9 or 17 (a rotation by 0) changes no flag.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { AF, CF, MASK, OF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { ECX } from "../state.ts";
import { in64, qv, readRmQ, writeRmQ } from "../long/access.ts";
import { flags64 } from "./alu.ts";

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
      of = amd(cpu) ? ((r >>> msb) & 1) ^ cf : ((a >>> msb) ^ (a >>> (msb - 1))) & 1;
      rotFlags(cpu, cf, of);
      return r;
    }
    case 1: { // ROR
      const k = c % bits;
      r = k ? (((a >>> k) | (a << (bits - k))) & m) >>> 0 : a;
      cf = (r >>> msb) & 1;
      of = amd(cpu) ? cf ^ ((r >>> (msb - 1)) & 1) : ((a >>> msb) ^ a) & 1;
      rotFlags(cpu, cf, of);
      return r;
    }
    case 2: // RCL
    case 3: { // RCR
      const k = c % (bits + 1);
      if (k === 0 && !amd(cpu)) return a;
      const left = kind === 2, cin = cpu.cf();
      r = a;
      cf = cin;
      for (let i = 0; i < k; i++) {
        const out = left ? (r >>> msb) & 1 : r & 1;
        r = left ? (((r << 1) | cf) & m) >>> 0 : ((r >>> 1) | (cf << msb)) >>> 0;
        cf = out;
      }
      if (amd(cpu)) of = left ? ((r >>> msb) & 1) ^ cf : ((r >>> msb) ^ (r >>> (msb - 1))) & 1;
      else of = left ? ((a >>> msb) ^ (a >>> (msb - 1))) & 1 : ((a >>> msb) & 1) ^ cin;
      rotFlags(cpu, cf, of);
      return r;
    }
    case 5: // SHR
      r = c < 32 ? a >>> c : 0;
      cf = c - 1 < 32 ? (a >>> (c - 1)) & 1 : 0;
      of = c > 1 && amd(cpu) ? 0 : (a >>> msb) & 1;
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
      of = amd(cpu) ? ((r >>> msb) & 1) ^ cf : ((a >>> msb) ^ (a >>> (msb - 1))) & 1;
  }
  cpu.setResultFlags(r, size, cf | (of ? OF : 0) | shiftAf(cpu));
  return r;
}

/** Whether the CPU presents the AMD personality, whose undefined flags differ (see the module doc). */
export function amd(cpu: Cpu): boolean {
  return cpu.vendor.name === "amd";
}

/** The undefined AF of SHL/SHR/SAR/SHLD/SHRD: set on AMD, clear on Intel (see the module doc). */
function shiftAf(cpu: Cpu): number {
  return amd(cpu) ? AF : 0;
}

/** Sets CF and OF after a rotate (the other flags are unchanged). */
function rotFlags(cpu: Cpu, cf: number, of: number): void {
  cpu.setArith((cpu.arith() & ~(CF | OF)) | cf | (of ? OF : 0));
}

/**
 * Whether `d`, of masked count `c`, leaves OF unchanged: an Intel ROL or ROR of a register by an immediate above 1
 * in 64-bit mode.
 */
export function keepsOf(cpu: Cpu, d: Insn, c: number): boolean {
  return d.reg < 2 && c > 1 && d.mod === 3 && (d.op === 0xc0 || d.op === 0xc1) && !amd(cpu) && in64(cpu);
}

/** Group 2: ROL ROR RCL RCR SHL SHR SAL SAR r/m by 1, CL or imm8. */
export function shiftGroup(cpu: Cpu, d: Insn): void {
  const a = cpu.readRm(d);
  const c = countOf(cpu, d);
  if (c === 0) return;
  const of = keepsOf(cpu, d, c) ? cpu.arith() & OF : -1;
  const r = shift(cpu, d.reg, a, c, d.size);
  if (of >= 0) cpu.setArith((cpu.arith() & ~OF) | of);
  cpu.writeRm(d, r);
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
  // Intel: the OF of a count of 1 (the operand's MSB XOR the bit shifted in next to it).
  let of = ((a >>> (bits - 1)) ^ (left ? a >>> (bits - 2) : b)) & 1;
  if (amd(cpu)) {
    // Left: CF XOR the MSB of the destination alone shifted (a 16-bit SHLD by 16 shifts all of it out).
    const top = left ? (c < bits ? a >>> (bits - 1 - c) : 0) ^ cf : (r >>> (bits - 1)) ^ (r >>> (bits - 2));
    of = top & 1;
  }
  cpu.setResultFlags(r, d.size, cf | (of ? OF : 0) | shiftAf(cpu));
  cpu.writeRm(d, r);
}

// ---- 64-bit operands (REX.W) ----------------------------------------------

/** The result of the last 64-bit shift: low and high halves. */
let rl = 0, rh = 0;

function shl(lo: number, hi: number, c: number): void {
  if (c === 0) {
    rl = lo;
    rh = hi;
  } else if (c < 32) {
    rl = (lo << c) >>> 0;
    rh = ((hi << c) | (lo >>> (32 - c))) >>> 0;
  } else {
    rl = 0;
    rh = (lo << (c - 32)) >>> 0;
  }
}

function shr(lo: number, hi: number, c: number, arith: boolean): void {
  if (c === 0) {
    rl = lo;
    rh = hi;
  } else if (c < 32) {
    rl = ((lo >>> c) | (hi << (32 - c))) >>> 0;
    rh = arith ? (hi >> c) >>> 0 : hi >>> c;
  } else {
    rl = arith ? (hi >> (c - 32)) >>> 0 : hi >>> (c - 32);
    rh = arith ? (hi >> 31) >>> 0 : 0;
  }
}

/** Bit `i` (0-63) of the 64-bit value (lo, hi). */
export function bit64(lo: number, hi: number, i: number): number {
  return i < 32 ? (lo >>> i) & 1 : (hi >>> (i - 32)) & 1;
}

/** Intel's OF after any count, for the left shifts and rotates: the operand's two top bits XORed. */
function topTwo(hi: number): number {
  return ((hi >>> 31) ^ (hi >>> 30)) & 1;
}

/** Shifts or rotates (lo, hi) by c (1-63) per `kind`; leaves the result in (rl, rh) and sets the flags. */
function shift64(cpu: Cpu, kind: number, lo: number, hi: number, c: number): void {
  switch (kind) {
    case 0: { // ROL
      shl(lo, hi, c);
      const a = rl, b = rh;
      shr(lo, hi, 64 - c, false);
      rl = (a | rl) >>> 0;
      rh = (b | rh) >>> 0;
      rotFlags(cpu, rl & 1, amd(cpu) ? (rh >>> 31) ^ (rl & 1) : topTwo(hi));
      return;
    }
    case 1: { // ROR
      shr(lo, hi, c, false);
      const a = rl, b = rh;
      shl(lo, hi, 64 - c);
      rl = (a | rl) >>> 0;
      rh = (b | rh) >>> 0;
      rotFlags(cpu, rh >>> 31, amd(cpu) ? (rh >>> 31) ^ ((rh >>> 30) & 1) : ((hi >>> 31) ^ lo) & 1);
      return;
    }
    case 2: { // RCL
      let cf = cpu.cf();
      [rl, rh] = [lo, hi];
      for (let i = 0; i < c; i++) {
        const out = rh >>> 31;
        [rl, rh] = [((rl << 1) | cf) >>> 0, ((rh << 1) | (rl >>> 31)) >>> 0];
        cf = out;
      }
      rotFlags(cpu, cf, amd(cpu) ? (rh >>> 31) ^ cf : topTwo(hi));
      return;
    }
    case 3: { // RCR
      let cf = cpu.cf();
      const of = (hi >>> 31) ^ cf;
      [rl, rh] = [lo, hi];
      for (let i = 0; i < c; i++) {
        const out = rl & 1;
        [rl, rh] = [((rl >>> 1) | (rh << 31)) >>> 0, ((rh >>> 1) | (cf << 31)) >>> 0];
        cf = out;
      }
      // AMD: OF of a multi-bit RCR is the XOR of the result's two top bits.
      rotFlags(cpu, cf, amd(cpu) ? ((rh >>> 31) ^ (rh >>> 30)) & 1 : of);
      return;
    }
    case 5: // SHR
      shr(lo, hi, c, false);
      // AMD: OF of a multi-bit SHR is 0.
      flags64(cpu, rl, rh, bit64(lo, hi, c - 1) | (hi >>> 31 && (c === 1 || !amd(cpu)) ? OF : 0) | shiftAf(cpu));
      return;
    case 7: // SAR
      shr(lo, hi, c, true);
      flags64(cpu, rl, rh, bit64(lo, hi, c - 1) | shiftAf(cpu));
      return;
    default: { // SHL, SAL
      shl(lo, hi, c);
      const cf = bit64(lo, hi, 64 - c);
      flags64(cpu, rl, rh, cf | ((amd(cpu) ? (rh >>> 31) ^ cf : topTwo(hi)) ? OF : 0) | shiftAf(cpu));
    }
  }
}

/** C1/D1/D3 with REX.W: the group-2 shifts and rotates of r/m64. */
export function shiftGroup64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  const lo = qv[0], hi = qv[1];
  const c = (d.op === 0xd1 ? 1 : d.op === 0xd3 ? cpu.getReg(ECX, 1) : d.imm) & 63;
  if (c === 0) return;
  const of = keepsOf(cpu, d, c) ? cpu.arith() & OF : -1;
  shift64(cpu, d.reg, lo, hi, c);
  if (of >= 0) cpu.setArith((cpu.arith() & ~OF) | of);
  writeRmQ(cpu, d, rl, rh);
}

/** 0F A4/A5/AC/AD with REX.W: SHLD/SHRD r/m64, r64, imm8/CL. */
export function shiftDouble64(cpu: Cpu, d: Insn): void {
  const c = (d.op & 1 ? cpu.getReg(ECX, 1) : d.imm) & 63;
  readRmQ(cpu, d);
  const lo = qv[0], hi = qv[1];
  if (c === 0) return;
  const bLo = cpu.r32[d.reg << 1], bHi = cpu.r32[(d.reg << 1) + 1];
  let cf: number;
  if (d.op < 0x1a8) {
    shr(bLo, bHi, 64 - c, false);
    const a = rl, b = rh;
    shl(lo, hi, c);
    rl = (a | rl) >>> 0;
    rh = (b | rh) >>> 0;
    cf = bit64(lo, hi, 64 - c);
  } else {
    shl(bLo, bHi, 64 - c);
    const a = rl, b = rh;
    shr(lo, hi, c, false);
    rl = (a | rl) >>> 0;
    rh = (b | rh) >>> 0;
    cf = bit64(lo, hi, c - 1);
  }
  // Intel: the OF of a count of 1.
  let of = d.op < 0x1a8 ? topTwo(hi) : ((hi >>> 31) ^ bLo) & 1;
  // AMD: MSB(result) XOR CF after SHLD, the result's two top bits XORed after SHRD.
  if (amd(cpu)) of = ((rh >>> 31) ^ (d.op < 0x1a8 ? cf : rh >>> 30)) & 1;
  flags64(cpu, rl, rh, cf | (of ? OF : 0) | shiftAf(cpu));
  writeRmQ(cpu, d, rl, rh);
}
