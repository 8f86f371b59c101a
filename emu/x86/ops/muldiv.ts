/**
 * Multiplication and division: MUL, IMUL (one, two and three operands),
 * DIV, IDIV. #DE on a zero divisor or a quotient that does not fit.
 * Multiplies set CF=OF when the high half is significant; SF/ZF/PF/AF are
 * undefined: the AMD personality leaves them unchanged, as this project's
 * AMD EPYC host does; the Intel one does what this project's Intel host
 * (family 6 model 167) does: SF and PF from the low half of the result
 * (AL, AX, EAX or RAX, or the destination of the two- and three-operand
 * forms), ZF and AF clear, whatever the product. With 64-bit operands
 * (REX.W) the arithmetic is done on bigints.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { AF, CF, MASK, OF, PARITY, PF, SF, SIGN } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { DE, fault } from "../fault.ts";
import { EAX, EDX } from "../state.ts";
import { qv, readRmQ, setQ } from "../long/access.ts";

/** The high half of the last {@linkcode mul32} product. */
let mulHigh = 0;

/**
 * The 64-bit product of two 32-bit values (signed or unsigned): returns the low half and leaves the high half in
 * `mulHigh`, both unsigned. Exact in doubles: the 16-bit partial products stay below 2^53.
 */
function mul32(a: number, b: number, signed: boolean): number {
  const ua = a >>> 0, ub = b >>> 0;
  const aL = ua & 0xffff, aH = ua >>> 16, bL = ub & 0xffff, bH = ub >>> 16;
  const mid = aL * bH + aH * bL; // below 2^33
  const low = aL * bL + (mid % 65536) * 65536; // below 2^33
  let high = aH * bH + Math.floor(mid / 65536) + Math.floor(low / 4294967296);
  // Signed: subtract b * 2^32 for a negative a, and a * 2^32 for a negative b (mod 2^64).
  if (signed) high -= (ua >= 0x80000000 ? ub : 0) + (ub >= 0x80000000 ? ua : 0);
  mulHigh = high >>> 0;
  return low >>> 0;
}

/**
 * The flags of a multiply: CF = OF = `overflow`; the undefined SF/ZF/AF/PF per vendor (see the module doc):
 * `sign` is whether the low half's top bit is set, `low` its low byte.
 */
function mulFlags(cpu: Cpu, low: number, sign: boolean, overflow: boolean): void {
  const cfof = overflow ? CF | OF : 0;
  if (cpu.vendor.name === "amd") cpu.setArith((cpu.arith() & ~(CF | OF)) | cfof);
  else cpu.setArith(cfof | (PARITY[low & 0xff] ? PF : 0) | (sign ? SF : 0));
}

function setMulFlags(cpu: Cpu, lo: number, size: number, overflow: boolean): void {
  mulFlags(cpu, lo, (lo & SIGN[size]) !== 0, overflow);
}

/** F6/F7 /4: MUL r/m. */
export function mul(cpu: Cpu, d: Insn): void {
  const b = cpu.readRm(d);
  if (d.size === 1) {
    const p = cpu.getReg(EAX, 1) * b;
    cpu.setReg(EAX, 2, p);
    setMulFlags(cpu, p & 0xff, 1, p > 0xff);
  } else if (d.size === 2) {
    const p = cpu.getReg(EAX, 2) * b;
    cpu.setReg(EAX, 2, p & 0xffff);
    cpu.setReg(EDX, 2, p >>> 16);
    setMulFlags(cpu, p & 0xffff, 2, p > 0xffff);
  } else {
    const lo = mul32(cpu.getReg(EAX, 4), b, false), hi = mulHigh;
    cpu.setReg(EAX, 4, lo);
    cpu.setReg(EDX, 4, hi);
    setMulFlags(cpu, lo, 4, hi !== 0);
  }
}

function sx(v: number, size: number): number {
  return size === 1 ? (v << 24) >> 24 : size === 2 ? (v << 16) >> 16 : v | 0;
}

