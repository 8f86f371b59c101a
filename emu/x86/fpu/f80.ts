/**
 * The 80-bit extended-precision value: sign, 15-bit biased exponent and a
 * 64-bit significand (explicit integer bit J at bit 63) held as two 32-bit
 * halves. Classification follows the Intel SDM (Table 8-3): zeros,
 * denormals and pseudo-denormals, normals, infinities, quiet and signaling
 * NaNs, and the unsupported encodings (unnormals, pseudo-NaNs,
 * pseudo-infinities). The exact value of a finite operand is `m * 2^k`
 * with an integer significand `m` (a bigint, used only by the slow
 * arithmetic core).
 *
 * @module
 */

/** An 80-bit extended-precision value. `hi` and `lo` are unsigned 32-bit halves of the significand. */
export interface F80 {
  sign: number;
  exp: number;
  hi: number;
  lo: number;
}

/** Classes of an 80-bit encoding. */
export const ZERO = 0, DENORMAL = 1, NORMAL = 2, INF = 3, QNAN = 4, SNAN = 5, UNSUPPORTED = 6;

/** Exponent bias and limits of the 80-bit format. */
export const BIAS = 16383, EMAX = 16383, EMIN = -16382;

/** Builds a value. */
export function f80(sign: number, exp: number, hi: number, lo: number): F80 {
  return { sign, exp, hi: hi >>> 0, lo: lo >>> 0 };
}

/** The default NaN ("real indefinite"): negative, QNaN with significand C000000000000000. */
export function indefinite(): F80 {
  return f80(1, 0x7fff, 0xc0000000, 0);
}

/** A signed zero. */
export function zero(sign: number): F80 {
  return f80(sign, 0, 0, 0);
}

/** A signed infinity. */
export function inf(sign: number): F80 {
  return f80(sign, 0x7fff, 0x80000000, 0);
}

/** The class of `v` (ZERO ... UNSUPPORTED). */
export function classify(v: F80): number {
  const j = v.hi & 0x80000000;
  if (v.exp === 0x7fff) {
    if (!j) return UNSUPPORTED;
    if ((v.hi & 0x7fffffff) === 0 && v.lo === 0) return INF;
    return v.hi & 0x40000000 ? QNAN : SNAN;
  }
  if (v.exp === 0) return v.hi === 0 && v.lo === 0 ? ZERO : DENORMAL;
  return j ? NORMAL : UNSUPPORTED;
}

/** True for QNaN and SNaN. */
export function isNan(c: number): boolean {
  return c === QNAN || c === SNAN;
}

/** The significand as a bigint. */
export function sigOf(v: F80): bigint {
  return (BigInt(v.hi) << 32n) | BigInt(v.lo);
}

/** The power of two of the significand's unit: a finite value equals sigOf(v) * 2^unitExp(v). */
export function unitExp(v: F80): number {
  return Math.max(v.exp, 1) - BIAS - 63;
}

/** A value from a sign, biased exponent and 64-bit bigint significand. */
export function fromSig(sign: number, exp: number, sig: bigint): F80 {
  return f80(sign, exp, Number(sig >> 32n), Number(sig & 0xffffffffn));
}

/** The NaN `v` made quiet (bit 62 set). */
export function quiet(v: F80): F80 {
  return f80(v.sign, v.exp, v.hi | 0x40000000, v.lo);
}

/** Number of bits of a positive bigint. */
export function bitLength(m: bigint): number {
  const s = m.toString(16);
  const top = parseInt(s[0], 16);
  return (s.length - 1) * 4 + (32 - Math.clz32(top));
}

/** An exact value m * 2^k (m > 0, exact in 64 bits) as a normal 80-bit value. */
export function normalize(sign: number, m: bigint, k: number): F80 {
  const n = bitLength(m);
  const sig = n <= 64 ? m << BigInt(64 - n) : m >> BigInt(n - 64);
  return fromSig(sign, n - 1 + k + 16383, sig);
}

/** Writes `v` as 10 little-endian bytes at `b[at]`. */
export function writeF80(b: Uint8Array, at: number, v: F80): void {
  for (let i = 0; i < 4; i++) {
    b[at + i] = (v.lo >>> (8 * i)) & 0xff;
    b[at + 4 + i] = (v.hi >>> (8 * i)) & 0xff;
  }
  const se = (v.sign << 15) | v.exp;
  b[at + 8] = se & 0xff;
  b[at + 9] = se >> 8;
}

/** Reads a value from 10 little-endian bytes at `b[at]`. */
export function readF80(b: Uint8Array, at: number): F80 {
  const lo = (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
  const hi = (b[at + 4] | (b[at + 5] << 8) | (b[at + 6] << 16) | (b[at + 7] << 24)) >>> 0;
  const se = b[at + 8] | (b[at + 9] << 8);
  return f80(se >> 15, se & 0x7fff, hi, lo);
}

/** The value as 20 hex digits (sign/exponent, then significand), as the test vectors write it. */
export function toHex(v: F80): string {
  const h = (n: number, w: number) => n.toString(16).padStart(w, "0");
  return h((v.sign << 15) | v.exp, 4) + h(v.hi, 8) + h(v.lo, 8);
}

/** Parses 20 hex digits written by {@linkcode toHex}. */
export function fromHex(s: string): F80 {
  const se = parseInt(s.slice(0, 4), 16);
  return f80(se >> 15, se & 0x7fff, parseInt(s.slice(4, 12), 16), parseInt(s.slice(12, 20), 16));
}
