/**
 * An exit the core asks the vCPU to report in kvm_run: the core fills one
 * of these, the vCPU layer copies it into the kernel's kvm_run layout.
 * Exits are recycled: the vCPU gives each one back once the next KVM_RUN
 * has completed it (`releaseExit`), and `takeExit` hands it out again, to
 * the core (I/O and MMIO exits in cpu.ts, the run loop's in exec.ts, debug
 * exits in debug.ts) and to the vCPU (KVM_EXIT_INTR): an I/O exit's round
 * trip allocates none.
 *
 * @module
 */

/** No bytes (the default `data`, shared). */
const NO_DATA = new Uint8Array(0);
const NO_WORDS: readonly number[] = [];

/** One pending exit (fields by KVM_EXIT_* reason). */
export class CoreExit {
  /** KVM_EXIT_* value. */
  reason: number;
  /** io: KVM_EXIT_IO_IN (0) or KVM_EXIT_IO_OUT (1); mmio: 1 for a write. */
  dir = 0;
  size = 0;
  port = 0;
  count = 0;
  /** io: the bytes of an OUT (else `value` holds them); mmio: the bytes of a write. */
  data: Uint8Array = NO_DATA;
  /** io: the value of a single OUT of `size` bytes, when `data` is empty. */
  value = 0;
  /** mmio: guest-physical address. */
  addr = 0;
  /** debug: exception, linear pc, dr6, dr7. */
  exception = 0;
  pc = 0;
  dr6 = 0;
  dr7 = 0;
  /** internal_error: suberror and data words. */
  suberror = 0;
  idata: readonly number[] = NO_WORDS;

  constructor(reason: number) {
    this.reason = reason;
  }

  /** Makes it a new exit of `reason`, every other field at its default (as a new one has them). */
  reset(reason: number): void {
    this.reason = reason;
    this.dir =
      this.size =
      this.port =
      this.count =
      this.value =
      this.addr =
        0;
    this.data = NO_DATA;
    this.exception =
      this.pc =
      this.dr6 =
      this.dr7 =
      this.suberror =
        0;
    this.idata = NO_WORDS;
  }
}

/** Exits given back, for takeExit; at most SPARE_EXITS (a vCPU has one in flight at a time, seldom more). */
const spare: CoreExit[] = [];
const SPARE_EXITS = 16;

/** A new exit of `reason`: one given back (releaseExit) when there is one, reset, else a new object. */
export function takeExit(reason: number): CoreExit {
  const e = spare.pop();
  if (e === undefined) return new CoreExit(reason);
  e.reset(reason);
  return e;
}

/**
 * Gives `e` back for takeExit, once nothing refers to it any more: the vCPU calls it when KVM_RUN has completed the
 * exit it last reported (or with an exit it reports and does not keep). Only exits are given back that are neither
 * queued nor kept anywhere else.
 */
export function releaseExit(e: CoreExit): void {
  if (spare.length < SPARE_EXITS) spare.push(e);
}
