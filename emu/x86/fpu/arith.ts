/**
 * Basic arithmetic on 80-bit values, exactly rounded: FADD/FSUB, FMUL,
 * FDIV, FSQRT. Each takes an `FpEnv` (control word in, flags and C1 out)
 * and returns the result to store; when `env.flags` holds an unmasked
 * IE, DE or ZE the caller stores nothing. NaN operands propagate by the x87
 * rules (SDM Table 4-7); invalid operations give the real indefinite.
 *
 * @module
 */
import { DENORMAL, INF, NORMAL, QNAN, SNAN, UNSUPPORTED, ZERO } from "./f80.ts"; // the classes classify() answers
import { bitLength, classify, type F80, fromSig, indefinite, inf, isNan, quiet, sigOf, unitExp, zero } from "./f80.ts";
import { DE, EXT, type FpEnv, IE, RC_DOWN, type Rounded, roundTo, ZE } from "./round.ts";

/** Packs a rounded result (any p <= 64) into the 80-bit format. */
export function packExt(r: Rounded, p: number): F80 {
  if (r.inf) return inf(r.sign);
  if (r.M === 0n) return zero(r.sign);
  const sig = r.M << BigInt(64 - p);
  const normal = r.M >> BigInt(p - 1) !== 0n;
  return fromSig(r.sign, normal ? (r.e + 16383) & 0x7fff : 0, sig);
}

/** Rounds an exact (-1)^sign * m * 2^k to an 80-bit register with precision `p`. */
export function roundExt(env: FpEnv, sign: number, m: bigint, k: number, p: number): F80 {
  return packExt(roundTo(env, sign, m, k, EXT, p, true), p);
}

/** The NaN result of an operation with at least one NaN operand (x87 rules). */
export function propagateNan(env: FpEnv, a: F80, ca: number, b: F80, cb: number): F80 {
  if (ca === SNAN || cb === SNAN) env.flags |= IE;
  if (!isNan(cb)) return quiet(a);
  if (!isNan(ca)) return quiet(b);
  if (ca !== cb) return ca === QNAN ? a : b;
  const qa = quiet(a), qb = quiet(b);
  if (qa.hi !== qb.hi) return qa.hi > qb.hi ? qa : qb;
  if (qa.lo !== qb.lo) return qa.lo > qb.lo ? qa : qb;
  return qa.sign === 0 ? qa : qb;
}

/**
 * Checks the operands of a two-operand operation: unsupported encodings and
 * NaNs give their result (IE as needed), denormals (and `env.denormal`)
 * raise DE unless `noDenormal`. Null when the operation proceeds.
 */
export function checkOperands(env: FpEnv, a: F80, ca: number, b: F80, cb: number, noDenormal = false): F80 | null {
  if (ca === UNSUPPORTED || cb === UNSUPPORTED) {
    env.flags |= IE;
    return indefinite();
  }
  if (isNan(ca) || isNan(cb)) return propagateNan(env, a, ca, b, cb);
  if (!noDenormal && (ca === DENORMAL || cb === DENORMAL || env.denormal)) {
    env.flags |= DE;
    // An unmasked DE stops the operation: the caller stores nothing.
    if (!env.masked(DE)) return a;
  }
  return null;
}

/**
 * Checks the operand of a one-operand operation: the result for an unsupported format (and, with
 * `infInvalid`, an infinity: the real indefinite, IE), a NaN (quieted; IE for an SNaN) or a denormal whose DE is
 * unmasked (the operand, stored by nobody); otherwise null, with DE raised for a masked denormal.
 */
export function checkOperand(env: FpEnv, a: F80, ca: number, infInvalid: boolean): F80 | null {
  if (ca === UNSUPPORTED || (infInvalid && ca === INF)) {
    env.flags |= IE;
    return indefinite();
  }
  if (isNan(ca)) {
    if (ca === SNAN) env.flags |= IE;
    return quiet(a);
  }
  if (ca === DENORMAL) {
    env.flags |= DE;
    if (!env.masked(DE)) return a;
  }
  return null;
}

function invalid(env: FpEnv): F80 {
  env.flags |= IE;
  return indefinite();
}

