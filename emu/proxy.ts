/**
 * Emulated vCPUs in other threads. The emulator's state lives in the heap
 * of the thread that created the VM (the owner), so a Worker that adopts an
 * emulated vCPU gets a `ProxyKernel`: each of its ioctls goes through a
 * SharedArrayBuffer mailbox to the owner, which performs it on the real
 * (emulated) descriptor and answers, while the Worker waits (Atomics.wait).
 *
 * The owner serves each mailbox from its event loop (Atomics.waitAsync) and
 * runs a vCPU's KVM_RUN in slices of a few milliseconds, yielding between
 * slices, so that several vCPUs share the owner's thread round-robin — the
 * emulator's own scheduling. Guest memory is shared because there is only
 * one copy of it; a locked instruction is atomic because one thread executes
 * every vCPU. kvm_run travels with each KVM_RUN request and its answer; a
 * kick sets immediate_exit in the owner's copy, which ends the current slice.
 *
 * The devices of a VMM live on the owner's thread too. An exit the owner's
 * `completeExit` hook completes (Vcpu.handoff's `onExit`: port I/O and MMIO
 * of the owner's devices) never travels to the adopter: the run goes on in
 * the same slice, as the kernel's KVM completes an exit on its I/O bus when
 * an in-kernel device answers it. Only the other exits end the adopter's
 * KVM_RUN.
 *
 * While its vCPUs have work, the thread's host time beyond the CPU time the
 * process got is time the host took it away: the VM stood still, and guest
 * time (irqchip/clock.ts `steal`) leaves it out; and of the CPU time, one
 * vCPU gets its share, so guest time runs at that share while several are
 * runnable (`meter`).
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import { KVM_RUN } from "../abi/requests.ts";
import { kvmRun } from "../abi/structs.ts";
import { KvmError } from "../errors.ts";
import { type Kernel, type Mapping, unmap, type VcpuTransfer } from "../kernel.ts";
import { yieldMacrotask } from "../internal/yield.ts";
import process from "node:process";
import { steal } from "./irqchip/clock.ts";

const IMMEDIATE_EXIT = kvmRun.offsetOf("immediate_exit");

/** Int32 slots of the mailbox header. */
const STATE = 0, OP = 1, FD = 2, REQUEST = 3, VALUE = 4, RESULT = 5, LENGTH = 6, ADOPTED = 7;
/** Byte offset of the Float64 run deadline (performance.timeOrigin-based ms, 0 for none). */
const DEADLINE = 32;
/** Byte offset of the Float64 token of the thread that serves the mailbox (the owner). */
const OWNER = 40;
const HEADER = 64;
/** This thread's token: a module instance is per thread, so no other thread draws the same number. */
const THREAD_TOKEN = Math.random() + 1;
/** The largest ioctl argument that crosses the mailbox. */
const ARG_MAX = 64 * 1024;
/** How long one slice of an emulated KVM_RUN lasts before the owner serves other vCPUs. */
const SLICE_MS = 2;

const IDLE = 0, REQUESTED = 1, REPLIED = 2;
const OP_IOCTL = 1, OP_IOCTL_VALUE = 2, OP_RUN = 3, OP_CLOSE = 4;

/** How long the owner waits for a request before it looks at the mailbox again anyway. */
const SERVE_POLL_MS = 50;

const encoder = new TextEncoder(), decoder = new TextDecoder();

/** The process's CPU time in ms (process.cpuUsage(): exact to the µs, 1-6 µs a call; a thread's own has 10 ms steps under Deno). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * The thread's time while its vCPUs have work, against the CPU time the process got meanwhile (irqchip/clock.ts
 * steal): what the host kept from the thread (it ran another process on this core) is time the VM did not run at
 * all, and while one vCPU runs its slice the other runnable ones wait for the thread, so guest time, which every vCPU
 * sees, runs at the share of the thread one vCPU gets, as each vCPU of a real VM has a CPU of its own while the clock
 * runs. The meter runs while at least one vCPU is in a KVM_RUN and not halted (`runnable`), across its slices and the
 * yields between them (the host preempts the thread there as much as in a slice), and is read at each slice's end
 * and whenever `runnable` changes. The adopters wait in Atomics.wait meanwhile; the runtime's own threads (collector,
 * compiler) count as the process's CPU time, so a steal is, if anything, underestimated. process.cpuUsage() costs
 * 1-6 µs, once per slice.
 */
