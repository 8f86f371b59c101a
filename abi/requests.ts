/**
 * KVM ioctl request numbers, each computed from its direction, number and
 * argument size as `_IO`/`_IOR`/`_IOW`/`_IOWR` do in include/uapi/linux/kvm.h.
 * The layout test compares every one with the C compiler's value.
 *
 * @module
 */
import { io, ior, iow, iowr } from "./ioctl.ts";
import {
  kvmClearDirtyLog,
  kvmClockData,
  kvmCoalescedMmioZone,
  kvmCpuid2,
  kvmDebugregs,
  kvmDirtyLog,
  kvmEnableCap,
  kvmFpu,
  kvmGuestDebug,
  kvmInterrupt,
  kvmIoeventfd,
  kvmIrqchip,
  kvmIrqfd,
  kvmIrqLevel,
  kvmIrqRouting,
  kvmLapicState,
  kvmMpState,
  kvmMsi,
  kvmMsrFilter,
  kvmMsrList,
  kvmMsrs,
  kvmPitConfig,
  kvmPitState2,
  kvmRegs,
  kvmSignalMask,
  kvmSregs,
  kvmSregs2,
  kvmTranslation,
  kvmUserspaceMemoryRegion,
  kvmVcpuEvents,
  kvmXcrs,
  kvmXsave,
} from "./structs.ts";

// System ioctls, on the /dev/kvm descriptor.
/** KVM_GET_API_VERSION: always 12. */
export const KVM_GET_API_VERSION = io(0x00);
/** KVM_CREATE_VM: returns a VM descriptor. */
export const KVM_CREATE_VM = io(0x01);
/** KVM_GET_MSR_INDEX_LIST: the MSRs KVM_GET_MSRS/KVM_SET_MSRS accept. */
export const KVM_GET_MSR_INDEX_LIST = iowr(0x02, kvmMsrList.size);
/** KVM_CHECK_EXTENSION: 0 when a capability is absent, else a positive number. */
export const KVM_CHECK_EXTENSION = io(0x03);
/** KVM_GET_VCPU_MMAP_SIZE: the size of a vCPU's shared kvm_run mapping. */
export const KVM_GET_VCPU_MMAP_SIZE = io(0x04);
/** KVM_GET_SUPPORTED_CPUID: the CPUID leaves KVM can present. */
export const KVM_GET_SUPPORTED_CPUID = iowr(0x05, kvmCpuid2.size);

