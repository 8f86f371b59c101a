/**
 * FXSAVE and FXRSTOR (0F AE /0 and /1): the 512-byte image of the x87
 * state (fpu/image.ts), MXCSR with MXCSR_MASK, and XMM0-7 (XMM0-15 in
 * 64-bit mode). #NM when CR0.EM or CR0.TS is set, #GP(0) for an operand
 * that is not 16-byte aligned or an MXCSR with reserved bits set. The
 * 32-bit image format is used (FIP/FCS, FDP/FDS); with REX.W in 64-bit
 * mode FIP and FDP take 64 bits and the selectors are not saved. AMD
 * processors store FOP, FIP and FDP only while an unmasked exception is
 * pending (ES set); they save zeros otherwise (AMD APM Vol. 5, FXSAVE).
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { fault, GP, NM } from "../fault.ts";
import type { Insn } from "../insn.ts";
import { fxrstor64Pointers, fxrstorX87, fxsave64Pointers, fxsaveX87 } from "../fpu/image.ts";
import { SW_ES } from "../fpu/state.ts";
import { MXCSR_WRITABLE } from "../sse/xmm.ts";
import { readBytes, writeBytes } from "./x87_core.ts";

function prepare(cpu: Cpu, d: Insn): [number, number] {
  if (cpu.cr0 & 0xc) fault(NM);
  const seg = cpu.seg(d), off = cpu.ea(d);
  if (off % 16 !== 0) fault(GP, 0);
  return [seg, off];
}

/** The number of XMM registers in the image. */
function xmmCount(d: Insn): number {
  return d.mode === 8 ? 16 : 8;
}

/** 0F AE /0: FXSAVE m512. */
export function fxsave(cpu: Cpu, d: Insn): void {
  const [seg, off] = prepare(cpu, d);
  const b = new Uint8Array(512), v = new DataView(b.buffer);
  fxsaveX87(cpu.fpu, b);
  if (d.rex & 8) fxsave64Pointers(cpu.fpu, b);
  if (cpu.vendor.name === "amd" && !(cpu.fpu.sw & SW_ES)) b.fill(0, 6, 24);
  v.setUint32(24, cpu.mxcsr, true);
  v.setUint32(28, MXCSR_WRITABLE, true);
  const x = cpu.xmm.u32;
  for (let i = 0; i < 4 * xmmCount(d); i++) v.setUint32(160 + 4 * i, x[i], true);
  writeBytes(cpu, d, seg, off, b);
}

/** 0F AE /1: FXRSTOR m512. */
export function fxrstor(cpu: Cpu, d: Insn): void {
  const [seg, off] = prepare(cpu, d);
  const b = readBytes(cpu, d, seg, off, 512), v = new DataView(b.buffer);
  const mxcsr = v.getUint32(24, true);
  if (mxcsr & ~MXCSR_WRITABLE) fault(GP, 0);
  fxrstorX87(cpu.fpu, b);
  if (d.rex & 8) fxrstor64Pointers(cpu.fpu, b);
  cpu.mxcsr = mxcsr;
  const x = cpu.xmm.u32;
  for (let i = 0; i < 4 * xmmCount(d); i++) x[i] = v.getUint32(160 + 4 * i, true);
}
