/**
 * Random choices the generator makes about operands: where a memory
 * operand points (mostly the read/write part of the data area, sometimes
 * the read-only or not-present page or across their boundary, to provoke
 * #PF), immediates, and shift counts that hit the interesting cases.
 *
 * @module
 */
import { DATA, DATA_SIZE, RO_END, RW_END } from "./layout.ts";
import type { Prng } from "./prng.ts";

/**
 * A linear address for an access of `size` bytes with `margin` bytes of
 * room on either side (for accesses that may wander: bit offsets, string
 * counts). With `faults` it sometimes aims at the protected pages.
 */
export function pickTarget(
  rng: Prng,
  size: number,
  options: { margin?: number; faults?: boolean; align?: number } = {},
): number {
  const margin = options.margin ?? 0;
  let off: number;
  const r = options.faults === false ? 63 : rng.below(96);
  // Every choice keeps `margin` bytes of the data area on both sides, so no access leaves it.
  if (r === 0) off = rng.range(RW_END, RO_END - size);
  else if (r === 1) off = rng.range(RO_END, DATA_SIZE - size - margin);
  else if (r === 2 && size > 1) off = RW_END - rng.range(1, size - 1);
  else off = rng.range(margin, RW_END - size - margin);
  const align = options.align ?? size;
  if (align > 1 && (align & (align - 1)) === 0 && rng.chance(1, 2)) off -= off % align;
  if (options.align === 16 && rng.chance(3, 4)) off -= off % 16;
  return DATA + Math.max(0, off);
}

/** An immediate of `bits` bits. */
export function immediate(rng: Prng, bits: number): bigint {
  return rng.value(bits);
}

/** A shift or rotate count (before the CPU masks it) for an operand of `size` bits. */
export function shiftCount(rng: Prng, size: number): number {
  return rng.weighted<number>([
    [0, 1],
    [1, 4],
    [rng.range(2, size - 1), 4],
    [size - 1, 1],
    [size, 1],
    [size + 1, 1],
    [31, 1],
    [32, 1],
    [63, 1],
    [rng.below(256), 3],
  ]);
}
