/**
 * The i8042 keyboard controller (ports 0x60 data, 0x64 status/command) with
 * a keyboard that answers the commands drivers send at probe time (reset,
 * identify, LEDs, scan code set, enable), no auxiliary (mouse) port, and the
 * CPU reset line: command 0xfe, or writing the output port with bit 0 clear,
 * resets the machine.
 *
 * @module
 */
import type { PortDevice } from "./bus.ts";

/** How the controller reaches the machine. */
export interface I8042Options {
  /** Drives IRQ 1 (pulsed when the keyboard puts a byte in the output buffer with interrupts enabled). */
  irq(level: boolean): void;
  /** The CPU reset line was pulsed. */
  reset(): void;
}

const STATUS_OBF = 0x01, STATUS_SYS = 0x04, STATUS_CMD = 0x08, STATUS_UNLOCKED = 0x10;
const CTR_KBD_INT = 0x01, CTR_SYS = 0x04, CTR_KBD_DISABLE = 0x10, CTR_AUX_DISABLE = 0x20, CTR_XLATE = 0x40;

/** Controller commands answered with one fixed byte. */
const REPLIES = new Map([
  [0xa9, 0x01], // test the aux port: 0x01, "clock line stuck low": there is no aux port
  [0xaa, 0x55], // self test: passed
  [0xab, 0x00], // test the keyboard port: no error
  [0xc0, 0x80], // read the input port
]);
/** Controller commands that disable (set) or enable (clear) a port's bit in the configuration byte. */
const DISABLES = new Map([[0xa7, CTR_AUX_DISABLE], [0xad, CTR_KBD_DISABLE]]);
const ENABLES = new Map([[0xa8, CTR_AUX_DISABLE], [0xae, CTR_KBD_DISABLE]]);

/** The controller. Register it twice: at 0x60 (1 port) and at 0x64 (1 port), with `port` telling which. */
export class I8042 {
  readonly #o: I8042Options;
  #ctr = CTR_KBD_INT | CTR_SYS | CTR_AUX_DISABLE | CTR_XLATE;
  #out: number[] = [];
  #lastWasCommand = false;
  /** A controller command waiting for its data byte (0x60, 0xd1-0xd4). */
  #pendingCommand = 0;
  /** A keyboard command waiting for its argument (0xed, 0xf0, 0xf3). */
  #kbdArg = 0;
  #outputPort = 0x03; // reset line high, A20 on

  /** Makes the controller; `options` give its reset line. */
  constructor(options: I8042Options) {
    this.#o = options;
  }

  /** The data port device (0x60). */
  get data(): PortDevice {
    return { read: () => this.#readData(), write: (_o, _s, v) => this.#writeData(v & 0xff) };
  }

  /** The status/command port device (0x64). */
  get command(): PortDevice {
    return { read: () => this.#status(), write: (_o, _s, v) => this.#writeCommand(v & 0xff) };
  }

  #status(): number {
    return (this.#out.length ? STATUS_OBF : 0) | (this.#ctr & CTR_SYS ? STATUS_SYS : 0) |
      (this.#lastWasCommand ? STATUS_CMD : 0) | STATUS_UNLOCKED;
  }

  #readData(): number {
    const v = this.#out.length ? this.#out.shift()! : 0;
    if (this.#out.length) this.#pulse();
    return v;
  }

  /** Queues bytes for the guest; the keyboard's interrupt fires if enabled. */
  #push(...bytes: number[]): void {
    const wasEmpty = this.#out.length === 0;
    this.#out.push(...bytes);
    if (wasEmpty) this.#pulse();
  }

  #pulse(): void {
    if (!(this.#ctr & CTR_KBD_INT)) return;
    this.#o.irq(true);
    this.#o.irq(false);
  }

  #writeCommand(v: number): void {
    this.#lastWasCommand = true;
    const reply = REPLIES.get(v);
    if (reply !== undefined) return this.#push(reply);
    this.#ctr |= DISABLES.get(v) ?? 0;
    this.#ctr &= ~(ENABLES.get(v) ?? 0);
    switch (v) {
      case 0x20: // read the controller configuration byte
        this.#push(this.#ctr);
        return;
      case 0x60: // write it (data follows)
      case 0xd1: // write the output port
      case 0xd2: // write the keyboard output buffer
      case 0xd3: // write the aux output buffer
      case 0xd4: // write to the aux device
        this.#pendingCommand = v;
        return;
      case 0xd0: // read the output port
        this.#push(this.#outputPort);
        return;
      case 0xfe: // pulse the reset line
        this.#o.reset();
        return;
      default:
        // 0xf0-0xff pulse output port bits low for 6 us; bit 0 is the reset line.
        if (v >= 0xf0 && !(v & 1)) this.#o.reset();
    }
  }

  #writeData(v: number): void {
    this.#lastWasCommand = false;
    const command = this.#pendingCommand;
    this.#pendingCommand = 0;
    switch (command) {
      case 0x60:
        this.#ctr = v;
        return;
      case 0xd1:
        this.#outputPort = v;
        if (!(v & 1)) this.#o.reset();
        return;
      case 0xd2:
        this.#push(v);
        return;
      case 0xd3: // no aux port: nothing loops back
      case 0xd4: // no aux device: nothing answers
        return;
    }
    this.#keyboard(v);
  }

  /** A byte for the keyboard itself. */
  #keyboard(v: number): void {
    if (this.#kbdArg) {
      const arg = this.#kbdArg;
      this.#kbdArg = 0;
      // 0xf0 0: which scan code set; else an ack for the argument.
      if (arg === 0xf0 && v === 0) this.#push(0xfa, 0x02);
      else this.#push(0xfa);
      return;
    }
    switch (v) {
      case 0xed: // LEDs
      case 0xf0: // scan code set
      case 0xf3: // typematic rate
        this.#kbdArg = v;
        this.#push(0xfa);
        return;
      case 0xee: // echo
        this.#push(0xee);
        return;
      case 0xf2: // identify: an MF2 keyboard
        this.#push(0xfa, 0xab, 0x83);
        return;
      case 0xff: // reset and self test
        this.#push(0xfa, 0xaa);
        return;
      default: // enable, disable, set defaults, resend...: acknowledged
        this.#push(0xfa);
    }
  }
}