const meter = {
  /** The vCPUs of this thread in a KVM_RUN and not halted. */
  runnable: 0,
  /** Host time the runnable vCPUs waited for each other's slices, so far (ms). */
  sharedMs: 0,
  /** performance.now() and cpuMs() at the last reading. */
  wall: 0,
  cpu: 0,
  /** Counts the time since the last reading (with `runnable` vCPUs) as stolen where the VM did not run. */
  read(): void {
    const wall = performance.now(), cpu = cpuMs();
    if (this.runnable > 0) {
      const ran = Math.min(cpu - this.cpu, wall - this.wall), others = this.runnable - 1;
      const shared = ran * others / (others + 1);
      this.sharedMs += shared;
      if (wall - this.wall - ran + shared > 0) steal(wall - this.wall - ran + shared);
    }
    this.wall = wall;
    this.cpu = cpu;
  },
  /** A vCPU starts (1) or stops (-1) having work: a KVM_RUN begins or ends, a halted vCPU wakes up or halts. */
  change(by: 1 | -1): void {
    this.read();
    this.runnable += by;
  },
};

/** The host time this thread's runnable vCPUs waited for each other's slices so far (ms), which guest time left out. */
export function sharedMs(): number {
  return meter.sharedMs;
}

/** Absolute milliseconds, comparable across threads. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Kernel.handoffVcpu of the emulator: a mailbox for vCPU `vcpuFd` (whose kvm_run has `runSize` bytes), served from
 * this thread's event loop from now on.
 */
export function handoffEmulatedVcpu(
  kernel: Kernel,
  vcpuFd: number,
  runSize: number,
  completeExit?: () => boolean,
): SharedArrayBuffer {
  const mailbox = new SharedArrayBuffer(HEADER + ARG_MAX + runSize);
  serveVcpu(kernel, vcpuFd, mailbox, completeExit);
  return mailbox;
}

/**
 * Serves a mailbox on the owner's thread until the adopter closes the vCPU:
 * performs each request on `kernel` and answers it. `completeExit` (see
 * Kernel.handoffVcpu) is offered each exit of a KVM_RUN before the adopter.
 */
