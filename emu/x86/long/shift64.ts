/**
 * Shifts, rotates and bit instructions with 64-bit operands: group 2 (ROL
 * ROR RCL RCR SHL SHR SAL SAR, count masked to 6 bits), SHLD/SHRD, BT/BTS/
 * BTR/BTC (register offsets reach beyond the operand, with 64-bit
 * addressing at every operand size), BSF/BSR. The undefined flags follow
 * the 32-bit core's vendor rules (ops/shift.ts).
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { CF, OF, ZF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { ECX } from "../state.ts";
import { flags64 } from "../ops/alu.ts";
import { amd, keepsOf, shiftAf } from "../ops/shift.ts";
import { bitScanZeroFlags } from "../ops/bit.ts";
import { qv, readQ, readRmQ, setQ, signed, writeQ, writeRmQ } from "./access.ts";

let rl = 0, rh = 0;

function shl(lo: number, hi: number, c: number): void {
  if (c === 0) [rl, rh] = [lo, hi];
  else if (c < 32) [rl, rh] = [(lo << c) >>> 0, ((hi << c) | (lo >>> (32 - c))) >>> 0];
  else [rl, rh] = [0, (lo << (c - 32)) >>> 0];
}

function shr(lo: number, hi: number, c: number, arith: boolean): void {
  if (c === 0) [rl, rh] = [lo, hi];
  else if (c < 32) [rl, rh] = [((lo >>> c) | (hi << (32 - c))) >>> 0, arith ? (hi >> c) >>> 0 : hi >>> c];
  else [rl, rh] = [arith ? (hi >> (c - 32)) >>> 0 : hi >>> (c - 32), arith ? (hi >> 31) >>> 0 : 0];
}

function bit(lo: number, hi: number, i: number): number {
  return i < 32 ? (lo >>> i) & 1 : (hi >>> (i - 32)) & 1;
}

/** Intel's OF after any count, for the left shifts and rotates: the operand's two top bits XORed (ops/shift.ts). */
function topTwo(hi: number): number {
  return ((hi >>> 31) ^ (hi >>> 30)) & 1;
}

function rotFlags(cpu: Cpu, cf: number, of: number): void {
  cpu.setArith((cpu.arith() & ~(CF | OF)) | cf | (of ? OF : 0));
}

