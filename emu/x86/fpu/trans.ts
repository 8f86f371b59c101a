/**
 * The x87 transcendentals on values: FSIN, FCOS, FSINCOS, FPTAN (argument
 * reduction by the 66-bit pi/2 the hardware uses, so large arguments give
 * the hardware's answers; |x| >= 2^63 leaves the operand alone and sets
 * C2), FPATAN, F2XM1, FYL2X and FYL2XP1, with their special cases (SDM
 * Vol. 2 tables for each instruction). Results are computed with 200+ bits
 * in fixed point (fixed.ts) and rounded once: within one unit in the last
 * place of the hardware's (which is not always correctly rounded).
 *
 * @module
 */
import { checkOperand, checkOperands, propagateNan, roundExt } from "./arith.ts";
import { DENORMAL, INF, UNSUPPORTED, ZERO } from "./f80.ts"; // the classes classify() answers
import { bitLength, classify, type F80, fromSig, indefinite, inf, isNan, sigOf, unitExp, zero } from "./f80.ts";
import { atan, expm1, HALF_PI_66, ln2, pi, sinCos, twoAtanh } from "./fixed.ts";
import { DE, type FpEnv, IE, PE, ZE } from "./round.ts";

/** Working fraction bits beyond what the operand's size needs. */
const GUARD = 200;

/** The result of a trigonometric instruction: C2 (operand out of range), and the values. */
export interface Trig {
  c2: boolean;
  /** sin, cos or tan (FSINCOS: the sine; FPTAN: the tangent). */
  a: F80;
  /** FSINCOS: the cosine. */
  b: F80;
}

/** Rounds a signed fixed-point value v / 2^w to 64 bits. */
function round(env: FpEnv, v: bigint, w: number): F80 {
  if (v === 0n) return zero(0);
  return v < 0n ? roundExt(env, 1, -v, -w, 64) : roundExt(env, 0, v, -w, 64);
}

/** A finite value in fixed point with w fraction bits (exact when w >= -unitExp). */
function fixed(v: F80, w: number): bigint {
  const m = sigOf(v), s = unitExp(v) + w;
  const r = s >= 0 ? m << BigInt(s) : m >> BigInt(-s);
  return v.sign ? -r : r;
}

/** The exponent of the leading bit of a nonzero finite value. */
function expOf(v: F80): number {
  return bitLength(sigOf(v)) - 1 + unitExp(v);
}

/** FSIN (`which` 0), FCOS (1), FSINCOS (2), FPTAN (3). */
export function trig(env: FpEnv, x: F80, which: number): Trig {
  const c = classify(x);
  const bad = checkOperand(env, x, c, true);
  if (bad) return { c2: false, a: bad, b: bad };
  if (c === ZERO) {
    const one = fromSig(0, 0x3fff, 1n << 63n);
    return { c2: false, a: which === 1 ? one : x, b: one };
  }
  if (expOf(x) >= 63) return { c2: true, a: x, b: x };
  // Three times the operand's smallness, so that x^3 still shows in the last bits (sin x < x, tan x > x).
  const w = GUARD + 3 * Math.max(0, -expOf(x));
  const xf = fixed(x, w);
  const half = HALF_PI_66 << BigInt(w - 65);
  // The nearest multiple of pi/2, and the remainder in [-pi/4, pi/4].
  let q = xf / half, r = xf - q * half;
  if (2n * r > half) {
    q++;
    r -= half;
  } else if (2n * r < -half) {
    q--;
    r += half;
  }
  const [s, co] = sinCos(r, w);
  const k = Number(((q % 4n) + 4n) % 4n);
  const sin = [s, co, -s, -co][k], cos = [co, -s, -co, s][k];
  if (which === 0) return { c2: false, a: round(env, sin, w), b: x };
  if (which === 1) return { c2: false, a: round(env, cos, w), b: x };
  if (which === 2) return { c2: false, a: round(env, sin, w), b: round(env, cos, w) };
  return { c2: false, a: round(env, (sin << BigInt(w)) / cos, w), b: x };
}

/** FPATAN: arctan(y / x) in the quadrant of (x, y). */
export function patan(env: FpEnv, y: F80, x: F80): F80 {
  const cy = classify(y), cx = classify(x);
  const nan = checkOperands(env, y, cy, x, cx);
  if (nan) return nan;
  const sign = (v: bigint) => (y.sign ? -v : v);
  if (cy === ZERO || cx === INF || cy === INF || cx === ZERO) {
    // The table of special cases: multiples of pi/4 and signed zeros.
    const P = pi(GUARD);
    if (cy === INF) return round(env, sign(cx === INF ? (x.sign ? 3n * P / 4n : P / 4n) : P / 2n), GUARD);
    if (cy === ZERO || cx === INF) return x.sign ? round(env, sign(P), GUARD) : zero(y.sign);
    return round(env, sign(P / 2n), GUARD);
  }
  // atan of the ratio of the smaller magnitude to the larger, with the precision a small ratio needs.
  const ey = expOf(y), ex = expOf(x);
  const yBig = ey > ex || (ey === ex && sigOf(y) > sigOf(x));
  const [num, den] = yBig ? [x, y] : [y, x];
  const w = GUARD + 3 * Math.max(0, expOf(den) - expOf(num));
  const t = (sigOf(num) << BigInt(unitExp(num) - unitExp(den) + w)) / sigOf(den);
  const P = pi(w);
  let a = atan(t, w);
  if (yBig) a = P / 2n - a;
  if (x.sign) a = P - a;
  return round(env, sign(a), w);
}

