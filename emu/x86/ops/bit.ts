/**
 * Bit instructions: BT, BTS, BTR, BTC (register and immediate bit offsets;
 * a register offset reaches beyond the addressed memory operand), BSF, BSR,
 * at every operand size (64-bit values are two uint32 halves; in 64-bit
 * mode a register offset is addressed with 64-bit arithmetic at every size).
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { CF, MASK, ZF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { qv, readQ, readRmQ, setQ, signed, writeQ, writeRmQ } from "../long/access.ts";
import { flags64 } from "./alu.ts";
import { bit64 } from "./shift.ts";

function apply(cpu: Cpu, op: number, v: number, bit: number): number {
  const m = 1 << bit;
  cpu.setArith((cpu.arith() & ~CF) | ((v >>> bit) & 1));
  switch (op) {
    case 1:
      return (v | m) >>> 0;
    case 2:
      return (v & ~m) >>> 0;
    case 3:
      return (v ^ m) >>> 0;
    default:
      return v;
  }
}

/** 0F A3/AB/B3/BB: BT/BTS/BTR/BTC r/m, reg. */
export function btReg(cpu: Cpu, d: Insn): void {
  const op = d.op === 0x1a3 ? 0 : d.op === 0x1ab ? 1 : d.op === 0x1b3 ? 2 : 3;
  const bits = d.size * 8;
  const off = cpu.getReg(d.reg, d.size);
  if (d.mod === 3) {
    const r = apply(cpu, op, cpu.getReg(d.rm, d.size), off & (bits - 1));
    if (op) cpu.setReg(d.rm, d.size, r);
    return;
  }
  // The signed bit offset selects a unit at a displacement from the operand.
  const signed = d.size === 2 ? (off << 16) >> 16 : off | 0;
  const unit = Math.floor(signed / bits);
  const ea = (cpu.ea(d) + unit * d.size) & MASK[d.asize];
  const seg = cpu.seg(d);
  // BTS/BTR/BTC read with write intent: a fault on the write comes before any effect (a #PF then says W).
  const v = op ? cpu.readForWrite(seg, ea >>> 0, d.size) : cpu.read(seg, ea >>> 0, d.size);
  const r = apply(cpu, op, v, signed - unit * bits);
  if (op) cpu.write(seg, ea >>> 0, d.size, r);
}

/** 0F BA /4-/7: BT/BTS/BTR/BTC r/m, imm8. */
export function btImm(cpu: Cpu, d: Insn): void {
  const v = cpu.readRm(d);
  const r = apply(cpu, d.reg - 4, v, d.imm & (d.size * 8 - 1));
  if (d.reg !== 4) cpu.writeRm(d, r);
}

/**
 * The flags of BSF/BSR with a zero source (ZF set, the rest undefined): as for a zero result (ZF and PF, the
 * others clear) on both vendors, as this project's AMD EPYC and Intel hosts compute them.
 */
function bitScanZeroFlags(cpu: Cpu): void {
  cpu.setResultFlags(0, 4, 0);
}

/**
 * 0F BC/BD: BSF and BSR. A zero source sets ZF and leaves the destination unchanged (its upper half too, in
 * 64-bit mode: both vendors' hosts do so, where the SDM says "undefined").
 */
export function bsf(cpu: Cpu, d: Insn): void {
  const v = cpu.readRm(d);
  if (v === 0) {
    bitScanZeroFlags(cpu);
    return;
  }
  const r = d.op === 0x1bc ? 31 - Math.clz32(v & -v) : 31 - Math.clz32(v);
  cpu.setReg(d.reg, d.size, r);
  cpu.setResultFlags(r, d.size, 0);
  cpu.setArith(cpu.arith() & ~ZF);
}

// ---- 64-bit operands and 64-bit mode ----------------------------------------

/** The result of the last 64-bit `applyBit`: low and high halves. */
let rl = 0, rh = 0;

/** Applies BT/BTS/BTR/BTC (`op` 0-3) to bit `i` of (lo, hi): CF is the old bit; the result in (rl, rh). */
function applyBit(cpu: Cpu, op: number, lo: number, hi: number, i: number): void {
  cpu.setArith((cpu.arith() & ~CF) | bit64(lo, hi, i));
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
