/**
 * Port I/O in every mode: IN and OUT with an immediate port or DX, INS and
 * OUTS (string I/O, with REP, on rSI/rDI/rCX at the address size), and the
 * protected-mode permission rule (CPL > IOPL, or virtual-8086 mode,
 * consults the TSS I/O bitmap; a set bit or a port beyond the bitmap is
 * #GP(0)). As the kernel does, a REP OUTS exits after each item with RF
 * set and rIP at the instruction (the last one too in 64-bit mode: the
 * next run finds rCX = 0 and completes it); one INS exit brings every item
 * up to the end of the destination page.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { IOPL, MASK, RF, VM } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { fault, GP } from "../fault.ts";
import { EAX, ECX, EDI, EDX, ES, ESI, TR } from "../state.ts";
import { tableLinear } from "../segment.ts";
import { getRip } from "../long/access.ts";
import { repeat } from "./string.ts";
import { addressLong, advance, advanceLong, countLong, sourceSeg, stepOf } from "./string_regs.ts";

/** Raises #GP(0) unless the current privilege may access ports [port, port+size). */
function checkIo(cpu: Cpu, port: number, size: number): void {
  if (!(cpu.cr0 & 1)) return;
  const iopl = (cpu.eflRest & IOPL) >> 12;
  if (!(cpu.eflRest & VM) && cpu.cpl <= iopl) return;
  // Only a 32-bit TSS has an I/O bitmap.
  if ((cpu.segAr[TR] & 0xf) !== 0xb && (cpu.segAr[TR] & 0xf) !== 0x9) fault(GP, 0);
  const base = cpu.segBase[TR], limit = cpu.segLimit[TR];
  if (limit < 0x67) fault(GP, 0);
  const mapBase = cpu.mem.sysRead(tableLinear(cpu, base, 0x66), 2);
  const at = mapBase + (port >> 3);
  if (at + 1 > limit) fault(GP, 0);
  const bits = cpu.mem.sysRead(tableLinear(cpu, base, at), 2);
  const mask = ((1 << size) - 1) << (port & 7);
  if (bits & mask) fault(GP, 0);
}

/** Reads a little-endian value of `size` bytes at `at`. */
function valueOf(b: Uint8Array, at: number, size: number): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + b[at + i];
  return v;
}

/** E4/E5/EC/ED: IN AL/AX/EAX, imm8/DX. */
export function inPort(cpu: Cpu, d: Insn): void {
  const port = d.op & 8 ? cpu.getReg(EDX, 2) : d.imm;
  checkIo(cpu, port, d.size);
  const data = cpu.portIn(port, d.size, 1);
  cpu.setReg(EAX, d.size, valueOf(data, 0, d.size));
}

/** E6/E7/EE/EF: OUT imm8/DX, AL/AX/EAX. */
export function outPort(cpu: Cpu, d: Insn): void {
  const port = d.op & 8 ? cpu.getReg(EDX, 2) : d.imm;
  checkIo(cpu, port, d.size);
  cpu.portOutValue(port, d.size, cpu.getReg(EAX, d.size));
}

/** How many of `count` items one INS exit brings in: those up to the end of the destination page (at least one). */
function insItems(lin: number, step: number, size: number, count: number): number {
  const inPage = step > 0 ? Math.floor((0x1000 - (lin % 4096)) / size) : Math.floor((lin % 4096) / size) + 1;
  return Math.max(1, Math.min(count, inPage, Math.floor(4096 / size)));
}

function outsIter(cpu: Cpu, d: Insn): boolean {
  const port = cpu.getReg(EDX, 2);
  const v = cpu.read(sourceSeg(d), cpu.getReg(ESI, d.asize), d.size);
  cpu.portOutValue(port, d.size, v);
  advance(cpu, ESI, d, stepOf(cpu, d));
  return true;
}

/** 6E/6F: OUTS. */
export function outs(cpu: Cpu, d: Insn): void {
  checkIo(cpu, cpu.getReg(EDX, 2), d.size);
  repeat(cpu, d, outsIter);
}

/** 6C/6D: INS. */
export function ins(cpu: Cpu, d: Insn): void {
  const port = cpu.getReg(EDX, 2);
  checkIo(cpu, port, d.size);
  const am = MASK[d.asize];
  let count = d.rep ? cpu.getReg(ECX, d.asize) : 1;
  if (count === 0) return;
  const s = stepOf(cpu, d);
  count = insItems(cpu.lin(ES, cpu.getReg(EDI, d.asize), d.size, true), s, d.size, count);
  const data = cpu.portIn(port, d.size, count);
  for (let i = 0; i < count; i++) {
    cpu.write(ES, cpu.getReg(EDI, d.asize), d.size, valueOf(data, i * d.size, d.size));
    advance(cpu, EDI, d, s);
    if (d.rep) cpu.setReg(ECX, d.asize, ((cpu.getReg(ECX, d.asize) - 1) & am) >>> 0);
  }
  cpu.commitReplay();
  if (d.rep && cpu.getReg(ECX, d.asize) !== 0) cpu.nextEip = cpu.eip;
}

/** 6E/6F in 64-bit mode: OUTS. */
export function outs64(cpu: Cpu, d: Insn): void {
  const port = cpu.getReg(EDX, 2);
  checkIo(cpu, port, d.size);
  if (d.rep && countLong(cpu, d) === 0) return;
  const v = cpu.read(sourceSeg(d), addressLong(cpu, ESI, d), d.size);
  cpu.portOutValue(port, d.size, v);
  advanceLong(cpu, ESI, d, stepOf(cpu, d));
  if (!d.rep) return;
  advanceLong(cpu, ECX, d, -1);
  // As KVM (and `outs` outside 64-bit mode): RIP stays on the instruction at every exit, the last one too; the next
  // run finds RCX = 0 and completes it.
  cpu.nextEip = getRip(cpu);
  cpu.eflRest |= RF;
}

/** 6C/6D in 64-bit mode: INS. */
export function ins64(cpu: Cpu, d: Insn): void {
  const port = cpu.getReg(EDX, 2);
  checkIo(cpu, port, d.size);
  let n = d.rep ? countLong(cpu, d) : 1;
  if (n === 0) return;
  const step = stepOf(cpu, d);
  n = insItems(cpu.lin(ES, addressLong(cpu, EDI, d), d.size, true), step, d.size, n);
  const data = cpu.portIn(port, d.size, n);
  for (let i = 0; i < n; i++) {
    cpu.write(ES, addressLong(cpu, EDI, d), d.size, valueOf(data, i * d.size, d.size));
    advanceLong(cpu, EDI, d, step);
    if (d.rep) advanceLong(cpu, ECX, d, -1);
  }
  cpu.commitReplay();
  if (d.rep && countLong(cpu, d) !== 0) cpu.nextEip = getRip(cpu);
}
