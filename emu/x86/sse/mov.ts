/**
 * SSE/SSE2/SSE3 data movement: MOVAPS/MOVUPS/MOVDQA/MOVDQU/LDDQU and the
 * non-temporal stores, MOVSS/MOVSD, MOVLPS/MOVHPS/MOVHLPS/MOVLHPS (and the
 * PD forms), MOVD/MOVQ, MOVMSKPS/PD, PMOVMSKB, MOVDDUP/MOVSHDUP/MOVSLDUP,
 * MASKMOVDQU, MOVNTI, and LDMXCSR/STMXCSR with the fences of the 0F AE group.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { fault, GP } from "../fault.ts";
import type { Insn } from "../insn.ts";
import { DS, EDI } from "../state.ts";
import { B, loadB, loadReg, R, readMem, readRmQ, sseCheck, storeMovd, storeReg, writeMem } from "./common.ts";

/** Reads the XMM r/m operand (or 128-bit memory) into R and writes it to xmm(reg). */
function load128(cpu: Cpu, d: Insn, align: boolean): void {
  sseCheck(cpu);
  storeReg(cpu, d.reg, loadB(cpu, d, align));
}

/** Writes xmm(reg) to the r/m operand. */
function store128(cpu: Cpu, d: Insn, align: boolean): void {
  sseCheck(cpu);
  loadReg(cpu, d.reg, R);
  if (d.mod === 3) storeReg(cpu, d.rm, R);
  else writeMem(cpu, d, R.u32, 0, 4, align);
}

/** 0F 28, 66 0F 28, 66 0F 6F: MOVAPS/MOVAPD/MOVDQA xmm, xmm/m128 (aligned). */
export function movAlignedLoad(cpu: Cpu, d: Insn): void {
  load128(cpu, d, true);
}

/** 0F 10, 66 0F 10, F3 0F 6F, F2 0F F0: MOVUPS/MOVUPD/MOVDQU/LDDQU xmm, xmm/m128. */
export function movUnalignedLoad(cpu: Cpu, d: Insn): void {
  load128(cpu, d, false);
}

/** 0F 29, 66 0F 29, 66 0F 7F, 0F 2B, 66 0F E7: MOVAPS/MOVAPD/MOVDQA/MOVNTPS/MOVNTDQ xmm/m128, xmm. */
export function movAlignedStore(cpu: Cpu, d: Insn): void {
  store128(cpu, d, true);
}

/** 0F 11, 66 0F 11, F3 0F 7F: MOVUPS/MOVUPD/MOVDQU xmm/m128, xmm. */
export function movUnalignedStore(cpu: Cpu, d: Insn): void {
  store128(cpu, d, false);
}

/** F3 0F 10 / F2 0F 10: MOVSS/MOVSD xmm, xmm/m (a register merges the low lane; memory zeroes the rest). */
export function movScalarLoad(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const n = d.rep === 0xf3 ? 1 : 2, x = cpu.xmm.u32, o = d.reg << 2;
  if (d.mod === 3) {
    const s = d.rm << 2;
    for (let i = 0; i < n; i++) x[o + i] = x[s + i];
    return;
  }
  B.u32.fill(0);
  readMem(cpu, d, B.u32, 0, n, false);
  storeReg(cpu, d.reg, B);
}

/** F3 0F 11 / F2 0F 11: MOVSS/MOVSD xmm/m, xmm. */
export function movScalarStore(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const n = d.rep === 0xf3 ? 1 : 2, x = cpu.xmm.u32;
  if (d.mod === 3) {
    for (let i = 0; i < n; i++) x[(d.rm << 2) + i] = x[(d.reg << 2) + i];
    return;
  }
  writeMem(cpu, d, x, d.reg << 2, n, false);
}

/** 0F 12 / 66 0F 12: MOVLPS/MOVLPD xmm, m64; 0F 12 with a register: MOVHLPS. */
export function movLowLoad(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm.u32, o = d.reg << 2;
  if (d.mod === 3) {
    x[o] = x[(d.rm << 2) + 2];
    x[o + 1] = x[(d.rm << 2) + 3];
  } else readMem(cpu, d, x, o, 2, false);
}

/** 0F 16 / 66 0F 16: MOVHPS/MOVHPD xmm, m64; 0F 16 with a register: MOVLHPS. */
export function movHighLoad(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm.u32, o = d.reg << 2;
  if (d.mod === 3) {
    x[o + 2] = x[d.rm << 2];
    x[o + 3] = x[(d.rm << 2) + 1];
  } else readMem(cpu, d, x, o + 2, 2, false);
}

/** 0F 13 / 66 0F 13: MOVLPS/MOVLPD m64, xmm. */
export function movLowStore(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  writeMem(cpu, d, cpu.xmm.u32, d.reg << 2, 2, false);
}

/** 0F 17 / 66 0F 17: MOVHPS/MOVHPD m64, xmm. */
export function movHighStore(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  writeMem(cpu, d, cpu.xmm.u32, (d.reg << 2) + 2, 2, false);
}

