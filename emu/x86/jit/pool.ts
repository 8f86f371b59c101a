/**
 * The guest addresses a block's code uses (EIPs, branch targets, return
 * addresses, RIP-relative operands) are not written into its source: each
 * becomes a name, `k0`, `k1`, ..., bound to its value when the block's
 * function is made (codegen.ts). Blocks that differ only in where they lie
 * (the same code at another address, in another VM) then share one source,
 * so the sources a process compiles depend on the code it runs, not on
 * where that code lies; Deno's V8 keeps every distinct source given to
 * `new Function` for the life of the process. Immediates and displacements
 * stay in the source as numbers: as names they cost the bench guests up to
 * a fifth of their speed (V8 folds a number in the source into the code,
 * not a name shared by the blocks of a source).
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