/** F6/F7 /5: IMUL r/m (one operand). */
export function imul1(cpu: Cpu, d: Insn): void {
  const b = sx(cpu.readRm(d), d.size);
  if (d.size === 4) {
    const lo = mul32(cpu.getReg(EAX, 4), b, true), hi = mulHigh;
    cpu.setReg(EAX, 4, lo);
    cpu.setReg(EDX, 4, hi);
    setMulFlags(cpu, lo, 4, hi !== ((lo | 0) < 0 ? 0xffffffff : 0));
    return;
  }
  const p = sx(cpu.getReg(EAX, d.size), d.size) * b;
  if (d.size === 1) cpu.setReg(EAX, 2, p & 0xffff);
  else {
    cpu.setReg(EAX, 2, p & 0xffff);
    cpu.setReg(EDX, 2, (p >> 16) & 0xffff);
  }
  setMulFlags(cpu, p & MASK[d.size], d.size, p !== sx(p & MASK[d.size], d.size));
}

/** 0F AF, 69, 6B: IMUL reg, r/m [, imm]. */
export function imul2(cpu: Cpu, d: Insn): void {
  const a = sx(cpu.readRm(d), d.size);
  const b = d.op === 0x1af ? sx(cpu.getReg(d.reg, d.size), d.size) : sx(d.imm, d.size);
  let lo: number, overflow: boolean;
  if (d.size === 4) {
    const l = mul32(a, b, true), hi = mulHigh;
    lo = l;
    overflow = hi !== ((l | 0) < 0 ? 0xffffffff : 0);
  } else {
    const p = a * b;
    lo = p & 0xffff;
    overflow = p !== sx(lo, 2);
  }
  cpu.setReg(d.reg, d.size, lo);
  setMulFlags(cpu, lo, d.size, overflow);
}

/**
 * The flags of a division, all undefined: AMD (as this project's EPYC host) keeps CF and OF, sets AF and clears
 * SF, ZF and PF; Intel (our choice) leaves them all unchanged. Set only once the quotient fits: a #DE has no effect.
 */
function divFlags(cpu: Cpu): void {
  if (cpu.vendor.name === "amd") cpu.setArith((cpu.arith() & (CF | OF)) | AF);
}

/** F6/F7 /6 and /7: DIV and IDIV r/m. */
export function div(cpu: Cpu, d: Insn): void {
  const signed = d.reg === 7, size = d.size;
  const divisor = cpu.readRm(d);
  if (divisor === 0) fault(DE);
  let q: number, r: number;
  if (size === 4) {
    const hi = BigInt(cpu.getReg(EDX, 4)), lo = BigInt(cpu.getReg(EAX, 4));
    let n = (hi << 32n) | lo;
    let dv = BigInt(divisor);
    if (signed) {
      n = BigInt.asIntN(64, n);
      dv = BigInt.asIntN(32, dv);
    }
    const bq = n / dv, br = n % dv;
    if (signed ? bq > 0x7fffffffn || bq < -0x80000000n : bq > 0xffffffffn) fault(DE);
    q = Number(BigInt.asUintN(32, bq));
    r = Number(BigInt.asUintN(32, br));
    divFlags(cpu);
    cpu.setReg(EAX, 4, q);
    cpu.setReg(EDX, 4, r);
    return;
  }
  const n = size === 1 ? cpu.getReg(EAX, 2) : cpu.getReg(EDX, 2) * 0x10000 + cpu.getReg(EAX, 2);
  const bits = size * 8;
  if (signed) {
    const sn = size === 1 ? (n << 16) >> 16 : n | 0, sd = sx(divisor, size);
    const sq = Math.trunc(sn / sd);
    if (sq > 2 ** (bits - 1) - 1 || sq < -(2 ** (bits - 1))) fault(DE);
    q = sq & MASK[size];
    r = (sn - sq * sd) & MASK[size];
  } else {
    q = Math.floor(n / divisor);
    if (q > MASK[size]) fault(DE);
    r = n - q * divisor;
  }
  divFlags(cpu);
  if (size === 1) {
    cpu.setReg(EAX, 2, (r << 8) | q);
  } else {
    cpu.setReg(EAX, 2, q);
    cpu.setReg(EDX, 2, r);
  }
}

// ---- 64-bit operands (BigInt: the slow, simple reference path) --------------

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
