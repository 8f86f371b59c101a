/**
 * The CPUID ioctls: KVM_GET_SUPPORTED_CPUID on the system descriptor,
 * KVM_SET_CPUID2 and KVM_GET_CPUID2 on a vCPU, over kvm_cpuid2.
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import { type CpuidEntry, kvmCpuidEntry2 } from "../abi/structs.ts";
import type { Cpu } from "./x86/cpu.ts";

/** KVM_MAX_CPUID_ENTRIES. */
export const EMU_MAX_CPUID_ENTRIES = 256;

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
