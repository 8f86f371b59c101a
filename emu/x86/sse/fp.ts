/**
 * SSE/SSE2/SSE3 floating-point instructions: ADD/SUB/MUL/DIV/SQRT/MIN/MAX
 * and CMP in their PS/PD/SS/SD forms, COMISS/UCOMISS/COMISD/UCOMISD,
 * ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD. Every instruction computes all lanes
 * into R, then `commit` merges the flags into MXCSR and raises #XM (or #UD
 * without CR4.OSXMMEXCPT) for an unmasked exception, leaving the
 * destination unchanged.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { fault, UD } from "../fault.ts";
import { CF, PF, ZF } from "../flags.ts";
import type { Exec, Insn } from "../insn.ts";
import { A, B, loadB, loadBLow, loadReg, R, sseCheck, storeReg, XM } from "./common.ts";
import {
  compareLane,
  lane32,
  laneBegin,
  laneEnd,
  laneSnan,
  laneValue,
  minMaxLane,
  op64,
  OP_ADD,
  OP_SUB,
} from "./fparith.ts";
import { F32, F64, fp, fpBegin } from "./round.ts";
import { MXCSR_IE } from "./xmm.ts";

const CR4_OSXMMEXCPT = 0x400;

/** Merges the instruction's flags into MXCSR; raises #XM/#UD when one of them is unmasked. */
export function commit(cpu: Cpu): void {
  const unmasked = ~(cpu.mxcsr >> 7) & 0x3f;
  let flags = fp.pre;
  if (!(flags & unmasked)) flags |= fp.post;
  cpu.mxcsr |= flags;
  if (flags & unmasked) fault(cpu.cr4 & CR4_OSXMMEXCPT ? XM : UD);
}

/** Checks, rounding environment, A = xmm(reg) and B = the full r/m operand (aligned) or its low lane. */
function start(cpu: Cpu, d: Insn, scalarDwords: number): void {
  sseCheck(cpu);
  fpBegin(cpu.mxcsr);
  loadReg(cpu, d.reg, A);
  if (scalarDwords) loadBLow(cpu, d, scalarDwords);
  else loadB(cpu, d, true);
  R.u32.set(A.u32);
}

function finish(cpu: Cpu, d: Insn): void {
  commit(cpu);
  storeReg(cpu, d.reg, R);
}

/** ADD/SUB/MUL/DIV/SQRT PS/PD/SS/SD: `op` in the format, packed or on the low lane. */
export function arithOp(op: number, f: number, packed: boolean): Exec {
  return (cpu: Cpu, d: Insn) => {
    start(cpu, d, packed ? 0 : f === F32 ? 1 : 2);
    const n = packed ? (f === F32 ? 4 : 2) : 1;
    for (let i = 0; i < n; i++) {
      if (f === F32) R.u32[i] = lane32(op, A.u32[i], B.u32[i]);
      else op64(op, A.u32, 2 * i, B.u32, 2 * i, R.u32, 2 * i);
    }
    finish(cpu, d);
  };
}

/** MIN/MAX PS/PD/SS/SD. */
export function minMax(max: boolean, f: number, packed: boolean): Exec {
  return (cpu: Cpu, d: Insn) => {
    start(cpu, d, packed ? 0 : f === F32 ? 1 : 2);
    const n = packed ? (f === F32 ? 4 : 2) : 1, w = f === F32 ? 1 : 2;
    for (let i = 0; i < n; i++) minMaxLane(max, A.u32, B.u32, R.u32, i * w, f);
    finish(cpu, d);
  };
}

/** CMPPS/CMPPD/CMPSS/CMPSD xmm, xmm/m, imm8. */
export function cmp(f: number, packed: boolean): Exec {
  return (cpu: Cpu, d: Insn) => {
    start(cpu, d, packed ? 0 : f === F32 ? 1 : 2);
    const n = packed ? (f === F32 ? 4 : 2) : 1, w = f === F32 ? 1 : 2;
    for (let i = 0; i < n; i++) {
      const t = compareLane(d.imm & 7, A.u32, B.u32, i * w, f) ? 0xffffffff : 0;
      R.u32[i * w] = t;
      if (w === 2) R.u32[i * w + 1] = t;
    }
    finish(cpu, d);
  };
}

/** 0F 2E/2F, 66 0F 2E/2F: UCOMISS/COMISS/UCOMISD/COMISD: ZF, PF, CF from the compare; OF, SF, AF cleared. */
export function comis(f: number, signaling: boolean): Exec {
  return (cpu: Cpu, d: Insn) => {
    start(cpu, d, f === F32 ? 1 : 2);
    laneBegin();
    const x = laneValue(A.u32, 0, f), y = laneValue(B.u32, 0, f);
    let bits: number;
    if (x !== x || y !== y) {
      if (signaling || laneSnan(A.u32, 0, f) || laneSnan(B.u32, 0, f)) fp.pre |= MXCSR_IE;
      bits = ZF | PF | CF;
    } else bits = x > y ? 0 : x < y ? CF : ZF;
    laneEnd(x !== x || y !== y);
    commit(cpu);
    cpu.setArith(bits);
  };
}

/** 66 0F D0 / F2 0F D0: ADDSUBPD / ADDSUBPS (subtract in even lanes, add in odd ones). */
export function addsub(f: number): Exec {
  return (cpu: Cpu, d: Insn) => {
    start(cpu, d, 0);
    if (f === F32) { for (let i = 0; i < 4; i++) R.u32[i] = lane32(i & 1 ? OP_ADD : OP_SUB, A.u32[i], B.u32[i]); }
    else {
      op64(OP_SUB, A.u32, 0, B.u32, 0, R.u32, 0);
      op64(OP_ADD, A.u32, 2, B.u32, 2, R.u32, 2);
    }
    finish(cpu, d);
  };
}

/** F2 0F 7C/7D, 66 0F 7C/7D: HADDPS/HSUBPS/HADDPD/HSUBPD: pairs of A, then pairs of B. */
export function horizontal(op: number, f: number): Exec {
  return (cpu: Cpu, d: Insn) => {
    start(cpu, d, 0);
    if (f === F32) {
      R.u32[0] = lane32(op, A.u32[0], A.u32[1]);
      R.u32[1] = lane32(op, A.u32[2], A.u32[3]);
      R.u32[2] = lane32(op, B.u32[0], B.u32[1]);
      R.u32[3] = lane32(op, B.u32[2], B.u32[3]);
    } else {
      op64(op, A.u32, 0, A.u32, 2, R.u32, 0);
      op64(op, B.u32, 0, B.u32, 2, R.u32, 2);
    }
    finish(cpu, d);
  };
}

/** The formats, for the tables. */
export { F32, F64 };
