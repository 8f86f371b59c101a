/**
 * VcpuExit: what KVM_RUN returned, decoded from the vCPU's kvm_run page.
 * The decoder keeps one object per exit kind and refills it on each run, and
 * I/O and MMIO `data` are views into kvm_run itself, so writing the answer
 * of an "in" or an MMIO read into `data` completes the instruction on the
 * next run. Nothing is copied, and the I/O path allocates nothing.
 *
 * @module
 */
import * as C from "./abi/constants.ts";
import { kvmRun } from "./abi/structs.ts";
import { check, u64, u8 } from "./internal/validate.ts";
import { Errno } from "./abi/errno.ts";
import { KvmError } from "./errors.ts";

/**
 * A KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR exit (KVM_CAP_X86_USER_SPACE_MSR):
 * the guest's rdmsr/wrmsr of `index` that KVM hands to userspace. Its
 * members read and write `kvm_run.msr` itself: for a read, set `data` to the
 * value the guest gets; set `error` to 1 to give the guest a #GP instead.
 * The answer takes effect on the next run().
 */
export interface MsrExit<R extends "x86_rdmsr" | "x86_wrmsr"> {
  /** "x86_rdmsr" for the guest's RDMSR, "x86_wrmsr" for its WRMSR. */
  readonly reason: R;
  /** The MSR index (ECX). */
  readonly index: number;
  /** The value written (wrmsr), or the value to return (rdmsr): `kvm_run.msr.data`. */
  data: bigint;
  /** Non-zero makes the access fail with #GP: `kvm_run.msr.error`. */
  error: number;
  /** Why it exited: KVM_MSR_EXIT_REASON_INVAL, _UNKNOWN or _FILTER (`kvm_run.msr.reason`). */
  readonly msrReason: number;
}

/** An exit of KVM_RUN. Valid, with its `data` view, until the next run() on the same vCPU. */
export type VcpuExit =
  | { reason: "io"; direction: "in" | "out"; port: number; size: 1 | 2 | 4; count: number; data: Uint8Array }
  | { reason: "mmio"; physAddr: bigint; isWrite: boolean; len: number; data: Uint8Array }
  | { reason: "hlt" }
  | { reason: "shutdown" }
  | { reason: "debug"; exception: number; pc: bigint; dr6: bigint; dr7: bigint }
  | { reason: "intr" }
  | { reason: "irq_window_open" }
  | { reason: "fail_entry"; hardwareEntryFailureReason: bigint; cpu: number }
  | { reason: "internal_error"; suberror: number; data: bigint[] }
  | { reason: "system_event"; type: number; data: bigint[] }
  | { reason: "hypercall"; nr: bigint; args: bigint[] }
  | MsrExit<"x86_rdmsr">
  | MsrExit<"x86_wrmsr">
  | { reason: "unknown"; exitReason: number };

/** The exit of a given reason. */
export type ExitOf<R extends VcpuExit["reason"]> = Extract<VcpuExit, { reason: R }>;

const at = (path: string) => kvmRun.offsetOf(path);
const EXIT_REASON = at("exit_reason");
const IO_DIRECTION = at("io.direction");
const IO_SIZE = at("io.size");
const IO_PORT = at("io.port");
const IO_COUNT = at("io.count");
const IO_DATA_OFFSET = at("io.data_offset");
const MMIO_PHYS_ADDR = at("mmio.phys_addr");
const MMIO_DATA = at("mmio.data");
const MMIO_LEN = at("mmio.len");
const MMIO_IS_WRITE = at("mmio.is_write");
const DEBUG_EXCEPTION = at("debug.arch.exception");
const DEBUG_PC = at("debug.arch.pc");
const DEBUG_DR6 = at("debug.arch.dr6");
const DEBUG_DR7 = at("debug.arch.dr7");
const FAIL_REASON = at("fail_entry.hardware_entry_failure_reason");
const FAIL_CPU = at("fail_entry.cpu");
const INTERNAL_SUBERROR = at("internal.suberror");
const INTERNAL_NDATA = at("internal.ndata");
const INTERNAL_DATA = at("internal.data");
const EVENT_TYPE = at("system_event.type");
const EVENT_NDATA = at("system_event.ndata");
const EVENT_DATA = at("system_event.data");
const HYPERCALL_NR = at("hypercall.nr");
const HYPERCALL_ARGS = at("hypercall.args");
const MSR_ERROR = at("msr.error");
const MSR_REASON = at("msr.reason");
const MSR_INDEX = at("msr.index");
const MSR_DATA = at("msr.data");

