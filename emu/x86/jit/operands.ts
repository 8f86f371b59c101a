/**
 * Operands as JavaScript expressions for the templates: registers of 8,
 * 16 and 32 bits (a 32-bit write clears the upper half, as the interpreter
 * does), effective addresses with the interpreter's arithmetic (32-bit
 * addressing wraps at 4 GiB; 64-bit addressing goes through `ea64s`, exact
 * like long/access.ts ea64, and RIP-relative addresses are constants), and
 * loads and stores through the segment checks and the TLB.
 *
 * Names the generated code has: `c` (the CPU), `r` (c.r32), `r16`, `r8`,
 * `ea64s`.
 *
 * @module
 */
import type { Insn } from "../insn.ts";
import { RIP_BASE } from "../long/modrm64.ts";
import { R8_INDEX } from "../state.ts";

/** Operand-size masks as source text. */
export const MASK_TEXT = ["", "0xff", "0xffff", "", "0xffffffff"];

/** Register `n` of `size` bytes (1, 2, 4). */
export function regRead(n: number, size: number): string {
  return size === 4 ? `r[${n << 1}]` : size === 2 ? `r16[${n << 2}]` : `r8[${R8_INDEX[n]}]`;
}

/** Writes `v` (already masked) to register `n` of `size` bytes. */
export function regWrite(n: number, size: number, v: string): string {
  if (size === 4) return `r[${n << 1}] = ${v}; r[${(n << 1) + 1}] = 0;`;
  return `${regRead(n, size)} = ${v};`;
}

/**
 * The offset of `d`'s memory operand, or undefined where a template leaves it to the interpreter (16-bit
 * addressing). `next` is the next instruction's RIP (64-bit mode: RIP-relative operands are constants).
 */
export function offset(d: Insn, next: number): string | undefined {
  if (d.mode !== 8) {
    if (d.asize !== 4) return undefined;
    const parts = [String(d.disp | 0)];
    if (d.base >= 0) parts.push(`r[${d.base << 1}]`);
    if (d.index >= 0) parts.push(d.scale ? `(r[${d.index << 1}] << ${d.scale})` : `r[${d.index << 1}]`);
    return `((${parts.join(" + ")}) >>> 0)`;
  }
  if (d.base === RIP_BASE) {
    const a = next + (d.disp | 0);
    if (d.asize === 4) return String(a >>> 0);
    return `ea64s(${a >>> 0}, ${Math.floor(a / 2 ** 32)})`;
  }
  const lo = [String(d.disp | 0)], hi = ["0"];
  if (d.base >= 0) {
    lo.push(`r[${d.base << 1}]`);
    hi.push(`(r[${(d.base << 1) + 1}] | 0)`);
  }
  if (d.index >= 0) {
    const s = d.scale, i = d.index << 1;
    lo.push(s ? `((r[${i}] << ${s}) >>> 0)` : `r[${i}]`);
    hi.push(s ? `((r[${i + 1}] << ${s}) | (r[${i}] >>> ${32 - s}))` : `(r[${i + 1}] | 0)`);
  }
  if (d.asize === 4) return `((${lo.join(" + ")}) >>> 0)`;
  return `ea64s(${lo.join(" + ")}, ${hi.join(" + ")})`;
}

/** The segment of `d`'s memory operand. */
export function segmentOf(d: Insn): number {
  return d.seg >= 0 ? d.seg : d.eaSeg;
}

/** A load of `size` bytes at `off` in segment `seg`. */
export function load(seg: number, off: string, size: number): string {
  return `c.mem.read${size * 8}(c.lin(${seg}, ${off}, ${size}, false))`;
}

/** A store of `v` (`size` bytes) at `off` in segment `seg`. */
export function store(seg: number, off: string, size: number, v: string): string {
  return `c.mem.write${size * 8}(c.lin(${seg}, ${off}, ${size}, true), ${v});`;
}

const TWO32 = 4294967296, FAR = 2 ** 62;

/** A 64-bit effective address from its summed halves, as ea64 returns it: signed, or far out of range. */
export function ea64s(lo: number, hi: number): number {
  const carry = Math.floor(lo / TWO32);
  const h = (hi + carry) | 0;
  if (h >= 0x200000 || h < -0x200000) return h < 0 ? -FAR : FAR;
  return h * TWO32 + (lo - carry * TWO32);
}
