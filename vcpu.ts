/**
 * Vcpu: one virtual CPU, one descriptor (the vCPU ioctls of
 * Documentation/virt/kvm/api.rst, section 4).
 *
 * @module
 */
import { Errno } from "./abi/errno.ts";
import * as R from "./abi/requests.ts";
import * as S from "./abi/structs.ts";
import { KVM_CAP_SYNC_REGS, KVM_CAP_XSAVE2 } from "./abi/constants.ts";
import { KvmError } from "./errors.ts";
import { ExitDecoder, INTR, type VcpuExit } from "./exits.ts";
import { kvmRun } from "./abi/structs.ts";
import { HANDLE, type Handle } from "./_handle.ts";
import { drainCoalescedRing, withEntries } from "./internal/encode.ts";
import { SyncRegs } from "./sync_regs.ts";
import type { CoalescedMmio } from "./vmm_types.ts";
import { type Mapping, unmap } from "./kernel.ts";
import {
  address,
  cpuidEntriesSchema,
  debugRegsSchema,
  fpuSchema,
  guestDebugSchema,
  lapicSchema,
  msrEntriesSchema,
  msrIndicesSchema,
  regsSchema,
  runOptionsSchema,
  sregs2Schema,
  sregsSchema,
  vcpuEventsSchema,
  xcrsSchema,
  xsaveSchema,
} from "./internal/schemas.ts";
import { check, hex, int } from "./internal/validate.ts";
import type { Vm } from "./vm.ts";
import { encodeGuestDebug, type GuestDebug, type Translation } from "./guest_debug.ts";
import { readCpuid } from "./internal/cpuid.ts";

/**
 * The timeout of run()'s options: the common shapes ({} or { timeoutMs } in range) checked by hand, as run() is
 * the hot path; anything else through the schema, which names what is wrong.
 */
function runTimeout(options: { timeoutMs?: number }): number | undefined {
  if (typeof options === "object" && options !== null && Object.getPrototypeOf(options) === Object.prototype) {
    const ms = options.timeoutMs;
    // The range first, then the keys (for-in was half of this check's cost as a flag set in the loop).
    if (ms === undefined || (typeof ms === "number" && ms >= 0 && ms <= 2 ** 31 - 1)) {
      if (onlyTimeout(options)) return ms;
    }
  }
  return check(runOptionsSchema, options, "options")?.timeoutMs;
}

/** True when `options` has no enumerable key but timeoutMs. */
function onlyTimeout(options: object): boolean {
  for (const key in options) if (key !== "timeoutMs") return false;
  return true;
}

/**
 * A vCPU handed to another thread by {@linkcode Vcpu.handoff}: plain data
 * (descriptor numbers, sizes and a SharedArrayBuffer) for `postMessage`.
 * The thread that receives it calls `adoptVcpu` (thread.ts).
 */
export interface VcpuHandoff {
  /** The backend the vCPU runs on. */
  readonly backend: "kvm" | "emu";
  /** The vCPU id given to `createVcpu`. */
  readonly id: number;
  /** The system descriptor (`/dev/kvm`, or the emulator's). */
  readonly kvmFd: number;
  /** The VM descriptor. */
  readonly vmFd: number;
  /** The vCPU descriptor, which the adopter owns from now on. */
  readonly vcpuFd: number;
  /** The size of the vCPU's `kvm_run` mapping (KVM_GET_VCPU_MMAP_SIZE). */
  readonly mmapSize: number;
  /** Int32 [0]: the thread id of the adopter while it holds the vCPU, else 0. */
  readonly shared: SharedArrayBuffer;
  /** emu: the mailbox through which the adopter's ioctls reach the owner's emulator (emu/proxy.ts). */
  readonly mailbox?: SharedArrayBuffer;
}

/** Offset of kvm_run.immediate_exit. */
const IMMEDIATE_EXIT = kvmRun.offsetOf("immediate_exit");

/** The handoff word that says another thread holds the vCPU. */
const HELD = 1;

/**
 * A virtual CPU. It owns its descriptor and its kvm_run mapping; `run()`
 * executes guest code until an exit that userspace must handle.
 *
 * @example
 * ```ts
 * using vcpu = vm.createVcpu(0);
 * const exit = vcpu.run();
 * if (exit.reason === "io" && exit.direction === "out") console.log(exit.data);
 * ```
 */
