/**
 * Named constants of the KVM ABI and of the x86 architecture that kvmkit
 * uses: exit reasons, capabilities, memory-slot and guest-debug flags, MP
 * states, MSR indices, and CR0/CR4/EFER/RFLAGS bits. Values as in
 * include/uapi/linux/kvm.h, arch/x86/include/uapi/asm/kvm.h and the SDM.
 *
 * @module
 */

/** The API version every KVM since 2.6.22 reports: KVM_GET_API_VERSION. */
export const KVM_API_VERSION = 12;

// `kvm_run.exit_reason` values (KVM_EXIT_*).
/** Exit reason `KVM_EXIT_UNKNOWN` (`kvm_run.exit_reason`). */
export const KVM_EXIT_UNKNOWN = 0;
/** Exit reason `KVM_EXIT_EXCEPTION` (`kvm_run.exit_reason`). */
export const KVM_EXIT_EXCEPTION = 1;
/** Exit reason `KVM_EXIT_IO` (`kvm_run.exit_reason`). */
export const KVM_EXIT_IO = 2;
/** Exit reason `KVM_EXIT_HYPERCALL` (`kvm_run.exit_reason`). */
export const KVM_EXIT_HYPERCALL = 3;
/** Exit reason `KVM_EXIT_DEBUG` (`kvm_run.exit_reason`). */
export const KVM_EXIT_DEBUG = 4;
/** Exit reason `KVM_EXIT_HLT` (`kvm_run.exit_reason`). */
export const KVM_EXIT_HLT = 5;
/** Exit reason `KVM_EXIT_MMIO` (`kvm_run.exit_reason`). */
export const KVM_EXIT_MMIO = 6;
/** Exit reason `KVM_EXIT_IRQ_WINDOW_OPEN` (`kvm_run.exit_reason`). */
export const KVM_EXIT_IRQ_WINDOW_OPEN = 7;
/** Exit reason `KVM_EXIT_SHUTDOWN` (`kvm_run.exit_reason`). */
export const KVM_EXIT_SHUTDOWN = 8;
/** Exit reason `KVM_EXIT_FAIL_ENTRY` (`kvm_run.exit_reason`). */
export const KVM_EXIT_FAIL_ENTRY = 9;
/** Exit reason `KVM_EXIT_INTR` (`kvm_run.exit_reason`). */
export const KVM_EXIT_INTR = 10;
/** Exit reason `KVM_EXIT_SET_TPR` (`kvm_run.exit_reason`). */
export const KVM_EXIT_SET_TPR = 11;
/** Exit reason `KVM_EXIT_TPR_ACCESS` (`kvm_run.exit_reason`). */
export const KVM_EXIT_TPR_ACCESS = 12;
/** Exit reason `KVM_EXIT_NMI` (`kvm_run.exit_reason`). */
export const KVM_EXIT_NMI = 16;
/** Exit reason `KVM_EXIT_INTERNAL_ERROR` (`kvm_run.exit_reason`). */
export const KVM_EXIT_INTERNAL_ERROR = 17;
/** Exit reason `KVM_EXIT_SYSTEM_EVENT` (`kvm_run.exit_reason`). */
export const KVM_EXIT_SYSTEM_EVENT = 24;
/** Exit reason `KVM_EXIT_X86_RDMSR` (`kvm_run.exit_reason`). */
export const KVM_EXIT_X86_RDMSR = 29;
/** Exit reason `KVM_EXIT_X86_WRMSR` (`kvm_run.exit_reason`). */
export const KVM_EXIT_X86_WRMSR = 30;

// `kvm_run.io.direction`.
/** `KVM_EXIT_IO_IN`: a value of `kvm_run.io.direction`. */
export const KVM_EXIT_IO_IN = 0;
/** `KVM_EXIT_IO_OUT`: a value of `kvm_run.io.direction`. */
export const KVM_EXIT_IO_OUT = 1;

