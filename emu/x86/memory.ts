/**
 * Guest memory as the core sees it: a software TLB from linear pages to
 * (slot bytes, offset) so that a common access is an array index, a slow
 * path that walks page tables and finds the slot, MMIO for accesses outside
 * every slot or writes to read-only slots, dirty logging, and the
 * invalidation of decoded code when a page holding it is written.
 *
 * @module
 */
import { KVM_MEM_READONLY } from "../../abi/constants.ts";
import { markPageDirty, type MemSlot, type MemSlots } from "../memslots.ts";
import { Unimplemented } from "./fault.ts";

const TLB_BITS = 12;
const TLB_SIZE = 1 << TLB_BITS;
/** The TLB index of a page number: its low TLB_BITS bits. */
export const TLB_MASK = TLB_SIZE - 1;
/** Entries of the implicit supervisor reads' own TLB (`Memory.sysRead`): the GDT's, IDT's and TSS's pages. */
const SYS_SIZE = 16, SYS_MASK = SYS_SIZE - 1;
/** Tag bases: above every page number (48-bit addresses have 36-bit page numbers), within 2^53. */
const TAG_STEP = 2 ** 36, TAG_LIMIT = 2 ** 52;

/** Where a linear access goes, supplied by the CPU: page walks and MMIO. */
export interface MemoryHost {
  /** Linear -> physical (throws #PF). */
  translate(lin: number, write: boolean, fetch: boolean): number;
  /** An MMIO read of `len` bytes (never crossing a page); may throw EXIT. */
  mmioRead(phys: number, len: number): number;
  /** An MMIO write of `len` bytes. */
  mmioWrite(phys: number, len: number, value: number): void;
  /** An MMIO read of `len` (up to 8) bytes as bytes (exact where a number would not be); may throw EXIT. */
  mmioReadBytes(phys: number, len: number): Uint8Array;
  /** An MMIO write of the first `len` (up to 8) bytes of `data`. */
  mmioWriteBytes(phys: number, len: number, data: Uint8Array): void;
  /** Called when a page holding decoded code is written. */
  codeWritten(pfn: number): void;
}

/**
 * The last TLB epoch given out, by any Memory of the process: epochs are unique, so that a compiled block's link made
 * in one vCPU's epoch (the vCPUs of a VM share their blocks: jit/cache.ts) never holds in another vCPU's, whose
 * translations may differ.
 */
let lastEpoch = -1;

/** Thrown when a slot has no host memory behind it: KVM_RUN returns -EFAULT. */
export class HostFault {
  readonly gpa: number;
  constructor(gpa: number) {
    this.gpa = gpa;
  }
}

/** What an empty entry's buffer is: no entry is used before its tag matches. */
const NO_BYTES = new Uint8Array(0);

/** One privilege level's TLB entries: read and write entries (tag, slot bytes, offset), each write entry's page. */
class TlbLevel {
  readonly rTag = new Float64Array(TLB_SIZE).fill(-1);
  readonly rOff = new Int32Array(TLB_SIZE);
  readonly rBuf: Uint8Array[] = new Array(TLB_SIZE).fill(NO_BYTES);
  readonly wTag = new Float64Array(TLB_SIZE).fill(-1);
  readonly wOff = new Int32Array(TLB_SIZE);
  readonly wBuf: Uint8Array[] = new Array(TLB_SIZE).fill(NO_BYTES);
  readonly wPfn = new Float64Array(TLB_SIZE).fill(-1);

  /** Empties every entry, and lets go of the slot bytes they held. */
  clear(): void {
    this.rTag.fill(-1);
    this.wTag.fill(-1);
    this.wPfn.fill(-1);
    this.rBuf.fill(NO_BYTES);
    this.wBuf.fill(NO_BYTES);
  }
}

/**
 * TLB levels given back by closed vCPUs (Memory.release), emptied, for the next ones to take: a level is 64 KiB of
 * JavaScript arrays and 128 KiB of typed arrays. Made new for each vCPU, they are the bulk of what a short-lived VM
 * allocates (random guests in a row, issue 14: about 150 KB of heap per VM and vCPU), and since they live as long as
 * the vCPU, young-generation collections copy them twice and promote them, for full collections to sweep.
 */
const spareLevels: TlbLevel[] = [];
/** The most levels kept for reuse. */
const MAX_SPARE_LEVELS = 4;
/**
 * The level the access paths of a Memory that holds none (released) read: its tags never match, as nothing fills it
 * (a fill takes a level first: Memory.#own).
 */
const NO_LEVEL = new TlbLevel();

/** An empty TLB level: a spare one, or a new one. */
function takeLevel(): TlbLevel {
  return spareLevels.pop() ?? new TlbLevel();
}

