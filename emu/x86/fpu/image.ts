/**
 * The x87 state in the images other code moves as bytes: the x87 part of
 * the FXSAVE area (bytes 0-23 and the ST(i) slots at 32 + 16i, 32-bit
 * format; MXCSR and XMM belong to the SSE state) and the x87 members of
 * KVM's `struct kvm_fpu` (fpr in ST order, fcw, fsw with TOP, the
 * abridged tag ftwx, last_opcode, last_ip, last_dp).
 *
 * @module
 */
import { readF80, writeF80 } from "./f80.ts";
import { type FpuState, SW_ES } from "./state.ts";

/** Writes the x87 part of a 512-byte FXSAVE image (32-bit format: FCS and FDS, zeros where deprecated). */
export function fxsaveX87(fpu: FpuState, b: Uint8Array): void {
  const v = new DataView(b.buffer, b.byteOffset, 512);
  v.setUint16(0, fpu.cw, true);
  v.setUint16(2, fpu.status, true);
  v.setUint8(4, fpu.valid);
  v.setUint8(5, 0);
  v.setUint16(6, fpu.fop, true);
  v.setUint32(8, fpu.fip, true);
  v.setUint32(12, fpu.savedFcs, true);
  v.setUint32(16, fpu.fdp, true);
  v.setUint32(20, fpu.savedFds, true);
  for (let i = 0; i < 8; i++) {
    b.fill(0, 32 + 16 * i, 48 + 16 * i);
    writeF80(b, 32 + 16 * i, fpu.st(i));
  }
}

/** Loads the x87 part of a 512-byte FXSAVE image. */
export function fxrstorX87(fpu: FpuState, b: Uint8Array): void {
  const v = new DataView(b.buffer, b.byteOffset, 512);
  fpu.cw = (v.getUint16(0, true) & 0x1f7f) | 0x40;
  fpu.status = v.getUint16(2, true);
  fpu.fop = v.getUint16(6, true) & 0x7ff;
  fpu.fip = v.getUint32(8, true);
  fpu.fcs = v.getUint16(12, true);
  fpu.fdp = v.getUint32(16, true);
  fpu.fds = v.getUint16(20, true);
  for (let i = 0; i < 8; i++) fpu.setSt(i, readF80(b, 32 + 16 * i));
  fpu.valid = v.getUint8(4);
}

/** Byte offsets of the x87 members of `struct kvm_fpu`. */
export interface KvmFpuLayout {
  fpr: number;
  fcw: number;
  fsw: number;
  ftwx: number;
  lastOpcode: number;
  lastIp: number;
  lastDp: number;
}

/** KVM_GET_FPU, x87 part: fpr[i] is ST(i) (10 bytes, then 6 zero bytes). */
export function getKvmFpuX87(fpu: FpuState, out: DataView, at: KvmFpuLayout): void {
  const b = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < 8; i++) {
    b.fill(0, at.fpr + 16 * i, at.fpr + 16 * i + 16);
    writeF80(b, at.fpr + 16 * i, fpu.st(i));
  }
  out.setUint16(at.fcw, fpu.cw, true);
  out.setUint16(at.fsw, fpu.status, true);
  out.setUint8(at.ftwx, fpu.valid);
  out.setUint16(at.lastOpcode, fpu.fop, true);
  setU64(out, at.lastIp, fpu.fip);
  setU64(out, at.lastDp, fpu.fdp);
}

/** KVM_SET_FPU, x87 part. */
export function setKvmFpuX87(fpu: FpuState, inp: DataView, at: KvmFpuLayout): void {
  const b = new Uint8Array(inp.buffer, inp.byteOffset, inp.byteLength);
  fpu.cw = inp.getUint16(at.fcw, true);
  fpu.status = inp.getUint16(at.fsw, true);
  for (let i = 0; i < 8; i++) fpu.setSt(i, readF80(b, at.fpr + 16 * i));
  fpu.valid = inp.getUint8(at.ftwx);
  fpu.fop = inp.getUint16(at.lastOpcode, true) & 0x7ff;
  fpu.fip = getU64(inp, at.lastIp);
  fpu.fdp = getU64(inp, at.lastDp);
}

/** Writes a non-negative number below 2^53 as a little-endian u64. */
function setU64(v: DataView, at: number, n: number): void {
  v.setUint32(at, n >>> 0, true);
  v.setUint32(at + 4, Math.floor(n / 2 ** 32) >>> 0, true);
}

/** Reads a little-endian u64 as a number (exact below 2^53). */
function getU64(v: DataView, at: number): number {
  return v.getUint32(at, true) + v.getUint32(at + 4, true) * 2 ** 32;
}

/** Writes FIP and FDP as 64-bit offsets (the FXSAVE64 format: no FCS and FDS). */
export function fxsave64Pointers(fpu: FpuState, b: Uint8Array): void {
  const v = new DataView(b.buffer, b.byteOffset, 512);
  setU64(v, 8, fpu.fip);
  setU64(v, 16, fpu.fdp);
}

/** Reads FIP and FDP as 64-bit offsets (FXRSTOR64). */
export function fxrstor64Pointers(fpu: FpuState, b: Uint8Array): void {
  const v = new DataView(b.buffer, b.byteOffset, 512);
  fpu.fip = getU64(v, 8);
  fpu.fdp = getU64(v, 16);
  fpu.fcs = fpu.fds = 0;
}

/**
 * What an AMD processor keeps of the last-instruction state through the
 * XSAVE/XRSTOR that KVM does around every KVM_RUN: FOP, FIP, FDP, FCS and
 * FDS are saved only while an unmasked exception is pending (ES), zeros
 * otherwise. Applied by the emulator's vCPU after each run with the AMD
 * personality, so that KVM_GET_FPU and the guest see what they see on KVM.
 */
export function amdSaveRestore(fpu: FpuState): void {
  if (fpu.sw & SW_ES) return;
  fpu.fop = 0;
  fpu.fip = 0;
  fpu.fdp = 0;
  fpu.fcs = 0;
  fpu.fds = 0;
}