// VM ioctls.
/** KVM_CREATE_VCPU: returns a vCPU descriptor. */
export const KVM_CREATE_VCPU = io(0x41);
/** KVM_GET_DIRTY_LOG: copies and clears a slot's dirty bitmap. */
export const KVM_GET_DIRTY_LOG = iow(0x42, kvmDirtyLog.size);
/** KVM_SET_USER_MEMORY_REGION: creates, moves, changes or deletes a memory slot. */
export const KVM_SET_USER_MEMORY_REGION = iow(0x46, kvmUserspaceMemoryRegion.size);
/** KVM_SET_TSS_ADDR: three pages of guest-physical space for the TSS on Intel. */
export const KVM_SET_TSS_ADDR = io(0x47);
/** KVM_SET_IDENTITY_MAP_ADDR: one page for the real-mode identity map on Intel. */
export const KVM_SET_IDENTITY_MAP_ADDR = iow(0x48, 8);
/** KVM_CREATE_IRQCHIP: the in-kernel PIC, IOAPIC and local APICs. */
export const KVM_CREATE_IRQCHIP = io(0x60);
/** KVM_IRQ_LINE: sets the level of an in-kernel irqchip input. */
export const KVM_IRQ_LINE = iow(0x61, kvmIrqLevel.size);
/** KVM_CREATE_PIT2: the in-kernel i8254 timer. */
export const KVM_CREATE_PIT2 = iow(0x77, kvmPitConfig.size);
/** KVM_IRQ_LINE_STATUS: KVM_IRQ_LINE that writes back the delivery status (>0 delivered, 0 coalesced, <0 masked). */
export const KVM_IRQ_LINE_STATUS = iowr(0x67, kvmIrqLevel.size);
/** KVM_GET_IRQCHIP: the state of one in-kernel PIC or the IOAPIC. */
export const KVM_GET_IRQCHIP = iowr(0x62, kvmIrqchip.size);
/** KVM_SET_IRQCHIP: restores it (the kernel declares it _IOR). */
export const KVM_SET_IRQCHIP = ior(0x63, kvmIrqchip.size);
/** KVM_GET_PIT2: the in-kernel PIT's state. */
export const KVM_GET_PIT2 = ior(0x9f, kvmPitState2.size);
/** KVM_SET_PIT2: restores it. */
export const KVM_SET_PIT2 = iow(0xa0, kvmPitState2.size);
/** KVM_REGISTER_COALESCED_MMIO: guest writes to a zone go to the coalesced ring instead of exiting. */
export const KVM_REGISTER_COALESCED_MMIO = iow(0x67, kvmCoalescedMmioZone.size);
/** KVM_UNREGISTER_COALESCED_MMIO. */
export const KVM_UNREGISTER_COALESCED_MMIO = iow(0x68, kvmCoalescedMmioZone.size);
/** KVM_SET_GSI_ROUTING: replaces the GSI routing table. */
export const KVM_SET_GSI_ROUTING = iow(0x6a, kvmIrqRouting.size);
/** KVM_IRQFD: an eventfd that raises a GSI when signalled. */
export const KVM_IRQFD = iow(0x76, kvmIrqfd.size);
/** KVM_IOEVENTFD: a guest write to a PIO/MMIO address signals an eventfd instead of exiting. */
export const KVM_IOEVENTFD = iow(0x79, kvmIoeventfd.size);
/** KVM_SET_CLOCK: sets the kvmclock base of the VM. */
export const KVM_SET_CLOCK = iow(0x7b, kvmClockData.size);
/** KVM_GET_CLOCK: the VM's kvmclock time. */
export const KVM_GET_CLOCK = ior(0x7c, kvmClockData.size);
/** KVM_ENABLE_CAP (on the VM descriptor): turns on a capability that changes behaviour. */
export const KVM_ENABLE_CAP = iow(0xa3, kvmEnableCap.size);
/** KVM_SIGNAL_MSI: injects one MSI. */
export const KVM_SIGNAL_MSI = iow(0xa5, kvmMsi.size);
/** KVM_CLEAR_DIRTY_LOG: re-protects (clears) pages of a slot's dirty log (manual protect). */
export const KVM_CLEAR_DIRTY_LOG = iowr(0xc0, kvmClearDirtyLog.size);
/** KVM_X86_SET_MSR_FILTER: which MSR accesses the guest may make without exiting. */
export const KVM_X86_SET_MSR_FILTER = iow(0xc6, kvmMsrFilter.size);

