/**
 * The structs of the VM ioctls: memory slots and dirty logs, the in-kernel
 * irqchip and PIT, eventfds, GSI routing and MSIs, coalesced MMIO, MSR
 * filters, enabled capabilities and the clock. Declared as structs.ts
 * declares every struct (kernel member names and types, in the header's
 * order; sizes and offsets from the generated `_layout.ts`).
 *
 * @module
 */
import { f, StructCodec, u32, u64, u8 } from "./_struct.ts";

/** `struct kvm_userspace_memory_region`: KVM_SET_USER_MEMORY_REGION. */
export interface KvmUserspaceMemoryRegion {
  slot: number;
  flags: number;
  guestPhysAddr: bigint;
  memorySize: bigint;
  userspaceAddr: bigint;
}
/** Codec of `struct kvm_userspace_memory_region`. */
export const kvmUserspaceMemoryRegion = new StructCodec<KvmUserspaceMemoryRegion>("kvm_userspace_memory_region", [
  f("slot", u32),
  f("flags", u32),
  f("guest_phys_addr", u64),
  f("memory_size", u64),
  f("userspace_addr", u64),
]);

/** `struct kvm_dirty_log`: KVM_GET_DIRTY_LOG (`dirty_bitmap` is a user pointer). */
export interface KvmDirtyLog {
  slot: number;
  dirtyBitmap: bigint;
}
/** Codec of `struct kvm_dirty_log`. */
export const kvmDirtyLog = new StructCodec<KvmDirtyLog>("kvm_dirty_log", [f("slot", u32), f("dirty_bitmap", u64)]);

/** `struct kvm_irq_level`: KVM_IRQ_LINE. */
export const kvmIrqLevel = new StructCodec<{ irq: number; level: number }>("kvm_irq_level", [
  f("irq", u32),
  f("level", u32),
]);

/** `struct kvm_pit_config`: KVM_CREATE_PIT2. */
export const kvmPitConfig = new StructCodec<{ flags: number }>("kvm_pit_config", [f("flags", u32)]);

/** `struct kvm_irqchip`: KVM_GET_IRQCHIP / KVM_SET_IRQCHIP; `chip` is the union of kvm_pic_state and kvm_ioapic_state. */
export const kvmIrqchip = new StructCodec<{ chipId: number; chip: Uint8Array }>("kvm_irqchip", [
  f("chip_id", u32),
  f("pad", u32),
  f("chip", { bytes: 512 }),
]);

/** `struct kvm_pit_state2`: KVM_GET_PIT2 / KVM_SET_PIT2; `channels` are three kvm_pit_channel_state. */
export const kvmPitState2 = new StructCodec<{ channels: Uint8Array; flags: number }>("kvm_pit_state2", [
  f("channels", { bytes: 72 }),
  f("flags", u32),
  f("reserved", u32, 9),
]);

/** `struct kvm_ioeventfd`: KVM_IOEVENTFD. */
export interface KvmIoeventfd {
  datamatch: bigint;
  addr: bigint;
  len: number;
  fd: number;
  flags: number;
}
/** Codec of `struct kvm_ioeventfd`. */
export const kvmIoeventfd = new StructCodec<KvmIoeventfd>("kvm_ioeventfd", [
  f("datamatch", u64),
  f("addr", u64),
  f("len", u32),
  f("fd", "s32"),
  f("flags", u32),
]);

/** `struct kvm_irqfd`: KVM_IRQFD. */
export interface KvmIrqfd {
  fd: number;
  gsi: number;
  flags: number;
  resamplefd: number;
}
/** Codec of `struct kvm_irqfd`. */
export const kvmIrqfd = new StructCodec<KvmIrqfd>("kvm_irqfd", [
  f("fd", u32),
  f("gsi", u32),
  f("flags", u32),
  f("resamplefd", u32),
]);

/** `struct kvm_irq_routing_irqchip`: a GSI routed to a pin of the PIC or IOAPIC. */
export interface KvmIrqRoutingIrqchip {
  irqchip: number;
  pin: number;
}
/** Codec of `struct kvm_irq_routing_irqchip`. */
export const kvmIrqRoutingIrqchip = new StructCodec<KvmIrqRoutingIrqchip>("kvm_irq_routing_irqchip", [
  f("irqchip", u32),
  f("pin", u32),
]);

/** `struct kvm_irq_routing_msi`: a GSI that sends an MSI. */
export interface KvmIrqRoutingMsi {
  addressLo: number;
  addressHi: number;
  data: number;
  devid: number;
}
/** Codec of `struct kvm_irq_routing_msi`. */
export const kvmIrqRoutingMsi = new StructCodec<KvmIrqRoutingMsi>("kvm_irq_routing_msi", [
  f("address_lo", u32),
  f("address_hi", u32),
  f("data", u32),
  f("devid", u32),
]);

/** `struct kvm_irq_routing_entry`. `u` is a union: encode exactly one of `irqchip` and `msi`. */
export interface KvmIrqRoutingEntry {
  gsi: number;
  type: number;
  flags: number;
  irqchip?: KvmIrqRoutingIrqchip;
  msi?: KvmIrqRoutingMsi;
}
/** Codec of `struct kvm_irq_routing_entry`. */
export const kvmIrqRoutingEntry = new StructCodec<KvmIrqRoutingEntry>("kvm_irq_routing_entry", [
  f("gsi", u32),
  f("type", u32),
  f("flags", u32),
  f("u.irqchip", kvmIrqRoutingIrqchip),
  f("u.msi", kvmIrqRoutingMsi),
]);

