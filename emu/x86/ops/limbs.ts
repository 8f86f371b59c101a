/**
 * Exact wide integer arithmetic on uint32 limbs, for MUL, IMUL, DIV and
 * IDIV: the 64-bit product of two 32-bit values, the 128-bit product of
 * two 64-bit values, and the 128-by-64-bit division. Doubles hold every
 * intermediate exactly (each stays below 2^53), so no BigInt is made: the
 * kernel's clock reads and hashes multiply 64-bit values thousands of times
 * a second, and a BigInt product cost several allocations each.
 *
 * @module
 */
import { TWO32 } from "../long/access.ts";

const TWO31 = 0x80000000, TWO16 = 0x10000;

/** The high half of the last {@linkcode mul32} product. */
export let mulHigh = 0;

/**
 * The 64-bit product of two 32-bit values (signed or unsigned): returns the low half and leaves the high half in
 * `mulHigh`, both unsigned. The low half is Math.imul's; the double product is within 2^11 of the exact one, so
 * (product - low) / 2^32, rounded, is the exact high half (no 16-bit partial products: 2.7 times faster under Deno).
 */
export function mul32(a: number, b: number, signed: boolean): number {
  const ua = a >>> 0, ub = b >>> 0;
  const low = Math.imul(ua, ub) >>> 0;
  let high = Math.round((ua * ub - low) / TWO32);
  // Signed: subtract b * 2^32 for a negative a, and a * 2^32 for a negative b (mod 2^64).
  if (signed) high -= (ua >= TWO31 ? ub : 0) + (ub >= TWO31 ? ua : 0);
  mulHigh = high >>> 0;
  return low;
}

/**
 * The result of the last {@linkcode mul64} (the 128-bit product, limbs low to high) or {@linkcode div128} (quotient
 * in limbs 0-1, remainder in limbs 2-3). Callers copy it before the next call.
 */
export const wide = new Uint32Array(4);

/** The 128-bit product of the 64-bit values (aLo, aHi) and (bLo, bHi), signed or unsigned, into `wide`. */
export function mul64(aLo: number, aHi: number, bLo: number, bHi: number, signed: boolean): void {
  // Two operands of 32 bits (zero- or sign-extended, as the kernel's indexes and sizes mostly are): one product.
  if (signed ? aHi === (aLo >> 31) >>> 0 && bHi === (bLo >> 31) >>> 0 : aHi === 0 && bHi === 0) {
    wide[0] = mul32(aLo, bLo, signed);
    wide[1] = mulHigh;
    wide[2] = wide[3] = signed && mulHigh >= TWO31 ? 0xffffffff : 0;
    return;
  }
  const p0 = mul32(aLo, bLo, false), h0 = mulHigh;
  const p1 = mul32(aLo, bHi, false), h1 = mulHigh;
  const p2 = mul32(aHi, bLo, false), h2 = mulHigh;
  const p3 = mul32(aHi, bHi, false), h3 = mulHigh;
  const s1 = h0 + p1 + p2; // below 3 * 2^32
  let s2 = h1 + h2 + p3 + Math.floor(s1 / TWO32), s3 = h3;
  if (signed) {
    // Subtract b * 2^64 for a negative a, and a * 2^64 for a negative b (mod 2^128).
    if (aHi >= TWO31) {
      s2 -= bLo;
      s3 -= bHi;
    }
    if (bHi >= TWO31) {
      s2 -= aLo;
      s3 -= aHi;
    }
  }
  s3 += Math.floor(s2 / TWO32); // the carry, or the borrow
  // The stores into the Uint32Array keep each sum modulo 2^32.
  wide[0] = p0;
  wide[1] = s1;
  wide[2] = s2;
  wide[3] = s3;
}

/**
 * Divides the unsigned 128-bit (n3, n2, n1, n0) by the unsigned 64-bit (dHi, dLo), not zero: the quotient into
 * `wide[0..1]`, the remainder into `wide[2..3]`. Returns false (and leaves `wide` alone) when the quotient does not
 * fit in 64 bits.
 */
export function div128(n3: number, n2: number, n1: number, n0: number, dHi: number, dLo: number): boolean {
  // The quotient fits when the dividend's high half is below the divisor.
  if (n3 > dHi || (n3 === dHi && n2 >= dLo)) return false;
  if (dHi === 0) {
    // A 32-bit divisor: long division by 16-bit digits, whose partial dividends stay below 2^48.
    let r = n2, q3 = 0, q2 = 0, q1 = 0, x = 0;
    x = r * TWO16 + (n1 >>> 16);
    q3 = Math.floor(x / dLo);
    r = x - q3 * dLo;
    x = r * TWO16 + (n1 & 0xffff);
    q2 = Math.floor(x / dLo);
    r = x - q2 * dLo;
    x = r * TWO16 + (n0 >>> 16);
    q1 = Math.floor(x / dLo);
    r = x - q1 * dLo;
    x = r * TWO16 + (n0 & 0xffff);
    const q0 = Math.floor(x / dLo);
    wide[0] = q1 * TWO16 + q0;
    wide[1] = q3 * TWO16 + q2;
    wide[2] = x - q0 * dLo;
    wide[3] = 0;
    return true;
  }
  // A divisor of more than 32 bits: one quotient bit a step. The remainder (rh, rl) stays below the divisor; shifted
  // left it may need a 65th bit (top).
  let rh = n3, rl = n2, qh = 0, ql = 0, i = 63;
  if (n3 === 0 && n2 === 0) {
    // A dividend below 2^64 (DIV with RDX zero): the first 32 steps only shift its high half into the remainder.
    rl = n1;
    i = 31;
  }
  for (; i >= 0; i--) {
    const top = rh >>> 31;
    rh = ((rh << 1) | (rl >>> 31)) >>> 0;
    rl = ((rl << 1) | ((i >= 32 ? n1 >>> (i - 32) : n0 >>> i) & 1)) >>> 0;
    let bit = 0;
    if (top !== 0 || rh > dHi || (rh === dHi && rl >= dLo)) {
      const lo = rl - dLo;
      rl = lo >>> 0;
      rh = (rh - dHi - (lo < 0 ? 1 : 0)) >>> 0;
      bit = 1;
    }
    if (i >= 32) qh = ((qh << 1) | bit) >>> 0;
    else ql = ((ql << 1) | bit) >>> 0;
  }
  wide[0] = ql;
  wide[1] = qh;
  wide[2] = rl;
  wide[3] = rh;
  return true;
}

/** Negates the 64-bit value (lo, hi) modulo 2^64 into `neg[0..1]`. */
export function negate64(lo: number, hi: number): void {
  neg[0] = -lo >>> 0;
  neg[1] = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
}

/** The result of {@linkcode negate64}: [low half, high half]. */
export const neg = new Uint32Array(2);