/**
 * The software TLB and the access paths. The entries filled at CPL 3 and those filled at CPL 0-2 are kept apart
 * (two `TlbLevel`s), because the walks that filled them checked U/S for their level: a CPL change serves the other
 * level's entries (`setUser`) instead of dropping all of them. The fields below are the current level's arrays
 * (a compiled block reads them once on entry; nothing that changes the CPL runs inside a block).
 */
export class Memory {
  readonly slots: MemSlots;
  readonly host: MemoryHost;
  /**
   * The levels held: CPL 0-2's, and CPL 3's once the CPU has run there (`setUser`); none once released, until the
   * next fill.
   */
  #levels: TlbLevel[] = [takeLevel()];
  /** The TLB serves CPL 3 (set by the CPU when its CPL moves between 3 and 0-2). */
  user = false;
  rTag: Float64Array = this.#levels[0].rTag;
  rOff: Int32Array = this.#levels[0].rOff;
  rBuf: Uint8Array[] = this.#levels[0].rBuf;
  wTag: Float64Array = this.#levels[0].wTag;
  wOff: Int32Array = this.#levels[0].wOff;
  wBuf: Uint8Array[] = this.#levels[0].wBuf;
  /** Physical page of each write entry, to drop it when the page gets code. */
  wPfn: Float64Array = this.#levels[0].wPfn;
  /** Pages that hold decoded code. */
  readonly codePfns = new Set<number>();
  /**
   * Changes whenever translations may have changed (the fetch path caches one page). Unique in the process
   * (`lastEpoch`): no other vCPU's TLB, and no other level's, ever has it.
   */
  epoch: number;
  /** Each level's epoch: CPL 0-2's and CPL 3's. */
  readonly #epochs = [++lastEpoch, ++lastEpoch];
  /**
   * The pages that mapped code (translated for fetching: paging.ts walk, through `codeTranslated`) since the epochs
   * last changed. An INVLPG outside them leaves the epochs, and so the
   * fetch cache's code pages and the compiled blocks' links, as they are: a Linux boot's first second invalidated
   * pages 70,000 times, each of which made every block look its successors up and walk its code pages again; and a
   * page-fault handler that unmaps data pages beside its code (bench/guests/pagefault.asm) invalidated them all
   * while they were tracked by the 1 GiB region around them.
   */
  readonly #codePages = new PageSet();
  /**
   * The pages larger than 4 KiB that translations filling the TLB went through since the last flush (paging.ts walk,
   * through `largeTranslated`): an INVLPG in one of them drops every entry within it (SDM vol.
   * 3, 4.10.4.1: the TLB may hold one entry per 4 KiB of a large page, and INVLPG of any address in the page
   * invalidates them all), and an INVLPG elsewhere, one entry.
   */
  readonly #largePages = new PageSet();
  /** Set during implicit supervisor accesses (descriptor tables, TSS): no TLB fills but `sysRead`'s own. */
  sys = false;
  /**
   * The implicit supervisor reads' TLB (tag, slot bytes, offset), apart from the levels': what such a read may read
   * depends neither on the CPL nor on EFLAGS.AC, and it must not take a level's entry (it would serve the CPU's other
   * accesses). An exception's delivery and IRET read the IDT and GDT nine times in long mode, and finding each
   * translation again (the walk cache, then the slot) was a sixth of the pagefault bench guest's time.
   */
  readonly #sysTag = new Float64Array(SYS_SIZE).fill(-1);
  readonly #sysOff = new Int32Array(SYS_SIZE);
  readonly #sysBuf: Uint8Array[] = new Array(SYS_SIZE).fill(NO_BYTES);
  /**
   * The #PF error code of the last `try*` access that faulted (CR2 holds its address), else -1. A compiled block
   * whose access answers -1 returns at once, and the run loop delivers the #PF (exec.ts), as it does a CpuFault
   * thrown out of the block: a throw out of a block costs V8 over a microsecond (native unwinding and the exception's
   * message), a fifth of the pagefault bench guest's time.
   */
  faultCode = -1;
  /** Set while a `try*` access translates: a walk that fails records its #PF in `faultCode` instead of throwing. */
  quiet = false;

  constructor(slots: MemSlots, host: MemoryHost) {
    this.slots = slots;
    this.host = host;
    this.epoch = this.#epochs[0];
  }

  /**
   * Added to every tag: a flush moves it on, so that no entry matches any more without touching the 4096 entries
   * (page numbers are below 2^36); the arrays are cleared only when it would leave the doubles' exact range.
   */
  tagBase = 0;

