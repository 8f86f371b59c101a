/**
 * kvmclock, KVM's paravirtual clock (Documentation/virt/kvm/x86/msr.rst),
 * as arch/x86/kvm/x86.c keeps it: the VM's clock in nanoseconds
 * (kvmclock_offset from guest time, irqchip/clock.ts; KVM_GET_CLOCK,
 * KVM_SET_CLOCK), each vCPU's `pvclock_vcpu_time_info` written into guest
 * memory where MSR_KVM_SYSTEM_TIME(_NEW) says (kvm_guest_time_update), and
 * the `pvclock_wall_clock` written where MSR_KVM_WALL_CLOCK(_NEW) says
 * (kvm_write_wall_clock).
 *
 * The emulator's TSC is guest time (the host's monotonic time less what
 * was stolen from the VM, irqchip/clock.ts) times the vCPU's rate
 * (x86/msr.ts readTsc), so one reference instant serves every vCPU, as the
 * kernel's master clock: each vCPU's structure holds its own TSC and the
 * kvmclock at that instant, and the guest's reading, system_time plus the
 * scaled TSC delta, is the VM's clock on every vCPU. The structure is
 * rewritten only when that changes: on enable, KVM_SET_CLOCK, a TSC write
 * and KVM_SET_TSC_KHZ. An INIT turns the vCPU's clock off (kvm_vcpu_reset
 * calls kvmclock_reset on INIT as on RESET: MSR_KVM_SYSTEM_TIME reads 0 and
 * the old structure is no longer written); the wall clock MSR is the VM's
 * and stays.
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import {
  KVM_CLOCK_HOST_TSC,
  KVM_CLOCK_REALTIME,
  KVM_CLOCK_TSC_STABLE,
  MSR_KVM_SYSTEM_TIME_NEW,
} from "../abi/constants.ts";
import { kvmClockData } from "../abi/structs.ts";
import type { Cpu } from "./x86/cpu.ts";
import { attachMsrDevice, type MsrDevice, tscAt } from "./x86/msr.ts";
import { nowMs } from "./irqchip/clock.ts";

/** MSR_KVM_WALL_CLOCK_NEW (KVM_FEATURE_CLOCKSOURCE2): where the guest wants the pvclock_wall_clock. */
export const MSR_KVM_WALL_CLOCK_NEW = 0x4b564d00;
/** MSR_KVM_WALL_CLOCK, the same at the old index (KVM_FEATURE_CLOCKSOURCE). */
export const MSR_KVM_WALL_CLOCK = 0x11;
/** MSR_KVM_SYSTEM_TIME, MSR_KVM_SYSTEM_TIME_NEW's old index (KVM_FEATURE_CLOCKSOURCE). */
export const MSR_KVM_SYSTEM_TIME = 0x12;
/** The kvmclock MSRs in the order of the kernel's emulated_msrs (KVM_GET_MSR_INDEX_LIST). */
export const KVMCLOCK_MSRS: readonly number[] = [
  MSR_KVM_SYSTEM_TIME,
  MSR_KVM_WALL_CLOCK,
  MSR_KVM_SYSTEM_TIME_NEW,
  MSR_KVM_WALL_CLOCK_NEW,
];
/** pvclock_vcpu_time_info.flags: the TSCs of all vCPUs agree, so the guest needs no cross-vCPU monotonicity fix. */
export const PVCLOCK_TSC_STABLE_BIT = 1;
/** The flags KVM_SET_CLOCK accepts (KVM_CLOCK_VALID_FLAGS); of them it acts on KVM_CLOCK_REALTIME only. */
const KVM_CLOCK_VALID_FLAGS = KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC;
/** The flags KVM_GET_CLOCK may report (the emulator cannot read the host's TSC): KVM_CAP_ADJUST_CLOCK's answer. */
export const EMU_CLOCK_FLAGS = KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME;

/** sizeof(struct pvclock_vcpu_time_info) and sizeof(struct pvclock_wall_clock). */
const TIME_INFO_SIZE = 32, WALL_CLOCK_SIZE = 12;
const NS_PER_S = 1_000_000_000n;

/** ns of ms, whole. */
function nsOf(ms: number): bigint {
  return BigInt(Math.floor(ms * 1e6));
}

