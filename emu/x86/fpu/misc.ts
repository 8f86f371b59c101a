/**
 * The other x87 operations on values: comparisons (FCOM/FUCOM/FCOMI/
 * FUCOMI/FTST), classification (FXAM), FRNDINT, FSCALE, FXTRACT and the
 * partial remainders FPREM/FPREM1.
 *
 * @module
 */
import { DENORMAL, INF, NORMAL, QNAN, SNAN, UNSUPPORTED, ZERO } from "./f80.ts"; // the classes classify() answers
import {
  bitLength,
  classify,
  type F80,
  f80,
  fromSig,
  indefinite,
  inf,
  isNan,
  normalize,
  sigOf,
  unitExp,
  zero,
} from "./f80.ts";
import { checkOperand, checkOperands, propagateNan, roundExt } from "./arith.ts";
import { DE, type FpEnv, IE, ZE } from "./round.ts";
import { roundToInteger } from "./convert.ts";

/** Comparison results, in the order of the condition codes they set. */
export const GREATER = 0, LESS = 1, EQUAL = 2, UNORDERED = 3;

/**
 * Compares a with b. With `quietNans` (FUCOM*), only an SNaN or an
 * unsupported operand raises IE; otherwise (FCOM*, FTST) any NaN does.
 */
export function compare(env: FpEnv, a: F80, b: F80, quietNans: boolean): number {
  const ca = classify(a), cb = classify(b);
  if (ca === UNSUPPORTED || cb === UNSUPPORTED || isNan(ca) || isNan(cb)) {
    if (!quietNans || ca === SNAN || cb === SNAN || ca === UNSUPPORTED || cb === UNSUPPORTED) env.flags |= IE;
    return UNORDERED;
  }
  if (ca === DENORMAL || cb === DENORMAL || env.denormal) {
    env.flags |= DE;
  }
  if (ca === ZERO && cb === ZERO) return EQUAL;
  if (ca === INF || cb === INF) {
    if (ca === INF && cb === INF && a.sign === b.sign) return EQUAL;
    const aBig = ca === INF ? (a.sign ? -1 : 1) : 0, bBig = cb === INF ? (b.sign ? -1 : 1) : 0;
    if (aBig !== bBig) return aBig > bBig ? GREATER : LESS;
  }
  const va = ca === ZERO ? 0n : sigOf(a), vb = cb === ZERO ? 0n : sigOf(b);
  const ka = unitExp(a), kb = unitExp(b), k = Math.min(ka, kb);
  let x = va << BigInt(ka - k), y = vb << BigInt(kb - k);
  if (a.sign) x = -x;
  if (b.sign) y = -y;
  return x > y ? GREATER : x < y ? LESS : EQUAL;
}

/** FXAM: the C3 C2 C0 code of a class (C3 bit 2, C2 bit 1, C0 bit 0); `empty` for an empty register. */
export function examine(v: F80, empty: boolean): number {
  if (empty) return 5;
  switch (classify(v)) {
    case UNSUPPORTED:
      return 0;
    case QNAN:
    case SNAN:
      return 1;
    case NORMAL:
      return 2;
    case INF:
      return 3;
    case ZERO:
      return 4;
    default:
      return 6;
  }
}

/** FRNDINT: rounds to an integer in the current rounding mode. */
export function rndint(env: FpEnv, a: F80): F80 {
  const ca = classify(a);
  const r = checkOperand(env, a, ca, false);
  if (r) return r;
  if (ca === ZERO || ca === INF || unitExp(a) >= 0) return a;
  const m = roundToInteger(env, a, env.rc);
  return m === 0n ? zero(a.sign) : normalize(a.sign, m, 0);
}

/** FSCALE: a * 2^trunc(b). */
export function scale(env: FpEnv, a: F80, b: F80): F80 {
  const ca = classify(a), cb = classify(b);
  const nan = checkOperands(env, a, ca, b, cb);
  if (nan) return nan;
  if (cb === INF) {
    if (b.sign ? ca === INF : ca === ZERO) {
      env.flags |= IE;
      return indefinite();
    }
    if (ca === ZERO || ca === INF) return a;
    return b.sign ? zero(a.sign) : inf(a.sign);
  }
  if (ca === ZERO || ca === INF) return a;
  let n = 0;
  if (cb !== ZERO) {
    const kb = unitExp(b);
    const mag = kb >= 0 || bitLength(sigOf(b)) + kb > 20 ? 1 << 20 : Number(sigOf(b) >> BigInt(-kb));
    n = b.sign ? -mag : mag;
  }
  return roundExt(env, a.sign, sigOf(a), unitExp(a) + n, 64);
}

