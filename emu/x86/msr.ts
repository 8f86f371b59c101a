/**
 * Model-specific registers shared by RDMSR/WRMSR and KVM_GET_MSRS/
 * KVM_SET_MSRS: the common set (TSC, APIC base, SYSENTER, PAT, MISC_ENABLE,
 * EFER and the SYSCALL/segment-base MSRs) plus the vendor's extras.
 *
 * @module
 */
import { FS, GS, type State } from "./state.ts";
import type { Vendor } from "../vendor.ts";
import { EFER_LMA, EFER_LME, EFER_NXE, EFER_SCE } from "./control_bits.ts";
import { nowMs } from "../irqchip/clock.ts";

/** EFER bits the core accepts: SCE, LME and NXE (LMA follows CR0.PG and LME). */
const EFER_WRITABLE = BigInt(EFER_SCE | EFER_LME | EFER_NXE);
/** Reset values of MSRs kept in the map. */
const RESET = new Map<number, bigint>([
  [0x174, 0n],
  [0x175, 0n],
  [0x176, 0n],
  [0x1a0, 0x1800n], // MISC_ENABLE: PEBS and BTS unavailable, as KVM resets it
  [0x277, 0x0007040600070406n], // PAT
  [0xc0000081, 0n],
  [0xc0000082, 0n],
  [0xc0000083, 0n],
  [0xc0000084, 0n],
  [0xc0000100, 0n],
  [0xc0000101, 0n],
  [0xc0000102, 0n],
  [0xc0000103, 0n], // TSC_AUX
  [0x8b, 0n], // IA32_UCODE_REV: no microcode update was loaded
]);

/**
 * Writes to the MSR maps so far, of every vCPU. setMsr and resetMsrs make every write to a map but SWAPGS's (to
 * KERNEL_GS_BASE, which nothing derives from) and count it, so that a number derived from a map's value holds while
 * this count does: SYSCALL and friends read STAR, LSTAR and SFMASK that way (ops/fastcall.ts) instead of looking them
 * up, as the map's keys above 2^30 are not small integers and each lookup hashes a double.
 */
let writes = 0;

/** The count of writes to the MSR maps so far (see `writes`). */
export function msrWrites(): number {
  return writes;
}

/** Writes an MSR of the map. */
function putMsr(state: State, index: number, value: bigint): void {
  state.msrs.set(index, value);
  writes++;
}

/** Fills the MSR map of a new vCPU. */
export function resetMsrs(state: State, vendor: Vendor): void {
  for (const [k, v] of RESET) putMsr(state, k, v);
  for (const [k, v] of vendor.extraMsrs) putMsr(state, k, v);
}

/**
 * The guest's TSC now: guest time (irqchip/clock.ts, host time less what was stolen from the VM) at the vCPU's rate,
 * plus its offset. Every reader of the TSC (kvmclock's reference instants, the TSC-deadline timer, KVM_SET_TSC_KHZ)
 * goes through {@linkcode tscAt} with the same clock.
 */
export function readTsc(state: State): bigint {
  return tscAt(state, nowMs());
}

/** The guest's TSC at guest time `ms` (irqchip/clock.ts nowMs). */
export function tscAt(state: { tscKhz: number; tscOffset: bigint }, ms: number): bigint {
  return BigInt(Math.floor(ms * state.tscKhz)) + state.tscOffset;
}

/** An MSR of the map (0 when absent), as a signed number: one holding an address (LSTAR, KERNEL_GS_BASE). */
export function msrAddress(state: State, index: number): number {
  return Number(BigInt.asIntN(64, state.msrs.get(index) ?? 0n));
}

/**
 * MSRs an in-kernel device answers: emu/irqchip's local APIC (the x2APIC registers, TSC deadline) and emu/pvclock.ts's
 * kvmclock.
 */
export interface MsrDevice {
  /** The value, undefined for #GP, or null when the device does not own `index`. */
  read(index: number): bigint | undefined | null;
  /** true when written, false for #GP, null when the device does not own `index`. */
  write(index: number, value: bigint): boolean | null;
  /** The vCPU's TSC was written or its rate changed (KVM_SET_TSC_KHZ). */
  tscChanged?(): void;
  /** An INIT reset the vCPU (kvm_vcpu_reset with init_event): the device drops what the reset clears. */
  reset?(): void;
}

