/**
 * MMX (and the SSE/SSE2/SSSE3 instructions on MMX registers). MMn is the
 * significand of x87 physical register Rn (fpu/state.ts): an MMX
 * instruction sets TOP to 0 and every tag valid, a write sets the
 * register's sign/exponent word to all ones, EMMS empties every tag. The
 * integer lane functions of int.ts and shuffle.ts run on the low 64 bits of
 * the scratch values; the ones that mix halves (packs, horizontal ops) get
 * the second operand in the high half so that the low 64 bits of their
 * 128-bit result are the MMX result.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { fault, MF, NM, UD } from "../fault.ts";
import type { Exec, Insn } from "../insn.ts";
import { A, B, loadReg, R, readMem, readRmQ, storeMovd, storeReg, type V128, writeMem } from "./common.ts";
import { INT_OPS, type Lanes } from "./int.ts";
import { SHUFFLE_OPS } from "./shuffle.ts";
import { commit } from "./fp.ts";
import { bits32, bits64, laneValue } from "./fparith.ts";
import { F32, F64, fp, fpBegin, roundInt, roundValue } from "./round.ts";
import { MXCSR_DE, MXCSR_IE, MXCSR_PE } from "./xmm.ts";
import { CR0_EM, CR0_TS } from "../control_bits.ts";
import { SW_ES } from "../fpu/state.ts";

/** The checks of an MMX instruction (#UD with CR0.EM, #NM with CR0.TS, #MF for a pending x87 exception), then the MMX state. */
export function mmxEnter(cpu: Cpu): void {
  if (cpu.cr0 & CR0_EM) fault(UD);
  if (cpu.cr0 & CR0_TS) fault(NM);
  if (cpu.fpu.sw & SW_ES) fault(MF);
  cpu.fpu.top = 0;
  cpu.fpu.valid = 0xff;
}

/** Copies MMn into the low half of v (the high half zeroed). */
function loadMm(cpu: Cpu, n: number, v: V128): void {
  v.u32[0] = cpu.fpu.sig[2 * n];
  v.u32[1] = cpu.fpu.sig[2 * n + 1];
  v.u32[2] = v.u32[3] = 0;
}

/** Writes MMn (its exponent word becomes all ones). */
function setMm(cpu: Cpu, n: number, lo: number, hi: number): void {
  cpu.fpu.sig[2 * n] = lo;
  cpu.fpu.sig[2 * n + 1] = hi;
  cpu.fpu.se[n] = 0xffff;
}

/** Loads the mm/m64 operand into the low half of v. */
function loadMmRm(cpu: Cpu, d: Insn, v: V128): void {
  if (d.mod === 3) loadMm(cpu, d.rm & 7, v);
  else {
    v.u32[2] = v.u32[3] = 0;
    readMem(cpu, d, v.u32, 0, 2, false);
  }
}

/** `mm(reg) = f(mm(reg), mm/m64)` on the low halves; `pair` puts B in A's high half first. */
export function mmxBin(f: Lanes, pair = false): Exec {
  return (cpu: Cpu, d: Insn) => {
    mmxEnter(cpu);
    loadMm(cpu, d.reg & 7, A);
    loadMmRm(cpu, d, B);
    if (pair) {
      A.u32[2] = B.u32[0];
      A.u32[3] = B.u32[1];
    }
    f(A, B, R);
    setMm(cpu, d.reg & 7, R.u32[0], R.u32[1]);
  };
}

/** The MMX form of an integer lane operation by mnemonic. */
export function mmxOp(name: string): Exec {
  if (/^(pack|phadd|phsub)/.test(name)) return mmxBin(INT_OPS[name] ?? SHUFFLE_OPS[name], true);
  if (/^punpckh/.test(name)) {
    // Interleave the high dwords: move them down and interleave low.
    const low = SHUFFLE_OPS[name.replace("punpckh", "punpckl")];
    return mmxBin((a, b, r) => {
      a.u32[0] = a.u32[1];
      b.u32[0] = b.u32[1];
      low(a, b, r);
    });
  }
  if (name === "pshufb") {
    return mmxBin((a, b, r) => {
      for (let i = 0; i < 8; i++) r.u8[i] = b.u8[i] & 0x80 ? 0 : a.u8[b.u8[i] & 7];
    });
  }
  return mmxBin(INT_OPS[name] ?? SHUFFLE_OPS[name]);
}

