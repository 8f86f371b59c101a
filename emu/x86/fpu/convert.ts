/**
 * Conversions between the 80-bit format and memory formats: single and
 * double precision (FLD/FST m32/m64), 16/32/64-bit integers (FILD, FIST,
 * FISTP, FISTTP) and 18-digit packed BCD (FBLD, FBSTP). Loads are exact
 * (a single or double denormal raises DE, an SNaN raises IE and is made
 * quiet); stores round by the control word (FISTTP truncates). An invalid
 * store gives the format's indefinite when IE is masked; `store` in the
 * result is false when an unmasked exception leaves memory unwritten.
 * 64-bit memory values travel as [low, high] 32-bit halves.
 *
 * @module
 */
import {
  classify,
  DENORMAL,
  type F80,
  f80,
  INF,
  inf,
  isNan,
  normalize,
  sigOf,
  SNAN,
  unitExp,
  ZERO,
  zero,
} from "./f80.ts";
import { DBL, DE, type FpEnv, IE, PE, RC_DOWN, RC_NEAREST, RC_UP, RC_ZERO, roundTo, SGL } from "./round.ts";

/** A value to store: the bytes as up to three 32-bit words (low first), or nothing. */
export interface Stored {
  store: boolean;
  w0: number;
  w1: number;
  w2: number;
}

function stored(store: boolean, w0: number, w1 = 0, w2 = 0): Stored {
  return { store, w0: w0 >>> 0, w1: w1 >>> 0, w2: w2 >>> 0 };
}

/**
 * FLD m32: single-precision bits to 80-bit. With `raw` (an arithmetic
 * operand) an SNaN stays signaling and raises nothing here, and a denormal
 * sets `env.denormal` instead of raising DE.
 */
export function fromF32(env: FpEnv, bits: number, raw = false): F80 {
  const sign = bits >>> 31, e = (bits >>> 23) & 0xff, frac = bits & 0x7fffff;
  if (e === 0xff) {
    if (frac === 0) return inf(sign);
    if (raw) return f80(sign, 0x7fff, 0x80000000 | (frac << 8), 0);
    if (!(frac & 0x400000)) env.flags |= IE;
    return f80(sign, 0x7fff, 0xc0000000 | (frac << 8), 0);
  }
  if (e === 0) {
    if (frac === 0) return zero(sign);
    if (raw) env.denormal = true;
    else env.flags |= DE;
    return normalize(sign, BigInt(frac), -149);
  }
  return f80(sign, e - 127 + 16383, 0x80000000 | (frac << 8), 0);
}

/** FLD m64: double-precision bits (as halves) to 80-bit; `raw` as for {@linkcode fromF32}. */
export function fromF64(env: FpEnv, lo: number, hi: number, raw = false): F80 {
  const sign = hi >>> 31, e = (hi >>> 20) & 0x7ff, fhi = hi & 0xfffff;
  const sigHi = (fhi << 11) | (lo >>> 21), sigLo = (lo << 11) >>> 0;
  if (e === 0x7ff) {
    if (fhi === 0 && lo === 0) return inf(sign);
    if (raw) return f80(sign, 0x7fff, 0x80000000 | sigHi, sigLo);
    if (!(fhi & 0x80000)) env.flags |= IE;
    return f80(sign, 0x7fff, 0xc0000000 | sigHi, sigLo);
  }
  if (e === 0) {
    if (fhi === 0 && lo === 0) return zero(sign);
    if (raw) env.denormal = true;
    else env.flags |= DE;
    return normalize(sign, (BigInt(fhi) << 32n) | BigInt(lo >>> 0), -1074);
  }
  return f80(sign, e - 1023 + 16383, 0x80000000 | sigHi, sigLo);
}

/** FST m32: 80-bit to single-precision bits. */
export function toF32(env: FpEnv, v: F80): Stored {
  const c = classify(v), s = v.sign << 31;
  if (isNan(c)) {
    if (c === SNAN) env.flags |= IE;
    if (c === SNAN && !env.masked(IE)) return stored(false, 0);
    return stored(true, s | 0x7fc00000 | ((v.hi >>> 8) & 0x3fffff));
  }
  if (c === INF) return stored(true, s | 0x7f800000);
  if (c === ZERO) return stored(true, s);
  if (c !== DENORMAL && !(v.hi & 0x80000000)) return invalidStore(env, 0xffc00000);
  const r = roundTo(env, v.sign, sigOf(v), unitExp(v), SGL, 24, false);
  if (!r.store) return stored(false, 0);
  if (r.inf) return stored(true, s | 0x7f800000);
  const normal = r.M >> 23n !== 0n;
  const m = Number(r.M & 0x7fffffn);
  return stored(true, s | (normal ? (r.e + 127) << 23 : 0) | m);
}

