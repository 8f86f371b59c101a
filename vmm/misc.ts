/**
 * Small PC ports: the POST code port 0x80, system control port A (0x92:
 * A20 and the fast reset bit, a ResetPort like pm.ts's 0xcf9) and QEMU's isa-debug-exit (a write of v ends
 * the machine with exit status (v << 1) | 1).
 *
 * @module
 */
import type { PortDevice } from "./bus.ts";

/** Port 0x80: keeps the last POST code written (a delay port for most guests). */
export class PostCode implements PortDevice {
  /** The last value written, or undefined. */
  last: number | undefined;

  read(): number {
    return this.last ?? 0xff;
  }

  write(_offset: number, _size: number, value: number): void {
    this.last = value & 0xff;
  }
}

/** Which bits of a {@link ResetPort} are kept, forced on, and reset the machine when written set. */
export interface ResetPortBits {
  /** The written bits the port keeps and reads back. */
  keep: number;
  /** Bits that always read 1 (also the value before any write). */
  set: number;
  /** The bit that, written set, calls `reset`. */
  resetBit: number;
}

/** A one-byte register that reads back what was written (masked) and resets the machine on one bit. */
export class ResetPort implements PortDevice {
  readonly #reset: () => void;
  readonly #bits: ResetPortBits;
  #value: number;

  /** Makes the register; `reset` is called when `bits.resetBit` is written set. */
  constructor(reset: () => void, bits: ResetPortBits) {
    this.#reset = reset;
    this.#bits = bits;
    this.#value = bits.set;
  }

  read(): number {
    return this.#value;
  }

  write(_offset: number, _size: number, value: number): void {
    this.#value = (value & this.#bits.keep) | this.#bits.set;
    if (value & this.#bits.resetBit) this.#reset();
  }
}

/** Port 0x92: bit 1 is A20 (always on here), writing bit 0 set resets the machine. */
export class SystemControlA extends ResetPort {
  /** Makes the port; `reset` is called when bit 0 is written set. */
  constructor(reset: () => void) {
    super(reset, { keep: 0xfe, set: 0x02, resetBit: 0x01 });
  }
}

/** isa-debug-exit: a write of `v` (any width) calls `exit((v << 1) | 1)`. */
export class DebugExit implements PortDevice {
  readonly #exit: (code: number) => void;

  /** Makes the port; `exit` gets the status (v << 1) | 1. */
  constructor(exit: (code: number) => void) {
    this.#exit = exit;
  }

  read(): number {
    return 0xff;
  }

  write(_offset: number, _size: number, value: number): void {
    this.#exit(((value << 1) | 1) >>> 0);
  }
}
