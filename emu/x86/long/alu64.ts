/**
 * Integer arithmetic with 64-bit operands (REX.W): ADD OR ADC SBB AND SUB
 * XOR CMP in all encodings, TEST, INC, DEC, NOT, NEG, XADD, CMPXCHG,
 * CMPXCHG16B, MUL, IMUL, DIV, IDIV. Values are two uint32 halves; flags are
 * stored eagerly.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { DE, fault, GP } from "../fault.ts";
import { AF, CF, OF, PARITY, PF, SF, ZF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { alu } from "../ops/alu.ts";
import { divFlags, mulFlags } from "../ops/muldiv.ts";
import { EAX, EBX, ECX, EDX } from "../state.ts";
import { qv, readQ, readRmQ, setQ, writeQ, writeRmQ } from "./access.ts";

/** The result of the last 64-bit operation: [low half, high half]. */
export const res = new Uint32Array(2);

/** Sets the arithmetic flags of a 64-bit result, with CF, OF and AF given as EFLAGS bits. */
export function flags64(cpu: Cpu, lo: number, hi: number, cfofaf: number): void {
  cpu.setArith(
    (cfofaf & (CF | OF | AF)) | (PARITY[lo & 0xff] ? PF : 0) | ((lo | hi) === 0 ? ZF : 0) | (hi >>> 31 ? SF : 0),
  );
}

/** ALU operation `kind` (ADD OR ADC SBB AND SUB XOR CMP) on 64-bit operands: result in `res`, flags set. */
export function alu64(cpu: Cpu, kind: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  let lo: number, hi: number, cf = 0, of = 0, af = 0;
  if (kind === 0 || kind === 2) {
    const l = aLo + bLo + (kind === 2 ? cpu.cf() : 0);
    lo = l >>> 0;
    const h = aHi + bHi + (l > 0xffffffff ? 1 : 0);
    hi = h >>> 0;
    cf = h > 0xffffffff ? CF : 0;
    of = ((aHi ^ hi) & (bHi ^ hi)) >>> 31 ? OF : 0;
    af = (aLo ^ bLo ^ lo) & AF;
  } else if (kind === 3 || kind === 5 || kind === 7) {
    const l = aLo - bLo - (kind === 3 ? cpu.cf() : 0);
    lo = l >>> 0;
    const h = aHi - bHi - (l < 0 ? 1 : 0);
    hi = h >>> 0;
    cf = h < 0 ? CF : 0;
    of = ((aHi ^ bHi) & (aHi ^ hi)) >>> 31 ? OF : 0;
    af = (aLo ^ bLo ^ lo) & AF;
  } else if (kind === 1) {
    lo = (aLo | bLo) >>> 0;
    hi = (aHi | bHi) >>> 0;
  } else if (kind === 4) {
    lo = (aLo & bLo) >>> 0;
    hi = (aHi & bHi) >>> 0;
  } else {
    lo = (aLo ^ bLo) >>> 0;
    hi = (aHi ^ bHi) >>> 0;
  }
  res[0] = lo;
  res[1] = hi;
  flags64(cpu, lo, hi, cf | of | af);
}

/** 01/09/.../39 with REX.W: op r/m64, r64. */
export function aluRmReg64(cpu: Cpu, d: Insn): void {
  const kind = (d.op >> 3) & 7;
  readRmQ(cpu, d);
  alu64(cpu, kind, qv[0], qv[1], cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1]);
  if (kind !== 7) writeRmQ(cpu, d, res[0], res[1]);
}

/** 03/0B/.../3B with REX.W: op r64, r/m64. */
export function aluRegRm64(cpu: Cpu, d: Insn): void {
  const kind = (d.op >> 3) & 7;
  readRmQ(cpu, d);
  alu64(cpu, kind, cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1], qv[0], qv[1]);
  if (kind !== 7) setQ(cpu, d.reg, res[0], res[1]);
}

/** 05/0D/.../3D with REX.W: op RAX, imm32 (sign-extended). */
export function aluAccImm64(cpu: Cpu, d: Insn): void {
  const kind = (d.op >> 3) & 7;
  alu64(cpu, kind, cpu.r32[0], cpu.r32[1], d.imm, d.imm2);
  if (kind !== 7) setQ(cpu, EAX, res[0], res[1]);
}

