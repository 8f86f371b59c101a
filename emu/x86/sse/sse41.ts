/**
 * SSE4.1 (besides the lane arithmetic in int.ts): PMOVSX/PMOVZX, the
 * blends (PBLENDW, BLENDPS/PD, BLENDVPS/PD, PBLENDVB), ROUNDPS/PD/SS/SD,
 * DPPS/DPPD, INSERTPS/EXTRACTPS, PINSRB/D, PEXTRB/W/D, PTEST, MPSADBW,
 * PHMINPOSUW and MOVNTDQA.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { CF, ZF } from "../flags.ts";
import type { Exec, Insn } from "../insn.ts";
import {
  A,
  B,
  begin,
  gpr,
  loadB,
  loadBLow,
  loadReg,
  R,
  readMem,
  readRmQ,
  setRegQ,
  sseCheck,
  storeReg,
  writeMem,
} from "./common.ts";
import { commit } from "./fp.ts";
import { bits32, bits64, lane32, laneSnan, laneValue, op64, OP_ADD, OP_MUL } from "./fparith.ts";
import { F32, fp, fpBegin, roundInt } from "./round.ts";
import { MXCSR_DE, MXCSR_IE, MXCSR_PE } from "./xmm.ts";
import { binImm } from "./shuffle.ts";

/** 66 0F38 20-25 / 30-35: PMOVSX/PMOVZX from `from` bytes to `to` bytes per element. */
export function pmovx(from: number, to: number, signed: boolean): Exec {
  return (cpu: Cpu, d: Insn) => {
    sseCheck(cpu);
    const n = 16 / to, bytes = n * from;
    if (d.mod === 3) loadReg(cpu, d.rm, B);
    else if (bytes === 2) {
      B.u16[0] = cpu.read(cpu.seg(d), cpu.ea(d), 2);
    } else readMem(cpu, d, B.u32, 0, bytes / 4, false);
    const src = from === 1 ? (signed ? B.i8 : B.u8) : from === 2 ? (signed ? B.i16 : B.u16) : signed ? B.i32 : B.u32;
    for (let i = 0; i < n; i++) {
      const v = src[i];
      if (to === 2) R.u16[i] = v;
      else if (to === 4) R.u32[i] = v;
      else {
        R.u32[2 * i] = v;
        R.u32[2 * i + 1] = v < 0 ? 0xffffffff : 0;
      }
    }
    storeReg(cpu, d.reg, R);
  };
}

/** 66 0F3A 0E: PBLENDW. */
export const pblendw: Exec = binImm((a, b, r, imm) => {
  for (let i = 0; i < 8; i++) r.u16[i] = (imm >> i) & 1 ? b.u16[i] : a.u16[i];
});

/** 66 0F3A 0C: BLENDPS. */
export const blendps: Exec = binImm((a, b, r, imm) => {
  for (let i = 0; i < 4; i++) r.u32[i] = (imm >> i) & 1 ? b.u32[i] : a.u32[i];
});

/** 66 0F3A 0D: BLENDPD. */
export const blendpd: Exec = binImm((a, b, r, imm) => {
  for (let i = 0; i < 4; i++) r.u32[i] = (imm >> (i >> 1)) & 1 ? b.u32[i] : a.u32[i];
});

/** 66 0F38 10/14/15: PBLENDVB / BLENDVPS / BLENDVPD with the mask in XMM0's element sign bits. */
export function blendv(size: number): Exec {
  return (cpu: Cpu, d: Insn) => {
    begin(cpu, d);
    const m = cpu.xmm.u8;
    for (let i = 0; i < 16; i++) {
      const signByte = m[(Math.floor(i / size) + 1) * size - 1];
      R.u8[i] = signByte & 0x80 ? B.u8[i] : A.u8[i];
    }
    storeReg(cpu, d.reg, R);
  };
}

