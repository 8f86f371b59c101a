/**
 * The compiled blocks of one VM, by physical address: how often each entry
 * point was reached by the interpreter (a block is compiled once it is hot),
 * the blocks of each physical page (dropped together when the page is
 * written, with those that go on into it from the page before), and
 * counters for tests and benchmarks.
 *
 * The vCPUs of a VM share it (cpu.ts): they run the same kernel, and each
 * used to find its code cold, count its arrivals, build and promote its own
 * blocks. What a block keeps for the CPU that runs it holds for that CPU
 * only: its links and the next page's check are made in a TLB epoch, which
 * no other CPU's TLB ever has (memory.ts draws them from one counter), and
 * `checked` is a KVM_RUN of one CPU (the VM's CPUs number their runs from
 * one counter: `newRun`). A CPU therefore compares a block with memory
 * before its first use in each of its runs, whoever made it; from then on
 * its own writes to the page drop it (the page is in its Memory's
 * codePfns), and no other CPU runs meanwhile: every vCPU of a VM runs on
 * one thread (proxy.ts). The blocks go when the memory slots change (once,
 * by the first CPU that sees the change: `dropAll`) and when the last CPU
 * of the VM releases its code (`leave`).
 *
 * The cache is bounded: at most MAX_BLOCKS blocks (the pages compiled into
 * longest ago are evicted first) and MAX_HEAT_PAGES pages of arrival
 * counts. A page whose blocks were dropped CHURN times in one KVM_RUN (code
 * that writes its own page) is compiled only once hot even in eager mode,
 * so that self-modifying code does not compile a block per instruction it
 * runs.
 *
 * @module
 */
import type { BlockCompilerMode } from "../compiler_mode.ts";
import type { Block } from "./block.ts";
import { PAGE_SIZE } from "./names.ts";

/** Entries reached this many times are compiled (mode "on"). */
export const HOT = 16;
/**
 * Runs of a block in the first tier (threaded.ts) after which it is compiled to JavaScript (mode "on"; eager compiles
 * at once) when it loops, or blocks of its shape (threaded.ts shapeOf) made PROMOTE_ALWAYS runs in the process;
 * other blocks wait until they have.
 */
export const PROMOTE = 1024;
/**
 * First-tier runs of a block shape in the process (threaded.ts shapeRuns) after which its blocks are compiled. A
 * promotion costs far more than a few thousand first-tier runs: on a PVH Linux boot to /init (Deno, load 3-5) the
 * boot took about 15 ms more CPU time per block promoted (1.7 ms of it generating and compiling the source, the rest
 * V8 tiering the new function up), against about 0.5 us saved per run of a kernel block of 7-11 instructions. Every
 * block promoted after 1,024 runs: 77.4 CPU s (2,399 promoted); after 65,536: 42.2, 59.2, 50.1 (143).
 */
export const PROMOTE_ALWAYS = 65536;
/**
 * The most blocks one CPU keeps. A PVH Linux boot to /init holds up to about 9,300 at once: with 8,192 it evicted
 * 2,041 blocks, hot ones among them (the eviction is by page, the page compiled into longest ago first), and took
 * 167.0 CPU s against 153.2 s with no bound (Deno, side by side, load 5-10); most blocks are first-tier ones
 * (threaded.ts), a few arrays and a closure each.
 */
export const MAX_BLOCKS = 16384;
/** The most pages whose arrivals are counted (16 KiB each). */
export const MAX_HEAT_PAGES = 512;
/** Drops of one page's blocks in one run after which eager mode waits until an entry there is hot. */
export const CHURN = 4;

/** The arrival count that marks an entry whose block was compiled from the first tier (BlockCache.promoted). */
const PROMOTED = 2 ** 30;

/** Counters of the block compiler's work. */
export interface BlockStats {
  /** Blocks made: in the first tier in mode "on" (threaded.ts), compiled to JavaScript in eager mode. */
  compiled: number;
  /** Blocks of the first tier compiled to JavaScript once they ran `promote` times (run.ts promote). */
  promoted: number;
  /** Blocks dropped because their page was written (by the guest, or by the host between runs). */
  invalidated: number;
  /** Blocks evicted to keep the cache within MAX_BLOCKS. */
  evicted: number;
  /** Block executions. */
  executed: number;
  /** Instructions run in blocks. */
  insns: number;
}

