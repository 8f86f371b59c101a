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
import { lastWalkSpan } from "./paging.ts";

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
  /** 1 where the entry's walk found a page larger than 4 KiB (which other entries may share), else 0. */
  readonly #large = new Uint8Array(SIZE);
  /** How many entries have `#large` set: while none has, INVLPG drops one entry instead of scanning for its region's. */
  #larges = 0;

  /** The physical address of `lin` if a walk for `right` (READ, WRITE or FETCH) is cached, else -1. */
  lookup(lin: number, right: number, epoch: number): number {
    const page = Math.floor(lin / 4096), i = slot(page);
    if (this.#page[i] !== page || this.#epoch[i] !== epoch || !(this.#rights[i] & right)) {
      return -1;
    }
    return this.#frame[i] + (lin % 4096);
  }

  /**
   * Records the walk of `lin` to `phys` for `right` that paging.ts has just made (its page size is lastWalkSpan's);
   * a write proves a read too. A negative `phys` (a #PF a quiet walk answered) records nothing.
   */
  store(lin: number, phys: number, right: number, epoch: number): void {
    // A walk that failed quietly (Memory.quiet) answered -1: nothing to record.
    if (phys < 0) return;
    const page = Math.floor(lin / 4096), i = slot(page), frame = phys - (lin % 4096);
    const rights = right === WRITE ? WRITE | READ : right;
    if (this.#page[i] === page && this.#epoch[i] === epoch && this.#frame[i] === frame) {
      this.#rights[i] |= rights;
      return;
    }
    const large = lastWalkSpan() > 4096 ? 1 : 0;
    this.#larges += large - this.#large[i];
    this.#large[i] = large;
    this.#page[i] = page;
    this.#epoch[i] = epoch;
    this.#rights[i] = rights;
    this.#frame[i] = frame;
  }

  /**
   * INVLPG of `lin`: drops the cached walks of the page that maps it. While no entry came from a page larger than
   * 4 KiB, that is `lin`'s own entry; else every entry in its region (regionOf: the largest page it may lie in).
   */
  drop(lin: number): void {
    const pages = this.#page;
    if (this.#larges === 0) {
      const page = Math.floor(lin / 4096), i = slot(page);
      if (pages[i] === page) pages[i] = -1;
      return;
    }
    // The pages of the region, as a range of page numbers: one comparison per entry (INVLPG is frequent: a
    // page-fault loop unmaps every page it touched).
    const first = regionOf(lin) * REGION_PAGES, end = first + REGION_PAGES;
    for (let i = 0; i < SIZE; i++) {
      const page = pages[i];
      if (page >= first && page < end) {
        pages[i] = -1;
        this.#larges -= this.#large[i];
        this.#large[i] = 0;
      }
    }
  }
}
