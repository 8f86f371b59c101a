/**
 * The port I/O bus: devices claim port ranges; an `in`/`out` exit is routed to
 * the device whose range holds the port. Ports nobody claims read as all ones
 * and ignore writes, as on a PC's ISA bus. The MMIO bus does the same for
 * guest-physical ranges outside RAM (an MMIO exit).
 *
 * @module
 */

/** A device on the port bus. `offset` is the port minus the base of the range it claimed. */
export interface PortDevice {
  /** Reads `size` bytes (1, 2 or 4) at `offset`; the value's low `size` bytes are used. */
  read(offset: number, size: number): number;
  /** Writes the low `size` bytes of `value` at `offset`. */
  write(offset: number, size: number, value: number): void;
}

/** One claimed range, for listings and traces. */
export interface PortRange {
  /** First port. */
  base: number;
  /** Number of ports. */
  length: number;
  /** The device's name. */
  name: string;
}

/** The port bus of one machine. */
export class IoBus {
  readonly #devices: (PortDevice | undefined)[] = new Array(0x10000);
  readonly #bases = new Uint16Array(0x10000);
  readonly #ranges: (PortRange & { device: PortDevice })[] = [];
  /** Accesses to ports nobody claimed, counted (for the trace). */
  unclaimed = 0;

  /** Claims `length` ports from `base` for `device`. Throws RangeError when a port is taken already. */
  register(base: number, length: number, name: string, device: PortDevice): void {
    if (!Number.isInteger(base) || base < 0 || length < 1 || base + length > 0x10000) {
      throw new RangeError(`${name}: ports 0x${base.toString(16)}+${length} are outside 0-0xffff`);
    }
    for (let p = base; p < base + length; p++) {
      const other = this.#ranges.find((r) => p >= r.base && p < r.base + r.length);
      if (other) throw new RangeError(`${name}: port 0x${p.toString(16)} is taken by ${other.name}`);
    }
    for (let p = base; p < base + length; p++) {
      this.#devices[p] = device;
      this.#bases[p] = base;
    }
    this.#ranges.push({ base, length, name, device });
  }

  /** The claimed ranges, lowest port first. */
  ranges(): PortRange[] {
    return this.#ranges.map(({ base, length, name }) => ({ base, length, name })).sort((a, b) => a.base - b.base);
  }

  /** The name of the device at `port`, or undefined. */
  nameOf(port: number): string | undefined {
    return this.#ranges.find((r) => port >= r.base && port < r.base + r.length)?.name;
  }

  /** Reads `size` bytes at `port`. */
  read(port: number, size: number): number {
    const d = this.#devices[port];
    if (!d) {
      this.unclaimed++;
      return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    }
    return d.read(port - this.#bases[port], size);
  }

  /** Writes `size` bytes at `port`. */
  write(port: number, size: number, value: number): void {
    const d = this.#devices[port];
    if (!d) {
      this.unclaimed++;
      return;
    }
    d.write(port - this.#bases[port], size, value);
  }

  /**
   * Completes an I/O exit: `count` items of `size` bytes in `data` (a string
   * instruction moves several), read into `data` for "in", taken from it for
   * "out".
   */
  pio(direction: "in" | "out", port: number, size: number, count: number, data: Uint8Array): void {
    for (let i = 0; i < count; i++) {
      const at = i * size;
      if (direction === "in") {
        const v = this.read(port, size);
        data[at] = v & 0xff;
        if (size > 1) data[at + 1] = (v >>> 8) & 0xff;
        if (size > 2) {
          data[at + 2] = (v >>> 16) & 0xff;
          data[at + 3] = v >>> 24;
        }
      } else {
        let v = data[at];
        if (size > 1) v |= data[at + 1] << 8;
        if (size > 2) v = (v | (data[at + 2] << 16) | (data[at + 3] << 24)) >>> 0;
        this.write(port, size, v);
      }
    }
  }
}

/** A device on the MMIO bus. `offset` is the address minus the base of the range it claimed. */
export interface MmioDevice {
  /** Fills `data` (1 to 8 bytes) with what the device reads at `offset`. */
  read(offset: number, data: Uint8Array): void;
  /** Writes `data` (1 to 8 bytes) at `offset`. */
  write(offset: number, data: Uint8Array): void;
}

/** The MMIO ranges of one machine: a short list, searched in order (MMIO exits are rare). */
export class MmioBus {
  readonly #ranges: (PortRange & { device: MmioDevice })[] = [];

  /** Claims `length` bytes from guest-physical `base` for `device`. Throws RangeError on an overlap. */
  register(base: number, length: number, name: string, device: MmioDevice): void {
    const other = this.#ranges.find((r) => base < r.base + r.length && r.base < base + length);
    if (other) throw new RangeError(`${name}: 0x${base.toString(16)}+${length} overlaps ${other.name}`);
    this.#ranges.push({ base, length, name, device });
  }

  /** The range holding `addr`, or undefined. */
  #at(addr: number): (PortRange & { device: MmioDevice }) | undefined {
    return this.#ranges.find((r) => addr >= r.base && addr < r.base + r.length);
  }

  /** The name of the device at `addr`, or undefined. */
  nameOf(addr: number): string | undefined {
    return this.#at(addr)?.name;
  }

  /** Reads `data.length` bytes at `addr` into `data`; nothing there reads all ones. */
  read(addr: number, data: Uint8Array): void {
    const r = this.#at(addr);
    if (r) r.device.read(addr - r.base, data);
    else data.fill(0xff);
  }

  /** Writes `data` at `addr`; nothing there drops it. */
  write(addr: number, data: Uint8Array): void {
    const r = this.#at(addr);
    r?.device.write(addr - r.base, data);
  }
}
