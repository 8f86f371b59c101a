/**
 * KVM_GET_VCPU_EVENTS and KVM_SET_VCPU_EVENTS: a vCPU's pending or injected
 * exception, interrupt and NMI, and its interrupt shadow, as
 * kvm_vcpu_events.
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import { kvmVcpuEvents } from "../abi/structs.ts";
import type { Cpu } from "./x86/cpu.ts";
import { limitNmis } from "./x86/nmi.ts";

/** KVM_VCPUEVENT_VALID_NMI_PENDING and KVM_VCPUEVENT_VALID_SHADOW. */
const VALID_NMI_PENDING = 0x1, VALID_SHADOW = 0x4;

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
