/**
 * The vCPU ioctls the emulator implements, one line each (the vCPU half of
 * kvm_main.c and x86.c), and the small ones themselves. KVM_RUN is
 * vcpu.ts; the register state is vcpu_state.ts, the events
 * vcpu_events.ts, debugging vcpu_debug.ts, CPUID cpuid.ts and MSRs
 * msrs.ts. An ioctl the table lacks gets EINVAL, as kvm_arch_vcpu_ioctl's
 * default.
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import { KVM_MP_STATE_INIT_RECEIVED, KVM_MP_STATE_RUNNABLE } from "../abi/constants.ts";
import * as R from "../abi/requests.ts";
import { kvmFpu, kvmLapicState, kvmRegs, kvmSregs, kvmTranslation } from "../abi/structs.ts";
import { setCpuid, writeCpuid } from "./cpuid.ts";
import { ioctlTable, viewOf } from "./ioctl_table.ts";
import { msrs } from "./msrs.ts";
import type { EmuVcpu } from "./vcpu.ts";
import { getDebugRegs, setDebugRegs, setGuestDebug } from "./vcpu_debug.ts";
import { getEvents, setEvents } from "./vcpu_events.ts";
import * as S from "./vcpu_state.ts";
import { queueNmi } from "./x86/nmi.ts";
import { walkInfo } from "./x86/paging.ts";
import { tscAt, tscChanged } from "./x86/msr.ts";
import { nowMs } from "./irqchip/clock.ts";

/** KVM_MP_STATE_SIPI_RECEIVED. */
const MP_STATE_SIPI_RECEIVED = 4;

/** The vCPU ioctls the emulator implements. */
export const VCPU_IOCTLS = ioctlTable<EmuVcpu>([
  [R.KVM_RUN, (v) => v.kvmRun()],
  [R.KVM_GET_REGS, (v, arg) => withStruct(arg, kvmRegs.size, () => S.getRegs(v.cpu, viewOf(arg)))],
  [R.KVM_SET_REGS, (v, arg) => withStruct(arg, kvmRegs.size, () => S.setRegs(v.cpu, viewOf(arg)))],
  [R.KVM_GET_SREGS, (v, arg) => withStruct(arg, kvmSregs.size, () => S.getSregs(v.cpu, viewOf(arg)))],
  [R.KVM_SET_SREGS, setSregs],
  [R.KVM_GET_FPU, getFpu],
  [R.KVM_SET_FPU, setFpu],
  [R.KVM_GET_MSRS, (v, arg) => msrs(v.cpu, viewOf(arg), false)],
  [R.KVM_SET_MSRS, (v, arg) => msrs(v.cpu, viewOf(arg), true)],
  [R.KVM_TRANSLATE, translate],
  [R.KVM_INTERRUPT, interrupt],
  [R.KVM_NMI, nmi],
  [R.KVM_SET_GUEST_DEBUG, (v, arg) => setGuestDebug(v.cpu, viewOf(arg))],
  [R.KVM_SET_CPUID2, (v, arg) => setCpuid(v.cpu, viewOf(arg))],
  [R.KVM_GET_CPUID2, (v, arg) => writeCpuid(viewOf(arg), v.cpu.cpuidTable, false)],
  [R.KVM_GET_MP_STATE, getMpState],
  [R.KVM_SET_MP_STATE, setMpState],
  [R.KVM_GET_VCPU_EVENTS, (v, arg) => getEvents(v.cpu, viewOf(arg))],
  [R.KVM_SET_VCPU_EVENTS, (v, arg) => setEvents(v.cpu, viewOf(arg))],
  [R.KVM_GET_DEBUGREGS, (v, arg) => getDebugRegs(v.cpu, viewOf(arg))],
  [R.KVM_SET_DEBUGREGS, (v, arg) => setDebugRegs(v.cpu, viewOf(arg))],
  [R.KVM_GET_LAPIC, (v, arg) => lapic(v, arg, false)],
  [R.KVM_SET_LAPIC, (v, arg) => lapic(v, arg, true)],
  [R.KVM_GET_TSC_KHZ, (v) => v.cpu.tscKhz],
  [R.KVM_SET_TSC_KHZ, (v, _, khz) => setTscKhz(v, khz >>> 0)],
  [R.KVM_GET_XCRS, (v, arg) => S.getXcrs(v.cpu, viewOf(arg))],
  [R.KVM_SET_XCRS, (v, arg) => S.setXcrs(v.cpu, viewOf(arg))],
  [R.KVM_SET_SIGNAL_MASK, setSignalMask],
]);

/** A register ioctl that cannot fail once its struct of `size` bytes is there: `move` copies it. */
function withStruct(arg: Uint8Array, size: number, move: () => void): number {
  if (arg.byteLength < size) return -Errno.EFAULT;
  move();
  return 0;
}

/** KVM_SET_SREGS: EINVAL for a value the CPU refuses. */
function setSregs(v: EmuVcpu, arg: Uint8Array): number {
  if (arg.byteLength < kvmSregs.size) return -Errno.EFAULT;
  return S.setSregs(v.cpu, viewOf(arg)) ? 0 : -Errno.EINVAL;
}

