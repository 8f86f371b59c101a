/**
 * The smaller vCPU ioctls: KVM_GET/SET_MSRS, KVM_SET_GUEST_DEBUG,
 * KVM_GET/SET_VCPU_EVENTS, KVM_GET/SET_DEBUGREGS, KVM_GET/SET_XCRS,
 * CPUID table output, and the FPU's reset image.
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import { type CpuidEntry, kvmCpuidEntry2, kvmDebugregs, kvmFpu, kvmVcpuEvents } from "../abi/structs.ts";
import type { Cpu } from "./x86/cpu.ts";
import { getMsr, setMsr } from "./x86/msr.ts";
import { armWatch } from "./x86/debug.ts";
import { limitNmis } from "./x86/nmi.ts";
import {
  KVM_EXIT_DEBUG,
  KVM_GUESTDBG_INJECT_BP,
  KVM_GUESTDBG_INJECT_DB,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_HW_BP,
} from "../abi/constants.ts";
import type { CoreExit } from "./x86/exit.ts";
import { getU64, setU64 } from "./run_page.ts";

/** The most entries KVM_GET_MSRS/KVM_SET_MSRS take at once (MAX_IO_MSRS). */
export const MAX_IO_MSRS = 256;
/** KVM_GUESTDBG_VALID_MASK on x86. */
const GUESTDBG_VALID = 0x001f0003;
/** KVM_VCPUEVENT_VALID_NMI_PENDING and KVM_VCPUEVENT_VALID_SHADOW. */
const VALID_NMI_PENDING = 0x1, VALID_SHADOW = 0x4;
/** DR6.BS: a single-step debug exit. */
const DR6_BS = 0x4000;

/** kvm_fpu after reset: FCW 0x37f, MXCSR 0x1f80. */
export function defaultFpu(): Uint8Array {
  const b = new Uint8Array(kvmFpu.size);
  const v = new DataView(b.buffer);
  v.setUint16(kvmFpu.offsetOf("fcw"), 0x37f, true);
  v.setUint32(kvmFpu.offsetOf("mxcsr"), 0x1f80, true);
  return b;
}

/** KVM_GET_MSRS / KVM_SET_MSRS: the number of entries processed, stopping at the first refused. */
export function msrs(cpu: Cpu, view: DataView, write: boolean): number {
  if (view.byteLength < 8) return -Errno.EFAULT;
  const n = view.getUint32(0, true);
  if (n >= MAX_IO_MSRS) return -Errno.E2BIG;
  if (view.byteLength < 8 + 16 * n) return -Errno.EFAULT;
  for (let i = 0; i < n; i++) {
    const at = 8 + 16 * i, index = view.getUint32(at, true);
    if (write) {
      if (!setMsr(cpu, index, view.getBigUint64(at + 8, true))) return i;
    } else {
      const v = getMsr(cpu, index);
      if (v === undefined) return i;
      view.setBigUint64(at + 8, v, true);
    }
  }
  if (write) cpu.mem.flush();
  return n;
}

/** Writes a CPUID table into a kvm_cpuid2 (E2BIG when nent is too small; nent is written back on success). */
export function writeCpuid(view: DataView, table: readonly CpuidEntry[], clamp: boolean): number {
  if (view.byteLength < 8) return -Errno.EFAULT;
  let nent = view.getUint32(0, true);
  if (clamp) {
    if (nent < 1) return -Errno.E2BIG;
    nent = Math.min(nent, 256);
  }
  if (nent < table.length) return -Errno.E2BIG;
  if (view.byteLength < 8 + table.length * kvmCpuidEntry2.size) return -Errno.EFAULT;
  table.forEach((e, i) => kvmCpuidEntry2.encode(e, view, 8 + i * kvmCpuidEntry2.size));
  view.setUint32(0, table.length, true);
  return 0;
}