/** The MSR devices of each vCPU that has some, asked in the order they were attached. */
const msrDevices = new WeakMap<State, MsrDevice[]>();

/** Gives the vCPU of `state` the MSRs `device` answers. */
export function attachMsrDevice(state: State, device: MsrDevice): void {
  const devices = msrDevices.get(state);
  if (devices === undefined) msrDevices.set(state, [device]);
  else devices.push(device);
}

/** No MSR devices. */
const NO_DEVICES: readonly MsrDevice[] = [];

/** Tells the MSR devices of `state` that its TSC was written or its rate changed. */
export function tscChanged(state: State): void {
  for (const device of msrDevices.get(state) ?? NO_DEVICES) device.tscChanged?.();
}

/** Tells the MSR devices of `state` that an INIT reset its vCPU. */
export function resetMsrDevices(state: State): void {
  for (const device of msrDevices.get(state) ?? NO_DEVICES) device.reset?.();
}

/** Reads an MSR; undefined when the index is not implemented. */
export function getMsr(state: State, index: number): bigint | undefined {
  for (const device of msrDevices.get(state) ?? NO_DEVICES) {
    const r = device.read(index);
    if (r !== null) return r;
  }
  switch (index) {
    case 0x10:
      return readTsc(state);
    case 0x1b:
      return BigInt(state.apicBase);
    case 0xc0000080:
      return BigInt(state.efer);
    case 0x6e0:
      // IA32_TSC_DEADLINE without an in-kernel local APIC: reads 0, as the kernel's kvm_get_lapic_tscdeadline_msr.
      return 0n;
    case 0xc0000100:
    case 0xc0000101:
      return BigInt.asUintN(64, BigInt(state.segBase[index === 0xc0000100 ? FS : GS]));
    default:
      return state.msrs.get(index);
  }
}

/** Writes an MSR; false when the index or value is refused (#GP for the guest). */
export function setMsr(state: State, index: number, value: bigint): boolean {
  value = BigInt.asUintN(64, value);
  for (const device of msrDevices.get(state) ?? NO_DEVICES) {
    const r = device.write(index, value);
    if (r !== null) return r;
  }
  switch (index) {
    case 0x10:
      state.tscOffset = value - readTsc(state) + state.tscOffset;
      tscChanged(state);
      return true;
    case 0x6e0:
      // IA32_TSC_DEADLINE without an in-kernel local APIC: the write is dropped, as in the kernel.
      return true;
    case 0x1b:
      if (value >> 36n) return false;
      state.apicBase = Number(value);
      return true;
    case 0xc0000080:
      if (value & ~(EFER_WRITABLE | BigInt(EFER_LMA))) return false;
      state.efer = Number(value & EFER_WRITABLE) | (state.efer & EFER_LMA);
      return true;
    case 0xc0000100:
    case 0xc0000101:
    case 0xc0000102: {
      // The segment-base MSRs hold canonical addresses, kept as signed numbers.
      const v = BigInt.asIntN(64, value);
      if (v < -(1n << 47n) || v >= 1n << 47n) return false;
      if (index === 0xc0000102) putMsr(state, index, value);
      else state.segBase[index === 0xc0000100 ? FS : GS] = Number(v);
      return true;
    }
    case 0xc0000082:
    case 0xc0000083: {
      const v = BigInt.asIntN(64, value);
      if (v < -(1n << 47n) || v >= 1n << 47n) return false;
      putMsr(state, index, value);
      return true;
    }
    case 0xc0000103:
      // TSC_AUX: bits 63:32 are reserved.
      if (value >> 32n) return false;
      putMsr(state, index, value);
      return true;
    case 0x277:
      for (let i = 0n; i < 64n; i += 8n) {
        const t = (value >> i) & 0xffn;
        if (t === 2n || t === 3n || t > 7n) return false;
      }
      putMsr(state, index, value);
      return true;
    default:
      if (!state.msrs.has(index)) return false;
      putMsr(state, index, value);
      return true;
  }
}
