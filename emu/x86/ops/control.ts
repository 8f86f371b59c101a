/**
 * Near control transfer in every mode: Jcc, JMP, CALL, RET, LOOP/LOOPE/
 * LOOPNE, JCXZ/JECXZ/JRCXZ, with a limit check against CS outside 64-bit
 * mode and, in 64-bit mode, a 64-bit RIP (a 66 prefix truncates the target
 * to 16 bits, as AMD processors do) that must be canonical (#GP); and the
 * software interrupts INT n, INT3, INTO and INT1. Far transfers are
 * far.ts's.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { IOPL, MASK, VM } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { BP, fault, GP, OFV } from "../fault.ts";
import { deliver } from "../interrupt.ts";
import { CS, ECX, ESP } from "../state.ts";
import { canonical, peekLong, pushLong, qv, readRmQ, regSigned, setQ, setRegSigned, signed } from "../long/access.ts";

/** Sets the next EIP after a limit check against CS. */
function jumpTo(cpu: Cpu, target: number, osize: number): void {
  const t = (target & MASK[osize]) >>> 0;
  if (t > cpu.segLimit[CS]) fault(GP, 0);
  cpu.nextEip = t;
}

/** 70-7F, 0F 80-8F: Jcc rel. */
export function jcc(cpu: Cpu, d: Insn): void {
  if (cpu.cond(d.op & 0xf)) jumpTo(cpu, cpu.nextEip + rel(d), d.osize);
}

function rel(d: Insn): number {
  if (d.op < 0x100 && d.op !== 0xe8 && d.op !== 0xe9) return (d.imm << 24) >> 24;
  return d.osize === 2 ? (d.imm << 16) >> 16 : d.imm | 0;
}

/** EB/E9: JMP rel. */
export function jmpRel(cpu: Cpu, d: Insn): void {
  jumpTo(cpu, cpu.nextEip + rel(d), d.osize);
}

/** E8: CALL rel. */
export function callRel(cpu: Cpu, d: Insn): void {
  const target = (cpu.nextEip + rel(d)) & MASK[d.osize];
  if (target > cpu.segLimit[CS]) fault(GP, 0);
  cpu.push(cpu.nextEip, d.osize);
  cpu.nextEip = target >>> 0;
}

/** FF /2: CALL r/m. */
export function callRm(cpu: Cpu, d: Insn): void {
  const target = cpu.readRm(d);
  if (target > cpu.segLimit[CS]) fault(GP, 0);
  cpu.push(cpu.nextEip, d.osize);
  cpu.nextEip = target;
}

/** FF /4: JMP r/m. */
export function jmpRm(cpu: Cpu, d: Insn): void {
  jumpTo(cpu, cpu.readRm(d), d.osize);
}

/** C3/C2: RET [imm16]. */
export function ret(cpu: Cpu, d: Insn): void {
  const target = cpu.peek(0, d.osize);
  if (target > cpu.segLimit[CS]) fault(GP, 0);
  cpu.addSp(d.osize + (d.op === 0xc2 ? d.imm : 0));
  cpu.nextEip = target;
}

/** E0-E3: LOOPNE, LOOPE, LOOP, JCXZ (the counter is CX or ECX by address size). */
export function loop(cpu: Cpu, d: Insn): void {
  let c = cpu.getReg(ECX, d.asize);
  let taken: boolean;
  if (d.op === 0xe3) taken = c === 0;
  else {
    c = (c - 1) & MASK[d.asize];
    taken = c !== 0 && (d.op === 0xe2 || (d.op === 0xe1) === (cpu.zf() === 1));
  }
  if (taken) jumpTo(cpu, cpu.nextEip + ((d.imm << 24) >> 24), d.osize);
  if (d.op !== 0xe3) cpu.setReg(ECX, d.asize, c >>> 0);
}

/** CD: INT imm8 (#GP in virtual-8086 mode with IOPL < 3). */
export function intN(cpu: Cpu, d: Insn): void {
  if (cpu.eflRest & VM && (cpu.eflRest & IOPL) !== IOPL) fault(GP, 0);
  deliver(cpu, d.imm, -1, true, cpu.nextEip);
}

/** CC: INT3 (the guest's #BP; guest debugging intercepts it before this runs). */
export function int3(cpu: Cpu): void {
  deliver(cpu, BP, -1, true, cpu.nextEip);
}

/** CE: INTO. */
export function into(cpu: Cpu): void {
  if (cpu.of()) deliver(cpu, OFV, -1, true, cpu.nextEip);
}

/** F1: INT1 (ICEBP): a #DB trap that ignores the gate's DPL. */
export function int1(cpu: Cpu): void {
  deliver(cpu, 1, -1, false, cpu.nextEip);
}

/** Sets the next RIP: a 16-bit operand size truncates it; a non-canonical target raises #GP(0). */
function jumpLong(cpu: Cpu, target: number, osize: number): void {
  const t = osize === 2 ? target & 0xffff : target;
  if (!canonical(t)) fault(GP, 0);
  cpu.nextEip = t;
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

/** The target of an indirect near branch in 64-bit mode: 16 bits with a 66 prefix, else 64. */
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
