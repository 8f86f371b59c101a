/**
 * The Kernel contract over the real Linux kernel: libc calls on /dev/kvm
 * descriptors. Results follow the kernel's convention (non-negative, or
 * -errno read right after the failing call).
 *
 * Run timeouts and kicks: the thread that runs vCPUs keeps one real-time
 * signal blocked, and KVM_SET_SIGNAL_MASK unblocks it only inside KVM_RUN.
 * A POSIX timer aimed at this thread (SIGEV_THREAD_ID), or tgkill from a
 * kicking thread, raises it; inside KVM_RUN it makes the kernel return
 * -EINTR with KVM_EXIT_INTR, and since the signal is blocked again once
 * KVM_RUN returns, no handler ever runs: the pending signal is consumed with
 * sigtimedwait. No signal handler, no JavaScript on a signal stack, and no
 * other thread is disturbed.
 *
 * @module
 */
import { type Kernel, type Mapping, unmap, type VcpuTransfer } from "../kernel.ts";
import { KvmError } from "../errors.ts";
import { KVM_SET_SIGNAL_MASK } from "../abi/requests.ts";
import { Errno } from "../abi/errno.ts";
import {
  CLOCK_MONOTONIC,
  cString,
  type Libc,
  MAP_ANONYMOUS,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  O_CLOEXEC,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  SIG_BLOCK,
  SIGEV_THREAD_ID,
  SIGEVENT_SIZE,
  SIGSET_T_SIZE,
} from "./libc.ts";

/** The kernel's sigset size, which KVM_SET_SIGNAL_MASK requires as `len`. */
const KERNEL_SIGSET_SIZE = 8;

/** The real-time signal (offset from SIGRTMIN) that interrupts KVM_RUN. */
const RUN_SIGNAL_OFFSET = 7;

/** The run signal: SIGRTMIN + RUN_SIGNAL_OFFSET. */
function runSignal(libc: Libc): number {
  return libc.sigrtmin() + RUN_SIGNAL_OFFSET;
}

/** The calling thread's run signal, its timer, and the mask KVM_RUN runs with. */
class RunAlarm {
  readonly #libc: Libc;
  /** Only the run signal, as a glibc sigset_t. */
  readonly #set = new Uint8Array(SIGSET_T_SIZE);
  /** The mask KVM_RUN runs with: this thread's mask without the run signal. */
  readonly runMask = new Uint8Array(KERNEL_SIGSET_SIZE);
  readonly #spec = new Uint8Array(32);
  readonly #specView = new DataView(this.#spec.buffer);
  readonly #zero = new Uint8Array(16);
  #timer = -1n;
  #armed = false;