// `kvm_run.internal.suberror` values.
/** `KVM_INTERNAL_ERROR_EMULATION`: a value of `kvm_run.internal.suberror` (KVM_EXIT_INTERNAL_ERROR). */
export const KVM_INTERNAL_ERROR_EMULATION = 1;
/** `KVM_INTERNAL_ERROR_SIMUL_EX`: a value of `kvm_run.internal.suberror` (KVM_EXIT_INTERNAL_ERROR). */
export const KVM_INTERNAL_ERROR_SIMUL_EX = 2;
/** `KVM_INTERNAL_ERROR_DELIVERY_EV`: a value of `kvm_run.internal.suberror` (KVM_EXIT_INTERNAL_ERROR). */
export const KVM_INTERNAL_ERROR_DELIVERY_EV = 3;
/** `KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON`: a value of `kvm_run.internal.suberror` (KVM_EXIT_INTERNAL_ERROR). */
export const KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4;

// Capabilities for KVM_CHECK_EXTENSION (KVM_CAP_*).
/** Capability `KVM_CAP_IRQCHIP`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_IRQCHIP = 0;
/** Capability `KVM_CAP_HLT`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_HLT = 1;
/** Capability `KVM_CAP_USER_MEMORY`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_USER_MEMORY = 3;
/** Capability `KVM_CAP_SET_TSS_ADDR`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_SET_TSS_ADDR = 4;
/** Capability `KVM_CAP_VAPIC`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_VAPIC = 6;
/** Capability `KVM_CAP_EXT_CPUID`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_EXT_CPUID = 7;
/** Capability `KVM_CAP_NR_VCPUS`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_NR_VCPUS = 9;
/** Capability `KVM_CAP_NR_MEMSLOTS`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_NR_MEMSLOTS = 10;
/** Capability `KVM_CAP_PIT`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_PIT = 11;
/** Capability `KVM_CAP_NOP_IO_DELAY`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_NOP_IO_DELAY = 12;
/** Capability `KVM_CAP_MP_STATE`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_MP_STATE = 14;
/** Capability `KVM_CAP_SYNC_MMU`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_SYNC_MMU = 16;
/** Capability `KVM_CAP_IOMMU`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_IOMMU = 18;
/** Capability `KVM_CAP_USER_NMI`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_USER_NMI = 22;
/** Capability `KVM_CAP_SET_GUEST_DEBUG`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_SET_GUEST_DEBUG = 23;
/** Capability `KVM_CAP_IRQ_ROUTING`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_IRQ_ROUTING = 25;
/** Capability `KVM_CAP_IRQ_INJECT_STATUS`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_IRQ_INJECT_STATUS = 26;
/** Capability `KVM_CAP_SET_BOOT_CPU_ID`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_SET_BOOT_CPU_ID = 34;
/** Capability `KVM_CAP_SET_IDENTITY_MAP_ADDR`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_SET_IDENTITY_MAP_ADDR = 37;
/** Capability `KVM_CAP_IRQFD`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_IRQFD = 32;
/** Capability `KVM_CAP_PIT2`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_PIT2 = 33;
/** Capability `KVM_CAP_PIT_STATE2`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_PIT_STATE2 = 35;
/** Capability `KVM_CAP_IOEVENTFD`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_IOEVENTFD = 36;
/** Capability `KVM_CAP_ADJUST_CLOCK`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_ADJUST_CLOCK = 39;
/** Capability `KVM_CAP_VCPU_EVENTS`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_VCPU_EVENTS = 41;
/** Capability `KVM_CAP_PCI_SEGMENT`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_PCI_SEGMENT = 47;
/** Capability `KVM_CAP_INTR_SHADOW`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_INTR_SHADOW = 49;
/** Capability `KVM_CAP_DEBUGREGS`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_DEBUGREGS = 50;
/** Capability `KVM_CAP_X86_ROBUST_SINGLESTEP`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_X86_ROBUST_SINGLESTEP = 51;
/** Capability `KVM_CAP_XSAVE`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_XSAVE = 55;
/** Capability `KVM_CAP_XCRS`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_XCRS = 56;
/** Capability `KVM_CAP_TSC_CONTROL`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_TSC_CONTROL = 60;
/** Capability `KVM_CAP_GET_TSC_KHZ`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_GET_TSC_KHZ = 61;
/** Capability `KVM_CAP_MAX_VCPUS`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_MAX_VCPUS = 66;
/** Capability `KVM_CAP_READONLY_MEM`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_READONLY_MEM = 81;
/** Capability `KVM_CAP_IMMEDIATE_EXIT`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_IMMEDIATE_EXIT = 136;
/** Capability `KVM_CAP_MAX_VCPU_ID`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_MAX_VCPU_ID = 128;
/** Capability `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168;
/** Capability `KVM_CAP_XSAVE2`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_XSAVE2 = 208;
/** Capability `KVM_CAP_COALESCED_MMIO`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_COALESCED_MMIO = 15;
/** Capability `KVM_CAP_SYNC_REGS`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_SYNC_REGS = 74;
/** Capability `KVM_CAP_KVMCLOCK_CTRL`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_KVMCLOCK_CTRL = 76;
/** Capability `KVM_CAP_SIGNAL_MSI`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_SIGNAL_MSI = 77;
/** Capability `KVM_CAP_TSC_DEADLINE_TIMER`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_TSC_DEADLINE_TIMER = 72;
/** Capability `KVM_CAP_IRQFD_RESAMPLE`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_IRQFD_RESAMPLE = 82;
/** Capability `KVM_CAP_ENABLE_CAP_VM`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_ENABLE_CAP_VM = 98;
/** Capability `KVM_CAP_X86_SMM`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_X86_SMM = 117;
/** Capability `KVM_CAP_IOEVENTFD_ANY_LENGTH`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_IOEVENTFD_ANY_LENGTH = 122;
/** Capability `KVM_CAP_COALESCED_PIO`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_COALESCED_PIO = 162;
/** Capability `KVM_CAP_X86_USER_SPACE_MSR`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_X86_USER_SPACE_MSR = 188;
/** Capability `KVM_CAP_X86_MSR_FILTER`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_X86_MSR_FILTER = 189;
/** Capability `KVM_CAP_SREGS2`, for `checkExtension` (KVM_CHECK_EXTENSION) and `enableCap`. */
export const KVM_CAP_SREGS2 = 200;

