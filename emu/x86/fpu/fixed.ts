/**
 * Fixed-point kernels for the x87 transcendentals, in bigint arithmetic
 * with a caller-chosen number of fraction bits `w` (a value v stands for
 * v / 2^w): pi and ln 2 to any precision, sine and cosine after reduction
 * by pi/2, arctangent, 2^x - 1 and the natural logarithm of values near 1.
 * Each kernel is accurate to a few units in the last place of its w bits;
 * callers take w well above the 64 bits they round to. Written from the
 * Taylor series and the usual argument reductions (no tables).
 *
 * @module
 */
import { isqrt } from "./arith.ts";

/** pi/2 as the x87 reduces arguments with it: a 66-bit value P * 2^-65 (SDM Vol. 1, 8.3.10). */
export const HALF_PI_66 = 0x3243f6a8885a308d3n;

const piCache = new Map<number, bigint>();

/** arctan(1/n) * 2^w for an integer n >= 2 (Taylor series). */
function atanInv(n: bigint, w: number): bigint {
  const n2 = n * n;
  let term = (1n << BigInt(w)) / n, sum = term, k = 1n, sign = -1n;
  while (term !== 0n) {
    term /= n2;
    sum += (sign * term) / (2n * k + 1n);
    sign = -sign;
    k++;
  }
  return sum;
}

/**
 * The precision the constants are computed to: beyond it they are extended
 * with zero bits (their relative precision is what the callers need).
 */
const CONSTANT_BITS = 512;

/** pi * 2^w (Machin's formula, with 16 guard bits). */
export function pi(w: number): bigint {
  if (w > CONSTANT_BITS) return pi(CONSTANT_BITS) << BigInt(w - CONSTANT_BITS);
  let v = piCache.get(w);
  if (v === undefined) {
    const g = w + 16;
    v = (16n * atanInv(5n, g) - 4n * atanInv(239n, g)) >> 16n;
    piCache.set(w, v);
  }
  return v;
}

/** atanh(1/n) * 2^w for an integer n >= 2. */
function atanhInv(n: bigint, w: number): bigint {
  const n2 = n * n;
  let term = (1n << BigInt(w)) / n, sum = term, k = 1n;
  while (term !== 0n) {
    term /= n2;
    sum += term / (2n * k + 1n);
    k++;
  }
  return sum;
}

const ln2Cache = new Map<number, bigint>();

/** ln 2 * 2^w (2 atanh(1/3), with 16 guard bits). */
export function ln2(w: number): bigint {
  if (w > CONSTANT_BITS) return ln2(CONSTANT_BITS) << BigInt(w - CONSTANT_BITS);
  let v = ln2Cache.get(w);
  if (v === undefined) {
    v = (2n * atanhInv(3n, w + 16)) >> 16n;
    ln2Cache.set(w, v);
  }
  return v;
}

/** Multiplies two fixed-point values, truncating toward zero (so that series terms reach 0). */
function mulw(a: bigint, b: bigint, w: bigint): bigint {
  const p = a * b;
  return p < 0n ? -(-p >> w) : p >> w;
}

/** [sin r, cos r] * 2^w for |r| <= about pi/4 (r given * 2^w). */
export function sinCos(r: bigint, w: number): [bigint, bigint] {
  const W = BigInt(w), one = 1n << W, r2 = mulw(r, r, W);
  let s = r, t = r, n = 1n;
  while (t !== 0n) {
    t = -mulw(t, r2, W) / ((n + 1n) * (n + 2n));
    s += t;
    n += 2n;
  }
  let c = one;
  t = one;
  n = 0n;
  while (t !== 0n) {
    t = -mulw(t, r2, W) / ((n + 1n) * (n + 2n));
    c += t;
    n += 2n;
  }
  return [s, c];
}

/** arctan(t) * 2^w for |t| <= 1 (t given * 2^w): halve the angle until small, then the series. */
export function atan(t: bigint, w: number): bigint {
  const W = BigInt(w), one = 1n << W;
  let halvings = 0n;
  const small = one >> 5n;
  while ((t < 0n ? -t : t) > small) {
    // tan(a/2) = t / (1 + sqrt(1 + t^2))
    const root = isqrt((one + mulw(t, t, W)) << W);
    t = (t << W) / (one + root);
    halvings++;
  }
  const t2 = mulw(t, t, W);
  let sum = t, p = t, k = 1n;
  while (p !== 0n) {
    p = -mulw(p, t2, W);
    sum += p / (2n * k + 1n);
    k++;
  }
  return sum << halvings;
}

/** e^y - 1 (y given * 2^w, |y| <= 1). */
export function expm1(y: bigint, w: number): bigint {
  const W = BigInt(w);
  let sum = 0n, t = y, n = 1n;
  while (t !== 0n) {
    sum += t;
    n++;
    t = mulw(t, y, W) / n;
  }
  return sum;
}

/** 2 atanh(z) = ln((1 + z) / (1 - z)) (z given * 2^w, |z| <= 1/5). */
export function twoAtanh(z: bigint, w: number): bigint {
  const W = BigInt(w), z2 = mulw(z, z, W);
  let sum = z, p = z, k = 1n;
  while (p !== 0n) {
    p = mulw(p, z2, W);
    sum += p / (2n * k + 1n);
    k++;
  }
  return 2n * sum;
}
