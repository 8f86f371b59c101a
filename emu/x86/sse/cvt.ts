/**
 * SSE/SSE2 conversions: between float32 and float64 (CVTSS2SD, CVTSD2SS,
 * CVTPS2PD, CVTPD2PS), from int32 (CVTSI2SS/SD, CVTDQ2PS/PD), and to int32
 * with the MXCSR rounding mode or truncation (CVT[T]SS2SI, CVT[T]SD2SI,
 * CVT[T]PS2DQ, CVT[T]PD2DQ); out-of-range and NaN give the integer
 * indefinite 0x80000000 with IE.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import type { Exec, Insn } from "../insn.ts";
import { B, gpr, loadB, loadBLow, loadReg, R, readRmQ, setRegQ, sseCheck, storeReg } from "./common.ts";
import { commit } from "./fp.ts";
import { arith, bits32, bits64, laneBegin, laneEnd, laneSnan, laneValue, OP_ADD } from "./fparith.ts";
import { F32, F64, fp, fpBegin, roundInt, roundValue } from "./round.ts";
import { MXCSR_DE, MXCSR_IE, MXCSR_PE } from "./xmm.ts";

/** The integer indefinite. */
const INDEFINITE = 0x80000000;

/** Float lane (format f) to int32 with the current mode or truncation. */
function toInt32(v: Uint32Array, i: number, f: number, truncate: boolean): number {
  // Conversions to integers never report DE.
  const de = fp.pre & MXCSR_DE;
  const x = laneValue(v, i, f);
  fp.pre = (fp.pre & ~MXCSR_DE) | de;
  if (x !== x) {
    fp.pre |= MXCSR_IE;
    return INDEFINITE;
  }
  const r = truncate ? Math.trunc(x) : roundInt(x, fp.rc);
  if (r >= 2147483648 || r < -2147483648 || !isFinite(r)) {
    fp.pre |= MXCSR_IE;
    return INDEFINITE;
  }
  if (r !== x) fp.post |= MXCSR_PE;
  return r >>> 0;
}

/** Converts float lane i of format `from` in v to format `to`, into out[o..]. */
function convertLane(v: Uint32Array, i: number, from: number, to: number, out: Uint32Array, o: number): void {
  laneBegin();
  convertLaneRaw(v, i, from, to, out, o);
  laneEnd();
}

function convertLaneRaw(v: Uint32Array, i: number, from: number, to: number, out: Uint32Array, o: number): void {
  const x = laneValue(v, i, from);
  if (x !== x) {
    if (laneSnan(v, i, from)) fp.pre |= MXCSR_IE;
    if (to === F32) {
      // Keep the top payload bits: float64 NaN -> float32 NaN, quieted.
      out[o] = ((v[i + 1] & 0x80000000) | 0x7fc00000 | ((v[i + 1] & 0x7ffff) << 3) | (v[i] >>> 29)) >>> 0;
    } else {
      out[o] = (v[i] << 29) >>> 0;
      out[o + 1] = ((v[i] & 0x80000000) | 0x7ff80000 | ((v[i] & 0x3fffff) >>> 3)) >>> 0;
    }
    return;
  }
  if (to === F32) out[o] = bits32(isFinite(x) ? roundValue(x, F32) : x);
  else bits64(x, out, o);
}

/** F3 0F 2A / F2 0F 2A: CVTSI2SS / CVTSI2SD xmm, r/m32 (r/m64 with REX.W). */
export function cvtsi2s(f: number): Exec {
  return (cpu: Cpu, d: Insn) => {
    sseCheck(cpu);
    fpBegin(cpu.mxcsr);
    let v: number;
    if (d.osize === 8) {
      // The exact int64 is hi * 2^32 + lo: one correctly rounded addition.
      const q = readRmQ(cpu, d);
      v = arith(OP_ADD, (q[1] | 0) * 4294967296, q[0], f);
    } else v = roundValue((d.mod === 3 ? gpr(cpu, d.rm) : cpu.read(cpu.seg(d), cpu.ea(d), 4)) | 0, f);
    loadReg(cpu, d.reg, R);
    if (f === F32) R.u32[0] = bits32(v);
    else bits64(v, R.u32, 0);
    commit(cpu);
    storeReg(cpu, d.reg, R);
  };
}