// `kvm_ioeventfd.flags`.
/** `KVM_IOEVENTFD_FLAG_DATAMATCH`: a bit of `kvm_ioeventfd.flags`. */
export const KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0;
/** `KVM_IOEVENTFD_FLAG_PIO`: a bit of `kvm_ioeventfd.flags`. */
export const KVM_IOEVENTFD_FLAG_PIO = 1 << 1;
/** `KVM_IOEVENTFD_FLAG_DEASSIGN`: a bit of `kvm_ioeventfd.flags`. */
export const KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2;

// `kvm_irqfd.flags`.
/** `KVM_IRQFD_FLAG_DEASSIGN`: a bit of `kvm_irqfd.flags`. */
export const KVM_IRQFD_FLAG_DEASSIGN = 1 << 0;
/** `KVM_IRQFD_FLAG_RESAMPLE`: a bit of `kvm_irqfd.flags`. */
export const KVM_IRQFD_FLAG_RESAMPLE = 1 << 1;

// `kvm_irq_routing_entry.type`.
/** `KVM_IRQ_ROUTING_IRQCHIP`: a value of `kvm_irq_routing_entry.type`. */
export const KVM_IRQ_ROUTING_IRQCHIP = 1;
/** `KVM_IRQ_ROUTING_MSI`: a value of `kvm_irq_routing_entry.type`. */
export const KVM_IRQ_ROUTING_MSI = 2;
// `kvm_irq_routing_irqchip.irqchip`.
/** `KVM_IRQCHIP_PIC_MASTER`: a value of `kvm_irq_routing_irqchip.irqchip`. */
export const KVM_IRQCHIP_PIC_MASTER = 0;
/** `KVM_IRQCHIP_PIC_SLAVE`: a value of `kvm_irq_routing_irqchip.irqchip`. */
export const KVM_IRQCHIP_PIC_SLAVE = 1;
/** `KVM_IRQCHIP_IOAPIC`: a value of `kvm_irq_routing_irqchip.irqchip`. */
export const KVM_IRQCHIP_IOAPIC = 2;
/** The most GSI routes (and the first GSI out of range): KVM_MAX_IRQ_ROUTES. */
export const KVM_MAX_IRQ_ROUTES = 4096;

// `kvm_clock_data.flags`.
/** `KVM_CLOCK_TSC_STABLE`: a bit of `kvm_clock_data.flags`. */
export const KVM_CLOCK_TSC_STABLE = 2;
/** `KVM_CLOCK_REALTIME`: a bit of `kvm_clock_data.flags`. */
export const KVM_CLOCK_REALTIME = 1 << 2;
/** `KVM_CLOCK_HOST_TSC`: a bit of `kvm_clock_data.flags`. */
export const KVM_CLOCK_HOST_TSC = 1 << 3;

// KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 `args[0]`.
/** `KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE`: a bit of KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2's `args[0]`. */
export const KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE = 1 << 0;
/** `KVM_DIRTY_LOG_INITIALLY_SET`: a bit of KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2's `args[0]`. */
export const KVM_DIRTY_LOG_INITIALLY_SET = 1 << 1;

// KVM_CAP_X86_USER_SPACE_MSR `args[0]`, and `kvm_run.msr.reason`.
/** `KVM_MSR_EXIT_REASON_INVAL`: a bit of KVM_CAP_X86_USER_SPACE_MSR's `args[0]`, and a value of `kvm_run.msr.reason`. */
export const KVM_MSR_EXIT_REASON_INVAL = 1 << 0;
/** `KVM_MSR_EXIT_REASON_UNKNOWN`: a bit of KVM_CAP_X86_USER_SPACE_MSR's `args[0]`, and a value of `kvm_run.msr.reason`. */
export const KVM_MSR_EXIT_REASON_UNKNOWN = 1 << 1;
/** `KVM_MSR_EXIT_REASON_FILTER`: a bit of KVM_CAP_X86_USER_SPACE_MSR's `args[0]`, and a value of `kvm_run.msr.reason`. */
export const KVM_MSR_EXIT_REASON_FILTER = 1 << 2;

// `kvm_msr_filter.flags` and `kvm_msr_filter_range.flags`.
/** `KVM_MSR_FILTER_DEFAULT_ALLOW`: for `kvm_msr_filter.flags` and `kvm_msr_filter_range.flags`. */
export const KVM_MSR_FILTER_DEFAULT_ALLOW = 0;
/** `KVM_MSR_FILTER_DEFAULT_DENY`: for `kvm_msr_filter.flags` and `kvm_msr_filter_range.flags`. */
export const KVM_MSR_FILTER_DEFAULT_DENY = 1 << 0;
/** `KVM_MSR_FILTER_READ`: for `kvm_msr_filter.flags` and `kvm_msr_filter_range.flags`. */
export const KVM_MSR_FILTER_READ = 1 << 0;
/** `KVM_MSR_FILTER_WRITE`: for `kvm_msr_filter.flags` and `kvm_msr_filter_range.flags`. */
export const KVM_MSR_FILTER_WRITE = 1 << 1;
/** `KVM_MSR_FILTER_MAX_RANGES`: for `kvm_msr_filter.flags` and `kvm_msr_filter_range.flags`. */
export const KVM_MSR_FILTER_MAX_RANGES = 16;
/** The largest bitmap of one MSR filter range, in bytes. */
export const KVM_MSR_FILTER_MAX_BITMAP_SIZE = 0x600;

// `kvm_run.kvm_valid_regs` / `kvm_dirty_regs` bits (KVM_CAP_SYNC_REGS).
/** `KVM_SYNC_X86_REGS`: a bit of `kvm_run.kvm_valid_regs` / `kvm_dirty_regs` (KVM_CAP_SYNC_REGS). */
export const KVM_SYNC_X86_REGS = 1 << 0;
/** `KVM_SYNC_X86_SREGS`: a bit of `kvm_run.kvm_valid_regs` / `kvm_dirty_regs` (KVM_CAP_SYNC_REGS). */
export const KVM_SYNC_X86_SREGS = 1 << 1;
/** `KVM_SYNC_X86_EVENTS`: a bit of `kvm_run.kvm_valid_regs` / `kvm_dirty_regs` (KVM_CAP_SYNC_REGS). */
export const KVM_SYNC_X86_EVENTS = 1 << 2;

/** `kvm_sregs2.flags`. */
export const KVM_SREGS2_FLAGS_PDPTRS_VALID = 1;

/** The page of a vCPU's mmap that holds the coalesced MMIO ring, on x86. */
export const KVM_COALESCED_MMIO_PAGE_OFFSET = 2;

// `kvm_userspace_memory_region.flags`.
/** `KVM_MEM_LOG_DIRTY_PAGES`: a bit of `kvm_userspace_memory_region.flags`. */
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
/** `KVM_MEM_READONLY`: a bit of `kvm_userspace_memory_region.flags`. */
export const KVM_MEM_READONLY = 1 << 1;

