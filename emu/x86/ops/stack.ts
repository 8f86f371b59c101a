/**
 * Stack instructions in every mode: PUSH/POP of registers, immediates,
 * memory and segment registers, PUSHA/POPA, PUSHF/POPF (with their IOPL and
 * CPL rules), ENTER and LEAVE; in 64-bit mode with the default 64-bit
 * operand size (16 bits with a 66 prefix) and 64-bit frames.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { AC, ARITH, DF, ID, IF, IOPL, MASK, NT, RF, TF, VIF, VIP, VM } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { fault, GP } from "../fault.ts";
import { loadSeg } from "../segment.ts";
import { EBP, ESP, FS, GS, SS } from "../state.ts";
import {
  peekLong,
  popLong,
  pushLong,
  qv,
  readQ,
  readRmQ,
  regSigned,
  setQ,
  setRegSigned,
  writeRmQ,
} from "../long/access.ts";
import { opReg } from "./mov.ts";

/** 50-57: PUSH reg (PUSH SP pushes the value before the push). */
export function pushReg(cpu: Cpu, d: Insn): void {
  cpu.push(cpu.getReg(d.op & 7, d.osize), d.osize);
}

/** 58-5F: POP reg. */
export function popReg(cpu: Cpu, d: Insn): void {
  const v = cpu.pop(d.osize);
  cpu.setReg(d.op & 7, d.osize, v);
}

/** 68/6A: PUSH imm. */
export function pushImm(cpu: Cpu, d: Insn): void {
  cpu.push(d.imm & MASK[d.osize], d.osize);
}

/** FF /6: PUSH r/m. */
export function pushRm(cpu: Cpu, d: Insn): void {
  cpu.push(cpu.readRm(d), d.osize);
}

/** 8F /0: POP r/m (an ESP-based address uses ESP after the pop). */
export function popRm(cpu: Cpu, d: Insn): void {
  const sp = cpu.r32[ESP << 1];
  const v = cpu.pop(d.osize);
  try {
    cpu.writeRm(d, v);
  } catch (e) {
    cpu.r32[ESP << 1] = sp;
    throw e;
  }
}

/** 06/0E/16/1E, 0F A0/A8: PUSH Sreg (a 32-bit push writes only the low word on current processors). */
export function pushSeg(cpu: Cpu, d: Insn): void {
  cpu.push(cpu.segSel[segOf(d.op)], d.osize);
}

/** 07/17/1F, 0F A1/A9: POP Sreg. */
export function popSeg(cpu: Cpu, d: Insn): void {
  const seg = segOf(d.op);
  const v = cpu.peek(0, d.osize) & 0xffff;
  loadSeg(cpu, seg, v);
  cpu.addSp(d.osize);
  if (seg === SS) cpu.shadow = 2;
}

function segOf(op: number): number {
  if (op < 0x100) return op >> 3;
  return op < 0x1a8 ? 4 : 5;
}

/** 60: PUSHA/PUSHAD. */
export function pusha(cpu: Cpu, d: Insn): void {
  const sp = cpu.getReg(ESP, d.osize);
  const saved = cpu.r32[ESP << 1];
  try {
    for (let n = 0; n < 8; n++) cpu.push(n === ESP ? sp : cpu.getReg(n, d.osize), d.osize);
  } catch (e) {
    cpu.r32[ESP << 1] = saved;
    throw e;
  }
}

/** 61: POPA/POPAD (the stored SP is skipped). */
export function popa(cpu: Cpu, d: Insn): void {
  const vals: number[] = [];
  for (let i = 0; i < 8; i++) vals.push(cpu.peek(i * d.osize, d.osize));
  for (let n = 7, i = 0; n >= 0; n--, i++) if (n !== ESP) cpu.setReg(n, d.osize, vals[i]);
  cpu.addSp(8 * d.osize);
}

/** 9C: PUSHF (#GP in virtual-8086 mode with IOPL < 3; VM and RF read as 0). */
export function pushf(cpu: Cpu, d: Insn): void {
  if (cpu.eflRest & VM && (cpu.eflRest & IOPL) !== IOPL) fault(GP, 0);
  cpu.push(cpu.getFlags() & ~(VM | RF) & MASK[d.osize], d.osize);
}

/** 9D: POPF: which bits change depends on CPL and IOPL. */
export function popf(cpu: Cpu, d: Insn): void {
  const vm86 = (cpu.eflRest & VM) !== 0;
  if (vm86 && (cpu.eflRest & IOPL) !== IOPL) fault(GP, 0);
  const v = cpu.pop(d.osize);
  let mask = ARITH | TF | DF | NT | (d.osize === 4 ? AC | ID : 0);
  const iopl = (cpu.eflRest & IOPL) >> 12;
  if (!(cpu.cr0 & 1)) mask |= IOPL | IF;
  else if (vm86) mask |= IF;
  else {
    if (cpu.cpl === 0) mask |= IOPL;
    if (cpu.cpl <= iopl) mask |= IF;
  }
  const old = cpu.getFlags();
  const nf = ((old & ~mask) | (v & mask)) & ~(RF | VIF | VIP | (d.osize === 2 ? 0 : 0));
  cpu.setFlags(nf | (old & (VM | VIF | VIP)));
}

/** C9: LEAVE. */
export function leave(cpu: Cpu, d: Insn): void {
  const ss = cpu.stackSize;
  const bp = cpu.getReg(EBP, ss);
  const v = cpu.read(SS, bp, d.osize);
  cpu.setReg(ESP, ss, (bp + d.osize) & MASK[ss]);
  cpu.setReg(EBP, d.osize, v);
}

/** C8: ENTER imm16, imm8. */
export function enter(cpu: Cpu, d: Insn): void {
  const size = d.osize, ss = cpu.stackSize, level = d.imm2 & 31;
  const saved = cpu.r32[ESP << 1], savedBp = cpu.r32[EBP << 1];
  try {
    cpu.push(cpu.getReg(EBP, size), size);
    const frame = cpu.getReg(ESP, ss);
    let bp = cpu.getReg(EBP, ss);
    for (let i = 1; i < level; i++) {
      bp = (bp - size) & MASK[ss];
      cpu.push(cpu.read(SS, bp, size), size);
    }
    if (level > 0) cpu.push(frame, size);
    cpu.setReg(EBP, size, frame);
    cpu.setReg(ESP, ss, (cpu.getReg(ESP, ss) - d.imm) & MASK[ss]);
    cpu.lin(SS, cpu.getReg(ESP, ss), 1, true);
  } catch (e) {
    cpu.r32[ESP << 1] = saved;
    cpu.r32[EBP << 1] = savedBp;
    throw e;
  }
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
