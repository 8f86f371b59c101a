/**
 * Vm: one virtual machine, one descriptor (the VM ioctls of
 * Documentation/virt/kvm/api.rst, section 4).
 *
 * @module
 */
import { Errno } from "./abi/errno.ts";
import * as R from "./abi/requests.ts";
import * as S from "./abi/structs.ts";
import * as C from "./abi/constants.ts";
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, PAGE_SIZE } from "./abi/constants.ts";
import { KvmError } from "./errors.ts";
import { HANDLE, Handle } from "./_handle.ts";
import { encodeGsiRouting, setMsrFilter } from "./internal/encode.ts";
import { withScratch } from "./internal/scratch.ts";
import { unmap } from "./kernel.ts";
import { type GuestMemory, MappedMemory } from "./memory.ts";
import {
  bytesSchema,
  clockSchema,
  coalescedZoneSchema,
  enableCapSchema,
  gsiRoutesSchema,
  ioeventfdSchema,
  irqfdSchema,
  msiSchema,
  msrFilterSchema,
} from "./internal/schemas.ts";
import { address, bit, check, hex, int, rangeCheck, u32, z } from "./internal/validate.ts";
import type * as T from "./vmm_types.ts";
import { Vcpu } from "./vcpu.ts";
import type { Kvm } from "./kvm.ts";

/** A memory slot for {@linkcode Vm.setUserMemoryRegion}. */
export interface MemoryRegion {
  /** The slot number: at most KVM_CAP_NR_MEMSLOTS slots, numbered from 0. */
  slot: number;
  /** Where the memory starts in guest-physical space; page aligned. */
  guestPhysAddr: number | bigint;
  /** null deletes the slot (memory_size 0). */
  memory: GuestMemory | null;
  /** KVM_MEM_LOG_DIRTY_PAGES (`logDirtyPages`: see `getDirtyLog`) and KVM_MEM_READONLY (`readonly`: guest writes become MMIO exits). */
  flags?: { logDirtyPages?: boolean; readonly?: boolean };
}

/** The largest guest memory one allocation may have: 64 GiB (mmap with MAP_NORESERVE). */
const MAX_MEMORY = 64 * 2 ** 30;

const pageAligned = rangeCheck((v: bigint) => v % BigInt(PAGE_SIZE) === 0n, (v) => `${hex(v)} is not page aligned`);

const regionSchema = z.strictObject({
  slot: int(0, 0xffff),
  guestPhysAddr: address.superRefine(pageAligned),
  memory: z.union([z.instanceof(MappedMemory), z.null()]),
  flags: z.strictObject({ logDirtyPages: z.boolean().optional(), readonly: z.boolean().optional() }).optional(),
});

const sizeSchema = int(1, MAX_MEMORY).superRefine(
  rangeCheck((v: number) => v % PAGE_SIZE === 0, (v) => `${v} is not a multiple of the page size (${PAGE_SIZE})`),
);

interface SlotInfo {
  memory: MappedMemory;
  pages: number;
  guestPhysAddr: bigint;
  readonly: boolean;
}

/** A memory slot as {@linkcode Vm.memoryRegions} lists it. */
export interface MemoryRegionInfo {
  /** The slot number. */
  slot: number;
  /** Where the slot starts in guest-physical space. */
  guestPhysAddr: bigint;
  /** The host memory behind the slot. */
  memory: GuestMemory;
  /** Mapped with `flags.readonly`: guest writes are MMIO exits. */
  readonly: boolean;
}

let nextVmId = 1;

/**
 * A virtual machine: memory slots, vCPUs and VM-wide devices.
 *
 * @example
 * ```ts
 * using vm = kvm.createVm();
 * const mem = vm.allocateMemory(0x10000);
 * vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem });
 * using vcpu = vm.createVcpu(0);
 * ```
 */
export class Vm implements Disposable {
  /** The Kvm that created this VM. */
  readonly kvm: Kvm;
  readonly #h: Handle;
  readonly #id = nextVmId++;
  readonly #vcpus = new Set<Vcpu>();
  readonly #slots = new Map<number, SlotInfo>();