  /** Drops every TLB entry, of both privilege levels (CR0/CR3/CR4 writes, slot changes). */
  flush(): void {
    this.#newEpochs();
    this.#largePages.clear();
    this.tagBase += TAG_STEP;
    if (this.tagBase > TAG_LIMIT) {
      this.tagBase = 0;
      for (const t of this.#levels) {
        t.rTag.fill(-1);
        t.wTag.fill(-1);
      }
      this.#sysTag.fill(-1);
    }
  }

  /**
   * The CPL moved between 3 and 0-2: the other level's entries serve from now on, and its epoch (the fetch cache's
   * code pages and the blocks' links made at that level hold again, those of this level do not).
   */
  setUser(user: boolean): void {
    if (user === this.user) return;
    this.user = user;
    this.epoch = this.#epochs[user ? 1 : 0];
    // Code that never leaves CPL 0-2 (real mode, a kernel alone) never makes the CPL 3 level.
    if (user && this.#levels.length === 1) this.#levels.push(takeLevel());
    this.#serve(this.#levels[user ? 1 : 0] ?? NO_LEVEL);
  }

  /** Makes `t` the level the access paths use. */
  #serve(t: TlbLevel): void {
    this.rTag = t.rTag;
    this.rOff = t.rOff;
    this.rBuf = t.rBuf;
    this.wTag = t.wTag;
    this.wOff = t.wOff;
    this.wBuf = t.wBuf;
    this.wPfn = t.wPfn;
  }

  /**
   * Gives the TLB's levels back, emptied, for other vCPUs to take (`spareLevels`): for a vCPU being closed (exec.ts
   * releaseCode). Until its next fill this Memory holds none and every access misses; a fill takes levels again.
   */
  release(): void {
    for (const t of this.#levels) {
      t.clear();
      if (spareLevels.length < MAX_SPARE_LEVELS) spareLevels.push(t);
    }
    this.#levels = [];
    this.#serve(NO_LEVEL);
    this.#sysTag.fill(-1);
    this.#sysBuf.fill(NO_BYTES);
  }

  /** Before a fill: levels again if released (both, when the CPU is at CPL 3). */
  #own(): void {
    if (this.#levels.length !== 0) return;
    this.#levels.push(takeLevel());
    if (this.user) this.#levels.push(takeLevel());
    this.#serve(this.#levels[this.user ? 1 : 0]);
  }