/** F2XM1: 2^x - 1 (defined for -1 <= x <= 1). */
export function f2xm1(env: FpEnv, x: F80): F80 {
  const c = classify(x);
  if (c === INF) return x.sign ? fromSig(1, 0x3fff, 1n << 63n) : x;
  const bad = checkOperand(env, x, c, true);
  if (bad) return bad;
  if (c === ZERO) return x;
  const e = expOf(x);
  if (e >= 0) {
    // |x| >= 1, as the host answers: 1 for 1 (rounded up), -1/2 for -1, x itself outside the domain; PE always.
    env.flags |= PE;
    if (e !== 0 || sigOf(x) !== 1n << 63n) return x;
    env.c1 = x.sign ^ 1;
    return x.sign ? fromSig(1, 0x3ffe, 1n << 63n) : x;
  }
  const w = GUARD + Math.max(0, -e);
  const xf = fixed(x, w);
  const n = xf >> BigInt(w);
  const y = ((xf - (n << BigInt(w))) * ln2(w)) >> BigInt(w);
  const frac = expm1(y, w);
  // 2^x - 1 = 2^n (e^y - 1) + 2^n - 1 with x = n + f, 0 <= f < 1.
  const v = n >= 0n
    ? (frac << n) + ((1n << n) - 1n << BigInt(w))
    : ((frac + (1n << BigInt(w))) >> -n) - (1n << BigInt(w));
  return round(env, v, w);
}

/** log2(m * 2^k) for m > 0, in fixed point with w fraction bits (exact for powers of two). */
function log2Fixed(m: bigint, k: number, w: number): bigint {
  const bl = bitLength(m);
  let e = BigInt(bl - 1 + k);
  // m scaled to [1, 2), then into [sqrt(1/2), sqrt(2)).
  let mf = bl - 1 > w ? m >> BigInt(bl - 1 - w) : m << BigInt(w - (bl - 1));
  const one = 1n << BigInt(w);
  if (mf * mf > 2n * one * one) {
    mf >>= 1n;
    e += 1n;
  }
  const z = ((mf - one) << BigInt(w)) / (mf + one);
  return (e << BigInt(w)) + (twoAtanh(z, w) << BigInt(w)) / ln2(w);
}

/** Multiplies y by a fixed-point L (w fraction bits) and rounds once; PE always, as the host raises it. */
function timesY(env: FpEnv, y: F80, l: bigint, w: number): F80 {
  env.flags |= PE;
  if (l === 0n) return zero(y.sign);
  const sign = (l < 0n ? 1 : 0) ^ y.sign, mag = (l < 0n ? -l : l) * sigOf(y);
  return roundExt(env, sign, mag, unitExp(y) - w, 64);
}

/** FYL2X: y * log2(x). */
export function yl2x(env: FpEnv, x: F80, y: F80): F80 {
  const cx = classify(x), cy = classify(y);
  if (cx === UNSUPPORTED || cy === UNSUPPORTED || isNan(cx) || isNan(cy)) return propagateNan2(env, x, cx, y, cy);
  if (x.sign && cx !== ZERO) return invalid(env);
  if (cx === DENORMAL || cy === DENORMAL) {
    env.flags |= DE;
    if (!env.masked(DE)) return y;
  }
  if (cx === ZERO) {
    if (cy === ZERO) return invalid(env);
    if (cy !== INF) env.flags |= ZE;
    return inf(y.sign ^ 1);
  }
  if (cx === INF) return cy === ZERO ? invalid(env) : inf(y.sign);
  const w = GUARD;
  const l = log2Fixed(sigOf(x), unitExp(x), w);
  if (cy === INF) return l === 0n ? invalid(env) : inf(y.sign ^ (l < 0n ? 1 : 0));
  if (cy === ZERO) return zero(y.sign ^ (l < 0n ? 1 : 0));
  return timesY(env, y, l, w);
}

/** FYL2XP1: y * log2(x + 1) (for |x| < 1 - sqrt(2)/2). */
export function yl2xp1(env: FpEnv, x: F80, y: F80): F80 {
  const cx = classify(x), cy = classify(y);
  if (cx === UNSUPPORTED || cy === UNSUPPORTED || isNan(cx) || isNan(cy)) return propagateNan2(env, x, cx, y, cy);
  if (cx === DENORMAL || cy === DENORMAL) {
    env.flags |= DE;
    if (!env.masked(DE)) return y;
  }
  if (cx === ZERO) return cy === INF ? invalid(env) : zero(x.sign ^ y.sign);
  if (cx === INF) return x.sign || cy === ZERO ? invalid(env) : inf(y.sign);
  const e = expOf(x);
  if (x.sign && e >= 0) {
    // x <= -1 (outside the domain): the host returns x.
    env.flags |= PE;
    return x;
  }
  const w = GUARD + Math.max(0, -e);
  const xf = fixed(x, w);
  let l: bigint;
  if (e < -2) {
    // ln(1 + x) = 2 atanh(x / (2 + x)), with the relative precision a small x needs.
    const z = (xf << BigInt(w)) / ((2n << BigInt(w)) + xf);
    l = (twoAtanh(z, w) << BigInt(w)) / ln2(w);
  } else {
    // Outside the documented domain: log2 of 1 + x exactly.
    l = log2Fixed(xf + (1n << BigInt(w)), -w, w);
  }
  if (cy === INF) return inf(y.sign ^ x.sign);
  if (cy === ZERO) return zero(y.sign ^ x.sign);
  return timesY(env, y, l, w);
}

function invalid(env: FpEnv): F80 {
  env.flags |= IE;
  return indefinite();
}

/** NaN operands of FYL2X/FYL2XP1 (ST(0) = x, ST(1) = y). */
function propagateNan2(env: FpEnv, x: F80, cx: number, y: F80, cy: number): F80 {
  if (cx === UNSUPPORTED || cy === UNSUPPORTED) return invalid(env);
  return propagateNan(env, x, cx, y, cy);
}