/** Rounds float lane i of v (format f) to an integer in mode `rc`, into R. */
function roundLane(v: Uint32Array, i: number, f: number, rc: number, quiet: boolean): void {
  const de = fp.pre & MXCSR_DE;
  const x = laneValue(v, i, f);
  fp.pre = (fp.pre & ~MXCSR_DE) | de;
  if (x !== x) {
    if (laneSnan(v, i, f)) fp.pre |= MXCSR_IE;
    R.u32[i] = v[i];
    if (f === F32) R.u32[i] = (v[i] | 0x400000) >>> 0;
    else R.u32[i + 1] = v[i + 1] | 0x80000;
    return;
  }
  const r = roundInt(x, rc);
  if (r !== x && !quiet) fp.post |= MXCSR_PE;
  if (f === F32) R.u32[i] = bits32(r);
  else bits64(r, R.u32, i);
}

/** 66 0F3A 08-0B: ROUNDPS/ROUNDPD/ROUNDSS/ROUNDSD xmm, xmm/m, imm8. */
export function round(f: number, packed: boolean): Exec {
  return (cpu: Cpu, d: Insn) => {
    sseCheck(cpu);
    fpBegin(cpu.mxcsr);
    loadReg(cpu, d.reg, A);
    if (packed) loadB(cpu, d, true);
    else loadBLow(cpu, d, f === F32 ? 1 : 2);
    R.u32.set(A.u32);
    const rc = d.imm & 4 ? fp.rc : d.imm & 3, w = f === F32 ? 1 : 2;
    const n = packed ? 4 / w : 1;
    for (let i = 0; i < n; i++) roundLane(B.u32, i * w, f, rc, (d.imm & 8) !== 0);
    commit(cpu);
    storeReg(cpu, d.reg, R);
  };
}

const T = new Uint32Array(8);

/**
 * 66 0F3A 40: DPPS: products selected by imm[7:4], summed pairwise, stored where imm[3:0] says.
 *
 * The sums have one value, but when several products are NaNs the order of the additions picks the NaN
 * (an addition of two NaNs returns its first operand's). AMD (and the SDM's pseudo-code) add
 * (p0 + p1) + (p2 + p3) once for every lane. Intel computes each lane on its own: t[i] = p[i ^ 1] + p[i],
 * then t[i] + t[i ^ 2], so lanes 0 and 2 can return a different NaN from lanes 1 and 3 (on the Sapphire
 * Rapids host, 2,000,000 random cases natively against both orders: tests/emu/sse/_diff.ts and
 * tools/sse_diff.ts check it through KVM). The flags are the same either way.
 */
export function dpps(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  fpBegin(cpu.mxcsr);
  loadReg(cpu, d.reg, A);
  loadB(cpu, d, true);
  for (let i = 0; i < 4; i++) T[i] = (d.imm >> (4 + i)) & 1 ? lane32(OP_MUL, A.u32[i], B.u32[i]) : 0;
  if (cpu.vendor.name === "intel") {
    for (let i = 0; i < 4; i++) T[4 + i] = lane32(OP_ADD, T[i ^ 1], T[i]);
    for (let i = 0; i < 4; i++) R.u32[i] = (d.imm >> i) & 1 ? lane32(OP_ADD, T[4 + i], T[4 + (i ^ 2)]) : 0;
  } else {
    const s = lane32(OP_ADD, lane32(OP_ADD, T[0], T[1]), lane32(OP_ADD, T[2], T[3]));
    for (let i = 0; i < 4; i++) R.u32[i] = (d.imm >> i) & 1 ? s : 0;
  }
  commit(cpu);
  storeReg(cpu, d.reg, R);
}

/**
 * 66 0F3A 41: DPPD. AMD adds p0 + p1 for both lanes; Intel adds p[i] + p[i ^ 1] for lane i, so with two
 * NaN products lane 1 returns p1's (checked natively on the Sapphire Rapids host as DPPS was).
 */
export function dppd(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  fpBegin(cpu.mxcsr);
  loadReg(cpu, d.reg, A);
  loadB(cpu, d, true);
  T.fill(0);
  for (let i = 0; i < 2; i++) if ((d.imm >> (4 + i)) & 1) op64(OP_MUL, A.u32, 2 * i, B.u32, 2 * i, T, 2 * i);
  op64(OP_ADD, T, 0, T, 2, T, 4);
  if (cpu.vendor.name === "intel") op64(OP_ADD, T, 2, T, 0, T, 6);
  else T.copyWithin(6, 4, 6);
  for (let i = 0; i < 2; i++) {
    R.u32[2 * i] = (d.imm >> i) & 1 ? T[4 + 2 * i] : 0;
    R.u32[2 * i + 1] = (d.imm >> i) & 1 ? T[5 + 2 * i] : 0;
  }
  commit(cpu);
  storeReg(cpu, d.reg, R);
}