function serveVcpu(kernel: Kernel, vcpuFd: number, mailbox: SharedArrayBuffer, completeExit?: () => boolean): void {
  const ctrl = new Int32Array(mailbox, 0, 8);
  const deadline = new Float64Array(mailbox, DEADLINE, 1);
  const arg = new Uint8Array(mailbox, HEADER, ARG_MAX);
  const shared = new Uint8Array(mailbox, HEADER + ARG_MAX);
  new Float64Array(mailbox, OWNER, 1)[0] = THREAD_TOKEN;
  const mapping = kernel.mmap(vcpuFd, shared.length);
  if (typeof mapping === "number") throw new Error(`serveVcpu: mmap of kvm_run failed (errno ${-mapping})`);
  const run = new Uint8Array(mapping.buffer, 0, shared.length);
  // A halted vCPU must not hold the owner's thread: it yields at once, and waits below without blocking.
  kernel.yieldOnHalt?.(vcpuFd);

  /** Why the last KVM_RUN failed here (the owner's exit hook threw), for the adopter's KvmError. */
  let failure: string | undefined;

  async function runInSlices(): Promise<number> {
    // A kick that reached the owner's copy before this request must survive the copy-in.
    const kicked = run[IMMEDIATE_EXIT];
    run.set(shared);
    run[IMMEDIATE_EXIT] |= kicked;
    const until = deadline[0];
    // Exits completed here do not lengthen the slice: it ends SLICE_MS after it began.
    let sliceEnd = now() + SLICE_MS;
    meter.change(1);
    try {
      for (;;) {
        const t = now();
        if (until && t >= until) return -Errno.EINTR;
        if (t >= sliceEnd) {
          meter.read();
          await yieldMacrotask();
          sliceEnd = now() + SLICE_MS;
          continue;
        }
        kernel.setRunAlarm(vcpuFd, Math.min(sliceEnd, until || Infinity) - t);
        const r = kernel.ioctlValue(vcpuFd, KVM_RUN, 0);
        kernel.setRunAlarm(vcpuFd, 0);
        if (r >= 0) {
          // The owner's devices complete their exits here, and the run goes on.
          if (!completeExit) return r;
          try {
            if (!completeExit()) return r;
          } catch (e) {
            failure = `the handing thread's exit handler failed: ${e instanceof Error ? e.message : String(e)}`;
            return -Errno.EIO;
          }
          continue;
        }
        if (r !== -Errno.EINTR || run[IMMEDIATE_EXIT]) return r;
        // The slice is over: let the other vCPUs (and the owner's own work) run. A halted vCPU waits for its next
        // timer, its run's deadline or an interrupt; the others take their turn meanwhile.
        const idle = kernel.vcpuIdle?.(vcpuFd, until ? until - performance.timeOrigin : Infinity);
        if (idle) {
          meter.change(-1);
          await idle;
          meter.change(1);
        } else {
          meter.read();
          await yieldMacrotask();
        }
        sliceEnd = now() + SLICE_MS;
      }
    } finally {
      meter.change(-1);
    }
  }

  async function serve(): Promise<void> {
    for (;;) {
      while (Atomics.load(ctrl, STATE) !== REQUESTED) {
        // Bounded, so that a wake-up the runtime fails to deliver costs a poll interval, not the request.
        const w = Atomics.waitAsync(ctrl, STATE, Atomics.load(ctrl, STATE), SERVE_POLL_MS);
        if (w.async) await w.value;
      }
      const op = ctrl[OP];
      let r: number;
      if (op === OP_RUN) {
        failure = undefined;
        r = await runInSlices();
        shared.set(run);
        // The kick now travels with the answer; the adopter clears it when it reports intr.
        run[IMMEDIATE_EXIT] = 0;
        // A failure's reason travels in the argument area, which KVM_RUN does not use.
        ctrl[LENGTH] = failure === undefined ? 0 : encoder.encodeInto(failure, arg).written;
      } else if (op === OP_CLOSE) {
        unmap(kernel, mapping as Mapping);
        r = kernel.close(vcpuFd);
      } else if (op === OP_IOCTL) {
        const bytes = arg.slice(0, ctrl[LENGTH]);
        r = kernel.ioctl(ctrl[FD], ctrl[REQUEST] >>> 0, bytes);
        arg.set(bytes);
      } else {
        r = kernel.ioctlValue(ctrl[FD], ctrl[REQUEST] >>> 0, ctrl[VALUE]);
      }
      ctrl[RESULT] = r;
      Atomics.store(ctrl, STATE, REPLIED);
      Atomics.notify(ctrl, STATE);
      if (op === OP_CLOSE) return;
    }
  }
  void serve();
}

/**
 * The Kernel of a Worker that adopted an emulated vCPU: every call on the
 * vCPU (and on its VM) is performed by the owner's emulator through the
 * mailbox. Memory cannot be mapped here: it lives in the owner.
 */
export class ProxyKernel implements Kernel {
  readonly name = "emu" as const;
  readonly #vcpuFd: number;
  readonly #ctrl: Int32Array;
  readonly #deadline: Float64Array;
  readonly #arg: Uint8Array;
  readonly #shared: Uint8Array;
  /** This thread's copy of kvm_run, which the facade decodes. */
  readonly #run: ArrayBuffer;
  /** Why the last KVM_RUN failed on the owner's side, if it said (takeErrorDetail). */
  #errorDetail: string | undefined;

  constructor(mailbox: SharedArrayBuffer, vcpuFd: number, runSize: number) {
    this.#vcpuFd = vcpuFd;
    this.#ctrl = new Int32Array(mailbox, 0, 8);
    this.#deadline = new Float64Array(mailbox, DEADLINE, 1);
    this.#arg = new Uint8Array(mailbox, HEADER, ARG_MAX);
    this.#shared = new Uint8Array(mailbox, HEADER + ARG_MAX, runSize);
    this.#run = new ArrayBuffer(runSize);
  }

  /** The kernel of a thread adopting the emulated vCPU of `t` (its mailbox, which the handing thread serves). */
  static of(t: VcpuTransfer): ProxyKernel {
    if (!t.mailbox) throw new TypeError("handoff.mailbox: an emulated vCPU's handoff carries a mailbox");
    return new ProxyKernel(t.mailbox, t.vcpuFd, t.mmapSize);
  }

