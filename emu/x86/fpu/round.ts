/**
 * The rounding core: takes an exact value `(-1)^sign * m * 2^k` (m a
 * non-negative bigint) and rounds it to a format of p significand bits and
 * exponent range [emin, emax] in the rounding mode of the control word,
 * raising PE, UE and OE and setting C1 when the magnitude was rounded up
 * (Intel SDM 4.8.4, 8.1.3.1 and 8.5). Tininess is detected after rounding
 * with an unbounded exponent (SDM 4.9.1.5). Masked underflow denormalizes
 * (UE only when the result is also inexact); masked overflow gives infinity
 * or the largest finite value by rounding mode. An unmasked overflow or
 * underflow with a register destination delivers the result with its
 * exponent biased by -/+24576 (0x6000); with a memory destination it
 * delivers nothing (the caller stores nothing) and raises no PE.
 *
 * @module
 */
import { bitLength } from "./f80.ts";

/** Exception flags (status word bits 0-6) and masks (control word bits 0-5). */
export const IE = 1, DE = 2, ZE = 4, OE = 8, UE = 0x10, PE = 0x20, SF = 0x40;
/** Rounding-control values (control word bits 10-11). */
export const RC_NEAREST = 0, RC_DOWN = 1, RC_UP = 2, RC_ZERO = 3;
/** The exponent bias adjustment of unmasked overflow/underflow results. */
export const WRAP_BIAS = 24576;

/** A destination format: significand bits and normal exponent range. */
export interface Format {
  readonly p: number;
  readonly emin: number;
  readonly emax: number;
}
/** Double extended (80-bit), double and single precision. */
export const EXT: Format = { p: 64, emin: -16382, emax: 16383 };
export const DBL: Format = { p: 53, emin: -1022, emax: 1023 };
export const SGL: Format = { p: 24, emin: -126, emax: 127 };

/** What an operation raised: the control word it ran under, exception flags, C1. */
export class FpEnv {
  /** The control word (masks, precision and rounding control). */
  cw = 0x37f;
  /** Exception flags raised (IE DE ZE OE UE PE SF). */
  flags = 0;
  /** C1 after rounding: 1 when the magnitude was rounded up. */
  c1 = 0;
  /**
   * A source operand was a single or double denormal before its exact conversion: DE is raised where the
   * operation checks its operands for denormals (after stack faults and invalid or NaN operands), not at the load.
   */
  denormal = false;

  /** Starts an operation under control word `cw`. */
  reset(cw: number): this {
    this.cw = cw;
    this.flags = 0;
    this.c1 = 0;
    this.denormal = false;
    return this;
  }

  /** Rounding control. */
  get rc(): number {
    return (this.cw >> 10) & 3;
  }

  /** True when exception `bit` is masked. */
  masked(bit: number): boolean {
    return (this.cw & bit) !== 0;
  }

  /** The significand precision selected by precision control: 24, 53 or 64 (the reserved value acts as 64). */
  get precision(): number {
    const pc = (this.cw >> 8) & 3;
    return pc === 0 ? 24 : pc === 2 ? 53 : 64;
  }
}

/**
 * A rounded result: `M * 2^(e - (p - 1))` with `M < 2^p`; M is below 2^(p-1)
 * only for denormals (then e = emin) and zero. `inf` marks an infinity. `store` is
 * false when an unmasked overflow or underflow leaves a memory destination unwritten.
 */
export interface Rounded {
  sign: number;
  M: bigint;
  e: number;
  inf: boolean;
  store: boolean;
}

interface Step {
  M: bigint;
  inexact: boolean;
  up: boolean;
}

/** Rounds m * 2^k to a multiple of 2^q. */
function roundAt(m: bigint, k: number, q: number, rc: number, sign: number): Step {
  const s = q - k;
  if (s <= 0) return { M: m << BigInt(-s), inexact: false, up: false };
  const bs = BigInt(s);
  const M = m >> bs;
  const rem = m - (M << bs);
  if (rem === 0n) return { M, inexact: false, up: false };
  let up: boolean;
  if (rc === RC_NEAREST) {
    const half = 1n << (bs - 1n);
    up = rem > half || (rem === half && (M & 1n) === 1n);
  } else if (rc === RC_DOWN) up = sign === 1;
  else if (rc === RC_UP) up = sign === 0;
  else up = false;
  return { M: up ? M + 1n : M, inexact: true, up };
}

function inexact(env: FpEnv, s: Step): void {
  if (s.inexact) {
    env.flags |= PE;
    env.c1 = s.up ? 1 : 0;
  }
}

/**
 * Rounds (-1)^sign * m * 2^k to `fmt` with precision `p` (precision control
 * may ask for fewer bits than the format has). `reg` says whether the
 * destination is a register (unmasked OE/UE deliver a wrapped exponent).
 */
export function roundTo(env: FpEnv, sign: number, m: bigint, k: number, fmt: Format, p: number, reg: boolean): Rounded {
  const { emin, emax } = fmt;
  if (m === 0n) return { sign, M: 0n, e: emin, inf: false, store: true };
  const rc = env.rc, top = 1n << BigInt(p);
  let e = bitLength(m) - 1 + k;
  // Rounding with an unbounded exponent: the tininess test, and the unmasked results.
  const u = roundAt(m, k, e - (p - 1), rc, sign);
  if (u.M === top) {
    u.M >>= 1n;
    e++;
  }
  if (e < emin) {
    if (!env.masked(UE) && (!reg || e + WRAP_BIAS >= emin)) {
      env.flags |= UE;
      if (reg) inexact(env, u);
      return { sign, M: u.M, e: e + WRAP_BIAS, inf: false, store: reg };
    }
    if (!env.masked(UE)) {
      // Unmasked but beyond even the wrapped range (FSCALE by a huge factor): zero in every rounding mode, as on
      // the host.
      env.flags |= UE | PE;
      env.c1 = 0;
      return { sign, M: 0n, e: emin, inf: false, store: true };
    }
    const d = roundAt(m, k, emin - (p - 1), rc, sign);
    if (d.inexact) env.flags |= UE;
    inexact(env, d);
    return { sign, M: d.M, e: emin, inf: false, store: true };
  }
  if (e > emax) {
    if (!env.masked(OE) && (!reg || e - WRAP_BIAS <= emax)) {
      env.flags |= OE;
      if (reg) inexact(env, u);
      return { sign, M: u.M, e: e - WRAP_BIAS, inf: false, store: reg };
    }
    env.flags |= OE | PE;
    // Unmasked but beyond even the wrapped range (FSCALE by a huge factor): infinity in every rounding mode, as on the host.
    const toInf = !env.masked(OE) || rc === RC_NEAREST || (rc === RC_UP && sign === 0) ||
      (rc === RC_DOWN && sign === 1);
    env.c1 = toInf ? 1 : 0;
    if (toInf) return { sign, M: 0n, e: emax + 1, inf: true, store: true };
    return { sign, M: top - 1n, e: emax, inf: false, store: true };
  }
  inexact(env, u);
  return { sign, M: u.M, e, inf: false, store: true };
}
