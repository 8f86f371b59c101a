/**
 * The argument and result types of the VMM-plumbing ioctls (eventfds, GSI
 * routing, MSIs, coalesced MMIO, manual dirty-log protect, MSR filters,
 * clocks). Kernel names in camelCase; `__u64` members are bigints, and
 * address-like inputs accept `number | bigint`.
 *
 * @module
 */
import type { EventFd } from "./eventfd.ts";

/** Options of `Vm.ioeventfd` (`struct kvm_ioeventfd`). */
export interface IoEventFdOptions {
  /** The guest-physical MMIO address, or with `pio` the port. */
  addr: number | bigint;
  /** The access size that matches: 1, 2, 4 or 8; 0 matches any size (KVM_CAP_IOEVENTFD_ANY_LENGTH). */
  len: 0 | 1 | 2 | 4 | 8;
  /** Signalled by every matching guest write. */
  eventFd: EventFd;
  /** Only a write of this value matches (KVM_IOEVENTFD_FLAG_DATAMATCH). */
  datamatch?: number | bigint;
  /** `addr` is an I/O port (KVM_IOEVENTFD_FLAG_PIO). */
  pio?: boolean;
  /** Removes the ioeventfd registered with the same addr, len, pio, datamatch and eventFd (KVM_IOEVENTFD_FLAG_DEASSIGN). */
  deassign?: boolean;
}

/** Options of `Vm.irqfd` (`struct kvm_irqfd`). */
export interface IrqFdOptions {
  /** The GSI that a signal of `eventFd` raises. */
  gsi: number;
  /** The eventfd whose signal raises `gsi`. */
  eventFd: EventFd;
  /** KVM_IRQFD_FLAG_RESAMPLE: a level-triggered line, de-asserted at the guest's EOI, which then signals this eventfd (`resamplefd`). */
  resample?: EventFd;
  /** KVM_IRQFD_FLAG_DEASSIGN: disconnects `eventFd` from `gsi`. */
  deassign?: boolean;
}

/** One entry of `Vm.setGsiRouting` (`struct kvm_irq_routing_entry`): a GSI to an irqchip pin, or to an MSI. */
export type GsiRoute =
  | {
    /** The GSI this route applies to. */
    gsi: number;
    /** A route to an interrupt controller's pin (KVM_IRQ_ROUTING_IRQCHIP). */
    type: "irqchip";
    /** KVM_IRQCHIP_PIC_MASTER (0), KVM_IRQCHIP_PIC_SLAVE (1) or KVM_IRQCHIP_IOAPIC (2). */
    irqchip: 0 | 1 | 2;
    /** The pin of `irqchip` the GSI drives (0-7 on a PIC, 0-23 on the IOAPIC). */
    pin: number;
  }
  | {
    /** The GSI this route applies to. */
    gsi: number;
    /** A route to an MSI (KVM_IRQ_ROUTING_MSI). */
    type: "msi";
    /** The MSI address, low 32 bits (0xfeeXXXXX on x86). */
    addressLo: number;
    /** The MSI address, high 32 bits. Default 0. */
    addressHi?: number;
    /** The MSI data (the vector and delivery mode on x86). */
    data: number;
  };

/** An MSI for `Vm.signalMsi` (`struct kvm_msi`). On x86, `addressLo` is 0xfeeXXXXX (destination APIC in bits 12-19) and `data` holds the vector. */
export interface Msi {
  /** The MSI address, low 32 bits. */
  addressLo: number;
  /** The MSI address, high 32 bits. Default 0. */
  addressHi?: number;
  /** The MSI data. */
  data: number;
}

/** A coalesced MMIO or PIO zone (`struct kvm_coalesced_mmio_zone`). */
export interface CoalescedZone {
  /** Guest-physical address, or with `pio` the first port. */
  addr: number | bigint;
  /** Bytes (or ports) in the zone. */
  size: number;
  /** A port range (KVM_CAP_COALESCED_PIO) instead of MMIO. */
  pio?: boolean;
}

/** One guest write recorded in the coalesced ring (`struct kvm_coalesced_mmio`). */
export interface CoalescedMmio {
  /** The guest-physical address (or port) written. */
  physAddr: bigint;
  /** How many bytes were written. */
  len: number;
  /** 1 for a port write, 0 for MMIO. */
  pio: number;
  /** The `len` bytes written (a copy). */
  data: Uint8Array;
}

/** Options of `Vm.enableCap` (`struct kvm_enable_cap`). */
export interface EnableCapOptions {
  /** `kvm_enable_cap.flags`; 0 for every capability kvmkit knows. Default 0. */
  flags?: number;
  /** Up to four arguments; their meaning depends on the capability. */
  args?: readonly (number | bigint)[];
}

/** One range of an MSR filter (`struct kvm_msr_filter_range`). */
export interface MsrFilterRange {
  /** The accesses this range filters: KVM_MSR_FILTER_READ and/or KVM_MSR_FILTER_WRITE. */
  flags: { read?: boolean; write?: boolean };
  /** The first MSR index of the range. */
  base: number;
  /** MSRs in the range; default `bitmap.length * 8`. */
  nmsrs?: number;
  /** Bit i (bit i%8 of byte i/8) for MSR base+i: 1 allows the access, 0 denies it (a #GP, or a userspace exit with KVM_MSR_EXIT_REASON_FILTER). */
  bitmap: Uint8Array;
}

/** An MSR filter for `Vm.setMsrFilter` (`struct kvm_msr_filter`). */
export interface MsrFilter {
  /** KVM_MSR_FILTER_DEFAULT_DENY: MSRs no range covers are denied. Default: allowed. */
  defaultDeny?: boolean;
  /** At most 16 ranges. */
  ranges: readonly MsrFilterRange[];
}

/** What `Vm.setClock` takes: `struct kvm_clock_data` (a `getClock()` result is accepted as is). */
export interface ClockInput {
  /** The guest's kvmclock time in nanoseconds. */
  clock: bigint;
  /** KVM_CLOCK_REALTIME: `realtime` is valid, and the kernel advances `clock` by the time since then. */
  flags?: number;
  /** CLOCK_REALTIME in nanoseconds when `clock` was taken (with KVM_CLOCK_REALTIME). */
  realtime?: bigint;
  /** The host TSC when `clock` was taken (with KVM_CLOCK_HOST_TSC); ignored by KVM_SET_CLOCK. */
  hostTsc?: bigint;
}

/** Which register sets KVM_RUN keeps in `kvm_run.s` (KVM_SYNC_X86_REGS / _SREGS / _EVENTS). */
export interface SyncRegsSets {
  /** KVM_SYNC_X86_REGS: the general-purpose registers (`kvm_regs`). */
  regs?: boolean;
  /** KVM_SYNC_X86_SREGS: the segment and control registers (`kvm_sregs`). */
  sregs?: boolean;
  /** KVM_SYNC_X86_EVENTS: pending exceptions, interrupts and NMIs (`kvm_vcpu_events`). */
  events?: boolean;
}