/** Shifts of MMX lanes by mm/m64 (`imm` false) or imm8: kind 0 logical right, 1 arithmetic right, 2 left. */
export function mmxShift(size: number, kind: number, imm: boolean): Exec {
  return (cpu: Cpu, d: Insn) => {
    mmxEnter(cpu);
    const n = imm ? d.rm & 7 : d.reg & 7;
    loadMm(cpu, n, A);
    let count = d.imm;
    if (!imm) {
      loadMmRm(cpu, d, B);
      count = B.u32[1] !== 0 || B.u32[0] > 255 ? 255 : B.u32[0];
    }
    shift64(A, size, kind, count);
    setMm(cpu, n, A.u32[0], A.u32[1]);
  };
}

function shift64(v: V128, size: number, kind: number, count: number): void {
  if (size === 8) {
    const lo = v.u32[0], hi = v.u32[1];
    if (count > 63) v.u32[0] = v.u32[1] = 0;
    else if (count >= 32) {
      v.u32[0] = kind === 2 ? 0 : hi >>> (count - 32);
      v.u32[1] = kind === 2 ? lo << (count - 32) : 0;
    } else if (count > 0) {
      v.u32[0] = kind === 2 ? lo << count : (lo >>> count) | (hi << (32 - count));
      v.u32[1] = kind === 2 ? (hi << count) | (lo >>> (32 - count)) : hi >>> count;
    }
    return;
  }
  const bits = size * 8, u = size === 2 ? v.u16 : v.u32, s = size === 2 ? v.i16 : v.i32, n = 8 / size;
  for (let i = 0; i < n; i++) {
    if (kind === 1) s[i] = s[i] >> (count >= bits ? bits - 1 : count);
    else if (count >= bits) u[i] = 0;
    else u[i] = kind === 2 ? u[i] << count : u[i] >>> count;
  }
}

/** 0F 77: EMMS (every x87 tag empty). */
export function emms(cpu: Cpu): void {
  if (cpu.cr0 & CR0_EM) fault(UD);
  if (cpu.cr0 & CR0_TS) fault(NM);
  if (cpu.fpu.sw & SW_ES) fault(MF);
  cpu.fpu.valid = 0;
}

/** 0F 6E: MOVD mm, r/m32 (MOVQ mm, r/m64 with REX.W). */
export function movdToMm(cpu: Cpu, d: Insn): void {
  mmxEnter(cpu);
  if (d.osize === 8) {
    const q = readRmQ(cpu, d);
    return setMm(cpu, d.reg & 7, q[0], q[1]);
  }
  setMm(cpu, d.reg & 7, d.mod === 3 ? cpu.r32[d.rm << 1] : cpu.read(cpu.seg(d), cpu.ea(d), 4), 0);
}

/** 0F 7E: MOVD r/m32, mm (MOVQ r/m64, mm with REX.W). */
export function movdFromMm(cpu: Cpu, d: Insn): void {
  mmxEnter(cpu);
  storeMovd(cpu, d, cpu.fpu.sig, 2 * (d.reg & 7));
}

/** 0F 6F: MOVQ mm, mm/m64. */
export function movqToMm(cpu: Cpu, d: Insn): void {
  mmxEnter(cpu);
  loadMmRm(cpu, d, B);
  setMm(cpu, d.reg & 7, B.u32[0], B.u32[1]);
}

/** 0F 7F / 0F E7: MOVQ mm/m64, mm and MOVNTQ m64, mm. */
export function movqFromMm(cpu: Cpu, d: Insn): void {
  mmxEnter(cpu);
  const s = cpu.fpu.sig, n = 2 * (d.reg & 7);
  if (d.mod === 3) setMm(cpu, d.rm & 7, s[n], s[n + 1]);
  else writeMem(cpu, d, s, n, 2, false);
}

/** 0F 70: PSHUFW mm, mm/m64, imm8. */
export function pshufw(cpu: Cpu, d: Insn): void {
  mmxEnter(cpu);
  loadMmRm(cpu, d, B);
  for (let i = 0; i < 4; i++) R.u16[i] = B.u16[(d.imm >> (2 * i)) & 3];
  setMm(cpu, d.reg & 7, R.u32[0], R.u32[1]);
}

/** 0F3A 0F: PALIGNR mm, mm/m64, imm8. */
export function palignrMm(cpu: Cpu, d: Insn): void {
  mmxEnter(cpu);
  loadMm(cpu, d.reg & 7, A);
  loadMmRm(cpu, d, B);
  for (let i = 0; i < 8; i++) {
    const j = i + d.imm;
    R.u8[i] = j < 8 ? B.u8[j] : j < 16 ? A.u8[j - 8] : 0;
  }
  setMm(cpu, d.reg & 7, R.u32[0], R.u32[1]);
}

