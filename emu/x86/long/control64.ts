/**
 * Control transfer and the stack in 64-bit mode: Jcc, JMP, CALL, RET,
 * LOOP/JRCXZ with 64-bit RIP (a 66 prefix truncates the target to 16 bits,
 * as AMD processors do), canonical targets (#GP), PUSH/POP with the 64-bit
 * default operand size, PUSHF/POPF, ENTER/LEAVE.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { fault, GP } from "../fault.ts";
import { AC, ARITH, DF, ID, IF, IOPL, NT, RF, TF, VIF, VIP, VM } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { loadSeg } from "../segment.ts";
import { EBP, ECX, ESP, FS, GS, SS } from "../state.ts";
import {
  canonical,
  peekLong,
  popLong,
  pushLong,
  qv,
  readRmQ,
  regSigned,
  setQ,
  setRegSigned,
  signed,
} from "./access.ts";
import { readQ, writeRmQ } from "./access.ts";
import { opReg } from "../ops/mov.ts";

/** Sets the next RIP: a 16-bit operand size truncates it; a non-canonical target raises #GP(0). */
export function jumpLong(cpu: Cpu, target: number, osize: number): void {
  const t = osize === 2 ? target & 0xffff : target;
  if (!canonical(t)) fault(GP, 0);
  cpu.nextEip = t;
}

function rel(d: Insn): number {
  if (d.op < 0x100 && d.op !== 0xe8 && d.op !== 0xe9) return (d.imm << 24) >> 24;
  return d.osize === 2 ? (d.imm << 16) >> 16 : d.imm | 0;
}

/** Pushes a signed 64-bit value (or its low word with a 16-bit operand size). */
function pushValue(cpu: Cpu, v: number, osize: number): void {
  pushLong(cpu, v >>> 0, osize === 2 ? 2 : 8, Math.floor(v / 2 ** 32) >>> 0);
}

/** Pops a return address: signed with an 8-byte operand, zero-extended with 2. */
function popAddress(cpu: Cpu, osize: number, extra: number): number {
  const size = osize === 2 ? 2 : 8;
  const lo = peekLong(cpu, 0, size);
  const t = size === 8 ? signed(lo, qv[1]) : lo;
  jumpLong(cpu, t, osize);
  setRegSigned(cpu, ESP, regSigned(cpu, ESP) + size + extra);
  return t;
}

/** 70-7F, 0F 80-8F: Jcc. */
export function jccLong(cpu: Cpu, d: Insn): void {
  if (cpu.cond(d.op & 0xf)) jumpLong(cpu, cpu.nextEip + rel(d), d.osize);
}

/** EB/E9: JMP rel. */
export function jmpRelLong(cpu: Cpu, d: Insn): void {
  jumpLong(cpu, cpu.nextEip + rel(d), d.osize);
}

/** E8: CALL rel32. */
export function callRelLong(cpu: Cpu, d: Insn): void {
  const ret = cpu.nextEip;
  jumpLong(cpu, ret + rel(d), d.osize);
  pushValue(cpu, ret, d.osize);
}

function readTarget(cpu: Cpu, d: Insn): number {
  if (d.osize === 2) return cpu.readRmSize(d, 2);
  readRmQ(cpu, d);
  return signed(qv[0], qv[1]);
}

/** FF /2: CALL r/m64. */
export function callRmLong(cpu: Cpu, d: Insn): void {
  const ret = cpu.nextEip;
  jumpLong(cpu, readTarget(cpu, d), d.osize);
  pushValue(cpu, ret, d.osize);
}

/** FF /4: JMP r/m64. */
export function jmpRmLong(cpu: Cpu, d: Insn): void {
  jumpLong(cpu, readTarget(cpu, d), d.osize);
}

/** C3/C2: RET [imm16]. */
export function retLong(cpu: Cpu, d: Insn): void {
  popAddress(cpu, d.osize, d.op === 0xc2 ? d.imm : 0);
}

/** E0-E3: LOOPNE, LOOPE, LOOP, JRCXZ/JECXZ (RCX, or ECX with a 67 prefix). */
export function loopLong(cpu: Cpu, d: Insn): void {
  const r = cpu.r32, wide = d.asize === 8;
  let lo = r[ECX << 1], hi = wide ? r[(ECX << 1) + 1] : 0;
  let taken: boolean;
  if (d.op === 0xe3) taken = lo === 0 && hi === 0;
  else {
    if (lo === 0) hi = (hi - 1) >>> 0;
    lo = (lo - 1) >>> 0;
    taken = (lo !== 0 || hi !== 0) && (d.op === 0xe2 || (d.op === 0xe1) === (cpu.zf() === 1));
  }
  if (taken) jumpLong(cpu, cpu.nextEip + ((d.imm << 24) >> 24), d.osize);
  if (d.op !== 0xe3) setQ(cpu, ECX, lo, hi);
}

/** 50-57: PUSH r64 (or r16). */
export function pushRegLong(cpu: Cpu, d: Insn): void {
  const n = opReg(d);
  if (d.osize === 2) pushLong(cpu, cpu.getReg(n, 2), 2);
  else pushLong(cpu, cpu.r32[n << 1], 8, cpu.r32[(n << 1) + 1]);
}

/** 58-5F: POP r64 (or r16). */
export function popRegLong(cpu: Cpu, d: Insn): void {
  const n = opReg(d);
  if (d.osize === 2) cpu.setReg(n, 2, popLong(cpu, 2));
  else {
    const lo = popLong(cpu, 8);
    setQ(cpu, n, lo, qv[1]);
  }
}

