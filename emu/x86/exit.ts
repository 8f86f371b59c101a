/**
 * An exit the core asks the vCPU to report in kvm_run: the core fills one
 * of these, the vCPU layer copies it into the kernel's kvm_run layout.
 *
 * @module
 */

/** No bytes (the default `data`, shared: an exit is allocated per I/O exit). */
const NO_DATA = new Uint8Array(0);
const NO_WORDS: readonly number[] = [];

/** One pending exit (fields by KVM_EXIT_* reason). */
export class CoreExit {
  /** KVM_EXIT_* value. */
  readonly reason: number;
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
}