// `kvm_guest_debug.control`.
/** `KVM_GUESTDBG_ENABLE`: a bit of `kvm_guest_debug.control`. */
export const KVM_GUESTDBG_ENABLE = 0x00000001;
/** `KVM_GUESTDBG_SINGLESTEP`: a bit of `kvm_guest_debug.control`. */
export const KVM_GUESTDBG_SINGLESTEP = 0x00000002;
/** `KVM_GUESTDBG_USE_SW_BP`: a bit of `kvm_guest_debug.control`. */
export const KVM_GUESTDBG_USE_SW_BP = 0x00010000;
/** `KVM_GUESTDBG_USE_HW_BP`: a bit of `kvm_guest_debug.control`. */
export const KVM_GUESTDBG_USE_HW_BP = 0x00020000;
/** `KVM_GUESTDBG_INJECT_DB`: a bit of `kvm_guest_debug.control`. */
export const KVM_GUESTDBG_INJECT_DB = 0x00040000;
/** `KVM_GUESTDBG_INJECT_BP`: a bit of `kvm_guest_debug.control`. */
export const KVM_GUESTDBG_INJECT_BP = 0x00080000;
/** `KVM_GUESTDBG_BLOCKIRQ`: a bit of `kvm_guest_debug.control`. */
export const KVM_GUESTDBG_BLOCKIRQ = 0x00100000;

// `kvm_mp_state.mp_state`.
/** MP state `KVM_MP_STATE_RUNNABLE` (`kvm_mp_state.mp_state`), for `getMpState`/`setMpState`. */
export const KVM_MP_STATE_RUNNABLE = 0;
/** MP state `KVM_MP_STATE_UNINITIALIZED` (`kvm_mp_state.mp_state`), for `getMpState`/`setMpState`. */
export const KVM_MP_STATE_UNINITIALIZED = 1;
/** MP state `KVM_MP_STATE_INIT_RECEIVED` (`kvm_mp_state.mp_state`), for `getMpState`/`setMpState`. */
export const KVM_MP_STATE_INIT_RECEIVED = 2;
/** MP state `KVM_MP_STATE_HALTED` (`kvm_mp_state.mp_state`), for `getMpState`/`setMpState`. */
export const KVM_MP_STATE_HALTED = 3;
/** MP state `KVM_MP_STATE_SIPI_RECEIVED` (`kvm_mp_state.mp_state`), for `getMpState`/`setMpState`. */
export const KVM_MP_STATE_SIPI_RECEIVED = 4;

/** `kvm_cpuid_entry2.flags`. */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0;

/** `kvm_pit_config.flags`. */
export const KVM_PIT_SPEAKER_DUMMY = 1;

/** The size of `kvm_lapic_state.regs`. */
export const KVM_APIC_REG_SIZE = 0x400;
/** The most entries `kvm_xcrs` holds. */
export const KVM_MAX_XCRS = 16;
/** The kernel's page size on x86. */
export const PAGE_SIZE = 4096;

// MSR indices (SDM vol. 4, AMD APM vol. 2).
/** MSR index `MSR_IA32_TSC` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_IA32_TSC = 0x10;
/** MSR index `MSR_IA32_APICBASE` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_IA32_APICBASE = 0x1b;
/** MSR index `MSR_IA32_SYSENTER_CS` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_IA32_SYSENTER_CS = 0x174;
/** MSR index `MSR_IA32_SYSENTER_ESP` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_IA32_SYSENTER_ESP = 0x175;
/** MSR index `MSR_IA32_SYSENTER_EIP` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_IA32_SYSENTER_EIP = 0x176;
/** MSR index `MSR_IA32_MISC_ENABLE` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_IA32_MISC_ENABLE = 0x1a0;
/** MSR index `MSR_IA32_CR_PAT` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_IA32_CR_PAT = 0x277;
/** MSR index `MSR_EFER` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_EFER = 0xc0000080;
/** MSR index `MSR_STAR` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_STAR = 0xc0000081;
/** MSR index `MSR_LSTAR` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_LSTAR = 0xc0000082;
/** MSR index `MSR_CSTAR` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_CSTAR = 0xc0000083;
/** MSR index `MSR_SYSCALL_MASK` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_SYSCALL_MASK = 0xc0000084;
/** MSR index `MSR_FS_BASE` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_FS_BASE = 0xc0000100;
/** MSR index `MSR_GS_BASE` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_GS_BASE = 0xc0000101;
/** MSR index `MSR_KERNEL_GS_BASE` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_KERNEL_GS_BASE = 0xc0000102;
/** MSR index `MSR_TSC_AUX` (SDM vol. 4, AMD APM vol. 2), for `getMsrs`/`setMsrs`. */
export const MSR_TSC_AUX = 0xc0000103;
/** The kvmclock MSR (KVM_FEATURE_CLOCKSOURCE2): guest-physical address of its pvclock page, bit 0 enables. */
export const MSR_KVM_SYSTEM_TIME_NEW = 0x4b564d01;