/** Float lane (format f) to int64, into setRegQ halves; the indefinite is 0x8000000000000000. */
function toInt64(cpu: Cpu, reg: number, v: Uint32Array, f: number, truncate: boolean): void {
  const de = fp.pre & MXCSR_DE;
  const x = laneValue(v, 0, f);
  fp.pre = (fp.pre & ~MXCSR_DE) | de;
  const r = x !== x ? NaN : truncate ? Math.trunc(x) : roundInt(x, fp.rc);
  if (r !== r || r >= 2 ** 63 || r < -(2 ** 63)) {
    fp.pre |= MXCSR_IE;
    commit(cpu);
    setRegQ(cpu, reg, 0, INDEFINITE);
    return;
  }
  if (r !== x) fp.post |= MXCSR_PE;
  commit(cpu);
  const hi = Math.floor(r / 4294967296);
  setRegQ(cpu, reg, r - hi * 4294967296, hi >>> 0);
}

/** F3 0F 2C/2D, F2 0F 2C/2D: CVTTSS2SI / CVTSS2SI / CVTTSD2SI / CVTSD2SI r32 (r64 with REX.W), xmm/m. */
export function cvts2si(f: number, truncate: boolean): Exec {
  return (cpu: Cpu, d: Insn) => {
    sseCheck(cpu);
    fpBegin(cpu.mxcsr);
    loadBLow(cpu, d, f === F32 ? 1 : 2);
    if (d.osize === 8) return toInt64(cpu, d.reg, B.u32, f, truncate);
    const r = toInt32(B.u32, 0, f, truncate);
    commit(cpu);
    cpu.setReg(d.reg, 4, r);
  };
}

/**
 * A conversion into xmm(reg) under MXCSR: the SSE checks, the source in B (its low `dwords` dwords, or all four),
 * `lanes` filling R from B, then the exceptions (an unmasked one stores nothing) and R stored.
 */
function convertInto(cpu: Cpu, d: Insn, dwords: number, lanes: () => void): void {
  sseCheck(cpu);
  fpBegin(cpu.mxcsr);
  if (dwords === 4) loadB(cpu, d, true);
  else loadBLow(cpu, d, dwords);
  lanes();
  commit(cpu);
  storeReg(cpu, d.reg, R);
}

/** F3 0F 5A / F2 0F 5A: CVTSS2SD / CVTSD2SS xmm, xmm/m (the low lane). */
export function cvtScalar(from: number): Exec {
  return (cpu: Cpu, d: Insn) =>
    convertInto(cpu, d, from === F32 ? 1 : 2, () => {
      loadReg(cpu, d.reg, R);
      convertLane(B.u32, 0, from, from === F32 ? F64 : F32, R.u32, 0);
    });
}

/** 0F 5A: CVTPS2PD xmm, xmm/m64. */
export function cvtps2pd(cpu: Cpu, d: Insn): void {
  convertInto(cpu, d, 2, () => {
    convertLane(B.u32, 0, F32, F64, R.u32, 0);
    convertLane(B.u32, 1, F32, F64, R.u32, 2);
  });
}

/** 66 0F 5A: CVTPD2PS xmm, xmm/m128 (the upper half zeroed). */
export function cvtpd2ps(cpu: Cpu, d: Insn): void {
  convertInto(cpu, d, 4, () => {
    convertLane(B.u32, 0, F64, F32, R.u32, 0);
    convertLane(B.u32, 2, F64, F32, R.u32, 1);
    R.u32[2] = R.u32[3] = 0;
  });
}

/** 0F 5B: CVTDQ2PS xmm, xmm/m128. */
export function cvtdq2ps(cpu: Cpu, d: Insn): void {
  convertInto(cpu, d, 4, () => {
    for (let i = 0; i < 4; i++) R.u32[i] = bits32(roundValue(B.i32[i], F32));
  });
}

/** F3 0F E6: CVTDQ2PD xmm, xmm/m64. */
export function cvtdq2pd(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  loadBLow(cpu, d, 2);
  bits64(B.i32[0], R.u32, 0);
  bits64(B.i32[1], R.u32, 2);
  storeReg(cpu, d.reg, R);
}

/** 66 0F 5B / F3 0F 5B: CVTPS2DQ / CVTTPS2DQ xmm, xmm/m128. */
export function cvtps2dq(truncate: boolean): Exec {
  return (cpu: Cpu, d: Insn) =>
    convertInto(cpu, d, 4, () => {
      for (let i = 0; i < 4; i++) R.u32[i] = toInt32(B.u32, i, F32, truncate);
    });
}

/** F2 0F E6 / 66 0F E6: CVTPD2DQ / CVTTPD2DQ xmm, xmm/m128 (the upper half zeroed). */
export function cvtpd2dq(truncate: boolean): Exec {
  return (cpu: Cpu, d: Insn) =>
    convertInto(cpu, d, 4, () => {
      R.u32[0] = toInt32(B.u32, 0, F64, truncate);
      R.u32[1] = toInt32(B.u32, 2, F64, truncate);
      R.u32[2] = R.u32[3] = 0;
    });
}
