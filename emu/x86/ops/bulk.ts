/**
 * REP MOVS and REP STOS a page at a time: while the direction flag is
 * clear, nothing watches single accesses and both sides are plain RAM, the
 * items up to the end of the current source and destination pages are
 * moved with one copy or fill, exactly as the same number of single
 * iterations would leave memory and registers (no iteration in such a run
 * can fault: the whole range is checked and translated first). Anything
 * else is left to the iteration loop.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { AC, DF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { in64 } from "../long/access.ts";
import { AR_UNUSABLE } from "../state.ts";

/** Whether the bulk path may be tried for `d` now. */
export function bulkAllowed(cpu: Cpu, d: Insn): boolean {
  return d.rep === 0xf3 && !(cpu.eflRest & (DF | AC)) && cpu.watch === 0 && d.asize !== 2;
}

/**
 * The linear address of `items` items of `size` bytes at seg:off when the whole range is inside one page and the
 * segment (or canonical range) allows every byte; else -1, and the caller iterates. May raise what the access of
 * the first item raises.
 */
export function rangeLinear(cpu: Cpu, seg: number, off: number, size: number, items: number, write: boolean): number {
  const lin = cpu.lin(seg, off, size, write);
  const room = Math.floor((4096 - (lin % 4096)) / size);
  if (items > room) return -1;
  if (in64(cpu)) return lin;
  const ar = cpu.segAr[seg];
  if (ar & AR_UNUSABLE || (ar & 0x1c) === 0x14) return -1; // expand-down: leave to the checks per item
  if (off + size * items - 1 > cpu.segLimit[seg] || lin + size * items > 2 ** 32) return -1;
  return lin;
}

/** How many items of `size` bytes fit from seg:off to the end of its page (may raise what the first access raises). */
export function pageRoom(cpu: Cpu, seg: number, off: number, size: number, write: boolean): number {
  const lin = cpu.lin(seg, off, size, write);
  return Math.floor((4096 - (lin % 4096)) / size);
}

/** Fills `items` items of `size` bytes at linear `lin` with the value lo (and hi for 8 bytes); false if not RAM. */
export function fillItems(cpu: Cpu, lin: number, size: number, items: number, lo: number, hi: number): boolean {
  const len = size * items;
  if (!cpu.mem.bulk(lin, len, true)) return false;
  const b = cpu.mem.bulkBytes, o = cpu.mem.bulkOff;
  if (size === 1) {
    b.fill(lo & 0xff, o, o + len);
    return true;
  }
  for (let k = 0; k < size; k++) b[o + k] = k < 4 ? (lo >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
  // Doubling copies of the first item: the same bytes as item after item.
  for (let done = size; done < len; done *= 2) b.copyWithin(o + done, o, o + Math.min(done, len - done));
  return true;
}

/**
 * Copies `items` items of `size` bytes from linear `from` to linear `to` as forward moves of one item after another
 * would; false if either is not RAM.
 */
export function copyItems(cpu: Cpu, from: number, to: number, size: number, items: number): boolean {
  const len = size * items;
  if (!cpu.mem.bulk(from, len, false)) return false;
  const src = cpu.mem.bulkBytes, so = cpu.mem.bulkOff;
  if (!cpu.mem.bulk(to, len, true)) return false;
  const dst = cpu.mem.bulkBytes, dOff = cpu.mem.bulkOff;
  const a = src.byteOffset + so, b = dst.byteOffset + dOff;
  if (src.buffer === dst.buffer && b > a && b < a + len) {
    // The destination overlaps the source ahead of it: each move reads a whole item, then writes it (so a distance
    // below the item size shows), and later moves read what earlier ones wrote.
    const all = new Uint8Array(src.buffer);
    for (let i = 0; i < len; i += size) all.copyWithin(b + i, a + i, a + i + size);
  } else dst.set(src.subarray(so, so + len), dOff); // set() copies as memmove within one buffer
  return true;
}
