/**
 * x87 data movement: FLD (m32fp, m64fp, m80fp, ST(i)), FILD, FBLD, the
 * constants FLD1/FLDL2T/FLDL2E/FLDPI/FLDLG2/FLDLN2/FLDZ (their last bit
 * follows the rounding mode), FST/FSTP, FIST/FISTP, FISTTP, FBSTP, FXCH,
 * FCMOVcc, FFREE/FFREEP, FINCSTP/FDECSTP, FXTRACT and FNOP. A push onto a
 * full stack and a read of an empty register are stack faults.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import type { Insn } from "../insn.ts";
import { fromBcd, fromF32, fromF64, fromInt, type Stored, toBcd, toF32, toF64, toInt } from "../fpu/convert.ts";
import { type F80, f80, indefinite, readF80, zero } from "../fpu/f80.ts";
import { xtract } from "../fpu/misc.ts";
import { IE, RC_NEAREST, RC_UP, ZE } from "../fpu/round.ts";
import type { FpuState } from "../fpu/state.ts";
import { begin, commit, ENV, next, operand, overflow, readBytes, storable, underflow, writeWords } from "./x87_core.ts";

/**
 * Pushes `v`, or the masked response to a stack overflow. With `evenIfDe` (FLD m32fp/m64fp of a denormal) an
 * unmasked DE does not keep the value from being loaded, as on the host.
 */
function pushValue(fpu: FpuState, v: F80, evenIfDe = false): void {
  if (!fpu.isEmpty(7)) {
    ENV.flags = 0;
    v = overflow();
    if (!storable(fpu)) return;
  } else if (evenIfDe ? ENV.flags & ~fpu.cw & (IE | ZE) : !storable(fpu)) return;
  fpu.push(v);
}

/** D9 /0, DD /0, DB /5, DF /0, DB /0, DF /5, DF /4: FLD m32fp/m64fp/m80fp, FILD m16/m32/m64, FBLD. */
export function loadMem(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d);
  const [seg, off] = operand(cpu, d);
  let v: F80;
  const key = ((d.op & 7) << 3) | d.reg;
  switch (key) {
    case 0x08: // D9 /0
      v = fromF32(ENV, cpu.read(seg, off, 4));
      break;
    case 0x28: // DD /0
      v = fromF64(ENV, cpu.read(seg, off, 4), cpu.read(seg, next(d, off, 4), 4));
      break;
    case 0x1d: // DB /5
      v = readF80(readBytes(cpu, d, seg, off, 10), 0);
      break;
    case 0x38: // DF /0
      v = fromInt(BigInt((cpu.read(seg, off, 2) << 16) >> 16));
      break;
    case 0x18: // DB /0
      v = fromInt(BigInt(cpu.read(seg, off, 4) | 0));
      break;
    case 0x3d: { // DF /5
      const lo = cpu.read(seg, off, 4), hi = cpu.read(seg, next(d, off, 4), 4);
      v = fromInt((BigInt(hi | 0) << 32n) | BigInt(lo));
      break;
    }
    default: // DF /4
      v = fromBcd(readBytes(cpu, d, seg, off, 10), 0);
  }
  pushValue(fpu, v, key === 0x08 || key === 0x28);
  commit(fpu);
}

/** D9 C0+i: FLD ST(i). */
export function loadSt(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d), i = d.rm & 7;
  if (fpu.isEmpty(i)) {
    // The stack underflow outranks an overflow: C1 stays cleared, and the indefinite is pushed when IE is masked
    // even onto a full stack (as on the host).
    const v = underflow();
    if (storable(fpu)) fpu.push(v);
    return commit(fpu);
  }
  pushValue(fpu, fpu.st(i));
  commit(fpu);
}

/** The constants of D9 E8-EE: significand halves truncated, and whether round-to-nearest rounds them up. */
const CONSTANTS: readonly (readonly [number, number, number, boolean])[] = [
  [0x3fff, 0x80000000, 0x00000000, false], // 1
  [0x4000, 0xd49a784b, 0xcd1b8afe, false], // log2(10)
  [0x3fff, 0xb8aa3b29, 0x5c17f0bb, true], // log2(e)
  [0x4000, 0xc90fdaa2, 0x2168c234, true], // pi
  [0x3ffd, 0x9a209a84, 0xfbcff798, true], // log10(2)
  [0x3ffe, 0xb17217f7, 0xd1cf79ab, true], // ln(2)
];

/** D9 E8-EE: FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ. */
export function loadConst(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d), k = d.rm & 7;
  let v: F80;
  if (k === 6) v = zero(0);
  else {
    // The exact constants other than 1 lie strictly between the truncated value and the next one up.
    const [exp, hi, lo, nearestUp] = CONSTANTS[k], rc = ENV.rc;
    const up = k !== 0 && (rc === RC_UP || (rc === RC_NEAREST && nearestUp));
    v = f80(0, exp, hi, up ? lo + 1 : lo);
  }
  pushValue(fpu, v);
  commit(fpu);
}

const INDEFINITE: Record<number, readonly number[]> = {
  4: [0xffc00000],
  8: [0, 0xfff80000],
  10: [0, 0xc0000000, 0xffff],
};

