/**
 * Multiplication and division: MUL, IMUL (one, two and three operands),
 * DIV, IDIV. #DE on a zero divisor or a quotient that does not fit.
 * Multiplies set CF=OF when the high half is significant; SF/ZF/PF/AF are
 * undefined: the AMD personality leaves them unchanged, as this project's
 * AMD EPYC host does; the Intel one does what this project's Intel host
 * (family 6 model 167) does: SF and PF from the low half of the result
 * (AL, AX, EAX or RAX, or the destination of the two- and three-operand
 * forms), ZF and AF clear, whatever the product. Products and quotients
 * wider than 32 bits are computed exactly on uint32 limbs (limbs.ts).
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { AF, CF, MASK, OF, PARITY, PF, SF, SIGN } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { DE, fault } from "../fault.ts";
import { EAX, EDX } from "../state.ts";
import { qv, readRmQ, setQ } from "../long/access.ts";
import { div128, mul32, mul64, mulHigh, neg, negate64, wide } from "./limbs.ts";

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
    div64By32(cpu, signed, divisor);
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

/**
 * DIV or IDIV of EDX:EAX by the 32-bit `divisor` (not zero): the quotient to EAX, the remainder to EDX, or #DE when
 * the quotient does not fit.
 */
function div64By32(cpu: Cpu, signed: boolean, divisor: number): void {
  let lo = cpu.getReg(EAX, 4), hi = cpu.getReg(EDX, 4), dv = divisor;
  const nNeg = signed && hi >= SIGN[4], dNeg = signed && dv >= SIGN[4];
  if (nNeg) {
    negate64(lo, hi);
    lo = neg[0];
    hi = neg[1];
  }
  if (dNeg) dv = -dv >>> 0;
  div128(0, 0, hi, lo, 0, dv);
  let q = wide[0], r = wide[2];
  // The quotient's magnitude must fit: in 32 bits, or as a signed 32-bit value of its sign.
  if (wide[1] !== 0 || (signed && q > (nNeg !== dNeg ? SIGN[4] : SIGN[4] - 1))) fault(DE);
  if (nNeg !== dNeg) q = -q >>> 0;
  if (nNeg) r = -r >>> 0;
  divFlags(cpu);
  cpu.setReg(EAX, 4, q);
  cpu.setReg(EDX, 4, r);
}

// ---- 64-bit operands (REX.W) --------------------------------------------------

/** The bit of a 64-bit value's high half that is its sign. */
const SIGN64 = SIGN[4];

/** F7 /4 /5 with REX.W: MUL and IMUL r/m64 into RDX:RAX. */
export function mulAcc64(cpu: Cpu, d: Insn): void {
  const signed = d.reg === 5;
  readRmQ(cpu, d);
  mul64(cpu.r32[0], cpu.r32[1], qv[0], qv[1], signed);
  const w0 = wide[0], w1 = wide[1], w2 = wide[2], w3 = wide[3];
  setQ(cpu, EAX, w0, w1);
  setQ(cpu, EDX, w2, w3);
  // Significant high half: not zero (MUL), not the low half's sign extended (IMUL).
  const ext = signed && w1 >= SIGN64 ? 0xffffffff : 0;
  mulFlags(cpu, w0, w1 >= SIGN64, w2 !== ext || w3 !== ext);
}

/** 0F AF, 69, 6B with REX.W: IMUL r64, r/m64 [, imm]. */
export function imul64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  const n = d.reg << 1, r = cpu.r32;
  const aLo = qv[0], aHi = qv[1];
  const reg = d.op === 0x1af, bLo = reg ? r[n] : d.imm >>> 0, bHi = reg ? r[n + 1] : d.imm2 >>> 0;
  if ((aHi | bHi) === 0) {
    // Two operands below 2^32 (the kernel's generic umul_ppmm multiplies 32-bit halves so): one product, below 2^64
    // and not negative, which overflows once it reaches 2^63.
    const lo = mul32(aLo, bLo, false), hi = mulHigh;
    r[n] = lo;
    r[n + 1] = hi;
    mulFlags(cpu, lo, hi >= SIGN64, hi >= SIGN64);
    return;
  }
  mul64(aLo, aHi, bLo, bHi, true);
  const w0 = wide[0], w1 = wide[1];
  const ext = w1 >= SIGN64 ? 0xffffffff : 0;
  r[n] = w0;
  r[n + 1] = w1;
  mulFlags(cpu, w0, w1 >= SIGN64, wide[2] !== ext || wide[3] !== ext);
}

/** The dividend of a 64-bit DIV or IDIV (RDX:RAX, or its magnitude), limbs low to high. */
const dividend = new Uint32Array(4);

/** F7 /6 /7 with REX.W: DIV and IDIV RDX:RAX by r/m64 (#DE on a zero divisor or an overflowing quotient). */
export function div64(cpu: Cpu, d: Insn): void {
  const signed = d.reg === 7;
  readRmQ(cpu, d);
  let dLo = qv[0], dHi = qv[1];
  if ((dLo | dHi) === 0) fault(DE);
  const r = cpu.r32, n = dividend;
  n[0] = r[0];
  n[1] = r[1];
  n[2] = r[EDX << 1];
  n[3] = r[(EDX << 1) + 1];
  const nNeg = signed && n[3] >= SIGN64, dNeg = signed && dHi >= SIGN64;
  if (nNeg) {
    // Two's complement of 128 bits: invert, then add 1 until it no longer carries.
    for (let i = 0; i < 4; i++) n[i] = ~n[i];
    for (let i = 0; i < 4; i++) {
      n[i] = n[i] + 1;
      if (n[i] !== 0) break;
    }
  }
  if (dNeg) {
    negate64(dLo, dHi);
    dLo = neg[0];
    dHi = neg[1];
  }
  if (!div128(n[3], n[2], n[1], n[0], dHi, dLo)) fault(DE);
  let qLo = wide[0], qHi = wide[1], rLo = wide[2], rHi = wide[3];
  if (signed) {
    // The magnitude must fit a signed quotient: below 2^63, or 2^63 itself when negative.
    const negative = nNeg !== dNeg;
    if (qHi > SIGN64 || (qHi === SIGN64 && (!negative || qLo !== 0))) fault(DE);
    if (negative) {
      negate64(qLo, qHi);
      qLo = neg[0];
      qHi = neg[1];
    }
    if (nNeg) {
      negate64(rLo, rHi);
      rLo = neg[0];
      rHi = neg[1];
    }
  }
  divFlags(cpu);
  setQ(cpu, EAX, qLo, qHi);
  setQ(cpu, EDX, rLo, rHi);
}
