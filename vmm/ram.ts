/**
 * Guest RAM and its e820 map. RAM below 4 GiB is one slot from address 0 up
 * to 3 GiB; what does not fit goes in a second slot from 4 GiB, leaving the
 * hole below 4 GiB for the IOAPIC (0xfec00000) and the local APICs
 * (0xfee00000). The map reserves the EBDA (0x9fc00-0x9ffff) and the BIOS
 * area (0xe0000-0xfffff, where the ACPI tables are).
 *
 * @module
 */
import type { GuestMemory, Vm } from "../mod.ts";

/** Where RAM below 4 GiB ends at most. */
export const LOW_RAM_LIMIT = 0xc000_0000;
/** Where RAM above 4 GiB starts. */
export const HIGH_RAM_BASE = 0x1_0000_0000;
/** The EBDA and the BIOS area, reserved in the e820 map. */
export const EBDA_START = 0x9fc00;
export const BIOS_START = 0xe0000;
/** The first byte above the first MiB. */
export const HIGH_MEMORY = 0x100000;

/** e820 entry types. */
export const E820_RAM = 1, E820_RESERVED = 2;

/** One e820 entry. */
export interface E820Entry {
  /** Start address. */
  addr: number;
  /** Length in bytes. */
  size: number;
  /** E820_TYPE_RAM (1), E820_TYPE_RESERVED (2), E820_TYPE_ACPI (3), ... */
  type: number;
}

/** Guest RAM: one or two slots, written through guest-physical addresses. */
export class GuestRam {
  /** Bytes of RAM below 4 GiB (from 0). */
  readonly lowSize: number;
  /** Bytes of RAM from 4 GiB. */
  readonly highSize: number;
  readonly #low: GuestMemory;
  readonly #high: GuestMemory | undefined;

  /** Allocates `size` bytes (a multiple of 4 KiB, at least 1 MiB) and maps them into `vm` (slots 0 and 1). */
  constructor(vm: Vm, size: number) {
    if (!Number.isSafeInteger(size) || size < 0x100000 || size % 0x1000) {
      throw new RangeError(`memory size ${size}: must be a multiple of 4 KiB and at least 1 MiB`);
    }
    this.lowSize = Math.min(size, LOW_RAM_LIMIT);
    this.highSize = size - this.lowSize;
    this.#low = vm.allocateMemory(this.lowSize);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: this.#low });
    if (this.highSize > 0) {
      this.#high = vm.allocateMemory(this.highSize);
      vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: HIGH_RAM_BASE, memory: this.#high });
    }
  }

  /** Total bytes. */
  get size(): number {
    return this.lowSize + this.highSize;
  }

  /** The host view of RAM below 4 GiB. */
  get low(): Uint8Array {
    return this.#low.bytes;
  }

  /** A view of `length` bytes at guest-physical `addr`. Throws RangeError naming `what` when they are not RAM. */
  slice(addr: number, length: number, what = "data"): Uint8Array {
    if (addr >= 0 && addr + length <= this.lowSize) return this.#low.bytes.subarray(addr, addr + length);
    if (this.#high && addr >= HIGH_RAM_BASE && addr + length <= HIGH_RAM_BASE + this.highSize) {
      return this.#high.bytes.subarray(addr - HIGH_RAM_BASE, addr - HIGH_RAM_BASE + length);
    }
    throw new RangeError(
      `${what}: 0x${addr.toString(16)}-0x${(addr + length).toString(16)} is outside guest RAM ` +
        `(0-0x${this.lowSize.toString(16)}${this.highSize ? ", from 4 GiB" : ""}): give the guest more --mem`,
    );
  }

  /** Copies `data` to guest-physical `addr`. */
  write(addr: number, data: Uint8Array, what?: string): void {
    this.slice(addr, data.length, what).set(data);
  }

  /** A DataView of `length` bytes at `addr`. */
  view(addr: number, length: number, what?: string): DataView {
    const s = this.slice(addr, length, what);
    return new DataView(s.buffer, s.byteOffset, s.byteLength);
  }

  /** The e820 map. */
  e820(): E820Entry[] {
    const map: E820Entry[] = [
      { addr: 0, size: EBDA_START, type: E820_RAM },
      { addr: EBDA_START, size: 0xa0000 - EBDA_START, type: E820_RESERVED },
      { addr: BIOS_START, size: HIGH_MEMORY - BIOS_START, type: E820_RESERVED },
    ];
    if (this.lowSize > HIGH_MEMORY) map.push({ addr: HIGH_MEMORY, size: this.lowSize - HIGH_MEMORY, type: E820_RAM });
    if (this.highSize) map.push({ addr: HIGH_RAM_BASE, size: this.highSize, type: E820_RAM });
    return map;
  }

  /** Frees the memory (after the VM is closed). */
  free(): void {
    this.#low.free();
    this.#high?.free();
  }
}

/**
 * Parses a memory size: a number with an optional K, M or G suffix (binary
 * units); a bare number is MiB, as in QEMU's -m. Throws RangeError saying what
 * was expected.
 */
export function parseSize(text: string): number {
  const m = /^(\d+)([KkMmGg]?)(i?[Bb])?$/.exec(text.trim());
  if (!m) throw new RangeError(`"${text}" is not a size: expected e.g. 256M, 1G or 65536K`);
  const unit = { "": 1 << 20, k: 1 << 10, m: 1 << 20, g: 1 << 30 }[m[2].toLowerCase() as "" | "k" | "m" | "g"];
  const bytes = Number(m[1]) * unit;
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`"${text}" is too large`);
  return bytes;
}
