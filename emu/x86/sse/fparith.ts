/**
 * SSE floating-point arithmetic on raw lane bits: operand classification
 * (NaN propagation as x86 does it: the first NaN operand, quieted; the
 * default NaN for invalid operations), DAZ and the denormal flag, and the
 * exact add/subtract/multiply/divide/square root, each producing its exact
 * result for `roundCore`. MIN/MAX and the compare predicates live here too.
 *
 * @module
 */
import { MXCSR_DE, MXCSR_IE, MXCSR_ZE } from "./xmm.ts";
import { exponentOf, F32, F64, fp, RC_DOWN, roundCore, scale2 } from "./round.ts";

/** Arithmetic operations. */
export const OP_ADD = 0, OP_SUB = 1, OP_MUL = 2, OP_DIV = 3, OP_SQRT = 4;

const F32B = new Float32Array(1), U32B = new Uint32Array(F32B.buffer);
const F64B = new Float64Array(1), U64B = new Uint32Array(F64B.buffer);

/** Default NaNs ("real indefinite"). */
export const QNAN32 = 0xffc00000, QNAN64_HI = 0xfff80000;

/** True when float32 bits are a NaN. */
export function nan32(b: number): boolean {
  return (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0;
}
/** True when float32 bits are a signaling NaN. */
export function snan32(b: number): boolean {
  return nan32(b) && !(b & 0x400000);
}
/** True when float64 bits (lo, hi) are a NaN. */
export function nan64(lo: number, hi: number): boolean {
  return (hi & 0x7ff00000) === 0x7ff00000 && ((hi & 0xfffff) !== 0 || lo !== 0);
}
/** True when float64 bits are a signaling NaN. */
export function snan64(lo: number, hi: number): boolean {
  return nan64(lo, hi) && !(hi & 0x80000);
}

/** The value of non-NaN float32 bits; a denormal is zero under DAZ, else it sets DE. */
export function val32(b: number): number {
  if ((b & 0x7f800000) === 0 && b & 0x7fffff) {
    if (fp.daz) return b & 0x80000000 ? -0 : 0;
    fp.pre |= MXCSR_DE;
  }
  U32B[0] = b;
  return F32B[0];
}

/** The value of non-NaN float64 bits. */
export function val64(lo: number, hi: number): number {
  if ((hi & 0x7ff00000) === 0 && (hi & 0xfffff || lo)) {
    if (fp.daz) return hi & 0x80000000 ? -0 : 0;
    fp.pre |= MXCSR_DE;
  }
  U64B[0] = lo;
  U64B[1] = hi;
  return F64B[0];
}

/** Float32 bits of a value of the format. */
export function bits32(x: number): number {
  F32B[0] = x;
  return U32B[0];
}

/** Writes float64 bits of `x` into out[at] (low), out[at+1] (high). */
export function bits64(x: number, out: Uint32Array, at: number): void {
  F64B[0] = x;
  out[at] = U64B[0];
  out[at + 1] = U64B[1];
}

let savedPre = 0;
/** Starts one lane: its flags are collected apart, so that `laneEnd` can drop DE from an invalid lane. */
export function laneBegin(): void {
  savedPre = fp.pre;
  fp.pre = 0;
}
/** Ends a lane: an invalid operation, a division by zero or a NaN operand reports no DE (as the hardware does). */
export function laneEnd(nan = false): void {
  if (nan || fp.pre & (MXCSR_IE | MXCSR_ZE)) fp.pre &= ~MXCSR_DE;
  fp.pre |= savedPre;
}

function invalid(): number {
  fp.pre |= MXCSR_IE;
  return NaN;
}

/** The mantissa m in [1, 2) of finite x > 0 and its exponent, in `split`. */
const split = { m: 0, e: 0 };
function frexp(x: number): void {
  const e = exponentOf(x);
  split.e = e;
  split.m = scale2(x, -e);
}

/** Dekker's exact product of a and b in [1, 4): a*b = p + err. */
let prodErr = 0;
function twoProduct(a: number, b: number): number {
  const p = a * b;
  const ca = 134217729 * a, ah = ca - (ca - a), al = a - ah;
  const cb = 134217729 * b, bh = cb - (cb - b), bl = b - bh;
  prodErr = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
  return p;
}

function add(x: number, y: number, f: number): number {
  if (!isFinite(x) || !isFinite(y)) {
    const s = x + y;
    return s !== s ? invalid() : s;
  }
  if (x === 0 && y === 0) return Object.is(x, y) ? x : fp.rc === RC_DOWN ? -0 : 0;
  let s = x + y, scale = 0;
  if (!isFinite(s)) {
    x /= 4;
    y /= 4;
    s = x + y;
    scale = 2;
  }
  const bb = s - x, err = (x - (s - bb)) + (y - bb);
  if (s === 0) return fp.rc === RC_DOWN ? -0 : 0;
  return s < 0 ? roundCore(true, -s, -err, scale, f) : roundCore(false, s, err, scale, f);
}

function mul(x: number, y: number, f: number): number {
  if (x === 0 || y === 0 || !isFinite(x) || !isFinite(y)) {
    const p = x * y;
    return p !== p ? invalid() : p;
  }
  const neg = (x < 0) !== (y < 0);
  frexp(Math.abs(x));
  const mx = split.m, ex = split.e;
  frexp(Math.abs(y));
  const p = twoProduct(mx, split.m);
  return roundCore(neg, p, prodErr, ex + split.e, f);
}

function div(x: number, y: number, f: number): number {
  if (x === 0 || y === 0 || !isFinite(x) || !isFinite(y)) {
    if ((x === 0 && y === 0) || (!isFinite(x) && !isFinite(y))) return invalid();
    if (y === 0 && isFinite(x)) fp.pre |= MXCSR_ZE;
    return x / y;
  }
  const neg = (x < 0) !== (y < 0);
  frexp(Math.abs(x));
  const mx = split.m, ex = split.e;
  frexp(Math.abs(y));
  const my = split.m, q = mx / my;
  const p = twoProduct(q, my);
  const r = (mx - p) - prodErr;
  return roundCore(neg, q, r, ex - split.e, f);
}

function sqrt(y: number, f: number): number {
  if (y === 0 || y === Infinity) return y;
  if (y < 0) return invalid();
  frexp(y);
  let m = split.m, e = split.e;
  if (e & 1) {
    m *= 2;
    e -= 1;
  }
  const q = Math.sqrt(m);
  const p = twoProduct(q, q);
  const r = (m - p) - prodErr;
  return roundCore(false, q, r, e / 2, f);
}

/** x op y (for SQRT: sqrt y) in format f, exactly rounded; NaN (with IE) for an invalid operation. */
export function arith(op: number, x: number, y: number, f: number): number {
  switch (op) {
    case OP_ADD:
      return add(x, y, f);
    case OP_SUB:
      return add(x, -y, f);
    case OP_MUL:
      return mul(x, y, f);
    case OP_DIV:
      return div(x, y, f);
    default:
      return sqrt(y, f);
  }
}

/** One float32 lane of op: bits in, bits out. */
export function lane32(op: number, a: number, b: number): number {
  laneBegin();
  const r = lane32Raw(op, a, b);
  laneEnd();
  return r;
}

function lane32Raw(op: number, a: number, b: number): number {
  const an = op !== OP_SQRT && nan32(a), bn = nan32(b);
  if (an || bn) {
    if ((an && snan32(a)) || (bn && snan32(b))) fp.pre |= MXCSR_IE;
    return ((an ? a : b) | 0x400000) >>> 0;
  }
  const x = op === OP_SQRT ? 0 : val32(a), y = val32(b);
  const r = arith(op, x, y, F32);
  return r !== r ? QNAN32 : bits32(r);
}

/** One float64 op: x = (a[ai], a[ai+1]), y = (b[bi], b[bi+1]), result into r[ri], r[ri+1]. */
export function op64(
  op: number,
  a: Uint32Array,
  ai: number,
  b: Uint32Array,
  bi: number,
  r: Uint32Array,
  ri: number,
): void {
  laneBegin();
  op64Raw(op, a, ai, b, bi, r, ri);
  laneEnd();
}

function op64Raw(op: number, a: Uint32Array, ai: number, b: Uint32Array, bi: number, r: Uint32Array, ri: number): void {
  const an = op !== OP_SQRT && nan64(a[ai], a[ai + 1]), bn = nan64(b[bi], b[bi + 1]);
  if (an || bn) {
    if ((an && snan64(a[ai], a[ai + 1])) || (bn && snan64(b[bi], b[bi + 1]))) fp.pre |= MXCSR_IE;
    const lo = an ? a[ai] : b[bi], hi = an ? a[ai + 1] : b[bi + 1];
    r[ri] = lo;
    r[ri + 1] = hi | 0x80000;
    return;
  }
  const x = op === OP_SQRT ? 0 : val64(a[ai], a[ai + 1]), y = val64(b[bi], b[bi + 1]);
  const v = arith(op, x, y, F64);
  if (v !== v) {
    r[ri] = 0;
    r[ri + 1] = QNAN64_HI;
  } else bits64(v, r, ri);
}

/** The value of a lane of format f (NaNs as NaN, without flags). */
export function laneValue(v: Uint32Array, i: number, f: number): number {
  if (f === F32) return nan32(v[i]) ? NaN : val32(v[i]);
  return nan64(v[i], v[i + 1]) ? NaN : val64(v[i], v[i + 1]);
}

/** True when lane i of format f is a signaling NaN. */
export function laneSnan(v: Uint32Array, i: number, f: number): boolean {
  return f === F32 ? snan32(v[i]) : snan64(v[i], v[i + 1]);
}

/**
 * MINPS/MAXPS lane i: the second operand when either is NaN (IE) or both
 * are zero, else the smaller/larger; under DAZ a denormal operand is
 * returned as the zero it was read as. Writes the chosen lane to r.
 */
export function minMaxLane(max: boolean, a: Uint32Array, b: Uint32Array, r: Uint32Array, i: number, f: number): void {
  laneBegin();
  const x = laneValue(a, i, f), y = laneValue(b, i, f);
  let src = b;
  if (x !== x || y !== y) fp.pre |= MXCSR_IE;
  else if (max ? x > y : x < y) src = a;
  laneEnd(x !== x || y !== y);
  const v = src === a ? x : y;
  r[i] = src[i];
  if (f === F64) r[i + 1] = src[i + 1];
  if (v === 0 && fp.daz) {
    // A denormal read as zero under DAZ is returned as that zero.
    if (f === F32) r[i] &= 0x80000000;
    else {
      r[i] = 0;
      r[i + 1] &= 0x80000000;
    }
  }
}

/** CMPPS predicate `pred` (0-7) on lane i: all ones or zero. */
export function compareLane(pred: number, a: Uint32Array, b: Uint32Array, i: number, f: number): boolean {
  laneBegin();
  const x = laneValue(a, i, f), y = laneValue(b, i, f);
  const un = x !== x || y !== y;
  if (un && (laneSnan(a, i, f) || laneSnan(b, i, f) || (pred & 3) === 1 || (pred & 3) === 2)) fp.pre |= MXCSR_IE;
  laneEnd(un);
  switch (pred & 7) {
    case 0:
      return x === y;
    case 1:
      return x < y;
    case 2:
      return x <= y;
    case 3:
      return un;
    case 4:
      return un || x !== y;
    case 5:
      return un || !(x < y);
    case 6:
      return un || !(x <= y);
    default:
      return !un;
  }
}