/** FXTRACT: [significand, exponent] of a (the significand goes on top). */
export function xtract(env: FpEnv, a: F80): [F80, F80] {
  const ca = classify(a);
  const r = checkOperand(env, a, ca, false);
  if (r) return [r, r];
  if (ca === ZERO) {
    env.flags |= ZE;
    return [a, inf(1)];
  }
  if (ca === INF) return [a, inf(0)];
  const n = normalize(a.sign, sigOf(a), unitExp(a));
  const e = n.exp - 16383;
  return [f80(a.sign, 16383, n.hi, n.lo), e === 0 ? zero(0) : normalize(e < 0 ? 1 : 0, BigInt(Math.abs(e)), 0)];
}

/** The result of FPREM/FPREM1: the (partial) remainder and the condition codes to set. */
export interface Remainder {
  value: F80;
  /** C2: the reduction is incomplete. */
  incomplete: boolean;
  /** The three low quotient bits (Q2 -> C0, Q1 -> C3, Q0 -> C1), when complete. */
  q: number;
  /** A NaN or invalid operand, or an unmasked DE: C0 and C3 keep their values, C1 is cleared, as on the host. */
  invalid?: boolean;
}

/**
 * FPREM (`nearest` false: truncating quotient) or FPREM1 (IEEE remainder). `intel` selects Intel's answer for a
 * denormal dividend and an infinite divisor: the dividend as it is (a pseudo-denormal with exponent 1), with DE
 * and never UE; AMD's goes through rounding, so an unmasked UE delivers it with its exponent biased.
 */
export function prem(env: FpEnv, a: F80, b: F80, nearest: boolean, intel = false): Remainder {
  const ca = classify(a), cb = classify(b);
  const nan = ca === UNSUPPORTED || cb === UNSUPPORTED || isNan(ca) || isNan(cb);
  if (nan) {
    const value = checkOperands(env, a, ca, b, cb) ?? propagateNan(env, a, ca, b, cb);
    return { value, incomplete: false, q: 0, invalid: true };
  }
  // An infinite dividend or a zero divisor raises only IE, even with a denormal operand (as on the host).
  if (ca === INF || cb === ZERO) {
    env.flags |= IE;
    return { value: indefinite(), incomplete: false, q: 0, invalid: true };
  }
  if (ca === DENORMAL || cb === DENORMAL) {
    env.flags |= DE;
    if (!env.masked(DE)) return { value: a, incomplete: false, q: 0, invalid: true };
  }
  if (ca === ZERO || cb === INF) {
    // The host returns a denormal dividend as a result: a pseudo-denormal gets exponent 1 (the same value), and on
    // AMD an unmasked UE delivers it with its exponent biased; Intel never raises UE here (checked natively on a
    // Sapphire Rapids: FPREM and FPREM1 of a denormal by an infinity with UE unmasked set DE only).
    if (ca === DENORMAL && intel) {
      return { value: a.hi & 0x80000000 ? f80(a.sign, 1, a.hi, a.lo) : a, incomplete: false, q: 0 };
    }
    const value = ca === DENORMAL ? roundExt(env, a.sign, sigOf(a), unitExp(a), 64) : a;
    return { value, incomplete: false, q: 0 };
  }
  const ma = sigOf(a), mb = sigOf(b), ka = unitExp(a), kb = unitExp(b);
  const ea = bitLength(ma) - 1 + ka, eb = bitLength(mb) - 1 + kb;
  const d = ea - eb;
  if (d >= 64) {
    // Partial reduction: remove a multiple of b * 2^(d - n), truncated, with n in [32, 63].
    const n = 32 + ((d - 32) % 32);
    const shift = d - n;
    const k = Math.min(ka, kb + shift);
    const x = ma << BigInt(ka - k), y = mb << BigInt(kb + shift - k);
    const r = x - (x / y) * y;
    // A partial remainder below the normal range (a denormal divisor) is exact as a denormal.
    const tiny = r !== 0n && bitLength(r) - 1 + k + 16383 < 1;
    const value = r === 0n ? zero(a.sign) : tiny ? fromSig(a.sign, 0, r << BigInt(k + 16445)) : normalize(a.sign, r, k);
    return { value, incomplete: true, q: 0 };
  }
  const k = Math.min(ka, kb);
  const x = ma << BigInt(ka - k), y = mb << BigInt(kb - k);
  let q = x / y, r = x - q * y;
  let sign = a.sign;
  if (nearest && (r * 2n > y || (r * 2n === y && (q & 1n) === 1n))) {
    q += 1n;
    r = y - r;
    sign ^= 1;
  }
  const value = r === 0n ? zero(a.sign) : roundExt(env, sign, r, k, 64);
  return { value, incomplete: false, q: Number(q & 7n) };
}
