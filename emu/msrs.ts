/**
 * The MSR ioctls: KVM_GET_MSR_INDEX_LIST on the system descriptor,
 * KVM_GET_MSRS and KVM_SET_MSRS on a vCPU (the MSRs themselves are
 * x86/msr.ts).
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import type { Cpu } from "./x86/cpu.ts";
import { getMsr, setMsr } from "./x86/msr.ts";
import { KVMCLOCK_MSRS } from "./pvclock.ts";
import type { Vendor } from "./vendor.ts";

/** The most entries KVM_GET_MSRS/KVM_SET_MSRS take at once (MAX_IO_MSRS). */
export const MAX_IO_MSRS = 256;

/**
 * KVM_GET_MSR_INDEX_LIST: the vendor's MSR list and the kvmclock's, as the kernel's msrs_to_save and emulated_msrs,
 * into a kvm_msr_list (E2BIG, with nmsrs written, when it is too short).
 */
export function getMsrIndexList(vendor: Vendor, view: DataView): number {
  if (view.byteLength < 4) return -Errno.EFAULT;
  const n = view.getUint32(0, true), list = [...vendor.msrIndexList, ...KVMCLOCK_MSRS];
  view.setUint32(0, list.length, true);
  if (n < list.length) return -Errno.E2BIG;
  if (view.byteLength < 4 + 4 * list.length) return -Errno.EFAULT;
  list.forEach((m, i) => view.setUint32(4 + 4 * i, m, true));
  return 0;
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