/** `struct kvm_irq_routing` header (entries follow): KVM_SET_GSI_ROUTING. */
export const kvmIrqRouting = new StructCodec<{ nr: number; flags: number }>("kvm_irq_routing", [
  f("nr", u32),
  f("flags", u32),
  f("entries", u8, 0),
]);

/** `struct kvm_msi`: KVM_SIGNAL_MSI. */
export interface KvmMsi {
  addressLo: number;
  addressHi: number;
  data: number;
  flags: number;
  devid: number;
}
/** Codec of `struct kvm_msi`. */
export const kvmMsi = new StructCodec<KvmMsi>("kvm_msi", [
  f("address_lo", u32),
  f("address_hi", u32),
  f("data", u32),
  f("flags", u32),
  f("devid", u32),
]);

/** `struct kvm_coalesced_mmio_zone`: KVM_REGISTER_COALESCED_MMIO / KVM_UNREGISTER_COALESCED_MMIO. */
export interface KvmCoalescedMmioZone {
  addr: bigint;
  size: number;
  pio: number;
}
/** Codec of `struct kvm_coalesced_mmio_zone`. */
export const kvmCoalescedMmioZone = new StructCodec<KvmCoalescedMmioZone>("kvm_coalesced_mmio_zone", [
  f("addr", u64),
  f("size", u32),
  f("pio", u32),
]);

/** `struct kvm_coalesced_mmio`: one entry of the coalesced MMIO/PIO ring. */
export interface KvmCoalescedMmio {
  physAddr: bigint;
  len: number;
  pio: number;
  data: Uint8Array;
}
/** Codec of `struct kvm_coalesced_mmio`. */
export const kvmCoalescedMmio = new StructCodec<KvmCoalescedMmio>("kvm_coalesced_mmio", [
  f("phys_addr", u64),
  f("len", u32),
  f("pio", u32),
  f("data", { bytes: 8 }),
]);

/** `struct kvm_coalesced_mmio_ring` header (entries follow), at page KVM_COALESCED_MMIO_PAGE_OFFSET of a vCPU's mmap. */
export const kvmCoalescedMmioRing = new StructCodec<{ first: number; last: number }>("kvm_coalesced_mmio_ring", [
  f("first", u32),
  f("last", u32),
  f("coalesced_mmio", u8, 0),
]);

/** `struct kvm_clear_dirty_log`: KVM_CLEAR_DIRTY_LOG (`dirty_bitmap` is a user pointer). */
export interface KvmClearDirtyLog {
  slot: number;
  numPages: number;
  firstPage: bigint;
  dirtyBitmap: bigint;
}
/** Codec of `struct kvm_clear_dirty_log`. */
export const kvmClearDirtyLog = new StructCodec<KvmClearDirtyLog>("kvm_clear_dirty_log", [
  f("slot", u32),
  f("num_pages", u32),
  f("first_page", u64),
  f("dirty_bitmap", u64),
]);

/** `struct kvm_enable_cap`: KVM_ENABLE_CAP. */
export interface KvmEnableCap {
  cap: number;
  flags: number;
  args: bigint[];
}
/** Codec of `struct kvm_enable_cap`. */
export const kvmEnableCap = new StructCodec<KvmEnableCap>("kvm_enable_cap", [
  f("cap", u32),
  f("flags", u32),
  f("args", u64, 4),
]);

/** `struct kvm_msr_filter_range` (`bitmap` is a user pointer). */
export interface KvmMsrFilterRange {
  flags: number;
  nmsrs: number;
  base: number;
  bitmap: bigint;
}
/** Codec of `struct kvm_msr_filter_range`. */
export const kvmMsrFilterRange = new StructCodec<KvmMsrFilterRange>("kvm_msr_filter_range", [
  f("flags", u32),
  f("nmsrs", u32),
  f("base", u32),
  f("bitmap", u64),
]);

/** `struct kvm_msr_filter`: KVM_X86_SET_MSR_FILTER (at most KVM_MSR_FILTER_MAX_RANGES = 16 ranges). */
export interface KvmMsrFilter {
  flags: number;
  ranges: KvmMsrFilterRange[];
}
/** Codec of `struct kvm_msr_filter`. */
export const kvmMsrFilter = new StructCodec<KvmMsrFilter>("kvm_msr_filter", [
  f("flags", u32),
  f("ranges", kvmMsrFilterRange, 16),
]);

/** `struct kvm_clock_data`: KVM_GET_CLOCK / KVM_SET_CLOCK. */
export interface ClockData {
  /** The guest's kvmclock time in nanoseconds. */
  clock: bigint;
  /** KVM_CLOCK_* bits: which of the other members are valid. */
  flags: number;
  /** CLOCK_REALTIME in nanoseconds when `clock` was read (KVM_CLOCK_REALTIME). */
  realtime: bigint;
  /** The host TSC when `clock` was read (KVM_CLOCK_HOST_TSC). */
  hostTsc: bigint;
}
/** Codec of `struct kvm_clock_data`. */
export const kvmClockData = new StructCodec<ClockData>("kvm_clock_data", [
  f("clock", u64),
  f("flags", u32),
  f("realtime", u64),
  f("host_tsc", u64),
]);
