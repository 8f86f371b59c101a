/**
 * x87 control instructions: FLDCW, FNSTCW, FNSTSW (m16 and AX), FNCLEX,
 * FNINIT, FNSTENV/FLDENV and FNSAVE/FRSTOR in their four formats (16- or
 * 32-bit operand size; real/virtual-8086 or protected mode, SDM Vol. 1
 * Figures 8-9 to 8-12), and the 287 leftovers FNENI/FNDISI/FNSETPM (no-ops).
 * The FN forms do not wait for pending exceptions; the others do.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { VM } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { EAX } from "../state.ts";
import { readF80, writeF80 } from "../fpu/f80.ts";
import type { FpuState } from "../fpu/state.ts";
import { enter, operand, readBytes, syncSummary, writeBytes } from "./x87_core.ts";

/** D9 /5: FLDCW m16. */
export function fldcw(cpu: Cpu, d: Insn): void {
  const fpu = enter(cpu, true);
  const [seg, off] = operand(cpu, d, true);
  fpu.cw = (cpu.read(seg, off, 2) & 0x1f7f) | 0x40;
  syncSummary(fpu);
}

/** D9 /7: FNSTCW m16. */
export function fnstcw(cpu: Cpu, d: Insn): void {
  enter(cpu, false);
  const [seg, off] = operand(cpu, d, true);
  cpu.write(seg, off, 2, cpu.fpu.cw);
}

/** DD /7: FNSTSW m16; DF E0: FNSTSW AX. */
export function fnstsw(cpu: Cpu, d: Insn): void {
  const fpu = enter(cpu, false);
  if (d.mod === 3) cpu.setReg(EAX, 2, fpu.status);
  else {
    const [seg, off] = operand(cpu, d, true);
    cpu.write(seg, off, 2, fpu.status);
  }
}

/** DB E2: FNCLEX (clears the exception flags, SF, ES and B). */
export function fnclex(cpu: Cpu): void {
  enter(cpu, false).sw &= 0x7f00;
}

/** DB E3: FNINIT. */
export function fninit(cpu: Cpu): void {
  enter(cpu, false).init();
}

/** DB E0, E1, E4: FNENI, FNDISI, FNSETPM (8087/287 only; no-ops since the 387). */
export function fnop287(cpu: Cpu): void {
  enter(cpu, false);
}

function realMode(cpu: Cpu): boolean {
  return !(cpu.cr0 & 1) || (cpu.eflRest & VM) !== 0;
}

/** The environment image (14 or 28 bytes) in the format of the operand size and mode. */
function envImage(fpu: FpuState, size32: boolean, real: boolean): Uint8Array {
  const w: number[] = [fpu.cw, fpu.status, fpu.tagWord];
  const fip = real ? (fpu.fcs << 4) + fpu.fip : fpu.fip;
  if (real) {
    w.push(fip & 0xffff, ((fip >>> 16) << 12) | (fpu.fop & 0x7ff), fpu.fdp & 0xffff, (fpu.fdp >>> 16) << 12);
  } else if (size32) {
    w.push(fpu.fip, fpu.savedFcs | (fpu.fop << 16), fpu.fdp, fpu.savedFds);
  } else {
    w.push(fpu.fip & 0xffff, fpu.savedFcs, fpu.fdp & 0xffff, fpu.savedFds);
  }
  const b = new Uint8Array(size32 ? 28 : 14), v = new DataView(b.buffer);
  for (let i = 0; i < 7; i++) {
    if (!size32) v.setUint16(2 * i, w[i] & 0xffff, true);
    else if (!real && (i === 3 || i === 4 || i === 5)) v.setUint32(4 * i, w[i] >>> 0, true);
    else if (real && (i === 4 || i === 6)) v.setUint32(4 * i, w[i] >>> 0, true);
    else v.setUint32(4 * i, (0xffff0000 | w[i]) >>> 0, true);
  }
  return b;
}

/** Loads an environment image. */
function loadEnvImage(fpu: FpuState, b: Uint8Array, size32: boolean, real: boolean): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const w = (i: number) => (size32 ? v.getUint32(4 * i, true) : v.getUint16(2 * i, true));
  fpu.cw = (w(0) & 0x1f7f) | 0x40;
  fpu.status = w(1) & 0xffff;
  fpu.tagWord = w(2) & 0xffff;
  if (real) {
    const fip = (w(3) & 0xffff) | (((w(4) >>> 12) & (size32 ? 0xffff : 0xf)) << 16);
    fpu.fcs = 0;
    fpu.fip = fip >>> 0;
    fpu.fop = w(4) & 0x7ff;
    fpu.fdp = ((w(5) & 0xffff) | (((w(6) >>> 12) & (size32 ? 0xffff : 0xf)) << 16)) >>> 0;
    fpu.fds = 0;
  } else {
    fpu.fip = size32 ? w(3) : w(3) & 0xffff;
    fpu.fcs = w(4) & 0xffff;
    fpu.fop = size32 ? (w(4) >>> 16) & 0x7ff : fpu.fop;
    fpu.fdp = size32 ? w(5) : w(5) & 0xffff;
    fpu.fds = w(6) & 0xffff;
  }
  syncSummary(fpu);
}

/** D9 /6: FNSTENV (then masks every exception); DD /6: FNSAVE (then FNINIT). */
export function fnstenv(cpu: Cpu, d: Insn): void {
  const fpu = enter(cpu, false);
  const [seg, off] = operand(cpu, d, true);
  const size32 = d.osize !== 2, env = envImage(fpu, size32, realMode(cpu));
  if (d.op === 0xd9) {
    writeBytes(cpu, d, seg, off, env);
    fpu.cw |= 0x3f;
    syncSummary(fpu);
    return;
  }
  const image = new Uint8Array(env.length + 80);
  image.set(env);
  for (let i = 0; i < 8; i++) writeF80(image, env.length + 10 * i, fpu.st(i));
  writeBytes(cpu, d, seg, off, image);
  fpu.init();
}

/** D9 /4: FLDENV; DD /4: FRSTOR. */
export function fldenv(cpu: Cpu, d: Insn): void {
  const fpu = enter(cpu, true);
  const [seg, off] = operand(cpu, d, true);
  const size32 = d.osize !== 2, n = size32 ? 28 : 14;
  const image = readBytes(cpu, d, seg, off, d.op === 0xd9 ? n : n + 80);
  loadEnvImage(fpu, image.subarray(0, n), size32, realMode(cpu));
  if (d.op === 0xdd) {
    const valid = fpu.valid;
    for (let i = 0; i < 8; i++) fpu.setSt(i, readF80(image, n + 10 * i));
    fpu.valid = valid;
  }
}
