/**
 * The Kernel contract: the one interface both backends implement. The facade
 * speaks only this: file descriptors, ioctl request numbers with struct
 * bytes, and memory mappings. `ffi/` forwards it to Linux through libc;
 * `emu/` answers it with an in-process KVM.
 *
 * @module
 */

/** The backends a `Kvm` can run on. */
export type BackendName = "kvm" | "emu";

/** A mapping made by {@linkcode Kernel.mmap}: its address as the kernel sees it, and a view of it. */
export interface Mapping {
  /** The host virtual address (for the emulator, an address in its own space). */
  readonly address: bigint;
  /** The mapped bytes: external memory for `kvm`, an ordinary buffer for `emu`. */
  readonly buffer: ArrayBuffer;
  readonly length: number;
  /**
   * The buffer is the backend's own object, not a view of foreign memory
   * (the emulator's kvm_run page, which every mapping of the vCPU shares):
   * unmapping must not detach it.
   */
  readonly aliased?: boolean;
}

/**
 * Unmaps `mapping` after detaching its buffer, so that no view made from it
 * can reach unmapped memory (after `transfer(0)` the old buffer has length 0).
 *
 * A buffer the caller detached itself (`buffer.transfer()`) moved the pages
 * into a new ArrayBuffer this code cannot see: the runtimes move external
 * memory without copying, so unmapping would leave that buffer pointing at
 * nothing and the next access would crash the process. Such a mapping stays
 * mapped (and is counted as released): a leak, never a use after free.
 */
export function unmap(kernel: Kernel, mapping: Mapping): void {
  if (!mapping.aliased) {
    if (isDetached(mapping.buffer)) return;
    detach(mapping.buffer);
  }
  kernel.munmap(mapping);
}

/**
 * Whether `buffer` is detached. Where `ArrayBuffer.prototype.detached` is
 * missing (Node 20), a detached buffer is one of length 0: a mapping never is.
 */
function isDetached(buffer: ArrayBuffer): boolean {
  return (buffer as { detached?: boolean }).detached ?? buffer.byteLength === 0;
}

/**
 * Detaches `buffer`: `transfer(0)`, or where that is missing (Node 20, which
 * has no FFI and so only the emulator's own buffers) by transferring it to a
 * structured clone that is dropped at once.
 */
function detach(buffer: ArrayBuffer): void {
  if (typeof buffer.transfer === "function") buffer.transfer(0);
  else structuredClone(buffer, { transfer: [buffer] });
}

/** What the adopting thread's kernel reads of a handed-off vCPU (the backend-independent part of a VcpuHandoff). */
export interface VcpuTransfer {
  /** The vCPU id. */
  readonly id: number;
  /** The vCPU descriptor. */
  readonly vcpuFd: number;
  /** The size of its kvm_run mapping. */
  readonly mmapSize: number;
  /** Int32 [0]: the thread id of the adopter while it holds the vCPU, else 0. */
  readonly shared: SharedArrayBuffer;
  /** The emulator's mailbox, from {@linkcode Kernel.handoffVcpu}. */
  readonly mailbox?: SharedArrayBuffer;
}

/**
 * The system-call surface of a backend. Every call returns the kernel's
 * convention: a non-negative result, or `-errno`. Nothing here throws for a
 * refusal; the facade turns `-errno` into a `KvmError` naming the ioctl.
 */