  readonly #mmapSize: number;

  /** @internal Created by `Kvm.createVm`. `mmapSize` is KVM_GET_VCPU_MMAP_SIZE. */
  constructor(kvm: Kvm, handle: Handle, mmapSize: number) {
    this.kvm = kvm;
    this.#h = handle;
    this.#mmapSize = mmapSize;
  }

  /** @internal The descriptor, for handing vCPUs to other threads. */
  get [HANDLE](): Handle {
    return this.#h;
  }

  /** @internal Registers a vCPU adopted from another thread, so that close() closes it. */
  adoptVcpu(vcpu: Vcpu): void {
    this.#vcpus.add(vcpu);
  }

  /** @internal Forgets a closed vCPU. */
  forgetVcpu(vcpu: Vcpu): void {
    this.#vcpus.delete(vcpu);
  }

  /** Page-aligned, zero-filled host memory suitable for setUserMemoryRegion (anonymous mmap). */
  allocateMemory(size: number): GuestMemory {
    this.#h.fd("mmap");
    const bytes = check(sizeSchema, size, "size");
    const h = this.#h;
    const m = h.kernel.mmap(-1, bytes);
    if (typeof m === "number") {
      const why = -m === Errno.ENOMEM
        ? ": more than this runtime can view as one ArrayBuffer (Bun: 4 GiB; V8: under 32 GiB); allocate it in parts"
        : "";
      throw new KvmError("mmap", -m, `${bytes} bytes of guest memory${why}`);
    }
    return new MappedMemory(h.kernel, m);
  }

