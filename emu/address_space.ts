/**
 * The emulator's own "host address space": mmap(-1, len) hands out
 * ArrayBuffers at fake, page-aligned addresses, and every user pointer the
 * facade passes to an ioctl (userspace_addr, dirty_bitmap) is resolved here.
 * A pointer outside every live mapping is what the kernel calls EFAULT.
 *
 * @module
 */
import type { Mapping } from "../kernel.ts";

/** The first address handed out, like the top of a 47-bit user space. */
export const EMU_MAP_BASE = 0x7f0000000000;
const PAGE = 4096;

/** One live mapping. */
export interface EmuMapping extends Mapping {
  /** The start address as a number (addresses stay below 2^47). */
  readonly start: number;
  /** False once munmap'd. */
  live: boolean;
}

/** A fake address space of ArrayBuffers. */
export class AddressSpace {
  #next = EMU_MAP_BASE;
  #maps: EmuMapping[] = [];

  /** mmap(2) of anonymous memory, or of a given buffer (a vCPU's kvm_run); undefined when memory runs out (ENOMEM). */
  map(length: number, buffer?: ArrayBuffer): EmuMapping | undefined {
    const rounded = Math.ceil(length / PAGE) * PAGE;
    try {
      buffer ??= new ArrayBuffer(rounded);
    } catch {
      return undefined; // more than the runtime gives one ArrayBuffer
    }
    const start = this.#next;
    // A guard page between mappings keeps neighbours from looking contiguous.
    this.#next += rounded + PAGE;
    const m: EmuMapping = {
      address: BigInt(start),
      start,
      buffer,
      length,
      live: true,
    };
    this.#maps.push(m);
    return m;
  }

  /** munmap(2): forgets the mapping; later lookups of its addresses fail. */
  unmap(mapping: Mapping): boolean {
    const i = this.#maps.findIndex((m) => m.address === mapping.address);
    if (i < 0) return false;
    this.#maps[i].live = false;
    this.#maps.splice(i, 1);
    return true;
  }

  /** The mapping that holds [addr, addr+len), or undefined (EFAULT). */
  find(addr: number, len: number): EmuMapping | undefined {
    for (const m of this.#maps) {
      if (addr >= m.start && addr + len <= m.start + m.buffer.byteLength) return m;
    }
    return undefined;
  }

  /** A view of [addr, addr+len) in a live mapping, or undefined (EFAULT). */
  resolve(addr: bigint | number, len: number): Uint8Array | undefined {
    const a = Number(addr);
    const m = this.find(a, len);
    return m ? new Uint8Array(m.buffer, a - m.start, len) : undefined;
  }
}
