/**
 * The system descriptor (/dev/kvm): its ioctls as kvm_dev_ioctl answers
 * them. An ioctl the table lacks gets EINVAL, as kvm_dev_ioctl's default.
 *
 * @module
 */
import * as C from "../abi/constants.ts";
import * as R from "../abi/requests.ts";
import { supportedCpuid, writeCpuid } from "./cpuid.ts";
import { ioctlTable, viewOf } from "./ioctl_table.ts";
import { getMsrIndexList } from "./msrs.ts";
import { EMU_VCPU_MMAP_SIZE } from "./run_page.ts";
import type { Vendor } from "./vendor.ts";

/** What a system descriptor's ioctls act on; the descriptor table (kernel.ts) provides it. */
export interface EmuSystem {
  readonly vendor: Vendor;
  /** KVM_CHECK_EXTENSION's answer: 0 for a capability the emulator lacks. */
  checkExtension(cap: number): number;
  /** KVM_CREATE_VM: the new VM's descriptor, or -errno. */
  createVm(type: number): number;
}

/** The system ioctls the emulator implements. */
export const SYSTEM_IOCTLS = ioctlTable<EmuSystem>([
  [R.KVM_GET_API_VERSION, () => C.KVM_API_VERSION],
  [R.KVM_CREATE_VM, (s, _, type) => s.createVm(type)],
  [R.KVM_CHECK_EXTENSION, (s, _, cap) => s.checkExtension(cap)],
  [R.KVM_GET_VCPU_MMAP_SIZE, () => EMU_VCPU_MMAP_SIZE],
  [R.KVM_GET_SUPPORTED_CPUID, (s, arg) => writeCpuid(viewOf(arg), supportedCpuid(s.vendor), true)],
  [R.KVM_GET_MSR_INDEX_LIST, (s, arg) => getMsrIndexList(s.vendor, viewOf(arg))],
]);
