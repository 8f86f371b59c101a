/**
 * The numbers a block's code takes from the guest (addresses, immediates,
 * displacements) are not written into its source: each becomes a name,
 * `k0`, `k1`, ..., bound to its value when the block's function is made
 * (codegen.ts). Blocks that differ only in those numbers (the same code at
 * another address, another VM running the same guest) then share one
 * source, so the sources a process compiles are bounded by the shapes of
 * the code it runs, not by where that code lies. V8 keeps every distinct
 * source given to `new Function` in its compilation cache for the life of
 * the process.
 *
 * @module
 */

/** The numbers of the block being written, by value, with their names; null outside `pooled`. */
let pool: Map<number, string> | null = null;

/**
 * The name under which the block being written reads the number `v` (the same name for the same value). Outside
 * `pooled` (a template asked for its code on its own), the number itself.
 */
export function num(v: number): string {
  if (pool === null) return String(v);
  let name = pool.get(v);
  if (name === undefined) pool.set(v, name = `k${pool.size}`);
  return name;
}

/** Runs `write` (which writes a block's code) with a fresh pool; returns its result and the numbers it named. */
export function pooled<T>(write: () => T): { result: T; numbers: number[] } {
  const outer = pool;
  const mine = pool = new Map<number, string>();
  try {
    return { result: write(), numbers: [...mine.keys()] };
  } finally {
    pool = outer;
  }
}
