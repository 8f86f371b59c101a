/**
 * The compiled blocks of one CPU, by physical address: how often each entry
 * point was reached by the interpreter (a block is compiled once it is hot),
 * the blocks of each physical page (dropped together when the page is
 * written), and counters for tests and benchmarks.
 *
 * @module
 */
import type { Block } from "./block.ts";

/** How the block compiler runs: not at all, on blocks reached `HOT` times, or on every block at once. */
export type BlockCompilerMode = "off" | "on" | "eager";

/** Entries reached this many times are compiled (mode "on"). */
export const HOT = 16;

/** Counters of the block compiler's work. */
export interface BlockStats {
  /** Blocks compiled. */
  compiled: number;
  /** Blocks dropped because their page was written (by the guest, or by the host between runs). */
  invalidated: number;
  /** Block executions. */
  executed: number;
}

/** One CPU's compiled blocks. */
export class BlockCache {
  /** Executions before compiling: 0 is off. */
  threshold: number;
  readonly byAddress = new Map<number, Block>();
  readonly #byPfn = new Map<number, Block[]>();
  /** Per physical page, how often the interpreter reached each offset; -1 where no block can start. */
  readonly heat = new Map<number, Int32Array>();
  readonly stats: BlockStats = { compiled: 0, invalidated: 0, executed: 0 };

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
    if (mode === "off") this.clear();
  }

  add(key: number, b: Block): void {
    const old = this.byAddress.get(key);
    if (old) old.valid = false;
    this.byAddress.set(key, b);
    let list = this.#byPfn.get(b.pfn);
    if (!list) this.#byPfn.set(b.pfn, list = []);
    list.push(b);
    this.stats.compiled++;
  }

  /** Drops the blocks of physical page `pfn`. */
  dropPage(pfn: number): void {
    this.heat.delete(pfn);
    const list = this.#byPfn.get(pfn);
    if (!list) return;
    for (const b of list) {
      b.valid = false;
      if (this.byAddress.get(pfn * 4096 + b.off) === b) this.byAddress.delete(pfn * 4096 + b.off);
    }
    this.stats.invalidated += list.length;
    this.#byPfn.delete(pfn);
  }

  /** Counts one arrival of the interpreter at `off` of page `pfn`; true when a block should be compiled there. */
  hot(pfn: number, off: number): boolean {
    let counts = this.heat.get(pfn);
    if (!counts) this.heat.set(pfn, counts = new Int32Array(4096));
    const n = counts[off];
    if (n < 0) return false;
    counts[off] = n + 1;
    return n + 1 >= this.threshold;
  }

  /** Notes that no block can start at `off` of page `pfn`. */
  never(pfn: number, off: number): void {
    this.heat.get(pfn)![off] = -1;
  }

  /** Drops every block (memory slots changed). */
  clear(): void {
    for (const list of this.#byPfn.values()) for (const b of list) b.valid = false;
    this.byAddress.clear();
    this.#byPfn.clear();
    this.heat.clear();
  }
}
