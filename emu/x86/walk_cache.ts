/**
 * The translations of the page walks that found no TLB entry to fill: MMIO
 * pages (the local APIC) and the CPU's implicit supervisor accesses (IDT,
 * GDT, TSS: `Memory.sys`, which never fill the TLB) would otherwise walk the
 * page tables on every access, at every interrupt. A cached translation is
 * what a TLB entry is (SDM vol. 3, 4.10.2): made by a successful walk of the
 * same page, for the same kind of access (a write's also serves reads), at
 * the same privilege level and TLB epoch, so INVLPG, MOV to CR3 and every
 * other flush drop it with the TLB's own entries.
 *
 * @module
 */

import { LARGEST_PAGE, regionOf } from "./memory.ts";

const BITS = 8;
const SIZE = 1 << BITS;
const MASK = SIZE - 1;
/** The 4 KiB pages of one region (memory.ts regionOf). */
const REGION_PAGES = LARGEST_PAGE / 4096;
/** Rights a cached walk proved: a read, a write (and so a read), an instruction fetch. */
export const READ = 1, WRITE = 2, FETCH = 4;

/** The entry of a page: its low bits folded with the next ones (the local APIC's page 0xfee00 is not page 0's). */
function slot(page: number): number {
  return (page ^ (page >>> BITS)) & MASK;
}

/**
 * A direct-mapped cache of linear page -> physical page, by TLB epoch. The CPU keeps one for its implicit
 * supervisor accesses and one for the others (a handler's code often shares its page with the IDT or GDT).
 */
export class WalkCache {
  readonly #page = new Float64Array(SIZE).fill(-1);
  readonly #epoch = new Float64Array(SIZE).fill(-1);
  readonly #rights = new Uint8Array(SIZE);
  readonly #frame = new Float64Array(SIZE);

  /** The physical address of `lin` if a walk for `right` (READ, WRITE or FETCH) is cached, else -1. */
  lookup(lin: number, right: number, epoch: number): number {
    const page = Math.floor(lin / 4096), i = slot(page);
    if (this.#page[i] !== page || this.#epoch[i] !== epoch || !(this.#rights[i] & right)) {
      return -1;
    }
    return this.#frame[i] + (lin % 4096);
  }

  /** Records a successful walk of `lin` to `phys` for `right`; a write proves a read too. */
  store(lin: number, phys: number, right: number, epoch: number): void {
    const page = Math.floor(lin / 4096), i = slot(page), frame = phys - (lin % 4096);
    const rights = right === WRITE ? WRITE | READ : right;
    if (this.#page[i] === page && this.#epoch[i] === epoch && this.#frame[i] === frame) {
      this.#rights[i] |= rights;
      return;
    }
    this.#page[i] = page;
    this.#epoch[i] = epoch;
    this.#rights[i] = rights;
    this.#frame[i] = frame;
  }

  /** INVLPG of `lin`: drops every cached walk in its region (regionOf: the largest page it may lie in). */
  drop(lin: number): void {
    // The pages of the region, as a range of page numbers: one comparison per entry (INVLPG is frequent: a
    // page-fault loop unmaps every page it touched).
    const first = regionOf(lin) * REGION_PAGES, end = first + REGION_PAGES, pages = this.#page;
    for (let i = 0; i < SIZE; i++) {
      const page = pages[i];
      if (page >= first && page < end) pages[i] = -1;
    }
  }
}
