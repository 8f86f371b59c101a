/**
 * A 16550A UART (COM1: ports 0x3f8-0x3ff, IRQ 4): the divisor latch, the
 * 16-byte receive FIFO with its trigger levels, the interrupt identification
 * (line status, received data, character timeout, transmitter empty, modem
 * status) and loopback mode. Transmission is instantaneous: a byte written to
 * THR goes to `output` at once and THR is empty again.
 *
 * @module
 */
import type { PortDevice } from "./bus.ts";

/** Where the UART's bytes go and how it raises its interrupt. */
export interface UartOptions {
  /** Receives every byte the guest transmits (not in loopback mode). */
  output(byte: number): void;
  /** Drives the UART's interrupt line (level: true while an enabled interrupt is pending). */
  irq(level: boolean): void;
}

const FIFO_SIZE = 16;
const TRIGGER = [1, 4, 8, 14];

// IER bits.
const IER_RDI = 0x01, IER_THRI = 0x02, IER_RLSI = 0x04, IER_MSI = 0x08;
// IIR identifications.
const IIR_NONE = 0x01, IIR_MSI = 0x00, IIR_THRI = 0x02, IIR_RDI = 0x04, IIR_RLSI = 0x06, IIR_TIMEOUT = 0x0c;
// LSR bits.
const LSR_DR = 0x01, LSR_OE = 0x02, LSR_THRE = 0x20, LSR_TEMT = 0x40;
// MCR bits.
const MCR_LOOP = 0x10;
// LCR.DLAB.
const LCR_DLAB = 0x80;

/** The 16550A. Register it on the bus at its base port (8 ports). */
export class Uart16550 implements PortDevice {
  readonly #out: UartOptions;
  #ier = 0;
  #lcr = 0x03; // 8N1
  #mcr = 0x08; // OUT2
  #lsrErrors = 0;
  #scr = 0;
  #dll = 0x01; // 115200 baud
  #dlm = 0;
  #fifoEnabled = false;
  #trigger = 1;
  /** Bytes the guest has not read: the first FIFO_SIZE are in the FIFO, the rest wait in the "line". */
  #rx: number[] = [];
  #thrPending = false;
  #msrDelta = 0;
  #level = false;

  /** Makes the UART; `options` give its interrupt line and output. */
  constructor(options: UartOptions) {
    this.#out = options;
  }

  /** Bytes waiting to be read by the guest (FIFO and line). */
  get pendingInput(): number {
    return this.#rx.length;
  }

  /** Queues bytes from the terminal for the guest to receive. */
  receive(bytes: Uint8Array | readonly number[]): void {
    for (const b of bytes) this.#rx.push(b & 0xff);
    this.#update();
  }

  read(offset: number, _size = 1): number {
    switch (offset) {
      case 0: {
        if (this.#lcr & LCR_DLAB) return this.#dll;
        const v = this.#rx.length > 0 ? this.#rx.shift()! : 0;
        this.#update();
        return v;
      }
      case 1:
        return this.#lcr & LCR_DLAB ? this.#dlm : this.#ier;
      case 2: {
        const id = this.#pending();
        if (id === IIR_THRI) this.#thrPending = false; // reading IIR acknowledges THRE
        const v = id | (this.#fifoEnabled ? 0xc0 : 0);
        this.#update();
        return v;
      }
      case 3:
        return this.#lcr;
      case 4:
        return this.#mcr;
      case 5: {
        const v = this.#lsr();
        this.#lsrErrors = 0;
        this.#update();
        return v;
      }
      case 6: {
        const v = this.#msr() | this.#msrDelta;
        this.#msrDelta = 0;
        this.#update();
        return v;
      }
      default:
        return this.#scr;
    }
  }

  write(offset: number, _size: number, value: number): void {
    const v = value & 0xff;
    switch (offset) {
      case 0:
        if (this.#lcr & LCR_DLAB) {
          this.#dll = v;
          return;
        }
        if (this.#mcr & MCR_LOOP) {
          if (this.#rx.length >= FIFO_SIZE) this.#lsrErrors |= LSR_OE;
          else this.#rx.push(v);
        } else {
          this.#out.output(v);
        }
        // The byte left at once: THR is empty again, which is a new THRE interrupt.
        this.#thrPending = true;
        break;
      case 1:
        if (this.#lcr & LCR_DLAB) {
          this.#dlm = v;
          return;
        }
        // Enabling THRE with THR empty raises it at once, as the 16550A does.
        if ((v & IER_THRI) && !(this.#ier & IER_THRI)) this.#thrPending = true;
        this.#ier = v & 0x0f;
        break;
      case 2: // FCR
        this.#fifoEnabled = (v & 1) !== 0;
        if (v & 2) this.#rx.splice(0, Math.min(this.#rx.length, FIFO_SIZE));
        this.#trigger = TRIGGER[v >> 6];
        break;
      case 3:
        this.#lcr = v;
        return;
      case 4: {
        const before = this.#msr();
        this.#mcr = v & 0x1f;
        const after = this.#msr();
        // Delta bits: CTS (0), DSR (1), trailing edge of RI (2), DCD (3).
        const changed = before ^ after;
        if (changed & 0x10) this.#msrDelta |= 0x01;
        if (changed & 0x20) this.#msrDelta |= 0x02;
        if ((before & 0x40) && !(after & 0x40)) this.#msrDelta |= 0x04;
        if (changed & 0x80) this.#msrDelta |= 0x08;
        break;
      }
      case 5:
      case 6:
        return; // LSR and MSR are read-only
      default:
        this.#scr = v;
        return;
    }
    this.#update();
  }

  #lsr(): number {
    return (this.#rx.length > 0 ? LSR_DR : 0) | this.#lsrErrors | LSR_THRE | LSR_TEMT;
  }

  #msr(): number {
    if (this.#mcr & MCR_LOOP) {
      // Loopback: DTR -> DSR, RTS -> CTS, OUT1 -> RI, OUT2 -> DCD.
      const m = this.#mcr;
      return ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4);
    }
    return 0xb0; // DCD, DSR, CTS: a terminal is attached
  }

  /** The highest-priority pending interrupt's IIR identification, or IIR_NONE. */
  #pending(): number {
    const ier = this.#ier;
    if ((ier & IER_RLSI) && this.#lsrErrors) return IIR_RLSI;
    if ((ier & IER_RDI) && this.#rx.length > 0) {
      const inFifo = Math.min(this.#rx.length, FIFO_SIZE);
      // Fewer bytes than the trigger level: the character timeout reports them.
      return !this.#fifoEnabled || inFifo >= this.#trigger ? IIR_RDI : IIR_TIMEOUT;
    }
    if ((ier & IER_THRI) && this.#thrPending) return IIR_THRI;
    if ((ier & IER_MSI) && this.#msrDelta) return IIR_MSI;
    return IIR_NONE;
  }

  #update(): void {
    // OUT2 gates the interrupt onto the ISA line on PCs.
    const level = this.#pending() !== IIR_NONE && (this.#mcr & 0x08) !== 0;
    if (level !== this.#level) {
      this.#level = level;
      this.#out.irq(level);
    }
  }
}