  /**
   * KVM_SET_USER_MEMORY_REGION: maps `memory` at `guestPhysAddr` as slot
   * `slot` (or, with `memory` null, deletes the slot). A slot's memory can be
   * made read-only (guest writes become MMIO exits) or dirty-logged.
   */
  setUserMemoryRegion(region: MemoryRegion): void {
    this.#h.fd("KVM_SET_USER_MEMORY_REGION");
    const r = check(regionSchema, region, "region");
    const h = this.#h;
    const memory = r.memory;
    if (memory && memory.kernel !== h.kernel) {
      throw new TypeError(`region.memory: allocated by a Vm of another backend or vendor (${memory.kernel.name})`);
    }
    let flags = 0;
    if (r.flags?.logDirtyPages) flags |= KVM_MEM_LOG_DIRTY_PAGES;
    if (r.flags?.readonly) flags |= KVM_MEM_READONLY;
    const bytes = S.kvmUserspaceMemoryRegion.toBytes({
      slot: r.slot,
      flags,
      guestPhysAddr: r.guestPhysAddr,
      memorySize: BigInt(memory?.size ?? 0),
      // SAFETY: the slot's memory stays mapped while the slot exists: free() refuses until it is deleted.
      userspaceAddr: memory ? memory.address("KVM_SET_USER_MEMORY_REGION") : 0n,
    });
    h.ioctl("KVM_SET_USER_MEMORY_REGION", R.KVM_SET_USER_MEMORY_REGION, bytes);
    this.#releaseSlot(r.slot);
    if (memory) {
      memory.users.add(this.#slotKey(r.slot));
      this.#slots.set(r.slot, {
        memory,
        pages: memory.size / PAGE_SIZE,
        guestPhysAddr: BigInt(r.guestPhysAddr),
        readonly: r.flags?.readonly ?? false,
      });
    }
  }

  /**
   * The memory slots set by setUserMemoryRegion, by slot number (no ioctl): what a debugger or device model needs to
   * read and write guest-physical memory.
   */
  memoryRegions(): MemoryRegionInfo[] {
    this.#h.fd("memoryRegions");
    return [...this.#slots].sort(([a], [b]) => a - b).map(([slot, s]) => ({
      slot,
      guestPhysAddr: s.guestPhysAddr,
      memory: s.memory,
      readonly: s.readonly,
    }));
  }

  /**
   * KVM_GET_DIRTY_LOG: one bit per 4 KiB page of the slot, bit i of byte j = page j*8+i. Clears the log,
   * except after enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2): then clearDirtyLog does.
   */
  getDirtyLog(slot: number): Uint8Array {
    this.#h.fd("KVM_GET_DIRTY_LOG");
    const s = check(int(0, 0xffff), slot, "slot");
    const h = this.#h;
    const info = this.#slots.get(s);
    if (!info) throw new KvmError("KVM_GET_DIRTY_LOG", Errno.ENOENT, `slot ${s} is not mapped`);
    // The kernel writes whole longs; the bitmap lives in memory of the backend's own.
    const longs = Math.ceil(info.pages / 64);
    return withScratch(h.kernel, longs * 8, "dirty bitmap", (m) => {
      // SAFETY: the kernel writes `longs` longs at m.address, inside the mapping it was just given.
      const arg = S.kvmDirtyLog.toBytes({ slot: s, dirtyBitmap: m.address });
      h.ioctl("KVM_GET_DIRTY_LOG", R.KVM_GET_DIRTY_LOG, arg);
      return new Uint8Array(m.buffer, 0, Math.ceil(info.pages / 8)).slice();
    });
  }

  /**
   * KVM_CREATE_VCPU: a new vCPU with this id (0 to KVM_CAP_MAX_VCPU_ID - 1),
   * with its own descriptor and kvm_run mapping.
   */
  createVcpu(id: number): Vcpu {
    this.#h.fd("KVM_CREATE_VCPU");
    const vcpuId = check(u32, id, "id");
    const h = this.#h;
    const fd = h.ioctlValue("KVM_CREATE_VCPU", R.KVM_CREATE_VCPU, vcpuId);
    const kernel = h.kernel;
    const vh = new Handle(kernel, fd, "vcpu");
    try {
      const size = this.#mmapSize;
      const run = kernel.mmap(fd, size);
      if (typeof run === "number") throw new KvmError("mmap", -run, "kvm_run");
      const r = kernel.prepareVcpu(fd);
      if (r < 0) {
        unmap(kernel, run);
        throw new KvmError("KVM_SET_SIGNAL_MASK", -r);
      }
      const vcpu = new Vcpu(this, vcpuId, vh, run);
      this.#vcpus.add(vcpu);
      return vcpu;
    } catch (e) {
      vh.close();
      throw e;
    }
  }

  /** KVM_CHECK_EXTENSION on the VM descriptor: 0 when absent, else a positive number. */
  checkExtension(cap: number): number {
    this.#h.fd("KVM_CHECK_EXTENSION");
    const c = check(int(0, 0x7fff_ffff), cap, "cap");
    return this.#h.ioctlValue("KVM_CHECK_EXTENSION", R.KVM_CHECK_EXTENSION, c);
  }

  /** KVM_CREATE_IRQCHIP: the in-kernel PIC, IOAPIC and local APICs (before any vCPU). */
  createIrqchip(): void {
    this.#h.ioctlValue("KVM_CREATE_IRQCHIP", R.KVM_CREATE_IRQCHIP, 0);
  }

  /** KVM_IRQ_LINE: sets the level of in-kernel irqchip input `irq`. */
  irqLine(irq: number, level: boolean | 0 | 1): void {
    this.#h.fd("KVM_IRQ_LINE");
    const n = check(u32, irq, "irq");
    const l = check(bit, level, "level");
    this.#h.ioctl("KVM_IRQ_LINE", R.KVM_IRQ_LINE, S.kvmIrqLevel.toBytes({ irq: n, level: l }));
  }

  /**
   * KVM_IRQ_LINE_STATUS: KVM_IRQ_LINE that returns what became of the
   * edge: > 0 delivered (to that many local APICs, or taken by a PIC), 0
   * coalesced with one still pending, < 0 masked or unrouted.
   */
  irqLineStatus(irq: number, level: boolean | 0 | 1): number {
    this.#h.fd("KVM_IRQ_LINE_STATUS");
    const n = check(u32, irq, "irq");
    const l = check(bit, level, "level");
    const buf = S.kvmIrqLevel.toBytes({ irq: n, level: l });
    this.#h.ioctl("KVM_IRQ_LINE_STATUS", R.KVM_IRQ_LINE_STATUS, buf);
    return new DataView(buf.buffer, buf.byteOffset).getInt32(0, true);
  }

  /**
   * KVM_GET_IRQCHIP: the state of in-kernel chip `chipId` (KVM_IRQCHIP_PIC_MASTER 0, KVM_IRQCHIP_PIC_SLAVE 1,
   * KVM_IRQCHIP_IOAPIC 2) as the 512 bytes of kvm_irqchip's union: a kvm_pic_state (16 bytes) or a
   * kvm_ioapic_state (base address, IOREGSEL, ID, IRR, and 24 redirection entries).
   */
  getIrqchip(chipId: number): Uint8Array {
    this.#h.fd("KVM_GET_IRQCHIP");
    const id = check(int(0, 2), chipId, "chipId");
    const buf = S.kvmIrqchip.toBytes({ chipId: id, chip: new Uint8Array(512) });
    this.#h.ioctl("KVM_GET_IRQCHIP", R.KVM_GET_IRQCHIP, buf);
    return buf.slice(S.kvmIrqchip.offsetOf("chip"), S.kvmIrqchip.offsetOf("chip") + 512);
  }

  /** KVM_SET_IRQCHIP: restores chip `chipId` from the 512 bytes `getIrqchip` returned. */
  setIrqchip(chipId: number, state: Uint8Array): void {
    this.#h.fd("KVM_SET_IRQCHIP");
    const id = check(int(0, 2), chipId, "chipId");
    const chip = check(bytesSchema(512), state, "state");
    this.#h.ioctl("KVM_SET_IRQCHIP", R.KVM_SET_IRQCHIP, S.kvmIrqchip.toBytes({ chipId: id, chip }));
  }

  /**
   * KVM_GET_PIT2: the in-kernel PIT's state as kvm_pit_state2's 112 bytes:
   * three kvm_pit_channel_state (24 bytes each: count, latch and mode
   * fields, gate, load time), then the flags (KVM_PIT_FLAGS_SPEAKER_DATA_ON).
   */
  getPit2(): Uint8Array {
    return this.#h.getBytes("KVM_GET_PIT2", R.KVM_GET_PIT2, S.kvmPitState2);
  }

  /** KVM_SET_PIT2: restores it (each channel's count is reloaded now, as the kernel does). */
  setPit2(state: Uint8Array): void {
    this.#h.fd("KVM_SET_PIT2");
    const buf = check(bytesSchema(S.kvmPitState2.size), state, "state");
    this.#h.ioctl("KVM_SET_PIT2", R.KVM_SET_PIT2, buf.slice());
  }

  /** KVM_CREATE_PIT2: the in-kernel i8254 (after KVM_CREATE_IRQCHIP). `flags`: KVM_PIT_SPEAKER_DUMMY. */
  createPit2(flags = 0): void {
    this.#h.fd("KVM_CREATE_PIT2");
    const f = check(int(0, 1), flags, "flags");
    this.#h.ioctl("KVM_CREATE_PIT2", R.KVM_CREATE_PIT2, S.kvmPitConfig.toBytes({ flags: f }));
  }

  /** KVM_SET_TSS_ADDR: three pages of guest-physical space below 4 GiB that Intel's real-mode support needs. */
  setTssAddr(addr: number | bigint): void {
    this.#h.fd("KVM_SET_TSS_ADDR");
    const a = check(address.superRefine(below4G), addr, "addr");
    this.#h.ioctlValue("KVM_SET_TSS_ADDR", R.KVM_SET_TSS_ADDR, Number(a));
  }

  /** KVM_SET_IDENTITY_MAP_ADDR: one page of guest-physical space below 4 GiB for Intel's real-mode identity map. */
  setIdentityMapAddr(addr: number | bigint): void {
    this.#h.fd("KVM_SET_IDENTITY_MAP_ADDR");
    const a = check(address.superRefine(below4G), addr, "addr");
    const arg = new Uint8Array(8);
    new DataView(arg.buffer).setBigUint64(0, a, true);
    this.#h.ioctl("KVM_SET_IDENTITY_MAP_ADDR", R.KVM_SET_IDENTITY_MAP_ADDR, arg);
  }

  /**
   * KVM_IOEVENTFD: a guest write of `len` bytes to `addr` (an I/O port with
   * `pio`, else guest-physical MMIO), and with `datamatch` only of that
   * value, signals `eventFd` inside the kernel instead of exiting to
   * userspace. `deassign` removes the registration.
   *
   * @example
   * ```ts
   * using doorbell = EventFd.create();
   * vm.ioeventfd({ addr: 0x600, len: 2, pio: true, eventFd: doorbell });
   * ```
   */
  ioeventfd(options: T.IoEventFdOptions): void {
    this.#h.fd("KVM_IOEVENTFD");
    const o = check(ioeventfdSchema, options, "options");
    const flags = (o.datamatch !== undefined ? C.KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
      (o.pio ? C.KVM_IOEVENTFD_FLAG_PIO : 0) | (o.deassign ? C.KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
    const fd = o.eventFd.fd("KVM_IOEVENTFD");
    const arg = S.kvmIoeventfd.toBytes({ datamatch: o.datamatch ?? 0n, addr: o.addr, len: o.len, fd, flags });
    this.#h.ioctl("KVM_IOEVENTFD", R.KVM_IOEVENTFD, arg);
  }

  /**
   * KVM_IRQFD: signalling `eventFd` raises GSI `gsi` of the in-kernel
   * irqchip (an edge: assert, then de-assert), or with `resample` holds a
   * level until the guest's EOI, then signals `resample`. `deassign`
   * disconnects it. Needs KVM_CREATE_IRQCHIP first.
   */
  irqfd(options: T.IrqFdOptions): void {
    this.#h.fd("KVM_IRQFD");
    const o = check(irqfdSchema, options, "options");
    const flags = (o.resample ? C.KVM_IRQFD_FLAG_RESAMPLE : 0) | (o.deassign ? C.KVM_IRQFD_FLAG_DEASSIGN : 0);
    const fd = o.eventFd.fd("KVM_IRQFD");
    const resamplefd = o.resample ? o.resample.fd("KVM_IRQFD") : 0;
    this.#h.ioctl("KVM_IRQFD", R.KVM_IRQFD, S.kvmIrqfd.toBytes({ fd, gsi: o.gsi, flags, resamplefd }));
  }

  /**
   * KVM_SET_GSI_ROUTING: replaces the whole GSI routing table (the default
   * one maps GSIs 0-15 to the PICs and 0-23 to the IOAPIC) with `routes`:
   * GSIs to irqchip pins, or to MSIs. A GSI listed more than once fans out.
   */
  setGsiRouting(routes: readonly T.GsiRoute[]): void {
    this.#h.fd("KVM_SET_GSI_ROUTING");
    const list = check(gsiRoutesSchema, routes, "routes");
    this.#h.ioctl("KVM_SET_GSI_ROUTING", R.KVM_SET_GSI_ROUTING, encodeGsiRouting(list));
  }

  /**
   * KVM_SIGNAL_MSI: injects one MSI (needs an in-kernel irqchip). Returns
   * the kernel's answer: > 0 delivered, 0 blocked by the guest (e.g. a
   * software-disabled local APIC).
   */
  signalMsi(msi: T.Msi): number {
    this.#h.fd("KVM_SIGNAL_MSI");
    const m = check(msiSchema, msi, "msi");
    const arg = S.kvmMsi.toBytes({ ...m, addressHi: m.addressHi ?? 0, flags: 0, devid: 0 });
    return this.#h.ioctl("KVM_SIGNAL_MSI", R.KVM_SIGNAL_MSI, arg);
  }

  /**
   * KVM_REGISTER_COALESCED_MMIO: guest writes to the zone (ports with `pio`)
   * no longer exit; the kernel appends them to the VM's coalesced ring,
   * which `vcpu.drainCoalescedMmio()` reads. Reads still exit as MMIO/IO.
   */
  registerCoalescedMmio(zone: T.CoalescedZone): void {
    this.#coalesced("KVM_REGISTER_COALESCED_MMIO", R.KVM_REGISTER_COALESCED_MMIO, zone);
  }

  /** KVM_UNREGISTER_COALESCED_MMIO: removes a zone registered with the same addr, size and pio. */
  unregisterCoalescedMmio(zone: T.CoalescedZone): void {
    this.#coalesced("KVM_UNREGISTER_COALESCED_MMIO", R.KVM_UNREGISTER_COALESCED_MMIO, zone);
  }

  /**
   * KVM_ENABLE_CAP on the VM: turns on capability `cap` (a KVM_CAP_* number)
   * with up to four arguments, e.g. KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 or
   * KVM_CAP_X86_USER_SPACE_MSR.
   *
   * @example
   * ```ts
   * vm.enableCap(KVM_CAP_X86_USER_SPACE_MSR, { args: [KVM_MSR_EXIT_REASON_FILTER] });
   * ```
   */
  enableCap(cap: number, options?: T.EnableCapOptions): void {
    this.#h.fd("KVM_ENABLE_CAP");
    const c = check(int(0, 0x7fff_ffff), cap, "cap");
    const o = check(enableCapSchema, options, "options") ?? {};
    const arg = S.kvmEnableCap.toBytes({ cap: c, flags: o.flags ?? 0, args: o.args ?? [] });
    this.#h.ioctl("KVM_ENABLE_CAP", R.KVM_ENABLE_CAP, arg);
  }

  /**
   * KVM_CLEAR_DIRTY_LOG (after enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)):
   * clears the dirty bits of pages `firstPage` .. `firstPage + numPages - 1`
   * of `slot` and write-protects them again, so that the next guest write
   * dirties them anew. `bitmap` (bit i = page firstPage + i) picks which;
   * default all. With manual protect, getDirtyLog no longer clears the log:
   * this does. The kernel's rules: `firstPage` is a multiple of 64, and
   * `numPages` a multiple of 64 or reaching the end of the slot.
   */
  clearDirtyLog(slot: number, firstPage: number, numPages: number, bitmap?: Uint8Array): void {
    this.#h.fd("KVM_CLEAR_DIRTY_LOG");
    const s = check(int(0, 0xffff), slot, "slot");
    const info = this.#slots.get(s);
    if (!info) throw new KvmError("KVM_CLEAR_DIRTY_LOG", Errno.ENOENT, `slot ${s} is not mapped`);
    const first = check(int(0, info.pages - 1).multipleOf(64), firstPage, "firstPage");
    const num = check(int(1, info.pages - first), numPages, "numPages");
    if (num % 64 !== 0 && first + num !== info.pages) {
      throw new RangeError(
        `numPages: ${num} is neither a multiple of 64 nor reaches the end of slot ${s} (${info.pages} pages)`,
      );
    }
    const bits = check(z.instanceof(Uint8Array).optional(), bitmap, "bitmap");
    if (bits && bits.length < Math.ceil(num / 8)) {
      throw new RangeError(`bitmap: ${bits.length} bytes, ${num} pages need ${Math.ceil(num / 8)}`);
    }
    // The kernel reads whole longs of the bitmap.
    const longs = Math.ceil(num / 64);
    withScratch(this.#h.kernel, longs * 8, "dirty bitmap", (m) => {
      const buf = new Uint8Array(m.buffer, 0, longs * 8);
      if (bits) buf.set(bits.subarray(0, Math.ceil(num / 8)));
      else for (let p = 0; p < num; p++) buf[p >> 3] |= 1 << (p & 7);
      if (num % 8 !== 0) buf[num >> 3] &= (1 << (num % 8)) - 1;
      // SAFETY: the kernel reads `longs` longs at m.address, inside the scratch mapping, during the call.
      const arg = S.kvmClearDirtyLog.toBytes({
        slot: s,
        numPages: num,
        firstPage: BigInt(first),
        dirtyBitmap: m.address,
      });
      this.#h.ioctl("KVM_CLEAR_DIRTY_LOG", R.KVM_CLEAR_DIRTY_LOG, arg);
    });
  }

  /**
   * KVM_X86_SET_MSR_FILTER: which rdmsr/wrmsr the guest may make. A denied
   * access raises #GP in the guest, or with
   * enableCap(KVM_CAP_X86_USER_SPACE_MSR, { args: [KVM_MSR_EXIT_REASON_FILTER] })
   * becomes an "x86_rdmsr"/"x86_wrmsr" exit. null removes the filter.
   */
  setMsrFilter(filter: T.MsrFilter | null): void {
    this.#h.fd("KVM_X86_SET_MSR_FILTER");
    const f = check(msrFilterSchema, filter, "filter");
    setMsrFilter(this.#h, f);
  }

  /** KVM_GET_CLOCK: the VM's kvmclock in ns (`clock`), with `realtime`/`hostTsc` where `flags` says so. */
  getClock(): S.ClockData {
    return this.#h.get("KVM_GET_CLOCK", R.KVM_GET_CLOCK, S.kvmClockData);
  }

  /** KVM_SET_CLOCK: sets the kvmclock to `clock` ns (with KVM_CLOCK_REALTIME, as of `realtime`). */
  setClock(data: T.ClockInput): void {
    this.#h.fd("KVM_SET_CLOCK");
    const d = check(clockSchema, data, "data");
    const arg = S.kvmClockData.toBytes({
      clock: d.clock,
      flags: d.flags ?? 0,
      realtime: d.realtime ?? 0n,
      hostTsc: d.hostTsc ?? 0n,
    });
    this.#h.ioctl("KVM_SET_CLOCK", R.KVM_SET_CLOCK, arg);
  }

  /** Closes every vCPU of this VM, then the VM. Idempotent. Guest memory stays allocated until freed. */
  close(): void {
    if (this.#h.closed) return;
    // vCPUs handed to other threads keep the kernel's VM alive: its memory must outlive them.
    const held = [...this.#vcpus].filter((v) => v.heldElsewhere());
    for (const vcpu of [...this.#vcpus]) vcpu.close();
    if (held.length > 0) {
      const holder = {
        what: `vCPU ${held.map((v) => v.id).join(", ")} of the closed VM ${this.#id} (held by another thread)`,
        live: () => held.some((v) => v.heldElsewhere()),
      };
      for (const { memory } of this.#slots.values()) memory.holders.add(holder);
    }
    for (const slot of [...this.#slots.keys()]) this.#releaseSlot(slot);
    this.#h.close();
  }

  /** Closes the VM and its vCPUs, for `using`: see {@linkcode Vm.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #coalesced(operation: string, request: number, zone: T.CoalescedZone): void {
    this.#h.fd(operation);
    const z = check(coalescedZoneSchema, zone, "zone");
    const arg = S.kvmCoalescedMmioZone.toBytes({ addr: z.addr, size: z.size, pio: z.pio ? 1 : 0 });
    this.#h.ioctl(operation, request, arg);
  }

  #slotKey(slot: number): string {
    return `slot ${slot} of VM ${this.#id}`;
  }

  #releaseSlot(slot: number): void {
    const old = this.#slots.get(slot);
    if (!old) return;
    old.memory.users.delete(this.#slotKey(slot));
    this.#slots.delete(slot);
  }
}

const below4G = rangeCheck((v: bigint) => v < 1n << 32n, (v) => `${hex(v)} is not below 4 GiB`);