  /** Translations changed: new epochs for both levels. */
  #newEpochs(): void {
    this.#codePages.clear();
    this.#epochs[0] = ++lastEpoch;
    this.#epochs[1] = ++lastEpoch;
    this.epoch = this.#epochs[this.user ? 1 : 0];
  }

  /** Linear `lin` was translated for an instruction fetch through a page of `span` bytes (one of PAGE_SPANS). */
  codeTranslated(lin: number, span: number): void {
    this.#codePages.add(lin, span);
  }

  /** Linear `lin` was translated through a page of `span` bytes (one of PAGE_SPANS, larger than 4 KiB). */
  largeTranslated(lin: number, span: number): void {
    this.#largePages.add(lin, span);
  }

  /** True when a page that maps code in these epochs (`codeTranslated`) holds linear `lin`. */
  #mapsCode(lin: number): boolean {
    for (let k = 0; k < PAGE_SPANS.length; k++) if (this.#codePages.has(lin, k)) return true;
    return false;
  }

  /**
   * INVLPG: drops one linear page, at both privilege levels; new epochs only when the page that maps `lin` (at
   * whatever size) mapped code in these.
   */
  flushPage(lin: number): void {
    if (this.#codePages.spans !== 0 && this.#mapsCode(lin)) this.#newEpochs();
    const p = pageOf(lin), i = p & TLB_MASK, tag = p + this.tagBase;
    for (const t of this.#levels) {
      if (t.rTag[i] === tag) t.rTag[i] = -1;
      if (t.wTag[i] === tag) t.wTag[i] = -1;
    }
    if (this.#sysTag[p & SYS_MASK] === tag) this.#sysTag[p & SYS_MASK] = -1;
    if (this.#largePages.spans !== 0) this.#flushLarge(lin);
  }

  /** INVLPG of `lin` where translations went through large pages: every entry within the large page holding it. */
  #flushLarge(lin: number): void {
    for (let k = 1; k < PAGE_SPANS.length; k++) {
      if (!this.#largePages.has(lin, k)) continue;
      const span = PAGE_SPANS[k], n = Math.floor(lin / span);
      // The tags of the page's 4 KiB pages, as a range: one comparison per entry.
      const first = n * (span / 4096) + this.tagBase, end = first + span / 4096;
      for (const t of this.#levels) {
        const rTag = t.rTag, wTag = t.wTag;
        for (let i = 0; i < TLB_SIZE; i++) {
          if (rTag[i] >= first && rTag[i] < end) rTag[i] = -1;
          if (wTag[i] >= first && wTag[i] < end) wTag[i] = -1;
        }
      }
      const sysTag = this.#sysTag;
      for (let i = 0; i < SYS_SIZE; i++) if (sysTag[i] >= first && sysTag[i] < end) sysTag[i] = -1;
    }
  }

  /** Drops the write entries of physical page `pfn` (it now holds code), at both privilege levels. */
  protectCode(pfn: number): void {
    this.codePfns.add(pfn);
    for (const t of this.#levels) for (let i = 0; i < TLB_SIZE; i++) if (t.wPfn[i] === pfn) t.wTag[i] = -1;
  }

  read8(lin: number): number {
    const p = pageOf(lin), i = p & TLB_MASK;
    if (this.rTag[i] === p + this.tagBase) return this.rBuf[i][this.rOff[i] + (lin & 0xfff)];
    return this.slowRead(lin, 1);
  }

  read16(lin: number): number {
    const p = pageOf(lin), i = p & TLB_MASK, o = lin & 0xfff;
    if (this.rTag[i] === p + this.tagBase && o < 0xfff) {
      const b = this.rBuf[i], k = this.rOff[i] + o;
      return b[k] | (b[k + 1] << 8);
    }
    return this.slowRead(lin, 2);
  }

  read32(lin: number): number {
    const p = pageOf(lin), i = p & TLB_MASK, o = lin & 0xfff;
    if (this.rTag[i] === p + this.tagBase && o < 0xffd) {
      const b = this.rBuf[i], k = this.rOff[i] + o;
      return (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)) >>> 0;
    }
    return this.slowRead(lin, 4);
  }

  read(lin: number, size: number): number {
    return size === 1 ? this.read8(lin) : size === 2 ? this.read16(lin) : this.read32(lin);
  }

  /**
   * Reads 8 bytes at `lin` into out[0] (low half) and out[1] (high half). Outside RAM the access is one MMIO read
   * of 8 bytes (of the part in each page, when it crosses a page), as the kernel's emulator makes it.
   */
  read64(lin: number, out: Uint32Array): void {
    const p = pageOf(lin), i = p & TLB_MASK, o = lin & 0xfff;
    if (this.rTag[i] === p + this.tagBase && o <= 0xff8) {
      const b = this.rBuf[i], k = this.rOff[i] + o;
      out[0] = (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)) >>> 0;
      out[1] = (b[k + 4] | (b[k + 5] << 8) | (b[k + 6] << 16) | (b[k + 7] << 24)) >>> 0;
      return;
    }
    const q = this.#q8;
    const first = Math.min(8, 0x1000 - o);
    // Both pages are translated before any access, as in slowRead.
    const ph0 = this.host.translate(lin, false, false);
    const ph1 = first < 8 ? this.host.translate(nextLin(lin, first), false, false) : 0;
    this.#readPhysBytes(lin, ph0, first, q, 0);
    if (first < 8) this.#readPhysBytes(nextLin(lin, first), ph1, 8 - first, q, first);
    out[0] = (q[0] | (q[1] << 8) | (q[2] << 16) | (q[3] << 24)) >>> 0;
    out[1] = (q[4] | (q[5] << 8) | (q[6] << 16) | (q[7] << 24)) >>> 0;
  }

  /** Writes 8 bytes (halves `lo`, `hi`) at `lin`: outside RAM, one MMIO write of 8 bytes (per page), as read64. */
  write64(lin: number, lo: number, hi: number): void {
    const p = pageOf(lin), i = p & TLB_MASK, o = lin & 0xfff;
    if (this.wTag[i] === p + this.tagBase && o <= 0xff8) {
      putHalves(this.wBuf[i], this.wOff[i] + o, lo, hi);
      return;
    }
    const q = this.#q8;
    putHalves(q, 0, lo, hi);
    const first = Math.min(8, 0x1000 - o);
    const ph0 = this.host.translate(lin, true, false);
    const ph1 = first < 8 ? this.host.translate(nextLin(lin, first), true, false) : 0;
    this.#writePhysBytes(lin, ph0, first, q, 0);
    if (first < 8) this.#writePhysBytes(nextLin(lin, first), ph1, 8 - first, q, first);
  }

  /** The bytes of a read64/write64 that misses the TLB. */
  readonly #q8 = new Uint8Array(8);

  write8(lin: number, v: number): void {
    const p = pageOf(lin), i = p & TLB_MASK;
    if (this.wTag[i] === p + this.tagBase) this.wBuf[i][this.wOff[i] + (lin & 0xfff)] = v;
    else this.slowWrite(lin, 1, v & 0xff);
  }

  write16(lin: number, v: number): void {
    const p = pageOf(lin), i = p & TLB_MASK, o = lin & 0xfff;
    if (this.wTag[i] === p + this.tagBase && o < 0xfff) {
      const b = this.wBuf[i], k = this.wOff[i] + o;
      b[k] = v;
      b[k + 1] = v >> 8;
    } else this.slowWrite(lin, 2, v & 0xffff);
  }

  write32(lin: number, v: number): void {
    const p = pageOf(lin), i = p & TLB_MASK, o = lin & 0xfff;
    if (this.wTag[i] === p + this.tagBase && o < 0xffd) {
      const b = this.wBuf[i], k = this.wOff[i] + o;
      b[k] = v;
      b[k + 1] = v >> 8;
      b[k + 2] = v >> 16;
      b[k + 3] = v >> 24;
    } else this.slowWrite(lin, 4, v >>> 0);
  }

  write(lin: number, size: number, v: number): void {
    if (size === 1) this.write8(lin, v);
    else if (size === 2) this.write16(lin, v);
    else this.write32(lin, v);
  }

  /** Translates the `size` bytes at `lin` for writing unless the write TLB has the page (#PF with W/R = 1). */
  probeWrite(lin: number, size: number): void {
    const p = pageOf(lin), i = p & TLB_MASK, o = lin & 0xfff;
    if (this.wTag[i] === p + this.tagBase && o + size <= 0x1000) return;
    this.host.translate(lin, true, false);
    if (o + size > 0x1000) this.host.translate(nextLin(lin, 0x1000 - o), true, false);
  }

  /** read32 that answers -1 for a #PF instead of raising it (`faultCode`, CR2); 1- and 2-byte reads alike. */
  tryRead32(lin: number): number {
    const p = pageOf(lin), i = p & TLB_MASK, o = lin & 0xfff;
    if (this.rTag[i] === p + this.tagBase && o < 0xffd) {
      const b = this.rBuf[i], k = this.rOff[i] + o;
      return (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)) >>> 0;
    }
    return this.#tryRead(lin, 4);
  }

  tryRead16(lin: number): number {
    const p = pageOf(lin), i = p & TLB_MASK, o = lin & 0xfff;
    if (this.rTag[i] === p + this.tagBase && o < 0xfff) {
      const b = this.rBuf[i], k = this.rOff[i] + o;
      return b[k] | (b[k + 1] << 8);
    }
    return this.#tryRead(lin, 2);
  }

  tryRead8(lin: number): number {
    const p = pageOf(lin), i = p & TLB_MASK;
    if (this.rTag[i] === p + this.tagBase) return this.rBuf[i][this.rOff[i] + (lin & 0xfff)];
    return this.#tryRead(lin, 1);
  }

  /** read64 that answers -1 for a #PF instead of raising it (out untouched), else 0. */
  tryRead64(lin: number, out: Uint32Array): number {
    const o = lin & 0xfff;
    if (o <= 0xff8) {
      const p = pageOf(lin), i = p & TLB_MASK;
      if (this.rTag[i] !== p + this.tagBase && this.#quietTranslate(lin, false) < 0) return -1;
    } else if (this.#quietTranslate(lin, false) < 0 || this.#quietTranslate(nextLin(lin, 0x1000 - o), false) < 0) {
      return -1;
    }
    // Both pages translate now (the walk cache or the TLB holds them): read64 does not fault.
    this.read64(lin, out);
    return 0;
  }

  /** write32 that answers -1 for a #PF instead of raising it (nothing written), else 0; 1- and 2-byte writes alike. */
  tryWrite32(lin: number, v: number): number {
    const p = pageOf(lin), i = p & TLB_MASK, o = lin & 0xfff;
    if (this.wTag[i] === p + this.tagBase && o < 0xffd) {
      const b = this.wBuf[i], k = this.wOff[i] + o;
      b[k] = v;
      b[k + 1] = v >> 8;
      b[k + 2] = v >> 16;
      b[k + 3] = v >> 24;
      return 0;
    }
    return this.#tryWrite(lin, 4, v >>> 0);
  }

  tryWrite16(lin: number, v: number): number {
    const p = pageOf(lin), i = p & TLB_MASK, o = lin & 0xfff;
    if (this.wTag[i] === p + this.tagBase && o < 0xfff) {
      const b = this.wBuf[i], k = this.wOff[i] + o;
      b[k] = v;
      b[k + 1] = v >> 8;
      return 0;
    }
    return this.#tryWrite(lin, 2, v & 0xffff);
  }

  tryWrite8(lin: number, v: number): number {
    const p = pageOf(lin), i = p & TLB_MASK;
    if (this.wTag[i] === p + this.tagBase) {
      this.wBuf[i][this.wOff[i] + (lin & 0xfff)] = v;
      return 0;
    }
    return this.#tryWrite(lin, 1, v & 0xff);
  }

  /** write64 that answers -1 for a #PF instead of raising it (nothing written), else 0. */
  tryWrite64(lin: number, lo: number, hi: number): number {
    const o = lin & 0xfff;
    if (o <= 0xff8) {
      const p = pageOf(lin), i = p & TLB_MASK;
      if (this.wTag[i] !== p + this.tagBase && this.#quietTranslate(lin, true) < 0) return -1;
    } else if (this.#quietTranslate(lin, true) < 0 || this.#quietTranslate(nextLin(lin, 0x1000 - o), true) < 0) {
      return -1;
    }
    this.write64(lin, lo, hi);
    return 0;
  }

  /** Translates as `host.translate` does, but a #PF answers -1 (`faultCode`, CR2) instead of being raised. */
  #quietTranslate(lin: number, write: boolean): number {
    this.quiet = true;
    try {
      return this.host.translate(lin, write, false);
    } finally {
      this.quiet = false;
    }
  }

  /** slowRead for the try* reads: the value (never negative), or -1 for a #PF. */
  #tryRead(lin: number, size: number): number {
    const first = Math.min(size, 0x1000 - (lin & 0xfff));
    const ph0 = this.#quietTranslate(lin, false);
    if (ph0 < 0) return -1;
    const ph1 = first < size ? this.#quietTranslate(nextLin(lin, first), false) : 0;
    if (ph1 < 0) return -1;
    let v = this.#readPhysPage(lin, ph0, first);
    if (first < size) v += this.#readPhysPage(nextLin(lin, first), ph1, size - first) * 2 ** (8 * first);
    return v >>> 0;
  }

  /** slowWrite for the try* writes: 0, or -1 for a #PF (nothing written). */
  #tryWrite(lin: number, size: number, v: number): number {
    const first = Math.min(size, 0x1000 - (lin & 0xfff));
    const ph0 = this.#quietTranslate(lin, true);
    if (ph0 < 0) return -1;
    const ph1 = first < size ? this.#quietTranslate(nextLin(lin, first), true) : 0;
    if (ph1 < 0) return -1;
    this.#writePhysPage(lin, ph0, first, v % 2 ** (8 * first));
    if (first < size) this.#writePhysPage(nextLin(lin, first), ph1, size - first, Math.floor(v / 2 ** (8 * first)));
    return 0;
  }

  /** A read that misses the TLB: split at page boundaries, translate, fill. */
  slowRead(lin: number, size: number): number {
    const first = Math.min(size, 0x1000 - (lin & 0xfff));
    // Both pages are translated before any access, so a #PF on the second leaves nothing half done.
    const ph0 = this.host.translate(lin, false, false);
    const ph1 = first < size ? this.host.translate(nextLin(lin, first), false, false) : 0;
    let v = this.#readPhysPage(lin, ph0, first);
    if (first < size) v += this.#readPhysPage(nextLin(lin, first), ph1, size - first) * 2 ** (8 * first);
    return v;
  }

  /** A write that misses the TLB. */
  slowWrite(lin: number, size: number, v: number): void {
    const first = Math.min(size, 0x1000 - (lin & 0xfff));
    const ph0 = this.host.translate(lin, true, false);
    const ph1 = first < size ? this.host.translate(nextLin(lin, first), true, false) : 0;
    this.#writePhysPage(lin, ph0, first, v % 2 ** (8 * first));
    if (first < size) this.#writePhysPage(nextLin(lin, first), ph1, size - first, Math.floor(v / 2 ** (8 * first)));
  }

  /** Maps linear `lin`'s page to the slot bytes at `base` in the read TLB (not for implicit supervisor reads). */
  #fillRead(lin: number, bytes: Uint8Array, base: number): void {
    // An implicit supervisor access leaves the entry alone (its index may hold another page, still tagged valid): it
    // fills its own.
    if (this.sys) {
      const p = pageOf(lin), i = p & SYS_MASK;
      this.#sysTag[i] = p + this.tagBase;
      this.#sysBuf[i] = bytes;
      this.#sysOff[i] = base - (lin & 0xfff);
      return;
    }
    this.#own();
    const p = pageOf(lin), i = p & TLB_MASK;
    this.rTag[i] = p + this.tagBase;
    this.rBuf[i] = bytes;
    this.rOff[i] = base - (lin & 0xfff);
  }

  #readPhysPage(lin: number, phys: number, len: number): number {
    const slot = this.slots.find(phys);
    if (!slot) return this.host.mmioRead(phys, len);
    const bytes = slotBytes(slot, phys);
    const base = phys - slot.gpa;
    this.#fillRead(lin, bytes, base);
    let v = 0;
    for (let k = len - 1; k >= 0; k--) v = v * 256 + bytes[base + k];
    return v;
  }

  /** Reads `len` bytes at physical `phys` (in the page of linear `lin`) into `to` at `at`: RAM (filling the TLB) or MMIO. */
  #readPhysBytes(lin: number, phys: number, len: number, to: Uint8Array, at: number): void {
    const slot = this.slots.find(phys);
    if (!slot) {
      to.set(this.host.mmioReadBytes(phys, len).subarray(0, len), at);
      return;
    }
    const bytes = slotBytes(slot, phys);
    const base = phys - slot.gpa;
    this.#fillRead(lin, bytes, base);
    to.set(bytes.subarray(base, base + len), at);
  }

  /** Writes `len` bytes of `from` at `at` to physical `phys` (in the page of linear `lin`), as #writePhysPage. */
  #writePhysBytes(lin: number, phys: number, len: number, from: Uint8Array, at: number): void {
    const slot = this.slots.find(phys);
    if (!slot || slot.flags & KVM_MEM_READONLY) return this.host.mmioWriteBytes(phys, len, from.subarray(at, at + len));
    // RAM: through #writePhysPage (dirty log, decoded code, the TLB), at most 4 bytes at a time (one page).
    for (let k = 0; k < len; k += 4) {
      const n = Math.min(4, len - k);
      let v = 0;
      for (let j = n - 1; j >= 0; j--) v = v * 256 + from[at + k + j];
      this.#writePhysPage(lin + k, phys + k, n, v);
    }
  }

  #writePhysPage(lin: number, phys: number, len: number, v: number): void {
    const slot = this.slots.find(phys);
    if (!slot || slot.flags & KVM_MEM_READONLY) return this.host.mmioWrite(phys, len, v);
    const bytes = slotBytes(slot, phys);
    const base = phys - slot.gpa;
    const pfn = this.#written(slot, base, phys);
    if (!this.sys) {
      // As in #fillRead: a supervisor access of the CPU's own does not take the entry.
      this.#own();
      const p = pageOf(lin), i = p & TLB_MASK;
      this.wTag[i] = p + this.tagBase;
      this.wBuf[i] = bytes;
      this.wOff[i] = base - (lin & 0xfff);
      this.wPfn[i] = pfn;
    }
    for (let k = 0; k < len; k++) {
      bytes[base + k] = v & 0xff;
      v = Math.floor(v / 256);
    }
  }

  /**
   * Before a write at guest-physical `phys` (offset `base` in `slot`): marks its page in the dirty log and drops the
   * code decoded from it. Returns the page's number.
   */
  #written(slot: MemSlot, base: number, phys: number): number {
    const pfn = Math.floor(phys / 4096);
    markPageDirty(slot, base);
    if (this.codePfns.has(pfn)) {
      this.codePfns.delete(pfn);
      this.host.codeWritten(pfn);
    }
    return pfn;
  }

  /** The bytes and offset found by the last successful `bulk` call. */
  bulkBytes: Uint8Array = new Uint8Array(0);
  bulkOff = 0;

  /**
   * For a REP string instruction: finds the RAM behind `len` bytes at linear `lin` (within one page) for reading
   * or writing, translating as the access would (#PF); a write marks the page dirty and drops code decoded from
   * it. False (nothing done) where the bytes are not plain RAM: MMIO, a read-only slot for a write.
   */
  bulk(lin: number, len: number, write: boolean): boolean {
    const phys = this.host.translate(lin, write, false);
    const slot = this.slots.find(phys);
    if (!slot || !slot.bytes || phys + len > slot.gpa + slot.size) return false;
    if (write && slot.flags & KVM_MEM_READONLY) return false;
    const base = phys - slot.gpa;
    if (write) this.#written(slot, base, phys);
    this.bulkBytes = slot.bytes;
    this.bulkOff = base;
    return true;
  }

  /** An implicit supervisor read (descriptor tables, IDT, TSS) of 1, 2 or 4 bytes, whatever the CPL. */
  sysRead(lin: number, size: number): number {
    const p = pageOf(lin), i = p & SYS_MASK, o = lin & 0xfff;
    if (this.#sysTag[i] === p + this.tagBase && o + size <= 0x1000) {
      const b = this.#sysBuf[i], k = this.#sysOff[i] + o;
      return size === 4
        ? (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)) >>> 0
        : size === 2
        ? b[k] | (b[k + 1] << 8)
        : b[k];
    }
    this.sys = true;
    try {
      return this.slowRead(lin, size);
    } finally {
      this.sys = false;
    }
  }

  /** An implicit supervisor write (accessed bits, busy bits, TSS). */
  sysWrite(lin: number, size: number, v: number): void {
    this.sys = true;
    try {
      this.slowWrite(lin, size, v);
    } finally {
      this.sys = false;
    }
  }

  /** Reads `len` bytes of guest-physical memory for a page walk or the decoder; null when not RAM. */
  physView(phys: number, len: number): Uint8Array | null {
    const slot = this.slots.find(phys);
    if (!slot || phys + len > slot.gpa + slot.size) return null;
    const bytes = slotBytes(slot, phys);
    return bytes.subarray(phys - slot.gpa, phys - slot.gpa + len);
  }

  /** The RAM slot holding the four bytes at `phys` of a page-table entry, or Unimplemented outside RAM. */
  #tableSlot(phys: number): MemSlot {
    const slot = this.slots.find(phys);
    if (!slot || phys + 4 > slot.gpa + slot.size) {
      throw new Unimplemented(`page-table access outside RAM at ${phys.toString(16)}`);
    }
    return slot;
  }

  /**
   * A 32-bit read of guest-physical RAM (page tables, descriptor tables through paging). Indexes the slot's bytes
   * directly: a page walk reads up to eight entries, and a view per entry made walks allocation-bound.
   */
  physRead32(phys: number): number {
    const slot = this.#tableSlot(phys);
    const b = slotBytes(slot, phys), k = phys - slot.gpa;
    return (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)) >>> 0;
  }

  /** A 32-bit write of guest-physical RAM (accessed and dirty bits). */
  physWrite32(phys: number, value: number): void {
    const slot = this.#tableSlot(phys);
    const b = slotBytes(slot, phys), k = phys - slot.gpa;
    b[k] = value;
    b[k + 1] = value >> 8;
    b[k + 2] = value >> 16;
    b[k + 3] = value >> 24;
    this.markDirty(phys);
  }

  /** Marks the page of `phys` in its slot's dirty log (writes that bypass the TLB: accessed/dirty bits). */
  markDirty(phys: number): void {
    const slot = this.slots.find(phys);
    if (slot) markPageDirty(slot, phys - slot.gpa);
  }
}