export interface Kernel {
  readonly name: BackendName;
  /** open(2) with O_RDWR | O_CLOEXEC. */
  open(path: string): number;
  /** close(2). */
  close(fd: number): number;
  /** ioctl(2) whose third argument points at `arg` (which may be empty). */
  ioctl(fd: number, request: number, arg: Uint8Array): number;
  /** ioctl(2) whose third argument is an integer (KVM_CREATE_VCPU, KVM_CHECK_EXTENSION...). */
  ioctlValue(fd: number, request: number, value: number): number;
  /**
   * mmap(2): `fd` -1 maps zero-filled anonymous memory; otherwise the
   * descriptor's shared mapping (a vCPU's kvm_run). Returns -errno on failure.
   */
  mmap(fd: number, length: number): Mapping | number;
  /** munmap(2). The caller has already detached every view of the mapping. */
  munmap(mapping: Mapping): number;
  /**
   * Arms a one-shot interruption of the calling thread's KVM_RUN after `ms`
   * milliseconds: a KVM_RUN in progress (or started later) then returns
   * -EINTR with exit reason KVM_EXIT_INTR. `ms` 0 disarms it.
   */
  setRunAlarm(vcpuFd: number, ms: number): void;
  /**
   * Consumes an interruption (alarm or kick) that is pending for the calling
   * thread; true if there was one. Without this, a pending interruption
   * would end every later KVM_RUN at once.
   */
  takeRunSignal(): boolean;
  /**
   * Prepares a vCPU descriptor for setRunAlarm and kicks, on the thread that
   * will run it (e.g. KVM_SET_SIGNAL_MASK); called after KVM_CREATE_VCPU and
   * when another thread adopts the vCPU.
   */
  prepareVcpu(vcpuFd: number): number;
  /** The calling thread's id as `kickThread` takes it (gettid), or 0 where threads cannot be signalled. */
  currentThread(): number;
  /**
   * Interrupts the KVM_RUN that thread `tid` is in, or its next one, so that
   * it returns -EINTR. The caller has set kvm_run.immediate_exit first.
   */
  kickThread(tid: number): void;
  /**
   * `Vcpu.handoff`, on the handing thread once the vCPU descriptor has moved: what the adopter needs besides the
   * descriptors. The kernel's KVM needs nothing (the adopter runs KVM_RUN itself); the emulator, whose state lives
   * in this thread's heap, returns a mailbox it serves from this thread's event loop (emu/proxy.ts).
   *
   * `completeExit`, where the backend executes the vCPU on this thread (the emulator), is called here after each
   * exit of the adopter's KVM_RUN, with the exit in this thread's kvm_run: true when it completed the exit (it wrote
   * an IN's or MMIO read's data into kvm_run), and the run goes on as if a device on the kernel's I/O bus had
   * answered; false hands the exit to the adopter; a throw ends the adopter's KVM_RUN with EIO (and the error's
   * message as its detail). The kernel's KVM, whose adopter runs KVM_RUN on its own thread, never calls it.
   */
  handoffVcpu(vcpuFd: number, mmapSize: number, completeExit?: () => boolean): SharedArrayBuffer | undefined;
  /**
   * `adoptVcpu`, on the adopting thread: takes the vCPU of `t` over and returns its kvm_run mapping on this thread.
   * Throws KvmError (EBUSY when another thread adopted it first).
   */
  adoptVcpu(t: VcpuTransfer): Mapping;
  /**
   * Why the last ioctl on this thread failed, where the backend can say more than its errno (the emulator: an ioctl
   * it does not implement), or undefined; reading it clears it. The facade adds it to the KvmError's message.
   */
  takeErrorDetail?(): string | undefined;
  /**
   * The emulator only, for vCPUs served in slices on their owner's thread (emu/proxy.ts): from now on a vCPU that is
   * halted (or waits for INIT/SIPI) with nothing to do ends its KVM_RUN with -EINTR at once instead of sleeping,
   * and `vcpuIdle` says how long to wait before running it again.
   */
  yieldOnHalt?(vcpuFd: number): void;
  /**
   * The emulator only: when the vCPU is halted with nothing to do, a promise that settles at its next timer
   * deadline, at `untilMs` (performance.now() milliseconds), or as soon as an interrupt or IPI arrives for it;
   * otherwise undefined.
   */
  vcpuIdle?(vcpuFd: number, untilMs: number): Promise<void> | undefined;
}
