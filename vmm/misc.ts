/**
 * Small PC ports: the POST code port 0x80, system control port A (0x92:
 * A20 and the fast reset bit) and QEMU's isa-debug-exit (a write of v ends
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

/** Port 0x92: bit 1 is A20 (always on here), writing bit 0 set resets the machine. */
export class SystemControlA implements PortDevice {
  readonly #reset: () => void;
  #value = 0x02;

  /** Makes the port; `reset` is called when bit 0 is written set. */
  constructor(reset: () => void) {
    this.#reset = reset;
  }

  read(): number {
    return this.#value;
  }

  write(_offset: number, _size: number, value: number): void {
    this.#value = (value & 0xfe) | 0x02;
    if (value & 1) this.#reset();
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