/** The sizes of the pages a translation may use: 4 KiB, 2 MiB (PAE, 4-level), 4 MiB (32-bit), 1 GiB. */
const PAGE_SPANS = [4096, 2 ** 21, 2 ** 22, 2 ** 30] as const;

/** Linear pages of the sizes of PAGE_SPANS: each kept as its number at its own size times 4 plus its size's index. */
class PageSet {
  readonly #pages = new Set<number>();
  /** Bit k set while a page of PAGE_SPANS[k] is held. */
  spans = 0;

  /** Holds the page of `span` bytes (one of PAGE_SPANS) that holds linear `lin`. */
  add(lin: number, span: number): void {
    const k = span === 4096 ? 0 : span === 2 ** 21 ? 1 : span === 2 ** 22 ? 2 : 3;
    this.spans |= 1 << k;
    this.#pages.add(Math.floor(lin / span) * 4 + k);
  }

  /** Whether it holds the page of PAGE_SPANS[k] bytes that holds linear `lin`. */
  has(lin: number, k: number): boolean {
    return (this.spans & (1 << k)) !== 0 && this.#pages.has(Math.floor(lin / PAGE_SPANS[k]) * 4 + k);
  }

  clear(): void {
    this.#pages.clear();
    this.spans = 0;
  }
}