/** KVM_SET_GUEST_DEBUG. */
export function setGuestDebug(cpu: Cpu, view: DataView): number {
  if (view.byteLength < 72) return -Errno.EFAULT;
  const control = view.getUint32(0, true);
  if (control & ~GUESTDBG_VALID) return -Errno.EINVAL;
  if (control & (KVM_GUESTDBG_INJECT_DB | KVM_GUESTDBG_INJECT_BP)) {
    if (cpu.pendingException >= 0) return -Errno.EBUSY;
    cpu.pendingException = control & KVM_GUESTDBG_INJECT_DB ? 1 : 3;
  }
  cpu.debugControl = control & 1 ? control : 0;
  for (let i = 0; i < 8; i++) cpu.debugRegs[i] = getU64(view, 8 + 8 * i);
  for (let i = 0; i < 4; i++) {
    const lo = view.getUint32(8 + 8 * i, true), hi = view.getUint32(12 + 8 * i, true), top = hi >>> 15;
    cpu.debugLinear[i] = top === 0 || top === 0x1ffff ? (hi & 0xffff) * 2 ** 32 + lo : -1;
  }
  cpu.skipBreakpointAt = -1;
  armWatch(cpu);
  dropStaleDebugExits(cpu);
  return 0;
}

/**
 * After KVM_SET_GUEST_DEBUG: drops the debug exits queued behind one already
 * reported (a single step or a data breakpoint after an OUT or an MMIO
 * write) that the new control no longer asks for. The kernel makes those
 * only when it completes the instruction at the next KVM_RUN, by the
 * single-step and breakpoint settings in force then.
 */
function dropStaleDebugExits(cpu: Cpu): void {
  const control = cpu.debugControl;
  const wanted = (e: CoreExit) =>
    e.reason !== KVM_EXIT_DEBUG ||
    (control & (e.dr6 & DR6_BS ? KVM_GUESTDBG_SINGLESTEP : KVM_GUESTDBG_USE_HW_BP)) !== 0;
  const kept = cpu.exits.filter(wanted);
  if (kept.length !== cpu.exits.length) cpu.exits.splice(0, cpu.exits.length, ...kept);
}

/** KVM_GET_VCPU_EVENTS. */
export function getEvents(cpu: Cpu, view: DataView): number {
  if (view.byteLength < kvmVcpuEvents.size) return -Errno.EFAULT;
  new Uint8Array(view.buffer, view.byteOffset, kvmVcpuEvents.size).fill(0);
  const o = (p: string) => kvmVcpuEvents.offsetOf(p);
  if (cpu.pendingIrq >= 0) {
    view.setUint8(o("interrupt.injected"), 1);
    view.setUint8(o("interrupt.nr"), cpu.pendingIrq);
  }
  if (cpu.pendingException >= 0) {
    // Without KVM_CAP_EXCEPTION_PAYLOAD the kernel reports a pending exception as injected.
    view.setUint8(o("exception.injected"), 1);
    view.setUint8(o("exception.nr"), cpu.pendingException);
    view.setUint8(o("exception.has_error_code"), cpu.pendingErrorCode >= 0 ? 1 : 0);
    view.setUint32(o("exception.error_code"), Math.max(cpu.pendingErrorCode, 0), true);
  }
  view.setUint8(o("interrupt.shadow"), cpu.shadow ? 1 : 0);
  view.setUint8(o("nmi.injected"), cpu.nmiInjected ? 1 : 0);
  view.setUint8(o("nmi.pending"), cpu.nmiPending);
  view.setUint8(o("nmi.masked"), cpu.nmiMasked ? 1 : 0);
  view.setUint32(o("flags"), VALID_NMI_PENDING | VALID_SHADOW, true);
  return 0;
}

