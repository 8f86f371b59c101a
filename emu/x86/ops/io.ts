/**
 * Port I/O: IN and OUT with an immediate port or DX, and the protected-mode
 * permission rule (CPL > IOPL, or virtual-8086 mode, consults the TSS I/O
 * bitmap; a set bit or a port beyond the bitmap is #GP(0)).
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { IOPL, VM } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { fault, GP } from "../fault.ts";
import { EAX, EDX, TR } from "../state.ts";
import { tableLinear } from "../segment.ts";

/** Raises #GP(0) unless the current privilege may access ports [port, port+size). */
export function checkIo(cpu: Cpu, port: number, size: number): void {
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

/** Little-endian bytes of v. */
export function bytesOf(v: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (v >>> (8 * i)) & 0xff;
  return b;
}

/** Reads a little-endian value of `size` bytes at `at`. */
export function valueOf(b: Uint8Array, at: number, size: number): number {
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