/** CLOCK_REALTIME in ns (to the microsecond or so of a double's precision). */
function realtimeNs(): bigint {
  return nsOf(performance.timeOrigin + performance.now());
}

/**
 * tsc_to_system_mul and tsc_shift for a TSC of `khz` (kvm_get_time_scale): ns = ((delta << shift) * mul) >> 32
 * (a right shift for a negative shift), mul in [2^31, 2^32).
 */
export function timeScale(khz: number): { mul: number; shift: number } {
  let num = 1_000_000n, den = BigInt(khz), shift = 0; // ns per tick = num / den
  while (num >= den) den <<= 1n, shift++;
  while (2n * num < den) num <<= 1n, shift--;
  return { mul: Number((num << 32n) / den), shift };
}

/** A guest-physical window of `len` bytes in one page of RAM, or null (the kernel's gfn_to_pfn_cache refuses it). */
function guestView(cpu: Cpu, gpa: number, len: number): DataView | null {
  if ((gpa & 0xfff) + len > 0x1000) return null;
  const bytes = cpu.mem.physView(gpa, len);
  if (bytes === null) return null;
  cpu.mem.markDirty(gpa);
  return new DataView(bytes.buffer, bytes.byteOffset, len);
}

/** A version for a structure being rewritten: odd while it changes ((v + 1) | 1), then one more, as the kernel. */
function oddVersion(view: DataView): number {
  return ((view.getUint32(0, true) + 1) | 1) >>> 0;
}

/** The VM's kvmclock (kvm->arch: kvmclock_offset, wall_clock, boot_vcpu_runs_old_kvmclock, the master clock). */
export class KvmClock {
  /** kvmclock_offset: the VM's clock is guest ns + this; 0 when the VM was made. */
  offsetNs: bigint;
  /** The reference instant (guest ms) every vCPU's pvclock structure describes. */
  masterMs: number;
  /** MSR_KVM_WALL_CLOCK(_NEW)'s last value, shared by the vCPUs. */
  wallClock = 0n;
  /** vCPU 0 enabled kvmclock through MSR_KVM_SYSTEM_TIME: the kernel then drops its master clock. */
  bootVcpuRunsOld = false;
  readonly #vcpus = new Set<PvClock>();

  constructor() {
    this.masterMs = nowMs();
    this.offsetNs = -nsOf(this.masterMs);
  }

  /** Gives `cpu` (vCPU `id`) the kvmclock MSRs. */
  attach(cpu: Cpu, id: number): void {
    const pv = new PvClock(this, cpu, id);
    this.#vcpus.add(pv);
    attachMsrDevice(cpu, pv);
    this.update();
  }

  /** The VM's clock now, in ns. */
  now(): bigint {
    return nsOf(nowMs()) + this.offsetNs;
  }

  /** The master clock holds (use_master_clock): vCPU 0 uses the new MSR and every vCPU's TSC runs alike. */
  tscStable(): boolean {
    if (this.bootVcpuRunsOld) return false;
    let first: Cpu | undefined;
    for (const { cpu } of this.#vcpus) {
      first ??= cpu;
      if (cpu.tscKhz !== first.tscKhz || cpu.tscOffset !== first.tscOffset) return false;
    }
    return true;
  }

