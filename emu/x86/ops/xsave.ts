/**
 * XSAVE and friends for the state components the core has: x87 (XCR0 bit
 * 0) and SSE (bit 1). XGETBV and XSETBV (0F 01 D0/D1), XSAVE, XRSTOR and
 * XSAVEOPT (0F AE /4 /5 /6 with a memory operand; REX.W selects the 64-bit
 * FIP/FDP format of the legacy region as FXSAVE64 does). The standard
 * (non-compacted) format only: the 512-byte legacy region laid out as
 * FXSAVE's, then the 64-byte header with XSTATE_BV at 512 and XCOMP_BV at
 * 520 (SDM Vol. 1, 13.4-13.9). All need CR4.OSXSAVE (#UD), CR0.TS raises
 * #NM for the save and restore forms, the memory operand must be 64-byte
 * aligned (#GP(0)). XSTATE_BV gets a 1 for every saved component (XINUSE
 * is not tracked, which the SDM allows); XSAVEOPT saves like XSAVE.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { execUd, fault, GP, NM, UD } from "../fault.ts";
import type { Exec, Insn } from "../insn.ts";
import { fxrstor64Pointers, fxrstorX87, fxsave64Pointers, fxsaveX87 } from "../fpu/image.ts";
import { SW_ES } from "../fpu/state.ts";
import { MXCSR_WRITABLE } from "../sse/xmm.ts";
import { EAX, ECX, EDX } from "../state.ts";
import { readBytes, writeBytes } from "./x87_core.ts";

/** The XCR0 bits the core supports: x87 and SSE. */
export const XCR0_SUPPORTED = 3;
/** The size of the standard-format XSAVE area for the supported components. */
export const XSAVE_AREA_SIZE = 576;
/** CR4.OSXSAVE. */
export const CR4_OSXSAVE = 1 << 18;

function requireOsxsave(cpu: Cpu, d: Insn): void {
  if (!(cpu.cr4 & CR4_OSXSAVE) || d.lock) fault(UD);
}

/** 0F 01 D0: XGETBV. */
export function xgetbv(cpu: Cpu, d: Insn): void {
  requireOsxsave(cpu, d);
  if (cpu.getReg(ECX, 4) !== 0) fault(GP, 0);
  cpu.setReg(EAX, 4, cpu.xcr0 >>> 0);
  cpu.setReg(EDX, 4, 0);
}

/** 0F 01 D1: XSETBV. */
export function xsetbv(cpu: Cpu, d: Insn): void {
  requireOsxsave(cpu, d);
  cpu.requireCpl0();
  const v = cpu.getReg(EAX, 4);
  if (cpu.getReg(ECX, 4) !== 0 || cpu.getReg(EDX, 4) !== 0 || !(v & 1) || v & ~XCR0_SUPPORTED) fault(GP, 0);
  cpu.xcr0 = v;
}

/** 0F 01 /2: LGDT with a memory operand, XGETBV (D0) and XSETBV (D1) with a register one. */
export function group7Reg2(mem: Exec): Exec {
  return (cpu, d) => {
    if (d.mod !== 3) mem(cpu, d);
    else if (d.rm === 0) xgetbv(cpu, d);
    else if (d.rm === 1) xsetbv(cpu, d);
    else execUd(cpu, d);
  };
}

function prepare(cpu: Cpu, d: Insn): [number, number, number] {
  requireOsxsave(cpu, d);
  if (cpu.cr0 & 8) fault(NM);
  const seg = cpu.seg(d), off = cpu.ea(d);
  if (off % 64 !== 0) fault(GP, 0);
  return [seg, off, cpu.getReg(EAX, 4) & cpu.xcr0 & XCR0_SUPPORTED];
}

function xmmCount(d: Insn): number {
  return d.mode === 8 ? 16 : 8;
}

/** 0F AE /4: XSAVE (and /6: XSAVEOPT, which may save what XSAVE saves). */
export function xsave(cpu: Cpu, d: Insn): void {
  const [seg, off, rfbm] = prepare(cpu, d);
  const b = readBytes(cpu, d, seg, off, XSAVE_AREA_SIZE), v = new DataView(b.buffer);
  if (rfbm & 1) {
    const x = new Uint8Array(512);
    fxsaveX87(cpu.fpu, x);
    if (d.rex & 8) fxsave64Pointers(cpu.fpu, x);
    if (cpu.vendor.name === "amd" && !(cpu.fpu.sw & SW_ES)) x.fill(0, 6, 24);
    b.set(x.subarray(0, 24), 0);
    b.set(x.subarray(32, 160), 32);
  }
  if (rfbm & 2) {
    v.setUint32(24, cpu.mxcsr, true);
    v.setUint32(28, MXCSR_WRITABLE, true);
    const r = cpu.xmm.u32;
    for (let i = 0; i < 4 * xmmCount(d); i++) v.setUint32(160 + 4 * i, r[i], true);
  }
  v.setUint32(512, (v.getUint32(512, true) & ~XCR0_SUPPORTED) | rfbm, true);
  writeBytes(cpu, d, seg, off, b);
}

/** 0F AE /5: XRSTOR. */
export function xrstor(cpu: Cpu, d: Insn): void {
  const [seg, off, rfbm] = prepare(cpu, d);
  const b = readBytes(cpu, d, seg, off, XSAVE_AREA_SIZE), v = new DataView(b.buffer);
  const bv = v.getUint32(512, true), bvHigh = v.getUint32(516, true);
  // Standard form: XSTATE_BV within XCR0, bytes 8-23 of the header (XCOMP_BV included) zero.
  if (bvHigh || bv & ~cpu.xcr0) fault(GP, 0);
  for (let i = 520; i < 536; i++) if (b[i]) fault(GP, 0);
  const mxcsr = v.getUint32(24, true);
  if (rfbm & 2 && mxcsr & ~MXCSR_WRITABLE) fault(GP, 0);
  if (rfbm & 1) {
    if (bv & 1) {
      fxrstorX87(cpu.fpu, b);
      if (d.rex & 8) fxrstor64Pointers(cpu.fpu, b);
    } else {
      const init = new Uint8Array(512);
      init[0] = 0x7f;
      init[1] = 0x03;
      fxrstorX87(cpu.fpu, init);
    }
  }
  if (rfbm & 2) {
    cpu.mxcsr = mxcsr;
    const r = cpu.xmm.u32;
    for (let i = 0; i < 4 * xmmCount(d); i++) r[i] = bv & 2 ? v.getUint32(160 + 4 * i, true) : 0;
  }
}

/**
 * 0F AE /4 /5 /6: XSAVE, XRSTOR and XSAVEOPT with a memory operand and no
 * F3/F2 prefix (nor 66 for /6, which is CLWB); everything else keeps
 * `other` (the fences, CLWB, ...), or #UD without one.
 */
export function groupAe(exec: Exec, other: Exec | undefined, no66: boolean): Exec {
  return (cpu, d) => {
    const p66 = d.mode === 2 ? d.osize === 4 : d.osize === 2;
    if (d.mod !== 3 && !d.rep && !(no66 && p66)) exec(cpu, d);
    else (other ?? execUd)(cpu, d);
  };
}