/** FST m64: 80-bit to double-precision bits. */
export function toF64(env: FpEnv, v: F80): Stored {
  const c = classify(v), s = v.sign << 31;
  if (isNan(c)) {
    if (c === SNAN) env.flags |= IE;
    if (c === SNAN && !env.masked(IE)) return stored(false, 0);
    return stored(true, (v.hi << 21) | (v.lo >>> 11), s | 0x7ff80000 | ((v.hi >>> 11) & 0x7ffff));
  }
  if (c === INF) return stored(true, 0, s | 0x7ff00000);
  if (c === ZERO) return stored(true, 0, s);
  if (c !== DENORMAL && !(v.hi & 0x80000000)) return invalidStore(env, 0, 0xfff80000);
  const r = roundTo(env, v.sign, sigOf(v), unitExp(v), DBL, 53, false);
  if (!r.store) return stored(false, 0);
  if (r.inf) return stored(true, 0, s | 0x7ff00000);
  const normal = r.M >> 52n !== 0n;
  const m = r.M & 0xfffffffffffffn;
  return stored(true, Number(m & 0xffffffffn), s | (normal ? (r.e + 1023) << 20 : 0) | Number(m >> 32n));
}

function invalidStore(env: FpEnv, w0: number, w1 = 0, w2 = 0): Stored {
  env.flags |= IE;
  return stored(env.masked(IE), w0, w1, w2);
}

/** FILD: a signed integer (as a bigint) to 80-bit; always exact. */
export function fromInt(v: bigint): F80 {
  if (v === 0n) return zero(0);
  return v < 0n ? normalize(1, -v, 0) : normalize(0, v, 0);
}

/**
 * Rounds a finite value to an integer in rounding mode `rc`, raising PE and
 * setting C1 when inexact. Returns the magnitude.
 */
export function roundToInteger(env: FpEnv, v: F80, rc: number): bigint {
  const m = sigOf(v), k = unitExp(v);
  if (k >= 0) return m << BigInt(k);
  if (-k > 66) {
    if (m === 0n) return 0n;
    env.flags |= PE;
    const up = (rc === RC_UP && !v.sign) || (rc === RC_DOWN && v.sign === 1);
    env.c1 = up ? 1 : 0;
    return up ? 1n : 0n;
  }
  const s = BigInt(-k);
  const q = m >> s, rem = m - (q << s);
  if (rem === 0n) return q;
  const half = 1n << (s - 1n);
  let up: boolean;
  if (rc === RC_NEAREST) up = rem > half || (rem === half && (q & 1n) === 1n);
  else if (rc === RC_ZERO) up = false;
  else up = rc === RC_UP ? !v.sign : v.sign === 1;
  env.flags |= PE;
  env.c1 = up ? 1 : 0;
  return up ? q + 1n : q;
}

/** FIST/FISTP/FISTTP: 80-bit to a `bits`-bit integer (16, 32, 64); `truncate` for FISTTP. */
export function toInt(env: FpEnv, v: F80, bits: number, truncate: boolean): Stored {
  const c = classify(v);
  const indef = bits === 64 ? [0, 0x80000000] : [bits === 32 ? 0x80000000 : 0x8000, 0];
  if (isNan(c) || c === INF || (c !== ZERO && c !== DENORMAL && !(v.hi & 0x80000000))) {
    return invalidStore(env, indef[0], indef[1]);
  }
  if (c === ZERO) return stored(true, 0);
  const save = env.flags, saveC1 = env.c1;
  const mag = roundToInteger(env, v, truncate ? RC_ZERO : env.rc);
  const limit = 1n << BigInt(bits - 1);
  if (v.sign ? mag > limit : mag >= limit) {
    env.flags = save;
    env.c1 = saveC1;
    return invalidStore(env, indef[0], indef[1]);
  }
  const n = BigInt.asUintN(bits, v.sign ? -mag : mag);
  return stored(true, Number(n & 0xffffffffn), Number(n >> 32n));
}

/** FBLD: 10 bytes of packed BCD to 80-bit (invalid digits are taken at their nibble value). */
export function fromBcd(b: Uint8Array, at: number): F80 {
  let v = 0n;
  for (let i = 8; i >= 0; i--) v = v * 100n + BigInt((b[at + i] >> 4) * 10 + (b[at + i] & 15));
  const sign = b[at + 9] >> 7;
  return v === 0n ? zero(sign) : normalize(sign, v, 0);
}

/** FBSTP: 80-bit to packed BCD as three words (bytes 0-3, 4-7, 8-9). */
export function toBcd(env: FpEnv, v: F80): Stored {
  const c = classify(v);
  if (isNan(c) || c === INF || (c !== ZERO && c !== DENORMAL && !(v.hi & 0x80000000))) {
    return invalidStore(env, 0, 0xc0000000, 0xffff);
  }
  const save = env.flags, saveC1 = env.c1;
  const mag = c === ZERO ? 0n : roundToInteger(env, v, env.rc);
  if (mag >= 10n ** 18n) {
    env.flags = save;
    env.c1 = saveC1;
    return invalidStore(env, 0, 0xc0000000, 0xffff);
  }
  const digits = mag.toString().padStart(18, "0");
  const w = [0, 0, v.sign ? 0x8000 : 0];
  for (let i = 0; i < 9; i++) {
    const byte = (Number(digits[17 - 2 * i - 1]) << 4) | Number(digits[17 - 2 * i]);
    w[i >> 2] |= byte << (8 * (i & 3));
  }
  return stored(true, w[0], w[1], w[2]);
}