/** 66 0F 6E: MOVD xmm, r/m32 (zero-extended); with REX.W, MOVQ xmm, r/m64. */
export function movdToXmm(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm.u32, o = d.reg << 2;
  if (d.osize === 8) {
    const q = readRmQ(cpu, d);
    x[o] = q[0];
    x[o + 1] = q[1];
  } else {
    x[o] = d.mod === 3 ? cpu.r32[d.rm << 1] : cpu.read(cpu.seg(d), cpu.ea(d), 4);
    x[o + 1] = 0;
  }
  x[o + 2] = x[o + 3] = 0;
}

/** 66 0F 7E: MOVD r/m32, xmm; with REX.W, MOVQ r/m64, xmm. */
export function movdFromXmm(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  storeMovd(cpu, d, cpu.xmm.u32, d.reg << 2);
}

/** F3 0F 7E: MOVQ xmm, xmm/m64 (zero-extended). */
export function movqLoad(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  if (d.mod === 3) loadReg(cpu, d.rm, B);
  else readMem(cpu, d, B.u32, 0, 2, false);
  B.u32[2] = B.u32[3] = 0;
  storeReg(cpu, d.reg, B);
}

/** 66 0F D6: MOVQ xmm/m64, xmm (a register destination is zero-extended). */
export function movqStore(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm.u32, s = d.reg << 2;
  if (d.mod !== 3) return writeMem(cpu, d, x, s, 2, false);
  const o = d.rm << 2;
  x[o] = x[s];
  x[o + 1] = x[s + 1];
  x[o + 2] = x[o + 3] = 0;
}

/** 0F 50: MOVMSKPS r32, xmm (the four sign bits). */
export function movmskps(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm.u32, o = d.rm << 2;
  cpu.setReg(d.reg, 4, (x[o] >>> 31) | ((x[o + 1] >>> 31) << 1) | ((x[o + 2] >>> 31) << 2) | ((x[o + 3] >>> 31) << 3));
}

/** 66 0F 50: MOVMSKPD r32, xmm (the two sign bits). */
export function movmskpd(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const x = cpu.xmm.u32, o = d.rm << 2;
  cpu.setReg(d.reg, 4, (x[o + 1] >>> 31) | ((x[o + 3] >>> 31) << 1));
}

/** 66 0F D7: PMOVMSKB r32, xmm. */
export function pmovmskb(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const b = cpu.xmm.u8, o = d.rm << 4;
  let v = 0;
  for (let i = 0; i < 16; i++) v |= (b[o + i] >> 7) << i;
  cpu.setReg(d.reg, 4, v);
}

/** F2 0F 12: MOVDDUP xmm, xmm/m64. */
export function movddup(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  if (d.mod === 3) loadReg(cpu, d.rm, B);
  else readMem(cpu, d, B.u32, 0, 2, false);
  B.u32[2] = B.u32[0];
  B.u32[3] = B.u32[1];
  storeReg(cpu, d.reg, B);
}

/** F3 0F 12 / F3 0F 16: MOVSLDUP / MOVSHDUP xmm, xmm/m128. */
export function movsxdup(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const b = loadB(cpu, d, true).u32, k = d.op === 0x112 ? 0 : 1;
  R.u32[0] = R.u32[1] = b[k];
  R.u32[2] = R.u32[3] = b[2 + k];
  storeReg(cpu, d.reg, R);
}

/** 66 0F F7: MASKMOVDQU xmm1, xmm2: stores the bytes of xmm1 whose mask byte in xmm2 has its top bit, at DS:eDI. */
export function maskmovdqu(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const b = cpu.xmm.u8, s = d.reg << 4, m = d.rm << 4;
  const seg = d.seg >= 0 ? d.seg : DS;
  const base = d.asize === 2 ? cpu.r16[EDI << 2] : cpu.r32[EDI << 1];
  for (let i = 0; i < 16; i++) {
    if (b[m + i] & 0x80) cpu.write(seg, d.asize === 2 ? (base + i) & 0xffff : (base + i) >>> 0, 1, b[s + i]);
  }
}

/** 0F C3: MOVNTI m32, r32 (m64, r64 with REX.W). */
export function movnti(cpu: Cpu, d: Insn): void {
  if (d.osize === 8) writeMem(cpu, d, cpu.r32, d.reg << 1, 2, false);
  else cpu.write(cpu.seg(d), cpu.ea(d), 4, cpu.r32[d.reg << 1]);
}

/** 0F AE /2: LDMXCSR m32 (#GP(0) for reserved bits). */
export function ldmxcsr(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const v = cpu.read(cpu.seg(d), cpu.ea(d), 4);
  if (v & 0xffff0000) fault(GP, 0);
  cpu.mxcsr = v;
}

/** 0F AE /3: STMXCSR m32. */
export function stmxcsr(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  cpu.write(cpu.seg(d), cpu.ea(d), 4, cpu.mxcsr);
}

/** 0F AE /5 /6 /7 with a register operand (LFENCE, MFENCE, SFENCE) and CLFLUSH (/7 memory): no effect here. */
export function fence(cpu: Cpu, d: Insn): void {
  if (d.mod !== 3) cpu.lin(cpu.seg(d), cpu.ea(d), 1, false);
}
