/**
 * Sync regs (KVM_CAP_SYNC_REGS): KVM_RUN stores the register sets named in
 * `kvm_run.kvm_valid_regs` into `kvm_run.s` at every exit, and loads the
 * sets named in `kvm_run.kvm_dirty_regs` from there before entering the
 * guest. A VMM that looks at registers on every exit saves a KVM_GET_REGS
 * and a KVM_SET_REGS per exit.
 *
 * @module
 */
import * as C from "./abi/constants.ts";
import { Errno } from "./abi/errno.ts";
import * as S from "./abi/structs.ts";
import { KvmError } from "./errors.ts";
import { regsSchema, sregsSchema, syncRegsSetsSchema, vcpuEventsSchema } from "./internal/schemas.ts";
import { check, type z } from "./internal/validate.ts";
import type { StructCodec } from "./abi/_struct.ts";
import type { SyncRegsSets } from "./vmm_types.ts";

const VALID = S.kvmRun.offsetOf("kvm_valid_regs");
const DIRTY = S.kvmRun.offsetOf("kvm_dirty_regs");
const AREA = S.kvmRun.offsetOf("s");
const REGS = AREA + S.kvmSyncRegs.offsetOf("regs");
const SREGS = AREA + S.kvmSyncRegs.offsetOf("sregs");
const EVENTS = AREA + S.kvmSyncRegs.offsetOf("events");

/** What a SyncRegs needs of its vCPU: kvm_run (or EBADF once closed) and the VM's KVM_CAP_SYNC_REGS. */
export interface SyncRegsHost {
  runView(operation: string): DataView;
  supported(): number;
}

/**
 * The `kvm_run.s` area of one vCPU. Enable the sets you want once; after
 * each run() read them here without an ioctl; assign one to have the next
 * run() load it into the vCPU.
 *
 * @example
 * ```ts
 * vcpu.syncRegs.enable({ regs: true });
 * const exit = vcpu.run();
 * const regs = vcpu.syncRegs.regs; // as KVM_GET_REGS would say, without the ioctl
 * vcpu.syncRegs.regs = { ...regs, rax: 0n }; // loaded by the next run()
 * ```
 */
export class SyncRegs {
  readonly #host: SyncRegsHost;

  /** @internal Made by the Vcpu. */
  constructor(host: SyncRegsHost) {
    this.#host = host;
  }

  /**
   * Sets `kvm_run.kvm_valid_regs` to exactly `sets`. Throws KvmError EINVAL,
   * as KVM_RUN would, when the backend's KVM_CAP_SYNC_REGS lacks one of
   * them (the emulator has none).
   */
  enable(sets: SyncRegsSets): void {
    const view = this.#host.runView("KVM_RUN");
    const s = check(syncRegsSetsSchema, sets, "sets");
    const mask = (s.regs ? C.KVM_SYNC_X86_REGS : 0) | (s.sregs ? C.KVM_SYNC_X86_SREGS : 0) |
      (s.events ? C.KVM_SYNC_X86_EVENTS : 0);
    const supported = this.#host.supported();
    if ((mask & ~supported) !== 0) {
      throw new KvmError(
        "KVM_RUN",
        Errno.EINVAL,
        `kvm_valid_regs 0x${mask.toString(16)}: KVM_CAP_SYNC_REGS is 0x${supported.toString(16)} here`,
      );
    }
    view.setBigUint64(VALID, BigInt(mask), true);
  }

  /** The sets enabled now (`kvm_run.kvm_valid_regs`). */
  get enabled(): SyncRegsSets {
    const mask = Number(this.#host.runView("kvm_run.s").getBigUint64(VALID, true));
    return {
      regs: (mask & C.KVM_SYNC_X86_REGS) !== 0,
      sregs: (mask & C.KVM_SYNC_X86_SREGS) !== 0,
      events: (mask & C.KVM_SYNC_X86_EVENTS) !== 0,
    };
  }

  /** `kvm_run.s.regs.regs`, as the last run() left them. */
  get regs(): S.Regs {
    return S.kvmRegs.decode(this.#view(C.KVM_SYNC_X86_REGS, "regs"), REGS);
  }

  /** Writes `kvm_run.s.regs.regs` and marks them dirty (KVM_SYNC_X86_REGS): the next run() loads them. */
  set regs(regs: S.Regs) {
    this.#write(C.KVM_SYNC_X86_REGS, "regs", S.kvmRegs, regsSchema, regs, REGS);
  }

  /** `kvm_run.s.regs.sregs`, as the last run() left them. */
  get sregs(): S.Sregs {
    return S.kvmSregs.decode(this.#view(C.KVM_SYNC_X86_SREGS, "sregs"), SREGS);
  }

  /** Writes `kvm_run.s.regs.sregs` and marks them dirty (KVM_SYNC_X86_SREGS). */
  set sregs(sregs: S.Sregs) {
    this.#write(C.KVM_SYNC_X86_SREGS, "sregs", S.kvmSregs, sregsSchema, sregs, SREGS);
  }

  /** `kvm_run.s.regs.events`, as the last run() left them. */
  get events(): S.VcpuEvents {
    return S.kvmVcpuEvents.decode(this.#view(C.KVM_SYNC_X86_EVENTS, "events"), EVENTS);
  }

  /** Writes `kvm_run.s.regs.events` and marks them dirty (KVM_SYNC_X86_EVENTS). */
  set events(events: S.VcpuEvents) {
    this.#write(C.KVM_SYNC_X86_EVENTS, "events", S.kvmVcpuEvents, vcpuEventsSchema, events, EVENTS);
  }

  /** Writes `value` (checked by `schema`, named `name`) at `at` of kvm_run and marks set `bit` dirty. */
  #write<T>(bit: number, name: string, codec: StructCodec<T>, schema: z.ZodType<T>, value: T, at: number): void {
    const view = this.#view(bit, name);
    codec.encode(check(schema, value, name), view, at);
    this.#dirty(view, bit);
  }

  /** kvm_run, once `bit` is enabled: reading a set KVM_RUN does not store would read stale data. */
  #view(bit: number, name: string): DataView {
    const view = this.#host.runView("kvm_run.s");
    if ((Number(view.getBigUint64(VALID, true)) & bit) === 0) {
      throw new KvmError("kvm_run.s", Errno.EINVAL, `${name} are not synced: call syncRegs.enable({ ${name}: true })`);
    }
    return view;
  }

  #dirty(view: DataView, bit: number): void {
    view.setBigUint64(DIRTY, view.getBigUint64(DIRTY, true) | BigInt(bit), true);
  }
}
