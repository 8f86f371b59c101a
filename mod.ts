/**
 * kvmkit: virtual machines for Deno and Bun. A `Kvm` (the /dev/kvm handle,
 * or the in-process emulator's) creates `Vm`s; a `Vm` creates `Vcpu`s; each
 * object owns one descriptor, and a vCPU is the object you call.
 *
 * @example
 * ```ts
 * import { Kvm } from "@kvmkit/kvmkit";
 *
 * using kvm = Kvm.open();
 * using vm = kvm.createVm();
 * const mem = vm.allocateMemory(0x10000);
 * mem.bytes.set([0xb0, 0x41, 0xe6, 0xe9, 0xf4], 0x1000); // mov al, 'A'; out 0xe9, al; hlt
 * vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem });
 * using vcpu = vm.createVcpu(0);
 * const sregs = vcpu.getSregs();
 * sregs.cs.base = 0n;
 * sregs.cs.selector = 0;
 * vcpu.setSregs(sregs);
 * vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n, rflags: 2n });
 * for (let exit = vcpu.run(); exit.reason !== "hlt"; exit = vcpu.run()) {
 *   if (exit.reason === "io") console.log(String.fromCharCode(exit.data[0]));
 * }
 * ```
 *
 * @module
 */
export { Kvm, type KvmOptions } from "./kvm.ts";
export { type MemoryRegion, type MemoryRegionInfo, Vm } from "./vm.ts";
export { Vcpu, type VcpuHandoff } from "./vcpu.ts";
export type { GuestDebug, HardwareBreakpoint, Translation } from "./guest_debug.ts";
export { adoptVcpu } from "./thread.ts";
export type { GuestMemory } from "./memory.ts";
export type { ExitOf, MsrExit, VcpuExit } from "./exits.ts";
export { EventFd, type EventFdOptions } from "./eventfd.ts";
export { SyncRegs } from "./sync_regs.ts";
export type {
  ClockInput,
  CoalescedMmio,
  CoalescedZone,
  EnableCapOptions,
  GsiRoute,
  IoEventFdOptions,
  IrqFdOptions,
  Msi,
  MsrFilter,
  MsrFilterRange,
  SyncRegsSets,
} from "./vmm_types.ts";
export { KvmError } from "./errors.ts";
export type { BackendName } from "./kernel.ts";
export type {
  ClockData,
  CpuidEntry,
  DebugRegs,
  DTable,
  Fpu,
  MsrEntry,
  Regs,
  Segment,
  Sregs,
  Sregs2,
  VcpuEvents,
  Xcr,
} from "./abi/structs.ts";