/** Shifts or rotates (lo, hi) by c (1-63) per `kind`; leaves the result in (rl, rh) and sets the flags. */
function shift64(cpu: Cpu, kind: number, lo: number, hi: number, c: number): void {
  switch (kind) {
    case 0: { // ROL
      shl(lo, hi, c);
      const a = rl, b = rh;
      shr(lo, hi, 64 - c, false);
      [rl, rh] = [(a | rl) >>> 0, (b | rh) >>> 0];
      rotFlags(cpu, rl & 1, amd(cpu) ? (rh >>> 31) ^ (rl & 1) : topTwo(hi));
      return;
    }
    case 1: { // ROR
      shr(lo, hi, c, false);
      const a = rl, b = rh;
      shl(lo, hi, 64 - c);
      [rl, rh] = [(a | rl) >>> 0, (b | rh) >>> 0];
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
      // AMD: OF of a multi-bit RCR is the XOR of the result's two top bits (ops/shift.ts).
      rotFlags(cpu, cf, amd(cpu) ? ((rh >>> 31) ^ (rh >>> 30)) & 1 : of);
      return;
    }
    case 5: // SHR
      shr(lo, hi, c, false);
      // AMD: OF of a multi-bit SHR is 0 (ops/shift.ts).
      flags64(cpu, rl, rh, bit(lo, hi, c - 1) | (hi >>> 31 && (c === 1 || !amd(cpu)) ? OF : 0) | shiftAf(cpu));
      return;
    case 7: // SAR
      shr(lo, hi, c, true);
      flags64(cpu, rl, rh, bit(lo, hi, c - 1) | shiftAf(cpu));
      return;
    default: { // SHL, SAL
      shl(lo, hi, c);
      const cf = bit(lo, hi, 64 - c);
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
    [rl, rh] = [(a | rl) >>> 0, (b | rh) >>> 0];
    cf = bit(lo, hi, 64 - c);
  } else {
    shl(bLo, bHi, 64 - c);
    const a = rl, b = rh;
    shr(lo, hi, c, false);
    [rl, rh] = [(a | rl) >>> 0, (b | rh) >>> 0];
    cf = bit(lo, hi, c - 1);
  }
  // Intel: the OF of a count of 1 (ops/shift.ts).
  let of = d.op < 0x1a8 ? topTwo(hi) : ((hi >>> 31) ^ bLo) & 1;
  // AMD: MSB(result) XOR CF after SHLD, the result's two top bits XORed after SHRD (ops/shift.ts).
  if (amd(cpu)) of = ((rh >>> 31) ^ (d.op < 0x1a8 ? cf : rh >>> 30)) & 1;
  flags64(cpu, rl, rh, cf | (of ? OF : 0) | shiftAf(cpu));
  writeRmQ(cpu, d, rl, rh);
}

/** Applies BT/BTS/BTR/BTC (`op` 0-3) to bit `i` of (lo, hi): CF is the old bit; the result in (rl, rh). */
function applyBit(cpu: Cpu, op: number, lo: number, hi: number, i: number): void {
  cpu.setArith((cpu.arith() & ~CF) | bit(lo, hi, i));
  const m = 1 << (i & 31), high = i >= 32;
  let l = lo, h = hi;
  if (op === 1) high ? (h |= m) : (l |= m);
  else if (op === 2) high ? (h &= ~m) : (l &= ~m);
  else if (op === 3) high ? (h ^= m) : (l ^= m);
  [rl, rh] = [l >>> 0, h >>> 0];
}

/** 0F A3/AB/B3/BB in 64-bit mode: BT/BTS/BTR/BTC r/m, reg of any size. */
export function btRegLong(cpu: Cpu, d: Insn): void {
  const op = d.op === 0x1a3 ? 0 : d.op === 0x1ab ? 1 : d.op === 0x1b3 ? 2 : 3;
  const size = d.size, bits = size * 8;
  const oLo = cpu.r32[d.reg << 1], oHi = cpu.r32[(d.reg << 1) + 1];
  if (d.mod === 3) {
    const n = d.rm;
    if (size === 8) applyBit(cpu, op, cpu.r32[n << 1], cpu.r32[(n << 1) + 1], oLo & 63);
    else applyBit(cpu, op, cpu.getReg(n, size), 0, oLo & (bits - 1));
    if (op && size === 8) setQ(cpu, n, rl, rh);
    else if (op) cpu.setReg(n, size, rl);
    return;
  }
  const off = size === 8 ? signed(oLo, oHi) : size === 4 ? oLo | 0 : (oLo << 16) >> 16;
  const unit = Math.floor(off / bits);
  const seg = cpu.seg(d), at = cpu.ea(d) + unit * size, i = off - unit * bits;
  if (size === 8) {
    readQ(cpu, seg, at, op !== 0);
    applyBit(cpu, op, qv[0], qv[1], i);
    if (op) writeQ(cpu, seg, at, rl, rh);
  } else {
    applyBit(cpu, op, op ? cpu.readForWrite(seg, at, size) : cpu.read(seg, at, size), 0, i);
    if (op) cpu.write(seg, at, size, rl);
  }
}

/** 0F BA /4-/7 with REX.W: BT/BTS/BTR/BTC r/m64, imm8. */
export function btImm64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  applyBit(cpu, d.reg - 4, qv[0], qv[1], d.imm & 63);
  if (d.reg !== 4) writeRmQ(cpu, d, rl, rh);
}

/** 0F BC/BD with REX.W: BSF/BSR r64, r/m64 (a zero source sets ZF and leaves the destination). */
export function bsf64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  const lo = qv[0], hi = qv[1];
  if ((lo | hi) === 0) {
    bitScanZeroFlags(cpu);
    return;
  }
  let r: number;
  if (d.op === 0x1bc) r = lo ? 31 - Math.clz32(lo & -lo) : 63 - Math.clz32(hi & -hi);
  else r = hi ? 63 - Math.clz32(hi) : 31 - Math.clz32(lo);
  setQ(cpu, d.reg, r, 0);
  flags64(cpu, r, 0, 0);
  cpu.setArith(cpu.arith() & ~ZF);
}