/** The most bytes one translation maps (a 1 GiB page): what an INVLPG may drop around its address. */
export const LARGEST_PAGE = 2 ** 30;

/** The region of LARGEST_PAGE bytes that linear `lin` (48-bit form in 64-bit mode) lies in. */
export function regionOf(lin: number): number {
  return Math.floor(lin / LARGEST_PAGE);
}

/** The page number of a linear address (48-bit in long mode; tags are doubles so that they never alias). */
function pageOf(lin: number): number {
  return lin > 0xffffffff ? Math.floor(lin / 4096) : lin >>> 12;
}

/** Stores the halves of a 64-bit value little-endian at b[k..k+7]. */
export function putHalves(b: Uint8Array, k: number, lo: number, hi: number): void {
  b[k] = lo;
  b[k + 1] = lo >> 8;
  b[k + 2] = lo >> 16;
  b[k + 3] = lo >> 24;
  b[k + 4] = hi;
  b[k + 5] = hi >> 8;
  b[k + 6] = hi >> 16;
  b[k + 7] = hi >> 24;
}

/** The linear address `n` bytes on: wraps at 4 GiB below it, goes on above it (long mode). */
function nextLin(lin: number, n: number): number {
  return lin > 0xffffffff ? lin + n : (lin + n) >>> 0;
}

function slotBytes(slot: MemSlot, gpa: number): Uint8Array {
  if (!slot.bytes) throw new HostFault(gpa);
  return slot.bytes;
}