// vCPU ioctls.
/** KVM_RUN: runs the vCPU until an exit userspace must handle. */
export const KVM_RUN = io(0x80);
/** KVM_GET_REGS. */
export const KVM_GET_REGS = ior(0x81, kvmRegs.size);
/** KVM_SET_REGS. */
export const KVM_SET_REGS = iow(0x82, kvmRegs.size);
/** KVM_GET_SREGS. */
export const KVM_GET_SREGS = ior(0x83, kvmSregs.size);
/** KVM_SET_SREGS. */
export const KVM_SET_SREGS = iow(0x84, kvmSregs.size);
/** KVM_TRANSLATE: walks the guest's page tables for a linear address. */
export const KVM_TRANSLATE = iowr(0x85, kvmTranslation.size);
/** KVM_INTERRUPT: queues an external interrupt (no in-kernel irqchip). */
export const KVM_INTERRUPT = iow(0x86, kvmInterrupt.size);
/** KVM_GET_MSRS: returns how many entries it read. */
export const KVM_GET_MSRS = iowr(0x88, kvmMsrs.size);
/** KVM_SET_MSRS: returns how many entries it wrote. */
export const KVM_SET_MSRS = iow(0x89, kvmMsrs.size);
/** KVM_SET_SIGNAL_MASK: the signal mask in force during KVM_RUN. */
export const KVM_SET_SIGNAL_MASK = iow(0x8b, kvmSignalMask.size);
/** KVM_GET_FPU. */
export const KVM_GET_FPU = ior(0x8c, kvmFpu.size);
/** KVM_SET_FPU. */
export const KVM_SET_FPU = iow(0x8d, kvmFpu.size);
/** KVM_GET_LAPIC. */
export const KVM_GET_LAPIC = ior(0x8e, kvmLapicState.size);
/** KVM_SET_LAPIC. */
export const KVM_SET_LAPIC = iow(0x8f, kvmLapicState.size);
/** KVM_SET_CPUID2. */
export const KVM_SET_CPUID2 = iow(0x90, kvmCpuid2.size);
/** KVM_GET_CPUID2. */
export const KVM_GET_CPUID2 = iowr(0x91, kvmCpuid2.size);
/** KVM_GET_MP_STATE. */
export const KVM_GET_MP_STATE = ior(0x98, kvmMpState.size);
/** KVM_SET_MP_STATE. */
export const KVM_SET_MP_STATE = iow(0x99, kvmMpState.size);
/** KVM_SET_GUEST_DEBUG. */
export const KVM_SET_GUEST_DEBUG = iow(0x9b, kvmGuestDebug.size);
/** KVM_GET_VCPU_EVENTS. */
export const KVM_GET_VCPU_EVENTS = ior(0x9f, kvmVcpuEvents.size);
/** KVM_SET_VCPU_EVENTS. */
export const KVM_SET_VCPU_EVENTS = iow(0xa0, kvmVcpuEvents.size);
/** KVM_GET_DEBUGREGS. */
export const KVM_GET_DEBUGREGS = ior(0xa1, kvmDebugregs.size);
/** KVM_SET_DEBUGREGS. */
export const KVM_SET_DEBUGREGS = iow(0xa2, kvmDebugregs.size);
/** KVM_GET_XCRS. */
export const KVM_GET_XCRS = ior(0xa6, kvmXcrs.size);
/** KVM_SET_XCRS. */
export const KVM_SET_XCRS = iow(0xa7, kvmXcrs.size);
/** KVM_NMI: queues an NMI. */
export const KVM_NMI = io(0x9a);
/** KVM_SET_TSC_KHZ: the guest TSC frequency. */
export const KVM_SET_TSC_KHZ = io(0xa2);
/** KVM_GET_TSC_KHZ: the guest TSC frequency. */
export const KVM_GET_TSC_KHZ = io(0xa3);
/** KVM_GET_XSAVE: the legacy 4096-byte XSAVE area. */
export const KVM_GET_XSAVE = ior(0xa4, kvmXsave.size);
/** KVM_SET_XSAVE: reads KVM_CAP_XSAVE2's size (at least 4096 bytes). */
export const KVM_SET_XSAVE = iow(0xa5, kvmXsave.size);
/** KVM_KVMCLOCK_CTRL: tells the guest's kvmclock that the vCPU was paused. */
export const KVM_KVMCLOCK_CTRL = io(0xad);
/** KVM_SMI: queues an SMI. */
export const KVM_SMI = io(0xb7);
/** KVM_GET_SREGS2. */
export const KVM_GET_SREGS2 = ior(0xcc, kvmSregs2.size);
/** KVM_SET_SREGS2. */
export const KVM_SET_SREGS2 = iow(0xcd, kvmSregs2.size);
/** KVM_GET_XSAVE2: the XSAVE area at KVM_CAP_XSAVE2's size. */
export const KVM_GET_XSAVE2 = ior(0xcf, kvmXsave.size);
