/**
 * Exact IEEE rounding for the SSE floating-point unit. An operation
 * produces its exact result as `(hi + lo) * 2^scale`, where `hi` is a double
 * and `lo` a residual whose sign (and, when the last kept bit is hi's own,
 * the fact that hi = RN(hi + lo)) is all that matters; `roundCore` rounds it
 * to float32 or float64 in any MXCSR rounding mode, with overflow,
 * tininess after rounding (as x86 detects it), underflow, flush-to-zero and
 * the precision flag. Flags collect in `fp.pre` (IE, DE, ZE) and `fp.post`
 * (OE, UE, PE).
 *
 * @module
 */
import { MXCSR_DAZ, MXCSR_FTZ, MXCSR_OE, MXCSR_PE, MXCSR_UE } from "./xmm.ts";

/** Formats: 0 float32, 1 float64. */
export const F32 = 0, F64 = 1;
const PREC = [24, 53], EMIN = [-126, -1022], EMAX = [127, 1023];
/** The largest finite value of each format. */
export const MAX_FINITE = [3.4028234663852886e38, Number.MAX_VALUE];

/** MXCSR.RC values. */
export const RC_NEAREST = 0, RC_DOWN = 1, RC_UP = 2, RC_ZERO = 3;
/** How a magnitude is rounded: to nearest even, away from zero (ceiling), toward zero (floor). */
const NEAR = 0, AWAY = 1, TRUNC = 2;

/** The rounding environment and the flags of the instruction being executed. */
export const fp = {
  rc: RC_NEAREST,
  daz: false,
  ftz: false,
  /** Underflow masked. */
  um: true,
  /** Pre-computation flags (IE, DE, ZE). */
  pre: 0,
  /** Post-computation flags (OE, UE, PE). */
  post: 0,
};

/** Starts an instruction: takes RC, DAZ, FTZ and UM from `mxcsr` and clears the flags. */
export function fpBegin(mxcsr: number): void {
  fp.rc = (mxcsr >> 13) & 3;
  fp.daz = (mxcsr & MXCSR_DAZ) !== 0;
  fp.ftz = (mxcsr & MXCSR_FTZ) !== 0;
  fp.um = (mxcsr & (MXCSR_UE << 7)) !== 0;
  fp.pre = 0;
  fp.post = 0;
}

const F64B = new Float64Array(1), U64B = new Uint32Array(F64B.buffer);

/** floor(log2(x)) for a finite x > 0, exactly. */
export function exponentOf(x: number): number {
  F64B[0] = x;
  const ex = (U64B[1] >>> 20) & 0x7ff;
  if (ex !== 0) return ex - 1023;
  F64B[0] = x * 2 ** 64;
  return ((U64B[1] >>> 20) & 0x7ff) - 1023 - 64;
}

/** x * 2^n without intermediate overflow (exact whenever the result is representable). */
export function scale2(x: number, n: number): number {
  while (n > 1000) {
    x *= 2 ** 1000;
    n -= 1000;
  }
  while (n < -1000) {
    x *= 2 ** -1000;
    n += 1000;
  }
  return x * 2 ** n;
}

let inexact = false;
/** How the last roundMag moved the binade: +1 carried into the next, -1 fell to the one below, else 0. */
let carry = 0;

/**
 * Rounds the magnitude M (an integer in [2^52, 2^53)) plus residual `lo`
 * (in units of M's last bit, only its sign used) at bit `d`; the value is
 * M * 2^(e-52). `fine` says the binade below has the same precision (so the
 * value just under 2^e truncates to 2^e - 2^(e-p)). Returns the magnitude;
 * sets `inexact`.
 */
function roundMag(M: number, lo: number, d: number, e: number, p: number, fine: boolean, how: number): number {
  const unit = e - 52 + d;
  carry = 0;
  if (d > 60) {
    inexact = true;
    return how === AWAY ? scale2(1, unit) : 0;
  }
  const pw = 2 ** d, half = pw / 2;
  let q = Math.floor(M / pw);
  const rem = M - q * pw;
  if (rem === 0 && lo === 0) {
    inexact = false;
    return scale2(q, unit);
  }
  inexact = true;
  if (rem === 0 && lo < 0) {
    // Just below q units.
    if (how !== TRUNC) return scale2(q, unit);
    if (fine && M === 2 ** 52) {
      carry = -1;
      return scale2(2 ** p - 1, e - p);
    }
    return scale2(q - 1, unit);
  }
  const cmp = rem > half ? 1 : rem < half ? -1 : lo > 0 ? 1 : lo < 0 ? -1 : 0;
  if (how === AWAY || (how === NEAR && (cmp > 0 || (cmp === 0 && q % 2 === 1)))) q += 1;
  if (q * pw >= 2 ** 53) carry = 1;
  return scale2(q, unit);
}

/** How the current rounding mode rounds a magnitude of the given sign. */
function howFor(neg: boolean): number {
  switch (fp.rc) {
    case RC_NEAREST:
      return NEAR;
    case RC_ZERO:
      return TRUNC;
    case RC_UP:
      return neg ? TRUNC : AWAY;
    default:
      return neg ? AWAY : TRUNC;
  }
}

/**
 * Rounds the exact value (-1)^neg * (hi + lo) * 2^scale (hi > 0 finite) to
 * format `f` in the current mode, setting OE/UE/PE; the result is a double
 * holding a value of the format (or an infinity).
 */
export function roundCore(neg: boolean, hi: number, lo: number, scale: number, f: number): number {
  const E = exponentOf(hi);
  const M = scale2(hi, 52 - E);
  const e = E + scale, p = PREC[f], emin = EMIN[f], emax = EMAX[f], d0 = 53 - p;
  const how = howFor(neg);
  // Rounded with an unbounded exponent: overflow and tininess are decided on it.
  roundMag(M, lo, d0, e, p, true, how);
  const eR = e + carry;
  const sign = neg ? -1 : 1;
  if (eR > emax) {
    fp.post |= MXCSR_OE | MXCSR_PE;
    return sign * (how === TRUNC ? MAX_FINITE[f] : Infinity);
  }
  const tiny = eR < emin;
  if (tiny && fp.ftz && fp.um) {
    fp.post |= MXCSR_UE | MXCSR_PE;
    return sign * 0;
  }
  const d = e >= emin ? d0 : d0 + (emin - e);
  const r = roundMag(M, lo, d, e, p, e - 1 >= emin, how);
  if (inexact) fp.post |= MXCSR_PE;
  if (tiny && (inexact || !fp.um)) fp.post |= MXCSR_UE;
  return sign * r;
}

/** Rounds an exact double `x` (finite) to format `f`. */
export function roundValue(x: number, f: number): number {
  if (x === 0) return x;
  return roundCore(x < 0, Math.abs(x), 0, 0, f);
}

/** Rounds `x` to an integer in rounding mode `rc` (sets `inexact` in the returned tuple via PE on request). */
export function roundInt(x: number, rc: number): number {
  if (!isFinite(x) || Math.abs(x) >= 2 ** 52) return x;
  const fl = Math.floor(x), diff = x - fl;
  let r: number;
  if (diff === 0) return x;
  switch (rc) {
    case RC_NEAREST:
      r = diff > 0.5 ? fl + 1 : diff < 0.5 ? fl : fl % 2 === 0 ? fl : fl + 1;
      break;
    case RC_DOWN:
      r = fl;
      break;
    case RC_UP:
      r = fl + 1;
      break;
    default:
      r = x < 0 ? fl + 1 : fl;
  }
  return r === 0 ? (x < 0 ? -0 : 0) : r;
}