  /**
   * Kernel.adoptVcpu: claims the mailbox (EBUSY if another thread did) and maps this thread's copy of kvm_run.
   * EDEADLK on the thread that serves the mailbox: a call from there would wait for itself forever.
   */
  adoptVcpu(t: VcpuTransfer): Mapping {
    if (new Float64Array(this.#ctrl.buffer, OWNER, 1)[0] === THREAD_TOKEN) {
      throw new KvmError(
        "adoptVcpu",
        Errno.EDEADLK,
        `vCPU ${t.id} is emulated on this thread, which would wait for itself: adopt it in a Worker`,
      );
    }
    if (Atomics.compareExchange(this.#ctrl, ADOPTED, 0, 1) !== 0) {
      throw new KvmError("adoptVcpu", Errno.EBUSY, `vCPU ${t.id} is already adopted by another thread`);
    }
    return this.mmap(t.vcpuFd, t.mmapSize) as Mapping;
  }

  /** Kernel.handoffVcpu: the adopted vCPU moves on to another Worker, this one forwarding its calls. */
  handoffVcpu(vcpuFd: number, mmapSize: number, completeExit?: () => boolean): SharedArrayBuffer {
    return handoffEmulatedVcpu(this, vcpuFd, mmapSize, completeExit);
  }

  /** Kernel.takeErrorDetail: why the owner failed the last KVM_RUN (its exit handler threw), once. */
  takeErrorDetail(): string | undefined {
    const r = this.#errorDetail;
    this.#errorDetail = undefined;
    return r;
  }

  #call(op: number, fd: number, request: number, value: number, arg?: Uint8Array): number {
    const ctrl = this.#ctrl;
    if (arg) {
      if (arg.length > ARG_MAX) return -Errno.E2BIG;
      this.#arg.set(arg);
      ctrl[LENGTH] = arg.length;
    }
    ctrl[OP] = op;
    ctrl[FD] = fd;
    ctrl[REQUEST] = request | 0;
    ctrl[VALUE] = value;
    const run = new Uint8Array(this.#run);
    if (op === OP_RUN) this.#shared.set(run);
    Atomics.store(ctrl, STATE, REQUESTED);
    Atomics.notify(ctrl, STATE);
    while (Atomics.load(ctrl, STATE) !== REPLIED) Atomics.wait(ctrl, STATE, REQUESTED);
    const r = ctrl[RESULT];
    if (arg) arg.set(this.#arg.subarray(0, arg.length));
    this.#errorDetail = op === OP_RUN && r < 0 && ctrl[LENGTH] > 0
      ? decoder.decode(this.#arg.slice(0, ctrl[LENGTH]))
      : undefined;
    if (op === OP_RUN) run.set(this.#shared);
    Atomics.store(ctrl, STATE, IDLE);
    return r;
  }

  open(_path: string): number {
    return -Errno.ENOSYS;
  }

  close(fd: number): number {
    return fd === this.#vcpuFd ? this.#call(OP_CLOSE, fd, 0, 0) : 0;
  }

  ioctl(fd: number, request: number, arg: Uint8Array): number {
    return this.#call(OP_IOCTL, fd, request, 0, arg);
  }

  ioctlValue(fd: number, request: number, value: number): number {
    if (fd === this.#vcpuFd && request === KVM_RUN) return this.#call(OP_RUN, fd, request, value);
    return this.#call(OP_IOCTL_VALUE, fd, request, value);
  }

  mmap(fd: number, length: number): Mapping | number {
    if (fd !== this.#vcpuFd || length !== this.#run.byteLength) return -Errno.ENOMEM;
    // This thread's copy of kvm_run; it belongs to the proxy, so unmapping must not detach it.
    return { address: 0n, buffer: this.#run, length, aliased: true };
  }

  munmap(_mapping: Mapping): number {
    return 0;
  }

  setRunAlarm(_vcpuFd: number, ms: number): void {
    this.#deadline[0] = ms > 0 ? now() + ms : 0;
  }

  takeRunSignal(): boolean {
    return false;
  }

  prepareVcpu(_vcpuFd: number): number {
    return 0;
  }

  currentThread(): number {
    return 0;
  }

  kickThread(_tid: number): void {
    // The owner's slices read kvm_run.immediate_exit: setting it is the kick.
  }
}