/** 66 0F3A 21: INSERTPS xmm, xmm/m32, imm8. */
export function insertps(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  loadReg(cpu, d.reg, R);
  const v = d.mod === 3 ? cpu.xmm.u32[(d.rm << 2) + ((d.imm >> 6) & 3)] : cpu.read(cpu.seg(d), cpu.ea(d), 4);
  R.u32[(d.imm >> 4) & 3] = v;
  for (let i = 0; i < 4; i++) if ((d.imm >> i) & 1) R.u32[i] = 0;
  storeReg(cpu, d.reg, R);
}

/** 66 0F3A 14-17: PEXTRB/PEXTRW/PEXTRD/EXTRACTPS r/m, xmm, imm8 (`size` bytes; a register gets it zero-extended). */
export function pextr(size: number): Exec {
  return (cpu: Cpu, d: Insn) => {
    sseCheck(cpu);
    const x = cpu.xmm;
    if (size === 4 && d.osize === 8 && d.op === 0x316) {
      // PEXTRQ r/m64, xmm, imm8.
      const o = (d.reg << 2) + 2 * (d.imm & 1);
      if (d.mod === 3) setRegQ(cpu, d.rm, x.u32[o], x.u32[o + 1]);
      else writeMem(cpu, d, x.u32, o, 2, false);
      return;
    }
    const k = d.imm & (16 / size - 1);
    const v = size === 1 ? x.u8[(d.reg << 4) + k] : size === 2 ? x.u16[(d.reg << 3) + k] : x.u32[(d.reg << 2) + k];
    if (d.mod === 3) cpu.setReg(d.rm, 4, v);
    else cpu.write(cpu.seg(d), cpu.ea(d), size, v);
  };
}

/** 66 0F3A 20/22: PINSRB/PINSRD xmm, r/m, imm8. */
export function pinsr(size: number): Exec {
  return (cpu: Cpu, d: Insn) => {
    sseCheck(cpu);
    const x = cpu.xmm;
    if (size === 4 && d.osize === 8) {
      // PINSRQ xmm, r/m64, imm8.
      const q = readRmQ(cpu, d), o = (d.reg << 2) + 2 * (d.imm & 1);
      x.u32[o] = q[0];
      x.u32[o + 1] = q[1];
      return;
    }
    const v = d.mod === 3 ? gpr(cpu, d.rm) : cpu.read(cpu.seg(d), cpu.ea(d), size);
    const k = d.imm & (16 / size - 1);
    if (size === 1) x.u8[(d.reg << 4) + k] = v;
    else x.u32[(d.reg << 2) + k] = v;
  };
}

/** 66 0F38 17: PTEST: ZF = (A AND B) = 0, CF = (NOT A AND B) = 0, the other flags cleared. */
export function ptest(cpu: Cpu, d: Insn): void {
  begin(cpu, d);
  let and = 0, andn = 0;
  for (let i = 0; i < 4; i++) {
    and |= A.u32[i] & B.u32[i];
    andn |= ~A.u32[i] & B.u32[i];
  }
  cpu.setArith((and === 0 ? ZF : 0) | (andn === 0 ? CF : 0));
}

/** 66 0F3A 42: MPSADBW: eight sums of absolute differences of 4-byte groups. */
export const mpsadbw: Exec = binImm((a, b, r, imm) => {
  const ao = ((imm >> 2) & 1) * 4, bo = (imm & 3) * 4;
  for (let i = 0; i < 8; i++) {
    let s = 0;
    for (let k = 0; k < 4; k++) s += Math.abs(a.u8[ao + i + k] - b.u8[bo + k]);
    r.u16[i] = s;
  }
});

/** 66 0F38 41: PHMINPOSUW: the smallest unsigned word and its index. */
export function phminposuw(cpu: Cpu, d: Insn): void {
  begin(cpu, d);
  let m = 0;
  for (let i = 1; i < 8; i++) if (B.u16[i] < B.u16[m]) m = i;
  R.u32.fill(0);
  R.u16[0] = B.u16[m];
  R.u16[1] = m;
  storeReg(cpu, d.reg, R);
}