export class Vcpu implements Disposable {
  /** The vCPU id given to KVM_CREATE_VCPU. */
  readonly id: number;
  /** The VM this vCPU belongs to. */
  readonly vm: Vm;
  readonly #h: Handle;
  #run: Mapping | undefined;
  /** kvm_run as bytes, for immediate_exit. */
  readonly #runBytes: Uint8Array;
  readonly #exits: ExitDecoder;
  /** Set once handed off or adopted: [0] is the thread running the vCPU. */
  #shared: Int32Array | undefined;
  /** True for the Vcpu that adoptVcpu made on the receiving thread. */
  #adopted = false;
  #syncRegs: SyncRegs | undefined;

  /** @internal Created by `Vm.createVcpu` (or `adoptVcpu` with `shared`). */
  constructor(vm: Vm, id: number, handle: Handle, run: Mapping, shared?: SharedArrayBuffer) {
    this.vm = vm;
    this.id = id;
    this.#h = handle;
    this.#run = run;
    // SAFETY: `run` is this vCPU's kvm_run mapping; close() detaches these views before munmap.
    this.#runBytes = new Uint8Array(run.buffer);
    this.#exits = new ExitDecoder(run.buffer);
    if (shared) {
      this.#shared = new Int32Array(shared);
      this.#adopted = true;
      // The thread to signal for kicks; -1 where kicks need no signal (the emulator's proxy).
      Atomics.store(this.#shared, 0, handle.kernel.currentThread() || -1);
    }
  }

  /**
   * KVM_RUN: runs the guest until an exit. The returned object, and any
   * `data` view in it, is valid until the next run() on this vCPU. For "io"
   * with direction "in" and for "mmio" reads, write the answer into `data`
   * before the next run(). With `timeoutMs`, a guest still running when the
   * time is up returns `{ reason: "intr" }`.
   */
  run(options?: { timeoutMs?: number }): VcpuExit {
    const h = this.#h;
    h.fd("KVM_RUN"); // closed: EBADF before anything else
    // Arguments are read before the descriptor is taken: a getter that closes this vCPU cannot redirect the run.
    const ms = options === undefined ? undefined : runTimeout(options);
    const fd = h.fd("KVM_RUN");
    if (this.#exits.detached) {
      throw new KvmError(
        "KVM_RUN",
        Errno.EFAULT,
        "kvm_run was transferred away (exit.data.buffer.transfer()): close this vCPU",
      );
    }
    const kernel = h.kernel;
    if (ms === undefined) {
      for (;;) {
        const r = kernel.ioctlValue(fd, R.KVM_RUN, 0);
        if (r >= 0) return this.#exits.decode();
        if (r !== -Errno.EINTR) throw this.#runError(r);
        // A kick ends the run; a signal nobody here asked for (a runtime's own) does not.
        if (this.#interrupted(false)) return INTR;
      }
    }
    // Below a microsecond the time is up before the guest starts: complete a
    // pending I/O or MMIO exit, run no guest code, and report intr.
    if (ms < 0.001) return this.drain() ?? INTR;
    kernel.setRunAlarm(fd, ms);
    // Read the clock only if a signal nobody asked for interrupts the run (the alarm keeps running meanwhile).
    let deadline = 0;
    try {
      for (;;) {
        const r = kernel.ioctlValue(fd, R.KVM_RUN, 0);
        if (r >= 0) return this.#exits.decode();
        if (r !== -Errno.EINTR) throw this.#runError(r);
        if (this.#interrupted(true)) return INTR;
        const now = performance.now();
        if (deadline === 0) deadline = now + ms;
        else if (now >= deadline) return INTR;
      }
    } finally {
      kernel.setRunAlarm(fd, 0);
      // An alarm that fired after the exit must not end the next run.
      kernel.takeRunSignal();
    }
  }

  /** The KvmError of a KVM_RUN that failed with `r`, with the backend's reason where it gives one. */
  #runError(r: number): KvmError {
    return new KvmError("KVM_RUN", -r, this.#h.kernel.takeErrorDetail?.());
  }

  /**
   * After KVM_RUN returned -EINTR: consumes this thread's run signal and
   * says whether the run was meant to end (a kick, or in a timed run the
   * alarm), as opposed to a stray signal.
   */
  #interrupted(timed: boolean): boolean {
    const signalled = this.#h.kernel.takeRunSignal();
    const run = this.#runBytes;
    if (run[IMMEDIATE_EXIT] !== 0) {
      run[IMMEDIATE_EXIT] = 0;
      return true;
    }
    return timed && signalled;
  }

  /**
   * Makes the vCPU's current or next run() return `{ reason: "intr" }`:
   * sets kvm_run.immediate_exit and, when the vCPU runs in another thread
   * (see {@linkcode Vcpu.handoff}), signals that thread out of KVM_RUN.
   * Safe to call at any time; a kick is never lost, and at most one run()
   * returns for it.
   */
  kick(): void {
    if (!this.#run) this.#h.fd("kick");
    // SAFETY: #runBytes views this thread's own mapping of kvm_run, which stays mapped until close().
    Atomics.store(this.#runBytes, IMMEDIATE_EXIT, 1);
    const tid = this.#shared ? Atomics.load(this.#shared, 0) : 0;
    if (tid > 0) this.#h.kernel.kickThread(tid);
  }

  /**
   * Completes a pending I/O or MMIO exit without running guest code
   * (KVM_RUN with immediate_exit = 1), as before saving state. Returns the
   * exit that completing it produced (a string I/O instruction may need
   * another), or undefined.
   */
  drain(): VcpuExit | undefined {
    const h = this.#h;
    const fd = h.fd("KVM_RUN");
    const run = this.#runBytes;
    run[IMMEDIATE_EXIT] = 1;
    try {
      const r = h.kernel.ioctlValue(fd, R.KVM_RUN, 0);
      if (r >= 0) return this.#exits.decode();
      if (r !== -Errno.EINTR) throw this.#runError(r);
      return undefined;
    } finally {
      run[IMMEDIATE_EXIT] = 0;
      h.kernel.takeRunSignal();
    }
  }

  /**
   * Hands this vCPU to another thread (a Worker): returns plain data to
   * `postMessage`, from which that thread makes its own Vcpu with
   * `adoptVcpu`. From then on, on this thread, only `kick()` and `close()`
   * work (other calls throw KvmError EBUSY); the adopter owns the vCPU
   * descriptor and closes it. On kvm the adopter binds libc and runs KVM_RUN
   * itself. On the emulator, whose state lives in this thread's heap, this
   * thread keeps executing the vCPU: it serves the adopter's calls from its
   * event loop and shares its time among all handed-off vCPUs (emu/proxy.ts),
   * so keep this thread's event loop free while they run.
   *
   * `options.onExit` completes exits on this thread, where a VMM's devices
   * live, as the kernel's KVM completes those of its in-kernel devices: on
   * the emulator it is called here with each exit of the adopter's run(); it
   * returns true when it completed the exit (for an "in" or an MMIO read,
   * with the answer written into `exit.data`), and the guest runs on without
   * the adopter seeing the exit; false passes the exit to the adopter. If it
   * throws, the adopter's run() throws KvmError EIO with its message. The
   * exit object is valid only during the call. On kvm the adopter runs
   * KVM_RUN on its own thread: `onExit` is never called and the adopter sees
   * every exit, so it must still handle the ones `onExit` would have.
   *
   * @example
   * ```ts
   * // The UART lives on this thread: its port I/O never makes the Worker wait.
   * worker.postMessage(vcpu.handoff({
   *   onExit: (exit) => exit.reason === "io" && uart.handle(exit),
   * }));
   * ```
   */
  handoff(options: { onExit?: (exit: VcpuExit) => boolean } = {}): VcpuHandoff {
    const h = this.#h;
    h.fd("handoff");
    const onExit = options?.onExit;
    if (onExit !== undefined && typeof onExit !== "function") {
      throw new TypeError(`options.onExit: expected a function, got ${typeof onExit}`);
    }
    const vmFd = this.vm[HANDLE].fd("handoff");
    const kvm = this.vm.kvm[HANDLE];
    const shared = new SharedArrayBuffer(8);
    this.#shared = new Int32Array(shared);
    // Word 1: held by another thread until its adopter closes it (word 0: the adopter's thread id, for kicks).
    Atomics.store(this.#shared, HELD, 1);
    const mmapSize = this.#run!.length;
    const vcpuFd = h.move(`vCPU ${this.id} was handed to another thread: call it there`);
    // The exit is decoded from this thread's mapping of kvm_run, which on the emulator is the vCPU's own page.
    const mailbox = h.kernel.handoffVcpu(vcpuFd, mmapSize, onExit && (() => onExit(this.#exits.decode())));
    return {
      backend: h.kernel.name,
      id: this.id,
      kvmFd: kvm.closed ? -1 : kvm.fd("handoff"),
      vmFd,
      vcpuFd,
      mmapSize,
      shared,
      ...(mailbox ? { mailbox } : {}),
    };
  }

  /** KVM_GET_REGS: the general-purpose registers, RIP and RFLAGS. */
  getRegs(): S.Regs {
    return this.#h.get("KVM_GET_REGS", R.KVM_GET_REGS, S.kvmRegs);
  }

  /** KVM_SET_REGS. */
  setRegs(regs: S.Regs): void {
    this.#h.set("KVM_SET_REGS", R.KVM_SET_REGS, S.kvmRegs, () => check(regsSchema, regs, "regs"));
  }

  /** KVM_GET_SREGS: segments, descriptor tables, control registers, EFER, APIC base. */
  getSregs(): S.Sregs {
    return this.#h.get("KVM_GET_SREGS", R.KVM_GET_SREGS, S.kvmSregs);
  }

  /** KVM_SET_SREGS. */
  setSregs(sregs: S.Sregs): void {
    this.#h.set("KVM_SET_SREGS", R.KVM_SET_SREGS, S.kvmSregs, () => check(sregsSchema, sregs, "sregs"));
  }

  /** KVM_GET_MSRS: reads every listed MSR; throws naming the first index the backend refused. */
  getMsrs(indices: readonly number[]): S.MsrEntry[] {
    this.#h.fd("KVM_GET_MSRS");
    const list = check(msrIndicesSchema, indices, "indices");
    const buf = this.#msrBuffer(list.map((index) => ({ index, data: 0n })));
    const n = this.#h.ioctl("KVM_GET_MSRS", R.KVM_GET_MSRS, buf);
    if (n < list.length) throw new KvmError("KVM_GET_MSRS", Errno.EINVAL, `MSR ${hex(list[n])} was refused`);
    const view = new DataView(buf.buffer);
    const base = S.kvmMsrs.size;
    return list.map((_, i) => S.kvmMsrEntry.decode(view, base + i * S.kvmMsrEntry.size));
  }

  /** KVM_SET_MSRS: writes every entry; throws naming the first index the backend refused. */
  setMsrs(entries: readonly S.MsrEntry[]): void {
    this.#h.fd("KVM_SET_MSRS");
    const list = check(msrEntriesSchema, entries, "entries");
    const n = this.#h.ioctl("KVM_SET_MSRS", R.KVM_SET_MSRS, this.#msrBuffer(list));
    if (n < list.length) {
      throw new KvmError("KVM_SET_MSRS", Errno.EINVAL, `MSR ${hex(list[n].index)} was refused`);
    }
  }

  /** KVM_TRANSLATE: how the guest's current page tables map a linear address. */
  translate(linearAddress: number | bigint): Translation {
    this.#h.fd("KVM_TRANSLATE");
    const linear = check(address, linearAddress, "linearAddress");
    const buf = S.kvmTranslation.toBytes({
      linearAddress: linear,
      physicalAddress: 0n,
      valid: 0,
      writeable: 0,
      usermode: 0,
    });
    this.#h.ioctl("KVM_TRANSLATE", R.KVM_TRANSLATE, buf);
    const t = S.kvmTranslation.fromBytes(buf);
    return {
      physicalAddress: t.physicalAddress,
      valid: t.valid !== 0,
      writeable: t.writeable !== 0,
      usermode: t.usermode !== 0,
    };
  }

  /** KVM_INTERRUPT: queues external interrupt `vector` (only without an in-kernel irqchip). */
  interrupt(vector: number): void {
    this.#h.fd("KVM_INTERRUPT");
    const irq = check(int(0, 255), vector, "vector");
    this.#h.ioctl("KVM_INTERRUPT", R.KVM_INTERRUPT, S.kvmInterrupt.toBytes({ irq }));
  }

  /** KVM_SET_GUEST_DEBUG: single-step, software and hardware breakpoints; null turns debugging off. */
  setGuestDebug(debug: GuestDebug | null): void {
    this.#h.fd("KVM_SET_GUEST_DEBUG");
    const v = check(guestDebugSchema, debug, "debug");
    const bytes = S.kvmGuestDebug.toBytes(encodeGuestDebug(v as GuestDebug | null));
    this.#h.ioctl("KVM_SET_GUEST_DEBUG", R.KVM_SET_GUEST_DEBUG, bytes);
  }

  /** KVM_GET_FPU: x87, MXCSR and XMM state. */
  getFpu(): S.Fpu {
    return this.#h.get("KVM_GET_FPU", R.KVM_GET_FPU, S.kvmFpu);
  }

  /** KVM_SET_FPU. */
  setFpu(fpu: S.Fpu): void {
    this.#h.set("KVM_SET_FPU", R.KVM_SET_FPU, S.kvmFpu, () => check(fpuSchema, fpu, "fpu"));
  }

  /** KVM_GET_CPUID2: the CPUID leaves this vCPU presents. */
  getCpuid2(): S.CpuidEntry[] {
    return readCpuid(this.#h, "KVM_GET_CPUID2", R.KVM_GET_CPUID2);
  }

  /** KVM_SET_CPUID2. */
  setCpuid2(entries: readonly S.CpuidEntry[]): void {
    this.#h.fd("KVM_SET_CPUID2");
    const list = check(cpuidEntriesSchema, entries, "entries");
    const buf = withEntries(S.kvmCpuid2, "nent", S.kvmCpuidEntry2, list);
    this.#h.ioctl("KVM_SET_CPUID2", R.KVM_SET_CPUID2, buf);
  }

  /** KVM_GET_MP_STATE: one of the KVM_MP_STATE_* values. */
  getMpState(): number {
    const buf = S.kvmMpState.alloc();
    this.#h.ioctl("KVM_GET_MP_STATE", R.KVM_GET_MP_STATE, buf);
    return S.kvmMpState.fromBytes(buf).mpState;
  }

  /** KVM_SET_MP_STATE. */
  setMpState(state: number): void {
    this.#h.fd("KVM_SET_MP_STATE");
    const mpState = check(int(0, 0xffff_ffff), state, "state");
    this.#h.ioctl("KVM_SET_MP_STATE", R.KVM_SET_MP_STATE, S.kvmMpState.toBytes({ mpState }));
  }

  /** KVM_GET_VCPU_EVENTS: pending and injected exceptions, interrupts, NMIs, SMIs. */
  getVcpuEvents(): S.VcpuEvents {
    return this.#h.get("KVM_GET_VCPU_EVENTS", R.KVM_GET_VCPU_EVENTS, S.kvmVcpuEvents);
  }

  /** KVM_SET_VCPU_EVENTS. `flags` says which optional parts are valid (KVM_VCPUEVENT_VALID_*). */
  setVcpuEvents(events: S.VcpuEvents): void {
    this.#h.set(
      "KVM_SET_VCPU_EVENTS",
      R.KVM_SET_VCPU_EVENTS,
      S.kvmVcpuEvents,
      () => check(vcpuEventsSchema, events, "events"),
    );
  }

  /** KVM_GET_DEBUGREGS: DR0-DR3, DR6, DR7. */
  getDebugRegs(): S.DebugRegs {
    return this.#h.get("KVM_GET_DEBUGREGS", R.KVM_GET_DEBUGREGS, S.kvmDebugregs);
  }

  /** KVM_SET_DEBUGREGS. */
  setDebugRegs(regs: S.DebugRegs): void {
    this.#h.set("KVM_SET_DEBUGREGS", R.KVM_SET_DEBUGREGS, S.kvmDebugregs, () => check(debugRegsSchema, regs, "regs"));
  }

  /** KVM_GET_LAPIC: the 1024-byte local APIC register page (needs an in-kernel irqchip). */
  getLapic(): Uint8Array {
    return this.#h.getBytes("KVM_GET_LAPIC", R.KVM_GET_LAPIC, S.kvmLapicState);
  }

  /** KVM_SET_LAPIC. */
  setLapic(state: Uint8Array): void {
    this.#h.fd("KVM_SET_LAPIC");
    const regs = check(lapicSchema, state, "state");
    this.#h.ioctl("KVM_SET_LAPIC", R.KVM_SET_LAPIC, S.kvmLapicState.toBytes({ regs }));
  }

  /** KVM_GET_XCRS: the extended control registers (XCR0). */
  getXcrs(): S.Xcr[] {
    const buf = S.kvmXcrs.alloc();
    this.#h.ioctl("KVM_GET_XCRS", R.KVM_GET_XCRS, buf);
    const x = S.kvmXcrs.fromBytes(buf);
    return x.xcrs.slice(0, Math.min(x.nrXcrs, x.xcrs.length));
  }

  /** KVM_SET_XCRS. */
  setXcrs(xcrs: readonly S.Xcr[]): void {
    this.#h.fd("KVM_SET_XCRS");
    const list = check(xcrsSchema, xcrs, "xcrs");
    const bytes = S.kvmXcrs.toBytes({ nrXcrs: list.length, flags: 0, xcrs: list });
    this.#h.ioctl("KVM_SET_XCRS", R.KVM_SET_XCRS, bytes);
  }

  /** KVM_GET_XSAVE: the 4096-byte legacy XSAVE area (x87, SSE, AVX... state) as raw bytes. */
  getXsave(): Uint8Array {
    const buf = S.kvmXsave.alloc();
    this.#h.ioctl("KVM_GET_XSAVE", R.KVM_GET_XSAVE, buf);
    return buf;
  }

  /** KVM_GET_XSAVE2: the XSAVE area at the size KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) gives (at least 4096 bytes). */
  getXsave2(): Uint8Array {
    // SAFETY: the kernel writes exactly KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) bytes on the VM: the buffer's size.
    const buf = new Uint8Array(this.#xsaveSize("KVM_GET_XSAVE2"));
    this.#h.ioctl("KVM_GET_XSAVE2", R.KVM_GET_XSAVE2, buf);
    return buf;
  }

  /** KVM_SET_XSAVE: loads an area from getXsave()/getXsave2(). */
  setXsave(state: Uint8Array): void {
    this.#h.fd("KVM_SET_XSAVE"); // closed: EBADF before the argument is looked at
    const bytes = check(xsaveSchema, state, "state");
    // SAFETY: the kernel reads uabi_size bytes, at most KVM_CAP_XSAVE2's size (fixed once a vCPU exists): never past buf.
    const size = this.#xsaveSize("KVM_SET_XSAVE");
    if (bytes.length > size) throw new RangeError(`state: ${bytes.length} bytes, the XSAVE area here has ${size}`);
    const buf = new Uint8Array(size);
    buf.set(bytes);
    this.#h.ioctl("KVM_SET_XSAVE", R.KVM_SET_XSAVE, buf);
  }

  /** KVM_GET_SREGS2: kvm_sregs without the interrupt bitmap, with the PAE PDPTRs (KVM_CAP_SREGS2). */
  getSregs2(): S.Sregs2 {
    return this.#h.get("KVM_GET_SREGS2", R.KVM_GET_SREGS2, S.kvmSregs2);
  }

  /** KVM_SET_SREGS2. With `flags` KVM_SREGS2_FLAGS_PDPTRS_VALID, `pdptrs` are loaded as they are. */
  setSregs2(sregs: S.Sregs2): void {
    this.#h.set("KVM_SET_SREGS2", R.KVM_SET_SREGS2, S.kvmSregs2, () => check(sregs2Schema, sregs, "sregs"));
  }

  /** KVM_NMI: queues a non-maskable interrupt, delivered at the next run() (KVM_CAP_USER_NMI). */
  nmi(): void {
    this.#h.ioctlValue("KVM_NMI", R.KVM_NMI, 0);
  }

  /** KVM_SMI: queues a system-management interrupt (KVM_CAP_X86_SMM). */
  smi(): void {
    this.#h.ioctlValue("KVM_SMI", R.KVM_SMI, 0);
  }

  /** KVM_GET_TSC_KHZ: the guest's TSC frequency in kHz (KVM_CAP_GET_TSC_KHZ). */
  getTscKhz(): number {
    return this.#h.ioctlValue("KVM_GET_TSC_KHZ", R.KVM_GET_TSC_KHZ, 0);
  }

  /** KVM_SET_TSC_KHZ: sets it; another frequency than the host's needs KVM_CAP_TSC_CONTROL. 0: the VM's default. */
  setTscKhz(khz: number): void {
    this.#h.fd("KVM_SET_TSC_KHZ");
    const k = check(int(0, 0x7fff_ffff), khz, "khz");
    this.#h.ioctlValue("KVM_SET_TSC_KHZ", R.KVM_SET_TSC_KHZ, k);
  }

  /**
   * KVM_KVMCLOCK_CTRL: tells the guest (through its kvmclock page) that the
   * vCPU was stopped by the host, so that its soft-lockup watchdog does not
   * fire. EINVAL while the guest has not enabled kvmclock.
   */
  kvmclockCtrl(): void {
    this.#h.ioctlValue("KVM_KVMCLOCK_CTRL", R.KVM_KVMCLOCK_CTRL, 0);
  }

  /**
   * The VM's coalesced MMIO/PIO ring (page KVM_COALESCED_MMIO_PAGE_OFFSET of
   * this vCPU's mapping): returns the writes recorded since the last call,
   * oldest first, and frees their slots. The ring is one per VM, shared by
   * its vCPUs: drain it from one thread. No ioctl.
   */
  drainCoalescedMmio(): CoalescedMmio[] {
    this.#h.fd("coalesced MMIO ring");
    return drainCoalescedRing(this.#run!.buffer);
  }

  /**
   * Sync regs (KVM_CAP_SYNC_REGS): the register sets KVM_RUN leaves in and
   * takes from kvm_run (`kvm_valid_regs`, `kvm_dirty_regs`, `s`), read and
   * written without an ioctl. See {@linkcode SyncRegs}.
   */
  get syncRegs(): SyncRegs {
    return this.#syncRegs ??= new SyncRegs({
      runView: (operation) => {
        this.#h.fd(operation);
        // SAFETY: an open vCPU's kvm_run stays mapped; close() detaches this buffer before munmap.
        return new DataView(this.#run!.buffer);
      },
      supported: () => this.vm.checkExtension(KVM_CAP_SYNC_REGS),
    });
  }

  #xsaveSize(operation: string): number {
    this.#h.fd(operation);
    return Math.max(S.kvmXsave.size, this.vm.checkExtension(KVM_CAP_XSAVE2));
  }

  /** @internal True while another thread holds this handed-off vCPU (adopted or not yet), until its adopter closes it. */
  heldElsewhere(): boolean {
    return this.#shared !== undefined && !this.#adopted && Atomics.load(this.#shared, HELD) === 1;
  }

  /** Unmaps kvm_run and closes the descriptor. Idempotent. */
  close(): void {
    const run = this.#run;
    if (!run) return;
    this.#run = undefined;
    // An adopter says it no longer runs the vCPU, so that kicks stop signalling its thread.
    if (this.#adopted) {
      Atomics.store(this.#shared!, 0, 0);
      Atomics.store(this.#shared!, HELD, 0);
    }
    // Detach the views of kvm_run before unmapping it.
    unmap(this.#h.kernel, run);
    this.#h.close();
    this.vm.forgetVcpu(this);
  }

  /** Closes the vCPU, for `using`: see {@linkcode Vcpu.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #msrBuffer(entries: readonly S.MsrEntry[]): Uint8Array {
    return withEntries(S.kvmMsrs, "nmsrs", S.kvmMsrEntry, entries);
  }
}
