/**
 * The CMOS RTC and NVRAM (MC146818 at ports 0x70/0x71): the time of day
 * (BCD or binary, 24 or 12 hours, per register B) running from the host's
 * clock plus an offset the guest sets by writing the time registers, status
 * registers A-D, and the NVRAM bytes firmware leaves for the OS: base and
 * extended memory sizes, memory above 16 MiB and above 4 GiB, the century
 * and the number of CPUs (at 0x5f, as QEMU stores it).
 *
 * @module
 */
import type { PortDevice } from "./bus.ts";

/** What the NVRAM reports. */
export interface RtcOptions {
  /** Bytes of RAM below 4 GiB. */
  lowMemory: number;
  /** Bytes of RAM above 4 GiB. */
  highMemory?: number;
  /** Number of vCPUs. */
  cpus?: number;
  /** The clock, in milliseconds since the epoch (default Date.now); tests pass a fixed one. */
  now?: () => number;
}

const REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d;
const B_SET = 0x80, B_DM_BINARY = 0x04, B_24H = 0x02;
const CENTURY = 0x32;

/** The RTC. Register it on the bus at 0x70 (2 ports). */
export class CmosRtc implements PortDevice {
  readonly #nvram = new Uint8Array(128);
  readonly #now: () => number;
  #index = 0;
  /** Guest time minus host time, in milliseconds. */
  #offset = 0;
  /** While register B's SET bit is on, the time the guest is writing (the clock does not advance). */
  #frozen: Date | undefined;

  /** Makes the RTC; `options` give its clock and memory size. */
  constructor(options: RtcOptions) {
    this.#now = options.now ?? Date.now;
    const n = this.#nvram;
    n[REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz rate
    n[REG_B] = B_24H; // BCD, 24 hours
    n[REG_D] = 0x80; // valid RAM and time
    n[0x14] = 0x06; // equipment: math coprocessor, VGA/EGA
    const kib = (v: number, at: number) => {
      n[at] = v & 0xff;
      n[at + 1] = (v >> 8) & 0xff;
    };
    kib(640, 0x15);
    const low = options.lowMemory;
    const extKib = Math.min(Math.max(0, low - 0x100000) / 1024, 0xfc00); // 1 MiB-64 MiB, in KiB
    kib(extKib, 0x17);
    kib(extKib, 0x30);
    kib(Math.min(Math.max(0, low - 0x1000000) / 0x10000, 0xffff), 0x34); // above 16 MiB, in 64 KiB
    const high = Math.floor((options.highMemory ?? 0) / 0x10000);
    n[0x5b] = high & 0xff;
    n[0x5c] = (high >> 8) & 0xff;
    n[0x5d] = (high >> 16) & 0xff;
    n[0x5f] = Math.max(0, (options.cpus ?? 1) - 1);
  }

  read(offset: number, _size = 1): number {
    if (offset === 0) return 0xff; // the index port is write-only
    const i = this.#index;
    if (i <= 9 || i === CENTURY) return this.#timeField(i);
    if (i === REG_C) {
      const v = this.#nvram[REG_C];
      this.#nvram[REG_C] = 0; // reading C acknowledges
      return v;
    }
    if (i === REG_A) return this.#nvram[REG_A] & 0x7f; // UIP never set: an update is instantaneous here
    return this.#nvram[i];
  }

  write(offset: number, _size: number, value: number): void {
    const v = value & 0xff;
    if (offset === 0) {
      this.#index = v & 0x7f; // bit 7 masks NMI
      return;
    }
    const i = this.#index;
    if (i <= 9 || i === CENTURY) {
      this.#setTimeField(i, v);
      return;
    }
    if (i === REG_B) {
      const was = this.#nvram[REG_B];
      if ((v & B_SET) && !(was & B_SET)) this.#frozen = this.#date();
      if (!(v & B_SET) && (was & B_SET) && this.#frozen) {
        this.#offset = this.#frozen.getTime() - this.#now();
        this.#frozen = undefined;
      }
      this.#nvram[REG_B] = v;
      return;
    }
    if (i === REG_C || i === REG_D) return; // read-only
    this.#nvram[i] = v;
  }

  #date(): Date {
    return this.#frozen ?? new Date(this.#now() + this.#offset);
  }

  #encode(v: number): number {
    return this.#nvram[REG_B] & B_DM_BINARY ? v : ((Math.floor(v / 10) << 4) | (v % 10));
  }

  #decode(v: number): number {
    return this.#nvram[REG_B] & B_DM_BINARY ? v : ((v >> 4) * 10 + (v & 0x0f));
  }

  #timeField(i: number): number {
    const d = this.#date();
    switch (i) {
      case 0:
        return this.#encode(d.getUTCSeconds());
      case 2:
        return this.#encode(d.getUTCMinutes());
      case 4: {
        const h = d.getUTCHours();
        if (this.#nvram[REG_B] & B_24H) return this.#encode(h);
        const h12 = h % 12 === 0 ? 12 : h % 12;
        return this.#encode(h12) | (h >= 12 ? 0x80 : 0);
      }
      case 6:
        return this.#encode(d.getUTCDay() + 1);
      case 7:
        return this.#encode(d.getUTCDate());
      case 8:
        return this.#encode(d.getUTCMonth() + 1);
      case 9:
        return this.#encode(d.getUTCFullYear() % 100);
      case CENTURY:
        return this.#encode(Math.floor(d.getUTCFullYear() / 100));
      default:
        return this.#nvram[i]; // the alarm registers (1, 3, 5)
    }
  }

  #setTimeField(i: number, v: number): void {
    if (i === 1 || i === 3 || i === 5) {
      this.#nvram[i] = v;
      return;
    }
    const d = new Date(this.#date().getTime());
    if (i === 4) {
      let h: number;
      if (this.#nvram[REG_B] & B_24H) h = this.#decode(v);
      else h = (this.#decode(v & 0x7f) % 12) + (v & 0x80 ? 12 : 0);
      d.setUTCHours(h);
    } else {
      const x = this.#decode(v);
      if (i === 0) d.setUTCSeconds(x);
      else if (i === 2) d.setUTCMinutes(x);
      else if (i === 6) return; // the day of week follows the date
      else if (i === 7) d.setUTCDate(x);
      else if (i === 8) d.setUTCMonth(x - 1);
      else if (i === 9) d.setUTCFullYear(Math.floor(d.getUTCFullYear() / 100) * 100 + x);
      else d.setUTCFullYear(x * 100 + (d.getUTCFullYear() % 100));
    }
    if (this.#frozen) this.#frozen = d;
    else this.#offset = d.getTime() - this.#now();
  }
}