// CR0 bits.
/** CR0 bit `X86_CR0_PE` (`Sregs.cr0`). */
export const X86_CR0_PE = 1n << 0n;
/** CR0 bit `X86_CR0_MP` (`Sregs.cr0`). */
export const X86_CR0_MP = 1n << 1n;
/** CR0 bit `X86_CR0_EM` (`Sregs.cr0`). */
export const X86_CR0_EM = 1n << 2n;
/** CR0 bit `X86_CR0_TS` (`Sregs.cr0`). */
export const X86_CR0_TS = 1n << 3n;
/** CR0 bit `X86_CR0_ET` (`Sregs.cr0`). */
export const X86_CR0_ET = 1n << 4n;
/** CR0 bit `X86_CR0_NE` (`Sregs.cr0`). */
export const X86_CR0_NE = 1n << 5n;
/** CR0 bit `X86_CR0_WP` (`Sregs.cr0`). */
export const X86_CR0_WP = 1n << 16n;
/** CR0 bit `X86_CR0_AM` (`Sregs.cr0`). */
export const X86_CR0_AM = 1n << 18n;
/** CR0 bit `X86_CR0_NW` (`Sregs.cr0`). */
export const X86_CR0_NW = 1n << 29n;
/** CR0 bit `X86_CR0_CD` (`Sregs.cr0`). */
export const X86_CR0_CD = 1n << 30n;
/** CR0 bit `X86_CR0_PG` (`Sregs.cr0`). */
export const X86_CR0_PG = 1n << 31n;

// CR4 bits.
/** CR4 bit `X86_CR4_VME` (`Sregs.cr4`). */
export const X86_CR4_VME = 1n << 0n;
/** CR4 bit `X86_CR4_PVI` (`Sregs.cr4`). */
export const X86_CR4_PVI = 1n << 1n;
/** CR4 bit `X86_CR4_TSD` (`Sregs.cr4`). */
export const X86_CR4_TSD = 1n << 2n;
/** CR4 bit `X86_CR4_DE` (`Sregs.cr4`). */
export const X86_CR4_DE = 1n << 3n;
/** CR4 bit `X86_CR4_PSE` (`Sregs.cr4`). */
export const X86_CR4_PSE = 1n << 4n;
/** CR4 bit `X86_CR4_PAE` (`Sregs.cr4`). */
export const X86_CR4_PAE = 1n << 5n;
/** CR4 bit `X86_CR4_MCE` (`Sregs.cr4`). */
export const X86_CR4_MCE = 1n << 6n;
/** CR4 bit `X86_CR4_PGE` (`Sregs.cr4`). */
export const X86_CR4_PGE = 1n << 7n;
/** CR4 bit `X86_CR4_PCE` (`Sregs.cr4`). */
export const X86_CR4_PCE = 1n << 8n;
/** CR4 bit `X86_CR4_OSFXSR` (`Sregs.cr4`). */
export const X86_CR4_OSFXSR = 1n << 9n;
/** CR4 bit `X86_CR4_OSXMMEXCPT` (`Sregs.cr4`). */
export const X86_CR4_OSXMMEXCPT = 1n << 10n;
/** CR4 bit `X86_CR4_UMIP` (`Sregs.cr4`). */
export const X86_CR4_UMIP = 1n << 11n;
/** CR4 bit `X86_CR4_FSGSBASE` (`Sregs.cr4`). */
export const X86_CR4_FSGSBASE = 1n << 16n;
/** CR4 bit `X86_CR4_PCIDE` (`Sregs.cr4`). */
export const X86_CR4_PCIDE = 1n << 17n;
/** CR4 bit `X86_CR4_OSXSAVE` (`Sregs.cr4`). */
export const X86_CR4_OSXSAVE = 1n << 18n;
/** CR4 bit `X86_CR4_SMEP` (`Sregs.cr4`). */
export const X86_CR4_SMEP = 1n << 20n;
/** CR4 bit `X86_CR4_SMAP` (`Sregs.cr4`). */
export const X86_CR4_SMAP = 1n << 21n;

