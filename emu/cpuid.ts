/**
 * The CPUID ioctls: KVM_GET_SUPPORTED_CPUID on the system descriptor,
 * KVM_SET_CPUID2 and KVM_GET_CPUID2 on a vCPU, over kvm_cpuid2. The
 * supported list is the vendor's leaves and KVM's own
 * (Documentation/virt/kvm/x86/cpuid.rst).
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import { type CpuidEntry, kvmCpuidEntry2 } from "../abi/structs.ts";
import { leaf, type Vendor, vendorWords } from "./vendor.ts";
import type { Cpu } from "./x86/cpu.ts";

/** KVM_MAX_CPUID_ENTRIES. */
export const EMU_MAX_CPUID_ENTRIES = 256;

/** KVM_CPUID_SIGNATURE: EAX the highest KVM leaf, EBX ECX EDX "KVMKVMKVM\0\0\0". */
export const KVM_CPUID_SIGNATURE = 0x40000000;
/** KVM_CPUID_FEATURES: EAX the paravirtual features, EDX the hints. */
export const KVM_CPUID_FEATURES = 0x40000001;
/** KVM_FEATURE_CLOCKSOURCE: kvmclock at MSRs 0x11 and 0x12 (pvclock.ts). */
export const KVM_FEATURE_CLOCKSOURCE = 1 << 0;
/** KVM_FEATURE_NOP_IO_DELAY: port I/O needs no delay (a true statement of any emulated device here). */
export const KVM_FEATURE_NOP_IO_DELAY = 1 << 1;
/** KVM_FEATURE_CLOCKSOURCE2: kvmclock at MSRs 0x4b564d00 and 0x4b564d01 (pvclock.ts). */
export const KVM_FEATURE_CLOCKSOURCE2 = 1 << 3;
/** KVM_FEATURE_CLOCKSOURCE_STABLE_BIT: the guest may trust PVCLOCK_TSC_STABLE_BIT, which pvclock.ts sets honestly. */
export const KVM_FEATURE_CLOCKSOURCE_STABLE_BIT = 1 << 24;

/** KVM's leaves: the signature and the features the emulator implements, nothing more. */
const KVM_LEAVES: readonly CpuidEntry[] = (() => {
  const sig = vendorWords("KVMKVMKVM\0\0\0");
  const features = KVM_FEATURE_CLOCKSOURCE | KVM_FEATURE_NOP_IO_DELAY | KVM_FEATURE_CLOCKSOURCE2 |
    KVM_FEATURE_CLOCKSOURCE_STABLE_BIT;
  // vendorWords packs a CPUID.0-style string (EBX, EDX, ECX); KVM's signature reads EBX, ECX, EDX.
  return [
    leaf(KVM_CPUID_SIGNATURE, KVM_CPUID_FEATURES, sig.ebx, sig.edx, sig.ecx),
    leaf(KVM_CPUID_FEATURES, features, 0, 0, 0),
  ];
})();

/** KVM_GET_SUPPORTED_CPUID's list: the vendor's leaves, then KVM's (the kernel's order: 0, 0x80000000, then KVM's). */
export function supportedCpuid(vendor: Vendor): readonly CpuidEntry[] {
  return [...vendor.cpuid, ...KVM_LEAVES];
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

/** KVM_SET_CPUID2: the vCPU's CPUID table (E2BIG past KVM_MAX_CPUID_ENTRIES). */
export function setCpuid(cpu: Cpu, view: DataView): number {
  if (view.byteLength < 8) return -Errno.EFAULT;
  const nent = view.getUint32(0, true);
  if (nent > EMU_MAX_CPUID_ENTRIES) return -Errno.E2BIG;
  if (view.byteLength < 8 + nent * kvmCpuidEntry2.size) return -Errno.EFAULT;
  const entries = [];
  for (let i = 0; i < nent; i++) entries.push(kvmCpuidEntry2.decode(view, 8 + i * kvmCpuidEntry2.size));
  cpu.cpuidTable = entries;
  return 0;
}