/** 0F C4: PINSRW mm, r32/m16, imm8. */
export function pinsrwMm(cpu: Cpu, d: Insn): void {
  mmxEnter(cpu);
  const v = d.mod === 3 ? cpu.r32[d.rm << 1] : cpu.read(cpu.seg(d), cpu.ea(d), 2);
  loadMm(cpu, d.reg & 7, A);
  A.u16[d.imm & 3] = v;
  setMm(cpu, d.reg & 7, A.u32[0], A.u32[1]);
}

/** 0F C5: PEXTRW r32, mm, imm8. */
export function pextrwMm(cpu: Cpu, d: Insn): void {
  mmxEnter(cpu);
  loadMm(cpu, d.rm & 7, A);
  cpu.setReg(d.reg, 4, A.u16[d.imm & 3]);
}

/** 0F D7: PMOVMSKB r32, mm. */
export function pmovmskbMm(cpu: Cpu, d: Insn): void {
  mmxEnter(cpu);
  loadMm(cpu, d.rm & 7, A);
  let v = 0;
  for (let i = 0; i < 8; i++) v |= (A.u8[i] >> 7) << i;
  cpu.setReg(d.reg, 4, v);
}

/** 0F F7: MASKMOVQ mm1, mm2: the bytes of mm1 whose mask byte has its top bit, at DS:rDI. */
export function maskmovq(cpu: Cpu, d: Insn): void {
  mmxEnter(cpu);
  loadMm(cpu, d.reg & 7, A);
  loadMm(cpu, d.rm & 7, B);
  const seg = d.seg >= 0 ? d.seg : 3;
  const base = d.asize === 2 ? cpu.r16[7 << 2] : d.asize === 8 ? cpu.r32[14] + cpu.r32[15] * 4294967296 : cpu.r32[14];
  for (let i = 0; i < 8; i++) {
    const at = d.asize === 2 ? (base + i) & 0xffff : d.asize === 4 ? (base + i) >>> 0 : base + i;
    if (B.u8[i] & 0x80) cpu.write(seg, at, 1, A.u8[i]);
  }
}

/** F3 0F D6: MOVQ2DQ xmm, mm. */
export function movq2dq(cpu: Cpu, d: Insn): void {
  mmxEnter(cpu);
  loadMm(cpu, d.rm & 7, R);
  storeReg(cpu, d.reg, R);
}

/** F2 0F D6: MOVDQ2Q mm, xmm. */
export function movdq2q(cpu: Cpu, d: Insn): void {
  mmxEnter(cpu);
  loadReg(cpu, d.rm, R);
  setMm(cpu, d.reg & 7, R.u32[0], R.u32[1]);
}

/** 0F 2A / 66 0F 2A: CVTPI2PS xmm, mm/m64 / CVTPI2PD xmm, mm/m64. */
export function cvtpi2p(f: number): Exec {
  return (cpu: Cpu, d: Insn) => {
    if (d.mod === 3) mmxEnter(cpu);
    else if (cpu.cr0 & CR0_EM) fault(UD);
    fpBegin(cpu.mxcsr);
    loadMmRm(cpu, d, B);
    loadReg(cpu, d.reg, R);
    if (f === F32) { for (let i = 0; i < 2; i++) R.u32[i] = bits32(roundValue(B.i32[i], F32)); }
    else for (let i = 0; i < 2; i++) bits64(B.i32[i], R.u32, 2 * i);
    commit(cpu);
    storeReg(cpu, d.reg, R);
  };
}

/** 0F 2C/2D, 66 0F 2C/2D: CVT[T]PS2PI mm, xmm/m64 and CVT[T]PD2PI mm, xmm/m128. */
export function cvtp2pi(f: number, truncate: boolean): Exec {
  return (cpu: Cpu, d: Insn) => {
    mmxEnter(cpu);
    fpBegin(cpu.mxcsr);
    if (d.mod === 3) loadReg(cpu, d.rm, B);
    else readMem(cpu, d, B.u32, 0, f === F32 ? 2 : 4, f === F64);
    const w = f === F32 ? 1 : 2;
    for (let i = 0; i < 2; i++) {
      // Conversions to integers report no DE.
      const de = fp.pre & MXCSR_DE;
      const x = laneValue(B.u32, i * w, f);
      fp.pre = (fp.pre & ~MXCSR_DE) | de;
      const r = x !== x ? NaN : truncate ? Math.trunc(x) : roundInt(x, fp.rc);
      if (r !== r || r >= 2147483648 || r < -2147483648) {
        fp.pre |= MXCSR_IE;
        R.u32[i] = 0x80000000;
      } else {
        if (r !== x) fp.post |= MXCSR_PE;
        R.u32[i] = r >>> 0;
      }
    }
    commit(cpu);
    setMm(cpu, d.reg & 7, R.u32[0], R.u32[1]);
  };
}