// EFER bits.
/** EFER bit `EFER_SCE` (`Sregs.efer`). */
export const EFER_SCE = 1n << 0n;
/** EFER bit `EFER_LME` (`Sregs.efer`). */
export const EFER_LME = 1n << 8n;
/** EFER bit `EFER_LMA` (`Sregs.efer`). */
export const EFER_LMA = 1n << 10n;
/** EFER bit `EFER_NX` (`Sregs.efer`). */
export const EFER_NX = 1n << 11n;

// RFLAGS bits.
/** RFLAGS bit `X86_EFLAGS_CF` (`Regs.rflags`). */
export const X86_EFLAGS_CF = 1 << 0;
/** RFLAGS bit `X86_EFLAGS_FIXED` (`Regs.rflags`). */
export const X86_EFLAGS_FIXED = 1 << 1;
/** RFLAGS bit `X86_EFLAGS_PF` (`Regs.rflags`). */
export const X86_EFLAGS_PF = 1 << 2;
/** RFLAGS bit `X86_EFLAGS_AF` (`Regs.rflags`). */
export const X86_EFLAGS_AF = 1 << 4;
/** RFLAGS bit `X86_EFLAGS_ZF` (`Regs.rflags`). */
export const X86_EFLAGS_ZF = 1 << 6;
/** RFLAGS bit `X86_EFLAGS_SF` (`Regs.rflags`). */
export const X86_EFLAGS_SF = 1 << 7;
/** RFLAGS bit `X86_EFLAGS_TF` (`Regs.rflags`). */
export const X86_EFLAGS_TF = 1 << 8;
/** RFLAGS bit `X86_EFLAGS_IF` (`Regs.rflags`). */
export const X86_EFLAGS_IF = 1 << 9;
/** RFLAGS bit `X86_EFLAGS_DF` (`Regs.rflags`). */
export const X86_EFLAGS_DF = 1 << 10;
/** RFLAGS bit `X86_EFLAGS_OF` (`Regs.rflags`). */
export const X86_EFLAGS_OF = 1 << 11;
/** RFLAGS bit `X86_EFLAGS_IOPL` (`Regs.rflags`). */
export const X86_EFLAGS_IOPL = 3 << 12;
/** RFLAGS bit `X86_EFLAGS_NT` (`Regs.rflags`). */
export const X86_EFLAGS_NT = 1 << 14;
/** RFLAGS bit `X86_EFLAGS_RF` (`Regs.rflags`). */
export const X86_EFLAGS_RF = 1 << 16;
/** RFLAGS bit `X86_EFLAGS_VM` (`Regs.rflags`). */
export const X86_EFLAGS_VM = 1 << 17;
/** RFLAGS bit `X86_EFLAGS_AC` (`Regs.rflags`). */
export const X86_EFLAGS_AC = 1 << 18;
/** RFLAGS bit `X86_EFLAGS_ID` (`Regs.rflags`). */
export const X86_EFLAGS_ID = 1 << 21;

// DR7 bits: local enable of breakpoint n is bit 2n; R/W at 16+4n; LEN at 18+4n.
/** DR7 bit `DR7_GE` (local enable of breakpoint n is bit 2n; R/W at 16+4n; LEN at 18+4n). */
export const DR7_GE = 1 << 9;
/** DR7 bit `DR7_LE` (local enable of breakpoint n is bit 2n; R/W at 16+4n; LEN at 18+4n). */
export const DR7_LE = 1 << 8;
/** DR6 bits. */
export const DR6_BS = 1 << 14;
/** DR6 value after reset (bits that read as 1). */
export const DR6_FIXED_1 = 0xffff0ff0;
/** DR7 value after reset. */
export const DR7_FIXED_1 = 0x400;