/** D9 /2 /3, DD /2 /3, DB /7, DF /2 /3 /7, DB /2 /3, DF /1, DB /1, DD /1, DF /6: the stores to memory. */
export function storeMem(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d);
  const [seg, off] = operand(cpu, d);
  const key = ((d.op & 7) << 3) | d.reg;
  let n: number, pop = true, s: Stored;
  const empty = fpu.isEmpty(0);
  if (empty) underflow();
  const v = fpu.st(0);
  switch (key) {
    case 0x0a: // D9 /2 FST m32
    case 0x0b: // D9 /3 FSTP m32
    case 0x2a: // DD /2 FST m64
    case 0x2b: // DD /3 FSTP m64
      n = key < 0x20 ? 4 : 8;
      pop = (key & 1) === 1;
      s = empty ? fill(n) : n === 4 ? toF32(ENV, v) : toF64(ENV, v);
      break;
    case 0x1f: { // DB /7 FSTP m80
      n = 10;
      const x = empty ? indefinite() : v;
      s = { store: !empty || ENV.masked(IE), w0: x.lo, w1: x.hi, w2: (x.sign << 15) | x.exp };
      break;
    }
    case 0x3e: // DF /6 FBSTP
      n = 10;
      s = empty ? fill(10) : toBcd(ENV, v);
      break;
    default: {
      // FIST/FISTP/FISTTP: DF /1 /2 /3 m16, DB /1 /2 /3 m32, DF /7 m64, DD /1 m64.
      const bits = key === 0x3f || key === 0x29 ? 64 : d.op === 0xdf ? 16 : 32;
      n = bits / 8;
      pop = d.reg !== 2;
      const indef = bits === 64 ? [0, 0x80000000] : [bits === 32 ? 0x80000000 : 0x8000];
      s = empty ? { store: ENV.masked(IE), w0: indef[0], w1: indef[1] ?? 0, w2: 0 } : toInt(ENV, v, bits, d.reg === 1);
    }
  }
  if (s.store) writeWords(cpu, d, seg, off, n, [s.w0, s.w1, s.w2]);
  if (s.store && pop) fpu.pop();
  commit(fpu);
}

function fill(n: number): Stored {
  const w = INDEFINITE[n] ?? [0, 0xc0000000, 0xffff];
  return { store: ENV.masked(IE), w0: w[0], w1: w[1] ?? 0, w2: w[2] ?? 0 };
}

/** DD D0+i / DD D8+i: FST / FSTP ST(i). */
export function storeSt(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d), i = d.rm & 7;
  const v = fpu.isEmpty(0) ? underflow() : fpu.st(0);
  if (storable(fpu)) {
    fpu.setSt(i, v);
    if (d.reg === 3) fpu.pop();
  }
  commit(fpu);
}

/** D9 C8+i: FXCH ST(i). */
export function fxch(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d), i = d.rm & 7;
  let a = fpu.st(0), b = fpu.st(i);
  if (fpu.isEmpty(0) || fpu.isEmpty(i)) {
    if (fpu.isEmpty(0)) a = underflow();
    if (fpu.isEmpty(i)) b = underflow();
    if (!storable(fpu)) return commit(fpu);
  }
  fpu.setSt(0, b);
  fpu.setSt(i, a);
  commit(fpu);
}

/** The x86 condition code of DA/DB C0-DF (B, E, BE, U, then their negations). */
const FCMOV_CC = [2, 4, 6, 10];

/** DA C0-DF, DB C0-DF: FCMOVcc ST(0), ST(i). */
export function fcmov(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d), i = d.rm & 7;
  const take = cpu.cond(FCMOV_CC[d.reg & 3] | (d.op === 0xdb ? 1 : 0));
  if (fpu.isEmpty(0) || fpu.isEmpty(i)) {
    const r = underflow();
    if (storable(fpu)) fpu.setSt(0, r);
    commit(fpu);
  } else if (take) fpu.setSt(0, fpu.st(i)); // the status word is left alone (as on the host)
}

/** DD C0+i: FFREE ST(i); DF C0+i: FFREEP ST(i) (frees, then pops). C1 is cleared. */
export function ffree(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d);
  fpu.free(d.rm & 7);
  if (d.op === 0xdf) fpu.top = (fpu.top + 1) & 7;
  commit(fpu);
}

/** D9 F6 / F7: FDECSTP / FINCSTP (C1 cleared). */
export function moveTop(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d);
  fpu.top = (fpu.top + ((d.rm & 7) === 7 ? 1 : -1)) & 7;
  commit(fpu);
}

/** D9 F4: FXTRACT (ST(0) becomes the exponent, then the significand is pushed). */
export function fxtract(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d);
  if (fpu.isEmpty(0)) {
    const r = underflow();
    if (storable(fpu)) {
      fpu.setSt(0, r);
      fpu.push(r);
    }
    return commit(fpu);
  }
  if (!fpu.isEmpty(7)) {
    const r = overflow();
    if (storable(fpu)) {
      fpu.setSt(0, r);
      fpu.push(r);
    }
    return commit(fpu);
  }
  const [sig, exp] = xtract(ENV, fpu.st(0));
  if (storable(fpu)) {
    fpu.setSt(0, exp);
    fpu.push(sig);
  }
  commit(fpu);
}

/** D9 D0: FNOP (a waiting instruction that does nothing else). */
export function fnop(cpu: Cpu, d: Insn): void {
  begin(cpu, d);
}