/** KVM_SET_VCPU_EVENTS. */
export function setEvents(cpu: Cpu, view: DataView): number {
  if (view.byteLength < kvmVcpuEvents.size) return -Errno.EFAULT;
  const e = kvmVcpuEvents.decode(view);
  if (e.flags & ~0x3f) return -Errno.EINVAL;
  const x = e.exception;
  if ((x.injected || x.pending) && (x.nr > 31 || x.nr === 2)) return -Errno.EINVAL;
  if (x.injected || x.pending) {
    cpu.pendingException = x.nr;
    cpu.pendingErrorCode = x.hasErrorCode ? x.errorCode : -1;
  } else cpu.pendingException = cpu.pendingErrorCode = -1;
  cpu.pendingInjected = cpu.pendingException >= 0;
  if (e.interrupt.injected) cpu.pendingIrq = e.interrupt.nr;
  if (e.flags & VALID_SHADOW) cpu.shadow = e.interrupt.shadow ? 1 : 0;
  // Injected and masked always; the pending count only with KVM_VCPUEVENT_VALID_NMI_PENDING, within processNmi's limit.
  cpu.nmiInjected = e.nmi.injected !== 0;
  if (e.flags & VALID_NMI_PENDING) cpu.nmiPending = e.nmi.pending;
  cpu.nmiMasked = e.nmi.masked !== 0;
  limitNmis(cpu);
  return 0;
}

/** KVM_GET_DEBUGREGS. */
export function getDebugRegs(cpu: Cpu, view: DataView): number {
  if (view.byteLength < kvmDebugregs.size) return -Errno.EFAULT;
  new Uint8Array(view.buffer, view.byteOffset, kvmDebugregs.size).fill(0);
  for (let i = 0; i < 4; i++) {
    view.setUint32(8 * i, cpu.dr[i], true);
    view.setUint32(8 * i + 4, cpu.drHigh[i], true);
  }
  setU64(view, kvmDebugregs.offsetOf("dr6"), cpu.dr6);
  setU64(view, kvmDebugregs.offsetOf("dr7"), cpu.dr7);
  return 0;
}

/** KVM_SET_DEBUGREGS: flags must be 0; DR6/DR7 must fit in 32 bits; DR0-DR3 keep all 64 bits. */
export function setDebugRegs(cpu: Cpu, view: DataView): number {
  if (view.byteLength < kvmDebugregs.size) return -Errno.EFAULT;
  const d = kvmDebugregs.decode(view);
  if (d.flags !== 0n || d.dr6 >> 32n || d.dr7 >> 32n) return -Errno.EINVAL;
  for (let i = 0; i < 4; i++) {
    cpu.dr[i] = Number(d.db[i] & 0xffffffffn);
    cpu.drHigh[i] = Number(d.db[i] >> 32n);
  }
  cpu.dr6 = (Number(d.dr6) | 0xffff0ff0) >>> 0;
  cpu.dr7 = (Number(d.dr7) | 0x400) >>> 0;
  armWatch(cpu);
  return 0;
}

/** KVM_GET_XCRS: XCR0 only. */
export function getXcrs(cpu: Cpu, view: DataView): number {
  if (view.byteLength < 392) return -Errno.EFAULT;
  new Uint8Array(view.buffer, view.byteOffset, 392).fill(0);
  view.setUint32(0, 1, true);
  view.setUint32(8, 0, true);
  setU64(view, 16, cpu.xcr0);
  return 0;
}

/** KVM_SET_XCRS: XCR0 must keep x87 and ask for nothing the CPU lacks (x87 and SSE are all it has). */
export function setXcrs(cpu: Cpu, view: DataView): number {
  if (view.byteLength < 392) return -Errno.EFAULT;
  const n = view.getUint32(0, true);
  if (n > 16) return -Errno.E2BIG;
  for (let i = 0; i < n; i++) {
    const idx = view.getUint32(8 + 16 * i, true), v = getU64(view, 16 + 16 * i);
    if (idx !== 0 || (v !== 1 && v !== 3)) return -Errno.EINVAL;
    cpu.xcr0 = v;
  }
  return 0;
}