/** KVM_GET_FPU: the x87 and SSE state over the kvm_fpu bytes last set. */
function getFpu(v: EmuVcpu, arg: Uint8Array): number {
  if (arg.byteLength < kvmFpu.size) return -Errno.EFAULT;
  const view = viewOf(arg);
  arg.set(v.fpu);
  S.getFpuSse(v.cpu, view);
  S.getFpuX87(v.cpu, view);
  return 0;
}

/** KVM_SET_FPU. */
function setFpu(v: EmuVcpu, arg: Uint8Array): number {
  if (arg.byteLength < kvmFpu.size) return -Errno.EFAULT;
  const view = viewOf(arg);
  v.fpu.set(arg.subarray(0, kvmFpu.size));
  S.setFpuSse(v.cpu, view);
  S.setFpuX87(v.cpu, view);
  return 0;
}

/** KVM_NMI: queues an NMI. */
function nmi(v: EmuVcpu): number {
  queueNmi(v.cpu);
  return 0;
}

/** KVM_INTERRUPT: queues an external interrupt (ENXIO with an in-kernel irqchip, which delivers its own). */
function interrupt(v: EmuVcpu, arg: Uint8Array): number {
  if (arg.byteLength < 4) return -Errno.EFAULT;
  const irq = viewOf(arg).getUint32(0, true);
  if (irq >= 256) return -Errno.EINVAL;
  if (v.vm.irqchip) return -Errno.ENXIO;
  v.cpu.pendingIrq = irq;
  return 0;
}

/** KVM_GET_MP_STATE: taking the INIT and SIPI that arrived first. */
function getMpState(v: EmuVcpu, arg: Uint8Array): number {
  if (arg.byteLength < 4) return -Errno.EFAULT;
  v.irq?.acceptEvents();
  viewOf(arg).setUint32(0, v.mpState, true);
  return 0;
}

/** KVM_SET_MP_STATE: without an irqchip only RUNNABLE. */
function setMpState(v: EmuVcpu, arg: Uint8Array): number {
  if (arg.byteLength < 4) return -Errno.EFAULT;
  const s = viewOf(arg).getUint32(0, true);
  if (s > 4 || (!v.vm.irqchip && s !== KVM_MP_STATE_RUNNABLE)) return -Errno.EINVAL;
  if (s === MP_STATE_SIPI_RECEIVED) {
    // As the kernel: INIT received, with a SIPI (vector 0, the kernel's stale one) pending.
    v.mpState = KVM_MP_STATE_INIT_RECEIVED;
    v.irq?.queueSipi(0);
  } else v.mpState = s;
  return 0;
}

/** KVM_GET_LAPIC or (with `set`) KVM_SET_LAPIC: EINVAL without an in-kernel irqchip. */
function lapic(v: EmuVcpu, arg: Uint8Array, set: boolean): number {
  if (v.irq === null) return -Errno.EINVAL;
  if (arg.byteLength < kvmLapicState.size) return -Errno.EFAULT;
  if (set) v.irq.lapic.load(arg);
  else v.irq.lapic.save(arg);
  return 0;
}

/** KVM_SET_TSC_KHZ: the guest TSC's rate (0: the default), keeping its current value (at guest time, as readTsc). */
function setTscKhz(v: EmuVcpu, khz: number): number {
  const cpu = v.cpu, k = khz || 1_000_000;
  const now = nowMs(), tsc = tscAt(cpu, now);
  cpu.tscKhz = k;
  cpu.tscOffset = tsc - BigInt(Math.floor(now * k));
  tscChanged(cpu); // kvmclock's scale follows the rate (pvclock.ts)
  return 0;
}

/** KVM_SET_SIGNAL_MASK: only the 8-byte sigset the facade passes is accepted; the emulator has no signals. */
function setSignalMask(_v: EmuVcpu, arg: Uint8Array): number {
  if (arg.byteLength < 4) return -Errno.EFAULT;
  return viewOf(arg).getUint32(0, true) === 8 ? 0 : -Errno.EINVAL;
}

/** KVM_TRANSLATE: as the kernel reports it, writeable is always 1 and usermode 0. */
function translate(v: EmuVcpu, arg: Uint8Array): number {
  if (arg.byteLength < kvmTranslation.size) return -Errno.EFAULT;
  const cpu = v.cpu, t = kvmTranslation.fromBytes(arg);
  // In long mode the walk uses bits 47:0 (the kernel's walker does not check canonical form).
  const lin = Number(t.linearAddress & (cpu.efer & 0x400 ? 0xffffffffffffn : 0xffffffffn));
  let phys = -1;
  if (!(cpu.cr0 & 0x80000000)) phys = lin;
  else {
    const r = walkInfo(cpu, lin, false, false, false, false);
    if (typeof r !== "number") phys = r.phys;
  }
  const ok = phys >= 0;
  arg.set(kvmTranslation.toBytes({
    linearAddress: t.linearAddress,
    physicalAddress: ok ? BigInt(phys) : 0xffffffffffffffffn,
    valid: ok ? 1 : 0,
    writeable: 1,
    usermode: 0,
  }));
  return 0;
}