/** a + b, or a - b when `negate` is 1 (FADD, FSUB, FSUBR with the operands swapped). */
export function add(env: FpEnv, a: F80, b: F80, negate: number): F80 {
  const ca = classify(a), cb = classify(b);
  const nan = checkOperands(env, a, ca, b, cb);
  if (nan) return nan;
  const bs = b.sign ^ negate;
  if (ca === INF || cb === INF) {
    if (ca === INF && cb === INF && a.sign !== bs) return invalid(env);
    return inf(ca === INF ? a.sign : bs);
  }
  const p = env.precision;
  if (ca === ZERO && cb === ZERO) return zero(a.sign === bs ? a.sign : env.rc === RC_DOWN ? 1 : 0);
  let ma = sigOf(a), ka = unitExp(a), mb = sigOf(b), kb = unitExp(b);
  if (ca === ZERO) return roundExt(env, bs, mb, kb, p);
  if (cb === ZERO) return roundExt(env, a.sign, ma, ka, p);
  // An operand far below the other's last bit only decides rounding: keep it as a sticky bit.
  if (kb + 66 < ka) {
    mb = 1n;
    kb = ka - 130;
  } else if (ka + 66 < kb) {
    ma = 1n;
    ka = kb - 130;
  }
  const k = Math.min(ka, kb);
  const sa = ma << BigInt(ka - k), sb = mb << BigInt(kb - k);
  let m = a.sign ? -sa : sa;
  m += bs ? -sb : sb;
  if (m === 0n) return zero(env.rc === RC_DOWN ? 1 : 0);
  return m < 0n ? roundExt(env, 1, -m, k, p) : roundExt(env, 0, m, k, p);
}

/** a * b (FMUL). */
export function mul(env: FpEnv, a: F80, b: F80): F80 {
  const ca = classify(a), cb = classify(b);
  const nan = checkOperands(env, a, ca, b, cb);
  if (nan) return nan;
  const sign = a.sign ^ b.sign;
  if (ca === INF || cb === INF) return ca === ZERO || cb === ZERO ? invalid(env) : inf(sign);
  if (ca === ZERO || cb === ZERO) return zero(sign);
  return roundExt(env, sign, sigOf(a) * sigOf(b), unitExp(a) + unitExp(b), env.precision);
}

/** a / b (FDIV, and FDIVR with the operands swapped). */
export function div(env: FpEnv, a: F80, b: F80): F80 {
  const ca = classify(a), cb = classify(b);
  // A finite nonzero value divided by zero raises only ZE, even when an operand is denormal (as on the host).
  const nan = checkOperands(env, a, ca, b, cb, cb === ZERO && (ca === NORMAL || ca === DENORMAL));
  if (nan) return nan;
  const sign = a.sign ^ b.sign;
  if (ca === INF) return cb === INF ? invalid(env) : inf(sign);
  if (cb === INF) return zero(sign);
  if (cb === ZERO) {
    if (ca === ZERO) return invalid(env);
    env.flags |= ZE;
    return inf(sign);
  }
  if (ca === ZERO) return zero(sign);
  const ma = sigOf(a), mb = sigOf(b);
  const s = Math.max(0, 68 + bitLength(mb) - bitLength(ma));
  const num = ma << BigInt(s);
  const q = num / mb, r = num - q * mb;
  const m = (q << 1n) | (r === 0n ? 0n : 1n);
  return roundExt(env, sign, m, unitExp(a) - unitExp(b) - s - 1, env.precision);
}

/** Integer square root: the largest r with r*r <= n. */
export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLength(n) >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** sqrt(a) (FSQRT). */
export function sqrt(env: FpEnv, a: F80): F80 {
  const ca = classify(a);
  if (ca === UNSUPPORTED) return invalid(env);
  if (isNan(ca)) {
    if (ca === SNAN) env.flags |= IE;
    return quiet(a);
  }
  if (ca === ZERO) return a;
  if (a.sign) return invalid(env);
  if (ca === INF) return a;
  if (ca === DENORMAL) {
    env.flags |= DE;
    if (!env.masked(DE)) return a;
  }
  let m = sigOf(a), k = unitExp(a);
  if (k & 1) {
    m <<= 1n;
    k--;
  }
  const s = Math.max(0, 70 - (bitLength(m) >> 1));
  const n = m << BigInt(2 * s);
  const r = isqrt(n);
  const mm = (r << 1n) | (r * r === n ? 0n : 1n);
  return roundExt(env, 0, mm, k / 2 - s - 1, env.precision);
}

/** A value built from a sign and an exact integer significand and exponent, rounded to 64 bits. */
export function exact(env: FpEnv, sign: number, m: bigint, k: number): F80 {
  if (m === 0n) return zero(sign);
  return roundExt(env, sign, m, k, 64);
}
