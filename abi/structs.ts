/**
 * The kvm structs kvmkit passes through ioctls, declared once each: kernel
 * member names and types, in the order of the header. Sizes and offsets come
 * from the generated `_layout.ts` (see tools/gen_layout.ts), and the layout
 * test compiles the kernel headers to prove them. The vCPU's structs are
 * vcpu_structs.ts, the VM's vm_structs.ts; this module declares kvm_run and
 * is the one place to import any of them from.
 *
 * @module
 */
import { f, StructCodec, u16, u32, u64, u8 } from "./_struct.ts";
import * as V from "./vcpu_structs.ts";
import * as M from "./vm_structs.ts";

export * from "./vcpu_structs.ts";
export * from "./vm_structs.ts";

/**
 * `struct kvm_run`, the vCPU's shared page. Only the layout is declared here
 * (the exit union is decoded member by member in exits.ts, without copying).
 */
export const kvmRun = new StructCodec<Record<string, never>>("kvm_run", [
  f("request_interrupt_window", u8),
  f("immediate_exit", u8),
  f("exit_reason", u32),
  f("ready_for_interrupt_injection", u8),
  f("if_flag", u8),
  f("flags", u16),
  f("cr8", u64),
  f("apic_base", u64),
  f("hw.hardware_exit_reason", u64),
  f("fail_entry.hardware_entry_failure_reason", u64),
  f("fail_entry.cpu", u32),
  f("ex.exception", u32),
  f("ex.error_code", u32),
  f("io.direction", u8),
  f("io.size", u8),
  f("io.port", u16),
  f("io.count", u32),
  f("io.data_offset", u64),
  f("debug.arch.exception", u32),
  f("debug.arch.pc", u64),
  f("debug.arch.dr6", u64),
  f("debug.arch.dr7", u64),
  f("mmio.phys_addr", u64),
  f("mmio.data", u8, 8),
  f("mmio.len", u32),
  f("mmio.is_write", u8),
  f("hypercall.nr", u64),
  f("hypercall.args", u64, 6),
  f("hypercall.ret", u64),
  f("hypercall.longmode", u32),
  f("internal.suberror", u32),
  f("internal.ndata", u32),
  f("internal.data", u64, 16),
  f("system_event.type", u32),
  f("system_event.ndata", u32),
  f("system_event.data", u64, 16),
  f("msr.error", u8),
  f("msr.reason", u32),
  f("msr.index", u32),
  f("msr.data", u64),
  f("kvm_valid_regs", u64),
  f("kvm_dirty_regs", u64),
  f("s", u8, 0),
]);

/** Every codec, for the layout generator and the layout test. */
export const ALL_STRUCTS: readonly StructCodec<unknown>[] = [
  M.kvmUserspaceMemoryRegion,
  V.kvmRegs,
  V.kvmSegment,
  V.kvmDtable,
  V.kvmSregs,
  V.kvmMsrEntry,
  V.kvmMsrs,
  V.kvmMsrList,
  V.kvmTranslation,
  V.kvmInterrupt,
  V.kvmGuestDebugArch,
  V.kvmGuestDebug,
  M.kvmDirtyLog,
  V.kvmCpuidEntry2,
  V.kvmCpuid2,
  V.kvmFpu,
  V.kvmLapicState,
  V.kvmMpState,
  V.kvmVcpuEvents,
  V.kvmDebugregs,
  V.kvmXcr,
  V.kvmXcrs,
  M.kvmIrqLevel,
  M.kvmPitConfig,
  M.kvmIrqchip,
  M.kvmPitState2,
  V.kvmSignalMask,
  M.kvmIoeventfd,
  M.kvmIrqfd,
  M.kvmIrqRoutingIrqchip,
  M.kvmIrqRoutingMsi,
  M.kvmIrqRoutingEntry,
  M.kvmIrqRouting,
  M.kvmMsi,
  M.kvmCoalescedMmioZone,
  M.kvmCoalescedMmio,
  M.kvmCoalescedMmioRing,
  M.kvmClearDirtyLog,
  M.kvmEnableCap,
  M.kvmMsrFilterRange,
  M.kvmMsrFilter,
  V.kvmXsave,
  M.kvmClockData,
  V.kvmSregs2,
  V.kvmSyncRegs,
  kvmRun,
] as StructCodec<unknown>[];
