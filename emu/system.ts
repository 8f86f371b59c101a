/**
 * The system descriptor (/dev/kvm): KVM_GET_API_VERSION,
 * KVM_CHECK_EXTENSION, KVM_GET_VCPU_MMAP_SIZE, KVM_GET_SUPPORTED_CPUID,
 * KVM_GET_MSR_INDEX_LIST (like kvm_dev_ioctl). KVM_CREATE_VM is handled by
 * the descriptor table in kernel.ts.
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import * as C from "../abi/constants.ts";
import * as R from "../abi/requests.ts";
import { EMU_USER_MEM_SLOTS } from "./memslots.ts";
import { EMU_VCPU_MMAP_SIZE } from "./run_page.ts";
import type { Vendor } from "./vendor.ts";
import { writeCpuid } from "./vcpu_extra.ts";

/** The capabilities the emulator has, with KVM_CHECK_EXTENSION's answers. */
const CAPS = new Map<number, number>([
  [C.KVM_CAP_IRQCHIP, 1],
  [C.KVM_CAP_HLT, 1],
  [C.KVM_CAP_USER_MEMORY, 1],
  [C.KVM_CAP_SET_TSS_ADDR, 1],
  [C.KVM_CAP_EXT_CPUID, 1],
  [C.KVM_CAP_NR_VCPUS, 1],
  [C.KVM_CAP_NR_MEMSLOTS, EMU_USER_MEM_SLOTS],
  [C.KVM_CAP_MP_STATE, 1],
  [C.KVM_CAP_SYNC_MMU, 1],
  [C.KVM_CAP_SET_GUEST_DEBUG, 1],
  [C.KVM_CAP_USER_NMI, 1],
  [C.KVM_CAP_PIT2, 1],
  [C.KVM_CAP_SET_IDENTITY_MAP_ADDR, 1],
  [C.KVM_CAP_VCPU_EVENTS, 1],
  [C.KVM_CAP_DEBUGREGS, 1],
  [C.KVM_CAP_X86_ROBUST_SINGLESTEP, 1],
  [C.KVM_CAP_XCRS, 1],
  [C.KVM_CAP_MAX_VCPUS, 1024],
  [C.KVM_CAP_MAX_VCPU_ID, 4096],
  [C.KVM_CAP_READONLY_MEM, 1],
  [C.KVM_CAP_IMMEDIATE_EXIT, 1],
  // The in-kernel irqchip and PIT (irqchip/), and guest time.
  [C.KVM_CAP_IRQ_ROUTING, C.KVM_MAX_IRQ_ROUTES],
  [C.KVM_CAP_IRQ_INJECT_STATUS, 1],
  [C.KVM_CAP_PIT_STATE2, 1],
  [C.KVM_CAP_SIGNAL_MSI, 1],
  [C.KVM_CAP_IRQFD, 1],
  [C.KVM_CAP_IRQFD_RESAMPLE, 1],
  [C.KVM_CAP_GET_TSC_KHZ, 1],
  [C.KVM_CAP_TSC_CONTROL, 1],
  [C.KVM_CAP_TSC_DEADLINE_TIMER, 1],
]);

/** KVM_CHECK_EXTENSION: 0 for an absent capability. */
export function checkExtension(cap: number): number {
  return CAPS.get(cap) ?? 0;
}

/** Dispatches a system ioctl (not KVM_CREATE_VM): the result, or -errno. Unknown requests: EINVAL, as kvm_dev_ioctl. */
export function systemIoctl(vendor: Vendor, request: number, arg: Uint8Array, value: number): number {
  const view = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
  switch (request) {
    case R.KVM_GET_API_VERSION:
      return C.KVM_API_VERSION;
    case R.KVM_CHECK_EXTENSION:
      return checkExtension(value);
    case R.KVM_GET_VCPU_MMAP_SIZE:
      return EMU_VCPU_MMAP_SIZE;
    case R.KVM_GET_SUPPORTED_CPUID:
      return writeCpuid(view, vendor.cpuid, true);
    case R.KVM_GET_MSR_INDEX_LIST: {
      if (arg.byteLength < 4) return -Errno.EFAULT;
      const n = view.getUint32(0, true), list = vendor.msrIndexList;
      view.setUint32(0, list.length, true);
      if (n < list.length) return -Errno.E2BIG;
      if (arg.byteLength < 4 + 4 * list.length) return -Errno.EFAULT;
      list.forEach((m, i) => view.setUint32(4 + 4 * i, m, true));
      return 0;
    }
    default:
      return -Errno.EINVAL;
  }
}
