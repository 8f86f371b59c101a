/**
 * The ACPI fixed hardware the FADT describes: the PM1a event block (status
 * and enable, write 1 to clear), the PM1a control block (SCI_EN reads 1;
 * SLP_EN with SLP_TYP 5 enters S5, which powers the machine off), the 32-bit
 * PM timer at 3.579545 MHz, and the reset control register at 0xcf9 (writing
 * a value with bit 2, "reset CPU", resets the machine).
 *
 * @module
 */
import type { PortDevice } from "./bus.ts";
import { SLP_TYP_S5 } from "./acpi.ts";
import { ResetPort } from "./misc.ts";

/** What the block does to the machine. */
export interface PmOptions {
  /** Called on a write of SLP_TYP S5 with SLP_EN. */
  poweroff(): void;
  /** A reset request; AcpiPm does not call it itself (the FADT reset register is 0xcf9, ResetControl). */
  reset(): void;
  /** The time the PM timer counts, in milliseconds (default performance.now; the machine gives the VM's clock). */
  now?: () => number;
}

const PM_TIMER_HZ = 3_579_545;
const SCI_EN = 1, SLP_EN = 1 << 13;

/** PM1a event and control and the PM timer: 12 ports from the PM base (0x600). */
export class AcpiPm implements PortDevice {
  readonly #o: PmOptions;
  readonly #now: () => number;
  readonly #t0: number;
  #status = 0;
  #enable = 0;
  #control = SCI_EN;

  /** Makes the block; `options` give its power-off line and clock. */
  constructor(options: PmOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    this.#t0 = this.#now();
  }

  read(offset: number, size: number): number {
    let v: number;
    if (offset < 2) v = this.#status >>> (8 * offset);
    else if (offset < 4) v = this.#enable >>> (8 * (offset - 2));
    else if (offset < 6) v = this.#control >>> (8 * (offset - 4));
    else if (offset >= 8) {
      const ticks = Math.floor(((this.#now() - this.#t0) * PM_TIMER_HZ) / 1000);
      v = (ticks % 0x1_0000_0000) >>> (8 * (offset - 8));
    } else v = 0;
    return size === 4 ? v >>> 0 : v & ((1 << (8 * size)) - 1);
  }

  write(offset: number, size: number, value: number): void {
    if (offset < 2) {
      this.#status &= ~((value << (8 * offset)) & 0xffff); // write 1 to clear
    } else if (offset < 4) {
      const shift = 8 * (offset - 2);
      const mask = (size >= 2 ? 0xffff : 0xff) << shift;
      this.#enable = ((this.#enable & ~mask) | ((value << shift) & mask)) & 0xffff;
    } else if (offset < 6) {
      const shift = 8 * (offset - 4);
      const mask = (size >= 2 ? 0xffff : 0xff) << shift;
      const v = ((this.#control & ~mask) | ((value << shift) & mask)) & 0xffff;
      if (v & SLP_EN) {
        const typ = (v >> 10) & 7;
        this.#control = v & ~SLP_EN; // SLP_EN is write-only
        if (typ === SLP_TYP_S5) this.#o.poweroff();
        return;
      }
      this.#control = v | SCI_EN;
    }
  }
}

/** The reset control register (0xcf9): bit 2 pulses the CPU reset. */
export class ResetControl extends ResetPort {
  /** Makes the register; `reset` is called when bit 2 is written set. */
  constructor(reset: () => void) {
    super(reset, { keep: 0x0e, set: 0, resetBit: 0x04 });
  }
}