/** 81/83 with REX.W: op r/m64, imm. */
export function aluRmImm64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  alu64(cpu, d.reg, qv[0], qv[1], d.imm, d.imm2);
  if (d.reg !== 7) writeRmQ(cpu, d, res[0], res[1]);
}

/** 85 with REX.W: TEST r/m64, r64. */
export function testRmReg64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  alu64(cpu, 4, qv[0], qv[1], cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1]);
}

/** A9 with REX.W: TEST RAX, imm32. */
export function testAccImm64(cpu: Cpu, d: Insn): void {
  alu64(cpu, 4, cpu.r32[0], cpu.r32[1], d.imm, d.imm2);
}

/** F7 /0 with REX.W: TEST r/m64, imm32. */
export function testRmImm64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  alu64(cpu, 4, qv[0], qv[1], d.imm, d.imm2);
}

/** FF /0 /1 with REX.W: INC/DEC r/m64 (CF unchanged). */
export function incDec64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  const cf = cpu.cf();
  alu64(cpu, d.reg === 1 ? 5 : 0, qv[0], qv[1], 1, 0);
  cpu.setArith((cpu.arith() & ~CF) | cf);
  writeRmQ(cpu, d, res[0], res[1]);
}

/** F7 /2 with REX.W: NOT r/m64. */
export function not64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  writeRmQ(cpu, d, ~qv[0] >>> 0, ~qv[1] >>> 0);
}

/** F7 /3 with REX.W: NEG r/m64. */
export function neg64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  alu64(cpu, 5, 0, 0, qv[0], qv[1]);
  writeRmQ(cpu, d, res[0], res[1]);
}

/** 0F C1 with REX.W: XADD r/m64, r64. */
export function xadd64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  const aLo = qv[0], aHi = qv[1];
  alu64(cpu, 0, aLo, aHi, cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1]);
  writeRmQ(cpu, d, res[0], res[1]);
  if (d.mod !== 3 || d.rm !== d.reg) setQ(cpu, d.reg, aLo, aHi);
}

/** 0F B1 with REX.W: CMPXCHG r/m64, r64. */
export function cmpxchg64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  const lo = qv[0], hi = qv[1];
  alu64(cpu, 7, cpu.r32[0], cpu.r32[1], lo, hi);
  if (lo === cpu.r32[0] && hi === cpu.r32[1]) writeRmQ(cpu, d, cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1]);
  else {
    writeRmQ(cpu, d, lo, hi);
    setQ(cpu, EAX, lo, hi);
  }
}

/** 0F C7 /1 with REX.W: CMPXCHG16B m128 (#GP unless 16-byte aligned). */
export function cmpxchg16b(cpu: Cpu, d: Insn): void {
  const seg = cpu.seg(d), off = cpu.ea(d);
  if (((off % 16) + 16) % 16 !== 0) fault(GP, 0);
  cpu.mem.probeWrite(cpu.lin(seg, off, 16, true), 16);
  readQ(cpu, seg, off, true);
  const l0 = qv[0], h0 = qv[1];
  readQ(cpu, seg, off + 8, true);
  const l1 = qv[0], h1 = qv[1];
  const r = cpu.r32;
  const equal = l0 === r[0] && h0 === r[1] && l1 === r[EDX << 1] && h1 === r[(EDX << 1) + 1];
  const arith = cpu.arith() & ~ZF;
  if (equal) {
    cpu.lin(seg, off, 16, true);
    writeQ(cpu, seg, off, r[EBX << 1], r[(EBX << 1) + 1]);
    writeQ(cpu, seg, off + 8, r[ECX << 1], r[(ECX << 1) + 1]);
  } else {
    writeQ(cpu, seg, off, l0, h0);
    writeQ(cpu, seg, off + 8, l1, h1);
    setQ(cpu, EAX, l0, h0);
    setQ(cpu, EDX, l1, h1);
  }
  cpu.setArith(arith | (equal ? ZF : 0));
}

// ---- multiply and divide (BigInt: the slow, simple reference path) ---------

function big(lo: number, hi: number, signed: boolean): bigint {
  const v = (BigInt(hi) << 32n) | BigInt(lo);
  return signed ? BigInt.asIntN(64, v) : v;
}

