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
  eventFd: EventFd;
  /** KVM_IRQFD_FLAG_RESAMPLE: a level-triggered line, de-asserted at the guest's EOI, which then signals this eventfd (`resamplefd`). */
  resample?: EventFd;
  /** KVM_IRQFD_FLAG_DEASSIGN: disconnects `eventFd` from `gsi`. */
  deassign?: boolean;
}

/** One entry of `Vm.setGsiRouting` (`struct kvm_irq_routing_entry`): a GSI to an irqchip pin, or to an MSI. */
export type GsiRoute =
  | {
    gsi: number;
    type: "irqchip";
    /** KVM_IRQCHIP_PIC_MASTER (0), KVM_IRQCHIP_PIC_SLAVE (1) or KVM_IRQCHIP_IOAPIC (2). */
    irqchip: 0 | 1 | 2;
    pin: number;
  }
  | {
    gsi: number;
    type: "msi";
    addressLo: number;
    addressHi?: number;
    data: number;
  };

/** An MSI for `Vm.signalMsi` (`struct kvm_msi`). On x86, `addressLo` is 0xfeeXXXXX (destination APIC in bits 12-19) and `data` holds the vector. */
export interface Msi {
  addressLo: number;
  addressHi?: number;
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
  physAddr: bigint;
  len: number;
  /** 1 for a port write, 0 for MMIO. */
  pio: number;
  /** The `len` bytes written (a copy). */
  data: Uint8Array;
}

/** Options of `Vm.enableCap` (`struct kvm_enable_cap`). */
export interface EnableCapOptions {
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
  clock: bigint;
  /** KVM_CLOCK_REALTIME: `realtime` is valid, and the kernel advances `clock` by the time since then. */
  flags?: number;
  realtime?: bigint;
  hostTsc?: bigint;
}

/** Which register sets KVM_RUN keeps in `kvm_run.s` (KVM_SYNC_X86_REGS / _SREGS / _EVENTS). */
export interface SyncRegsSets {
  regs?: boolean;
  sregs?: boolean;
  events?: boolean;
}