/** An MsrExit whose members are kvm_run.msr itself. */
class KvmRunMsrExit<R extends "x86_rdmsr" | "x86_wrmsr"> implements MsrExit<R> {
  readonly reason: R;
  readonly #view: DataView;

  constructor(reason: R, view: DataView) {
    this.reason = reason;
    this.#view = view;
  }

  /** kvm_run, or KvmError EBADF once the vCPU closed (its mapping is detached then). */
  #run(): DataView {
    if ((this.#view.buffer as { detached?: boolean }).detached) {
      throw new KvmError(this.reason, Errno.EBADF, "the vCPU of this exit is closed");
    }
    return this.#view;
  }

  get index(): number {
    return this.#run().getUint32(MSR_INDEX, true);
  }

  get data(): bigint {
    return this.#run().getBigUint64(MSR_DATA, true);
  }

  set data(value: bigint) {
    const view = this.#run();
    view.setBigUint64(MSR_DATA, check(u64, value, "exit.data"), true);
  }

  get error(): number {
    return this.#run().getUint8(MSR_ERROR);
  }

  set error(value: number) {
    const view = this.#run();
    view.setUint8(MSR_ERROR, check(u8, value, "exit.error"));
  }

  get msrReason(): number {
    return this.#run().getUint32(MSR_REASON, true);
  }

  toJSON(): object {
    const { reason, index, data, error, msrReason } = this;
    return { reason, index, data: `0x${data.toString(16)}`, error, msrReason };
  }
}

const HLT: ExitOf<"hlt"> = Object.freeze({ reason: "hlt" });
const SHUTDOWN: ExitOf<"shutdown"> = Object.freeze({ reason: "shutdown" });
/** The exit of a KVM_RUN that a signal or timeout interrupted. */
export const INTR: ExitOf<"intr"> = Object.freeze({ reason: "intr" });
const IRQ_WINDOW_OPEN: ExitOf<"irq_window_open"> = Object.freeze({ reason: "irq_window_open" });

/** Decodes the exits of one vCPU's kvm_run page. */
export class ExitDecoder {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  /** kvm_run's u16 and u32 members in the host's byte order, kvm_run's own: the I/O exit's reads. */
  readonly #u16: Uint16Array;
  readonly #u32: Uint32Array;
  readonly #io: ExitOf<"io">;
  #ioDataStart = -1;
  #ioDataEnd = -1;
  readonly #mmio: ExitOf<"mmio">;
  readonly #rdmsr: MsrExit<"x86_rdmsr">;
  readonly #wrmsr: MsrExit<"x86_wrmsr">;

  constructor(run: ArrayBuffer) {
    // SAFETY: `run` is the vCPU's kvm_run mapping; the Vcpu detaches it before munmap.
    this.#bytes = new Uint8Array(run);
    this.#view = new DataView(run);
    this.#u16 = new Uint16Array(run, 0, run.byteLength >> 1);
    this.#u32 = new Uint32Array(run, 0, run.byteLength >> 2);
    this.#io = { reason: "io", direction: "out", port: 0, size: 1, count: 0, data: this.#bytes.subarray(0, 0) };
    this.#mmio = { reason: "mmio", physAddr: 0n, isWrite: false, len: 0, data: this.#bytes.subarray(0, 0) };
    this.#rdmsr = new KvmRunMsrExit("x86_rdmsr", this.#view);
    this.#wrmsr = new KvmRunMsrExit("x86_wrmsr", this.#view);
  }

  /** True once kvm_run's buffer was detached: by the vCPU's close, or by a caller's `exit.data.buffer.transfer()`. */
  get detached(): boolean {
    // kvm_run is never empty: its views have no bytes exactly when it is detached (cheaper than ArrayBuffer's
    // detached getter, asked at every run()).
    return this.#bytes.byteLength === 0;
  }