  constructor(libc: Libc) {
    this.#libc = libc;
    // Ignored wherever it is not blocked: a kick that reaches a thread which
    // runs no vCPU (a stale thread id) is discarded instead of killing the
    // process. Blocked signals are never discarded, and inside KVM_RUN the
    // kernel still counts it as blocked (real_blocked), so it interrupts.
    libc.ignoreSignal(runSignal(libc));
    const bit = runSignal(libc) - 1;
    this.#set[bit >> 3] |= 1 << (bit & 7);
    const old = new Uint8Array(SIGSET_T_SIZE);
    if (libc.pthreadSigmask(SIG_BLOCK, this.#set, old) !== 0) throw new Error("pthread_sigmask failed");
    this.runMask.set(old.subarray(0, KERNEL_SIGSET_SIZE));
    this.runMask[bit >> 3] &= ~(1 << (bit & 7));
  }

  set(ms: number): void {
    const libc = this.#libc;
    if (ms > 0) {
      if (this.#timer < 0n) this.#create();
      const ns = BigInt(Math.round(ms * 1e6));
      this.#specView.setBigInt64(16, ns / 1_000_000_000n, true); // it_value.tv_sec
      this.#specView.setBigInt64(24, ns % 1_000_000_000n, true); // it_value.tv_nsec
      libc.timerSettime(this.#timer, 0, this.#spec);
      this.#armed = true;
    } else if (this.#armed) {
      this.#spec.fill(0);
      libc.timerSettime(this.#timer, 0, this.#spec);
      this.#armed = false;
    }
  }

  /** Consumes the run signal if it is pending for this thread (it is blocked here, so it waits). */
  take(): boolean {
    let taken = false;
    while (this.#libc.sigtimedwait(this.#set, this.#zero) > 0) taken = true;
    return taken;
  }

  #create(): void {
    const libc = this.#libc;
    const ev = new Uint8Array(SIGEVENT_SIZE);
    const v = new DataView(ev.buffer);
    v.setInt32(8, runSignal(libc), true); // sigev_signo
    v.setInt32(12, SIGEV_THREAD_ID, true); // sigev_notify
    v.setInt32(16, libc.gettid(), true); // _sigev_un._tid
    const id = new Uint8Array(8);
    if (libc.timerCreate(CLOCK_MONOTONIC, ev, id) !== 0) {
      throw new Error(`timer_create failed: errno ${libc.errno()}`);
    }
    this.#timer = new DataView(id.buffer).getBigUint64(0, true);
  }
}

/** A Kernel backed by Linux through `libc`. */
export function createFfiKernel(libc: Libc): Kernel {
  let alarm: RunAlarm | undefined;
  let pid = 0;
  const fail = () => -libc.errno();
  const kernel: Kernel = {
    name: "kvm",
    open(path) {
      const fd = libc.open(cString(path), O_RDWR | O_CLOEXEC);
      return fd < 0 ? fail() : fd;
    },
    close(fd) {
      return libc.close(fd) < 0 ? fail() : 0;
    },
    ioctl(fd, request, arg) {
      const r = libc.ioctl(fd, request, arg);
      return r < 0 ? fail() : r;
    },
    ioctlValue(fd, request, value) {
      const r = libc.ioctlInt(fd, request, value);
      return r < 0 ? fail() : r;
    },
    mmap(fd, length): Mapping | number {
      const anon = fd < 0;
      const address = libc.mmap(
        length,
        PROT_READ | PROT_WRITE,
        anon ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE : MAP_SHARED,
        fd,
      );
      if (address === -1n) return fail();
      try {
        return { address, buffer: libc.view(address, length), length };
      } catch {
        // The runtime cannot view that many bytes as one ArrayBuffer (Bun: 4 GiB at most): nothing stays mapped.
        libc.munmap(address, length);
        return -Errno.ENOMEM;
      }
    },
    munmap(mapping) {
      return libc.munmap(mapping.address, mapping.length) < 0 ? fail() : 0;
    },
    prepareVcpu(vcpuFd) {
      alarm ??= new RunAlarm(libc);
      const arg = new Uint8Array(4 + KERNEL_SIGSET_SIZE);
      new DataView(arg.buffer).setUint32(0, KERNEL_SIGSET_SIZE, true);
      arg.set(alarm.runMask, 4);
      const r = libc.ioctl(vcpuFd, KVM_SET_SIGNAL_MASK, arg);
      return r < 0 ? fail() : r;
    },
    setRunAlarm(_vcpuFd, ms) {
      alarm ??= new RunAlarm(libc);
      alarm.set(ms);
    },
    takeRunSignal() {
      return alarm !== undefined && alarm.take();
    },
    currentThread() {
      return libc.gettid();
    },
    kickThread(tid) {
      pid ||= libc.getpid();
      libc.tgkill(pid, tid, runSignal(libc));
    },
    handoffVcpu() {
      // The adopter maps kvm_run and runs KVM_RUN on its own thread.
      return undefined;
    },
    adoptVcpu(t) {
      return adoptVcpu(kernel, t);
    },
  };
  return kernel;
}

/** Kernel.adoptVcpu: maps kvm_run on this thread and blocks the run signal here (KVM_SET_SIGNAL_MASK). */
function adoptVcpu(kernel: Kernel, t: VcpuTransfer): Mapping {
  const run = kernel.mmap(t.vcpuFd, t.mmapSize);
  if (typeof run === "number") throw new KvmError("mmap", -run, `kvm_run of vCPU ${t.id}`);
  const r = kernel.prepareVcpu(t.vcpuFd);
  if (r < 0) {
    unmap(kernel, run);
    throw new KvmError("KVM_SET_SIGNAL_MASK", -r);
  }
  if (Atomics.load(new Int32Array(t.shared), 0) !== 0) {
    unmap(kernel, run);
    throw new KvmError("adoptVcpu", Errno.EBUSY, `vCPU ${t.id} is already adopted by another thread`);
  }
  return run;
}