/** One VM's compiled blocks, shared by its CPUs. */
export class BlockCache {
  /** Executions before compiling: 0 is off. */
  threshold: number;
  /** Runs of a block in the first tier before it is compiled to JavaScript; 1: compiled at once (eager). */
  promote = PROMOTE;
  /** Runs after which any first-tier block is compiled (PROMOTE_ALWAYS). */
  promoteAlways = PROMOTE_ALWAYS;
  readonly byAddress = new Map<number, Block>();
  /** The blocks of each page, the page compiled into longest ago first. */
  readonly #byPfn = new Map<number, Block[]>();
  /** The blocks that go on into each page from the one before (Block.nextPfn): they are in `#byPfn` too. */
  readonly #byNextPfn = new Map<number, Block[]>();
  /** Blocks in `#byPfn`. */
  #count = 0;
  /** Per physical page, how often the interpreter reached each offset; -1 where no block can start. */
  readonly heat = new Map<number, Int32Array>();
  /**
   * Per physical page, how often its blocks were dropped because it was written in the run `#dropsEpoch` (up to
   * CHURN): the host's writes between runs (new code loaded) are not churn.
   */
  readonly #drops = new Map<number, number>();
  #dropsEpoch = 0;
  readonly stats: BlockStats = { compiled: 0, promoted: 0, invalidated: 0, evicted: 0, executed: 0, insns: 0 };
  /** CPUs attached (`attach`) and not yet left (`leave`). */
  #users = 0;
  /** The last run number given to a CPU (`newRun`). */
  #lastRun = 0;
  /** The slots' generation (MemSlots.generation) the blocks were made under: `dropAll` empties it for a new one. */
  #slotGeneration = -1;

  constructor(mode: BlockCompilerMode) {
    this.threshold = 0;
    this.setMode(mode);
  }

  /** The mode, from the threshold. */
  get mode(): BlockCompilerMode {
    return this.threshold === 0 ? "off" : this.threshold === 1 ? "eager" : "on";
  }

  setMode(mode: BlockCompilerMode): void {
    this.threshold = mode === "off" ? 0 : mode === "eager" ? 1 : HOT;
    this.promote = mode === "eager" ? 1 : PROMOTE;
    if (mode === "off") this.clear();
  }

  add(key: number, b: Block): void {
    const old = this.byAddress.get(key);
    if (old) this.#remove(old);
    this.byAddress.set(key, b);
    let list = this.#byPfn.get(b.pfn);
    if (list) this.#byPfn.delete(b.pfn); // re-inserted last: the page compiled into most recently
    else list = [];
    this.#byPfn.set(b.pfn, list);
    list.push(b);
    if (b.nextPfn >= 0) {
      const tails = this.#byNextPfn.get(b.nextPfn);
      if (tails) tails.push(b);
      else this.#byNextPfn.set(b.nextPfn, [b]);
    }
    this.#count++;
    this.stats.compiled++;
    // Evict whole pages, the one compiled into longest ago first (never the page of the new block).
    while (this.#count > MAX_BLOCKS) {
      const pfn = this.#byPfn.keys().next().value!;
      if (pfn === b.pfn) break;
      this.stats.evicted += this.#forget(pfn);
    }
  }