/** 68/6A: PUSH imm (sign-extended to 64 bits). */
export function pushImmLong(cpu: Cpu, d: Insn): void {
  if (d.osize === 2) pushLong(cpu, d.imm & 0xffff, 2);
  else pushLong(cpu, d.imm, 8, d.imm2);
}

/** FF /6: PUSH r/m64. */
export function pushRmLong(cpu: Cpu, d: Insn): void {
  if (d.osize === 2) pushLong(cpu, cpu.readRmSize(d, 2), 2);
  else {
    readRmQ(cpu, d);
    pushLong(cpu, qv[0], 8, qv[1]);
  }
}

/** 8F /0: POP r/m64 (an RSP-based address uses RSP after the pop). */
export function popRmLong(cpu: Cpu, d: Insn): void {
  const size = d.osize === 2 ? 2 : 8;
  const lo = peekLong(cpu, 0, size), hi = qv[1];
  const sp = regSigned(cpu, ESP);
  setRegSigned(cpu, ESP, sp + size);
  try {
    if (size === 2) cpu.writeRm(d, lo);
    else writeRmQ(cpu, d, lo, hi);
  } catch (e) {
    setRegSigned(cpu, ESP, sp);
    throw e;
  }
}

/** 0F A0/A8: PUSH FS/GS (the selector, zero-extended). */
export function pushSegLong(cpu: Cpu, d: Insn): void {
  pushLong(cpu, cpu.segSel[d.op === 0x1a0 ? FS : GS], d.osize === 2 ? 2 : 8);
}

/** 0F A1/A9: POP FS/GS. */
export function popSegLong(cpu: Cpu, d: Insn): void {
  const size = d.osize === 2 ? 2 : 8;
  loadSeg(cpu, d.op === 0x1a1 ? FS : GS, peekLong(cpu, 0, size) & 0xffff);
  setRegSigned(cpu, ESP, regSigned(cpu, ESP) + size);
}

/** 9C: PUSHFQ (VM and RF read as 0). */
export function pushfLong(cpu: Cpu, d: Insn): void {
  const f = cpu.getFlags() & ~(VM | RF);
  pushLong(cpu, d.osize === 2 ? f & 0xffff : f, d.osize === 2 ? 2 : 8);
}

/** 9D: POPFQ: which bits change depends on CPL and IOPL. */
export function popfLong(cpu: Cpu, d: Insn): void {
  const size = d.osize === 2 ? 2 : 8;
  const v = popLong(cpu, size);
  let mask = ARITH | TF | DF | NT | (size === 8 ? AC | ID : 0);
  if (cpu.cpl === 0) mask |= IOPL;
  if (cpu.cpl <= (cpu.eflRest & IOPL) >> 12) mask |= IF;
  const old = cpu.getFlags();
  cpu.setFlags(((old & ~mask) | (v & mask)) & ~(RF | VIF | VIP) | (old & (VIF | VIP)));
}

/** Reads `size` (2 or 8) bytes at SS:`at`; an 8-byte read leaves its halves in `qv`. */
function peekAt(cpu: Cpu, at: number, size: number): number {
  if (size === 2) return cpu.read(SS, at, 2);
  readQ(cpu, SS, at);
  return qv[0];
}

/** C9: LEAVE (RSP = RBP, then POP RBP). */
export function leaveLong(cpu: Cpu, d: Insn): void {
  const size = d.osize === 2 ? 2 : 8;
  const bp = regSigned(cpu, EBP);
  const sp = regSigned(cpu, ESP);
  setRegSigned(cpu, ESP, bp);
  try {
    const lo = popLong(cpu, size);
    if (size === 2) cpu.setReg(EBP, 2, lo);
    else setQ(cpu, EBP, lo, qv[1]);
  } catch (e) {
    setRegSigned(cpu, ESP, sp);
    throw e;
  }
}

/** C8: ENTER imm16, imm8 with 64-bit frames. */
export function enterLong(cpu: Cpu, d: Insn): void {
  const size = d.osize === 2 ? 2 : 8, level = d.imm2 & 31;
  const sp0 = regSigned(cpu, ESP), bp0 = [cpu.r32[EBP << 1], cpu.r32[(EBP << 1) + 1]];
  try {
    pushLong(cpu, bp0[0], size, bp0[1]);
    const frame = regSigned(cpu, ESP);
    let bp = regSigned(cpu, EBP);
    for (let i = 1; i < level; i++) {
      bp -= size;
      const lo = peekAt(cpu, bp, size);
      pushLong(cpu, lo, size, size === 8 ? qv[1] : 0);
    }
    if (level > 0) pushLong(cpu, frame >>> 0, size, Math.floor(frame / 2 ** 32) >>> 0);
    if (size === 2) cpu.setReg(EBP, 2, frame & 0xffff);
    else setRegSigned(cpu, EBP, frame);
    setRegSigned(cpu, ESP, regSigned(cpu, ESP) - d.imm);
    cpu.lin(SS, regSigned(cpu, ESP), size, true); // the new top of stack is checked with the operand size
  } catch (e) {
    setRegSigned(cpu, ESP, sp0);
    cpu.r32[EBP << 1] = bp0[0];
    cpu.r32[(EBP << 1) + 1] = bp0[1];
    throw e;
  }
}