  /** Rewrites every enabled vCPU's structure (KVM_REQ_CLOCK_UPDATE on all of them). */
  update(): void {
    const stable = this.tscStable();
    for (const pv of this.#vcpus) pv.update(stable);
  }

  /** KVM_GET_CLOCK: the clock, with CLOCK_REALTIME at the same instant (no host TSC to report). */
  get(view: DataView): number {
    if (view.byteLength < kvmClockData.size) return -Errno.EFAULT;
    const flags = KVM_CLOCK_REALTIME | (this.tscStable() ? KVM_CLOCK_TSC_STABLE : 0);
    new Uint8Array(view.buffer, view.byteOffset, kvmClockData.size).fill(0);
    kvmClockData.encode({ clock: this.now(), flags, realtime: realtimeNs(), hostTsc: 0n }, view, 0);
    return 0;
  }

  /** KVM_SET_CLOCK: sets the clock (advanced by the realtime elapsed since `realtime` with KVM_CLOCK_REALTIME). */
  set(view: DataView): number {
    if (view.byteLength < kvmClockData.size) return -Errno.EFAULT;
    const d = kvmClockData.decode(view, 0);
    if (d.flags & ~KVM_CLOCK_VALID_FLAGS) return -Errno.EINVAL;
    let clock = d.clock;
    if (d.flags & KVM_CLOCK_REALTIME) {
      const real = realtimeNs();
      if (real > d.realtime) clock += real - d.realtime;
    }
    this.masterMs = nowMs();
    this.offsetNs = clock - nsOf(this.masterMs);
    this.update();
    return 0;
  }

  /** kvm_write_wall_clock: the host's realtime at the VM clock's zero, as seconds and ns, at `gpa`. */
  writeWallClock(cpu: Cpu, gpa: number): void {
    const view = guestView(cpu, gpa, WALL_CLOCK_SIZE);
    if (view === null) return;
    const version = oddVersion(view);
    const boot = BigInt.asUintN(64, realtimeNs() - this.now());
    view.setUint32(0, version, true);
    view.setUint32(4, Number(BigInt.asUintN(32, boot / NS_PER_S)), true);
    view.setUint32(8, Number(boot % NS_PER_S), true);
    view.setUint32(0, version + 1, true);
  }
}

/** One vCPU's kvmclock: its MSRs, and its pvclock_vcpu_time_info. */
class PvClock implements MsrDevice {
  /** MSR_KVM_SYSTEM_TIME(_NEW): the structure's address, bit 0 enables (vcpu->arch.time). */
  systemTime = 0n;
  readonly clock: KvmClock;
  readonly cpu: Cpu;
  readonly id: number;

  constructor(clock: KvmClock, cpu: Cpu, id: number) {
    this.clock = clock;
    this.cpu = cpu;
    this.id = id;
  }

  read(index: number): bigint | null {
    if (index === MSR_KVM_SYSTEM_TIME_NEW || index === MSR_KVM_SYSTEM_TIME) return this.systemTime;
    if (index === MSR_KVM_WALL_CLOCK_NEW || index === MSR_KVM_WALL_CLOCK) return this.clock.wallClock;
    return null;
  }

  write(index: number, value: bigint): boolean | null {
    if (index === MSR_KVM_WALL_CLOCK_NEW || index === MSR_KVM_WALL_CLOCK) {
      this.clock.wallClock = value;
      this.clock.writeWallClock(this.cpu, Number(value));
      return true;
    }
    if (index !== MSR_KVM_SYSTEM_TIME_NEW && index !== MSR_KVM_SYSTEM_TIME) return null;
    if (this.id === 0) this.clock.bootVcpuRunsOld = index === MSR_KVM_SYSTEM_TIME;
    this.systemTime = value;
    this.clock.update();
    return true;
  }

  /** kvmclock_reset, from kvm_vcpu_reset on INIT: the clock is off until the guest enables it again. */
  reset(): void {
    this.systemTime = 0n;
  }

  /** The TSC's value or rate changed: every structure may change (a TSC_STABLE flag too). */
  tscChanged(): void {
    this.clock.update();
  }

  /** kvm_guest_time_update: the structure at the enabled address, from the VM's reference instant. */
  update(stable: boolean): void {
    if (!(this.systemTime & 1n)) return;
    const view = guestView(this.cpu, Number(this.systemTime & ~1n), TIME_INFO_SIZE);
    if (view === null) return;
    const { masterMs, offsetNs } = this.clock, { mul, shift } = timeScale(this.cpu.tscKhz);
    const version = oddVersion(view);
    view.setUint32(0, version, true);
    view.setBigUint64(8, BigInt.asUintN(64, tscAt(this.cpu, masterMs)), true);
    view.setBigUint64(16, BigInt.asUintN(64, nsOf(masterMs) + offsetNs), true);
    view.setUint32(24, mul, true);
    view.setInt8(28, shift);
    view.setUint8(29, stable ? PVCLOCK_TSC_STABLE_BIT : 0);
    view.setUint32(0, version + 1, true);
  }
}