  /**
   * Drops the blocks of physical page `pfn` (it was written), in the run `epoch` (Cpu.runEpoch), and those that go on
   * into it from the page before: their page counts as dropped too (code that writes the page after its own).
   */
  dropPage(pfn: number, epoch: number): void {
    this.heat.delete(pfn);
    if (!this.#byPfn.has(pfn) && !this.#byNextPfn.has(pfn)) return;
    if (epoch !== this.#dropsEpoch) {
      this.#drops.clear();
      this.#dropsEpoch = epoch;
    }
    this.#countDrop(pfn);
    let n = this.#forget(pfn);
    const tails = this.#byNextPfn.get(pfn);
    if (tails) {
      this.#byNextPfn.delete(pfn);
      const firsts = new Set<number>();
      for (const b of tails) {
        this.#invalidate(b);
        unlist(this.#byPfn, b.pfn, b);
        if (b.pfn !== pfn) firsts.add(b.pfn);
      }
      n += tails.length;
      for (const first of firsts) {
        this.heat.delete(first);
        this.#countDrop(first);
      }
    }
    this.stats.invalidated += n;
  }

  /** Counts one drop of page `pfn`'s blocks in the current run (up to CHURN). */
  #countDrop(pfn: number): void {
    const drops = this.#drops.get(pfn) ?? 0;
    if (drops < CHURN) this.#drops.set(pfn, drops + 1);
  }

  /** Invalidates and forgets the blocks of page `pfn`; returns how many there were. */
  #forget(pfn: number): number {
    const list = this.#byPfn.get(pfn);
    if (!list) return 0;
    this.#byPfn.delete(pfn);
    for (const b of list) {
      this.#invalidate(b);
      if (b.nextPfn >= 0) unlist(this.#byNextPfn, b.nextPfn, b);
    }
    return list.length;
  }

  /** Invalidates and forgets `b` (another block replaces it). */
  #remove(b: Block): void {
    this.#invalidate(b);
    unlist(this.#byPfn, b.pfn, b);
    if (b.nextPfn >= 0) unlist(this.#byNextPfn, b.nextPfn, b);
  }

  /** Marks `b` invalid and forgets its links and its address; its caller takes it out of the pages' lists. */
  #invalidate(b: Block): void {
    b.valid = false;
    b.checked = -1;
    b.unlink();
    const key = b.pfn * PAGE_SIZE + b.off;
    if (this.byAddress.get(key) === b) this.byAddress.delete(key);
    this.#count--;
  }

  /** Blocks held. */
  get size(): number {
    return this.#count;
  }

  /**
   * Counts one arrival of the interpreter at `off` of page `pfn` in the run `epoch`; true when a block should be
   * compiled there.
   */
  hot(pfn: number, off: number, epoch: number): boolean {
    let counts = this.heat.get(pfn);
    if (!counts) {
      // Forget the page counted longest ago: its entries start counting again.
      if (this.heat.size >= MAX_HEAT_PAGES) this.heat.delete(this.heat.keys().next().value!);
      this.heat.set(pfn, counts = new Int32Array(PAGE_SIZE));
    }
    const n = counts[off];
    if (n < 0) return false;
    counts[off] = n + 1;
    // A page that keeps being written is compiled only where it is hot, whatever the mode.
    const churn = this.threshold === 1 && epoch === this.#dropsEpoch && (this.#drops.get(pfn) ?? 0) >= CHURN;
    const threshold = churn ? HOT : this.threshold;
    return n + 1 >= threshold;
  }

  /** Notes that the block at `off` of page `pfn` was compiled from the first tier: made again, it is compiled at once. */
  promoted(pfn: number, off: number): void {
    const counts = this.heat.get(pfn);
    if (counts !== undefined && counts[off] >= 0) counts[off] = PROMOTED;
  }

  /** Whether a block at `off` of page `pfn` was compiled from the first tier before (and its page's counts kept). */
  wasPromoted(pfn: number, off: number): boolean {
    return (this.heat.get(pfn)?.[off] ?? 0) >= PROMOTED;
  }

  /** Notes that no block can start at `off` of page `pfn`. */
  never(pfn: number, off: number): void {
    this.heat.get(pfn)![off] = -1;
  }

  /** A CPU starts using the cache: its first run number (Cpu.runEpoch, `newRun`). */
  attach(): number {
    this.#users++;
    return this.newRun(1);
  }

  /**
   * The number of a CPU's new KVM_RUN (Cpu.runEpoch): `wanted`, or more, above every number given to a CPU of the
   * cache before. One counter for the VM, so that a block one CPU compared with memory in its run never counts as
   * compared in another CPU's; and small numbers, which V8 keeps as small integers in the blocks and records.
   */
  newRun(wanted: number): number {
    return this.#lastRun = Math.max(wanted, this.#lastRun + 1);
  }

  /** A CPU released its code (it is being closed): the last one to do so empties the cache. */
  leave(): void {
    if (--this.#users <= 0) {
      this.#users = 0;
      this.clear();
    }
  }

  /**
   * Drops every block if the memory slots changed (generation `slotGeneration`) since they were made: each CPU asks
   * when it sees the change, the first one empties the cache.
   */
  dropAll(slotGeneration: number): void {
    if (slotGeneration === this.#slotGeneration) return;
    this.#slotGeneration = slotGeneration;
    this.clear();
  }

  /** Drops every block (memory slots changed, the mode went off, the last CPU left). */
  clear(): void {
    for (const list of this.#byPfn.values()) {
      for (const b of list) {
        b.valid = false;
        b.checked = -1;
        b.unlink();
      }
    }
    this.byAddress.clear();
    this.#byPfn.clear();
    this.#byNextPfn.clear();
    this.#count = 0;
    this.heat.clear();
    this.#drops.clear();
  }
}

/** Takes `b` out of page `pfn`'s list in `lists` (a list left empty goes). */
function unlist(lists: Map<number, Block[]>, pfn: number, b: Block): void {
  const list = lists.get(pfn);
  if (!list) return;
  const i = list.indexOf(b);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) lists.delete(pfn);
}