  /** The raw `exit_reason`. */
  get exitReason(): number {
    return this.#view.getUint32(EXIT_REASON, true);
  }

  /** The exit now in kvm_run. */
  decode(): VcpuExit {
    const v = this.#view;
    const reason = this.#u32[EXIT_REASON >> 2];
    switch (reason) {
      case C.KVM_EXIT_IO:
        return this.#decodeIo();
      case C.KVM_EXIT_MMIO: {
        const e = this.#mmio;
        const len = v.getUint32(MMIO_LEN, true);
        e.physAddr = v.getBigUint64(MMIO_PHYS_ADDR, true);
        e.isWrite = v.getUint8(MMIO_IS_WRITE) !== 0;
        if (e.len !== len) e.data = this.#bytes.subarray(MMIO_DATA, MMIO_DATA + Math.min(len, 8));
        e.len = len;
        return e;
      }
      case C.KVM_EXIT_HLT:
        return HLT;
      case C.KVM_EXIT_SHUTDOWN:
        return SHUTDOWN;
      case C.KVM_EXIT_INTR:
        return INTR;
      case C.KVM_EXIT_IRQ_WINDOW_OPEN:
        return IRQ_WINDOW_OPEN;
      case C.KVM_EXIT_DEBUG:
        return {
          reason: "debug",
          exception: v.getUint32(DEBUG_EXCEPTION, true),
          pc: v.getBigUint64(DEBUG_PC, true),
          dr6: v.getBigUint64(DEBUG_DR6, true),
          dr7: v.getBigUint64(DEBUG_DR7, true),
        };
      case C.KVM_EXIT_FAIL_ENTRY:
        return {
          reason: "fail_entry",
          hardwareEntryFailureReason: v.getBigUint64(FAIL_REASON, true),
          cpu: v.getUint32(FAIL_CPU, true),
        };
      case C.KVM_EXIT_INTERNAL_ERROR:
        return {
          reason: "internal_error",
          suberror: v.getUint32(INTERNAL_SUBERROR, true),
          data: this.#u64s(INTERNAL_DATA, Math.min(v.getUint32(INTERNAL_NDATA, true), 16)),
        };
      case C.KVM_EXIT_SYSTEM_EVENT:
        return {
          reason: "system_event",
          type: v.getUint32(EVENT_TYPE, true),
          data: this.#u64s(EVENT_DATA, Math.min(v.getUint32(EVENT_NDATA, true), 16)),
        };
      case C.KVM_EXIT_HYPERCALL:
        return { reason: "hypercall", nr: v.getBigUint64(HYPERCALL_NR, true), args: this.#u64s(HYPERCALL_ARGS, 6) };
      case C.KVM_EXIT_X86_RDMSR:
        return this.#rdmsr;
      case C.KVM_EXIT_X86_WRMSR:
        return this.#wrmsr;
      default:
        return { reason: "unknown", exitReason: reason };
    }
  }

  #decodeIo(): ExitOf<"io"> {
    const b = this.#bytes, u32 = this.#u32;
    const e = this.#io;
    const size = b[IO_SIZE] as 1 | 2 | 4;
    const count = u32[IO_COUNT >> 2];
    // data_offset is a u64, but it always points inside the mapping.
    const start = u32[IO_DATA_OFFSET >> 2];
    const end = start + size * count;
    if (start !== this.#ioDataStart || end !== this.#ioDataEnd) {
      this.#ioDataStart = start;
      this.#ioDataEnd = end;
      e.data = b.subarray(start, Math.min(end, b.length));
    }
    e.direction = b[IO_DIRECTION] === C.KVM_EXIT_IO_OUT ? "out" : "in";
    e.port = this.#u16[IO_PORT >> 1];
    e.size = size;
    e.count = count;
    return e;
  }

  #u64s(offset: number, n: number): bigint[] {
    const out: bigint[] = [];
    for (let i = 0; i < n; i++) out.push(this.#view.getBigUint64(offset + 8 * i, true));
    return out;
  }
}
