/**
 * KVM_CHECK_EXTENSION on the emulator: each capability it may report, with
 * its answer and the ioctls the capability promises. A capability is
 * reported only when the dispatch tables implement every one of its ioctls,
 * so the answer follows what is implemented.
 *
 * @module
 */
import * as C from "../abi/constants.ts";
import * as R from "../abi/requests.ts";
import { EMU_USER_MEM_SLOTS } from "./memslots.ts";
import { EMU_CLOCK_FLAGS } from "./pvclock.ts";

/** KVM_MAX_VCPU_IDS (KVM_CAP_MAX_VCPU_ID). */
export const EMU_MAX_VCPU_ID = 4096;
/** KVM_MAX_VCPUS (KVM_CAP_MAX_VCPUS). */
export const EMU_MAX_VCPUS = 1024;

/** Capability, KVM_CHECK_EXTENSION's answer, the ioctls it promises. */
const CAPABILITIES: readonly (readonly [cap: number, answer: number, ioctls: readonly number[]])[] = [
  [C.KVM_CAP_IRQCHIP, 1, [R.KVM_CREATE_IRQCHIP, R.KVM_IRQ_LINE, R.KVM_GET_IRQCHIP, R.KVM_SET_IRQCHIP]],
  [C.KVM_CAP_HLT, 1, [R.KVM_RUN]],
  [C.KVM_CAP_USER_MEMORY, 1, [R.KVM_SET_USER_MEMORY_REGION]],
  [C.KVM_CAP_SET_TSS_ADDR, 1, [R.KVM_SET_TSS_ADDR]],
  [C.KVM_CAP_EXT_CPUID, 1, [R.KVM_GET_SUPPORTED_CPUID, R.KVM_SET_CPUID2]],
  [C.KVM_CAP_NR_VCPUS, 1, [R.KVM_CREATE_VCPU]],
  [C.KVM_CAP_NR_MEMSLOTS, EMU_USER_MEM_SLOTS, [R.KVM_SET_USER_MEMORY_REGION]],
  [C.KVM_CAP_MP_STATE, 1, [R.KVM_GET_MP_STATE, R.KVM_SET_MP_STATE]],
  [C.KVM_CAP_SYNC_MMU, 1, [R.KVM_SET_USER_MEMORY_REGION]],
  [C.KVM_CAP_SET_GUEST_DEBUG, 1, [R.KVM_SET_GUEST_DEBUG]],
  [C.KVM_CAP_USER_NMI, 1, [R.KVM_NMI]],
  [C.KVM_CAP_PIT2, 1, [R.KVM_CREATE_PIT2, R.KVM_GET_PIT2, R.KVM_SET_PIT2]],
  [C.KVM_CAP_SET_IDENTITY_MAP_ADDR, 1, [R.KVM_SET_IDENTITY_MAP_ADDR]],
  [C.KVM_CAP_VCPU_EVENTS, 1, [R.KVM_GET_VCPU_EVENTS, R.KVM_SET_VCPU_EVENTS]],
  [C.KVM_CAP_DEBUGREGS, 1, [R.KVM_GET_DEBUGREGS, R.KVM_SET_DEBUGREGS]],
  [C.KVM_CAP_X86_ROBUST_SINGLESTEP, 1, [R.KVM_SET_GUEST_DEBUG]],
  [C.KVM_CAP_XCRS, 1, [R.KVM_GET_XCRS, R.KVM_SET_XCRS]],
  [C.KVM_CAP_MAX_VCPUS, EMU_MAX_VCPUS, [R.KVM_CREATE_VCPU]],
  [C.KVM_CAP_MAX_VCPU_ID, EMU_MAX_VCPU_ID, [R.KVM_CREATE_VCPU]],
  [C.KVM_CAP_READONLY_MEM, 1, [R.KVM_SET_USER_MEMORY_REGION]],
  [C.KVM_CAP_IMMEDIATE_EXIT, 1, [R.KVM_RUN]],
  // The in-kernel irqchip and PIT (irqchip/), and guest time.
  [C.KVM_CAP_IRQ_ROUTING, C.KVM_MAX_IRQ_ROUTES, [R.KVM_SET_GSI_ROUTING]],
  [C.KVM_CAP_IRQ_INJECT_STATUS, 1, [R.KVM_IRQ_LINE_STATUS]],
  [C.KVM_CAP_PIT_STATE2, 1, [R.KVM_GET_PIT2, R.KVM_SET_PIT2]],
  [C.KVM_CAP_SIGNAL_MSI, 1, [R.KVM_SIGNAL_MSI]],
  [C.KVM_CAP_IRQFD, 1, [R.KVM_IRQFD]],
  [C.KVM_CAP_IRQFD_RESAMPLE, 1, [R.KVM_IRQFD]],
  [C.KVM_CAP_GET_TSC_KHZ, 1, [R.KVM_GET_TSC_KHZ]],
  [C.KVM_CAP_TSC_CONTROL, 1, [R.KVM_SET_TSC_KHZ]],
  [C.KVM_CAP_TSC_DEADLINE_TIMER, 1, [R.KVM_CREATE_IRQCHIP]],
  // kvmclock (pvclock.ts): the answer is the kvm_clock_data flags KVM_GET_CLOCK may report.
  [C.KVM_CAP_ADJUST_CLOCK, EMU_CLOCK_FLAGS, [R.KVM_GET_CLOCK, R.KVM_SET_CLOCK]],
];

/** KVM_CHECK_EXTENSION's answers: every capability whose ioctls are all `implemented`. */
export function capabilities(implemented: (request: number) => boolean): ReadonlyMap<number, number> {
  return new Map(
    CAPABILITIES.filter(([, , ioctls]) => ioctls.every(implemented)).map(([cap, answer]) => [cap, answer]),
  );
}