function setBig(cpu: Cpu, n: number, v: bigint): void {
  setQ(cpu, n, Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn));
}

/** The flags of a 64-bit multiply, as ops/muldiv.ts's (per vendor), from the low 64 bits of the product. */
function mulFlags64(cpu: Cpu, low: bigint, overflow: boolean): void {
  mulFlags(cpu, Number(low & 0xffn), low >= 1n << 63n, overflow);
}

/** F7 /4 /5 with REX.W: MUL and IMUL r/m64 into RDX:RAX. */
export function mulAcc64(cpu: Cpu, d: Insn): void {
  const signed = d.reg === 5;
  readRmQ(cpu, d);
  const p = big(cpu.r32[0], cpu.r32[1], signed) * big(qv[0], qv[1], signed);
  const lo = BigInt.asUintN(64, p), hi = BigInt.asUintN(64, p >> 64n);
  setBig(cpu, EAX, lo);
  setBig(cpu, EDX, hi);
  mulFlags64(cpu, lo, signed ? p !== BigInt.asIntN(64, p) : hi !== 0n);
}

/** 0F AF, 69, 6B with REX.W: IMUL r64, r/m64 [, imm]. */
export function imul64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  const a = big(qv[0], qv[1], true);
  const b = d.op === 0x1af ? big(cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1], true) : big(d.imm, d.imm2, true);
  const p = a * b;
  const lo = BigInt.asUintN(64, p);
  setBig(cpu, d.reg, lo);
  mulFlags64(cpu, lo, p !== BigInt.asIntN(64, p));
}

/** F7 /6 /7 with REX.W: DIV and IDIV RDX:RAX by r/m64 (#DE on a zero divisor or an overflowing quotient). */
export function div64(cpu: Cpu, d: Insn): void {
  const signed = d.reg === 7;
  readRmQ(cpu, d);
  let dv = big(qv[0], qv[1], signed);
  if (dv === 0n) fault(DE);
  let n = (big(cpu.r32[EDX << 1], cpu.r32[(EDX << 1) + 1], false) << 64n) | big(cpu.r32[0], cpu.r32[1], false);
  if (signed) n = BigInt.asIntN(128, n);
  else dv = BigInt.asUintN(64, dv);
  const q = n / dv, r = n % dv;
  if (signed ? q !== BigInt.asIntN(64, q) : q >> 64n !== 0n) fault(DE);
  divFlags(cpu);
  setBig(cpu, EAX, BigInt.asUintN(64, q));
  setBig(cpu, EDX, BigInt.asUintN(64, r));
}

/** 0F C7 /1 in 64-bit mode: CMPXCHG8B m64 (EDX:EAX against memory; ECX:EBX stored on a match). */
export function cmpxchg8bLong(cpu: Cpu, d: Insn): void {
  const seg = cpu.seg(d), off = cpu.ea(d);
  readQ(cpu, seg, off, true);
  const lo = qv[0], hi = qv[1];
  const equal = lo === cpu.r32[0] && hi === cpu.r32[EDX << 1];
  const arith = cpu.arith() & ~ZF;
  if (equal) writeQ(cpu, seg, off, cpu.r32[EBX << 1], cpu.r32[ECX << 1]);
  else {
    writeQ(cpu, seg, off, lo, hi);
    cpu.setReg(EAX, 4, lo);
    cpu.setReg(EDX, 4, hi);
  }
  cpu.setArith(arith | (equal ? ZF : 0));
}

/**
 * 0F B0/B1 in 64-bit mode (8-, 16-, 32-bit operands): CMPXCHG. On a mismatch neither vendor writes a register
 * destination: a 32-bit one keeps its upper half (this project's EPYC and Intel hosts both show it; the SDM's
 * "written back" holds for memory, which is written with its own value).
 */
export function cmpxchgLong(cpu: Cpu, d: Insn): void {
  const dst = cpu.readRm(d), acc = cpu.getReg(EAX, d.size);
  alu(cpu, 7, acc, dst, d.size);
  if (acc === dst) cpu.writeRm(d, cpu.getReg(d.reg, d.size));
  else {
    if (d.mod !== 3) cpu.writeRm(d, dst);
    cpu.setReg(EAX, d.size, dst);
  }
}
