/**
 * ModRM in 64-bit mode: the REX extensions of the reg, r/m, base and index
 * fields, the byte registers a REX prefix selects (SPL, BPL, SIL, DIL and
 * R8B-R15B instead of AH-BH), SIB with R8-R15, and RIP-relative addressing.
 *
 * @module
 */
import { B, type Insn, REGONLY } from "../insn.ts";
import { DS, SS } from "../state.ts";

/** The pseudo base register of a RIP-relative operand: the address is the next instruction's RIP plus disp. */
export const RIP_BASE = 16;

/**
 * Applies REX.R and REX.B to a decoded ModRM (reg only when it names a
 * register, not a group), and maps byte registers 4-7 to SPL-DIL (16-23 in
 * `R8_INDEX`).
 */
export function rexModrm(d: Insn, rex: number, f: number, grouped: boolean): void {
  if (!grouped) d.reg |= (rex & 4) << 1;
  const regRm = d.mod === 3 || (f & REGONLY) !== 0;
  if (regRm) d.rm |= (rex & 1) << 3;
  const byteRm = (f & B) !== 0 || d.op === 0x1b6 || d.op === 0x1be;
  if (f & B && !grouped && d.reg >= 4 && d.reg < 8) d.reg += 16;
  if (byteRm && d.mod === 3 && d.rm >= 4 && d.rm < 8) d.rm += 16;
}

/** Little-endian signed 32-bit displacement. */
function disp32(buf: Uint8Array, p: number): number {
  return buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24);
}

/**
 * Decodes the memory form of ModRM (and SIB, displacement) in 64-bit mode.
 * Returns the position after it, or -1 when the bytes ran out.
 */
export function modrm64(d: Insn, buf: Uint8Array, p: number, end: number, rex: number): number {
  let base = d.rm & 7;
  if (base === 4) {
    if (p + 1 > end) return -1;
    const sib = buf[p++];
    d.scale = sib >> 6;
    const index = ((sib >> 3) & 7) | ((rex & 2) << 2);
    d.index = index === 4 ? -1 : index;
    base = sib & 7;
    if (base === 5 && d.mod === 0) {
      if (p + 4 > end) return -1;
      d.disp = disp32(buf, p);
      d.eaSeg = DS;
      return p + 4;
    }
  } else if (base === 5 && d.mod === 0) {
    if (p + 4 > end) return -1;
    d.disp = disp32(buf, p);
    d.base = RIP_BASE;
    return p + 4;
  }
  // RSP and RBP (not R12 and R13) as a base make a stack reference.
  if (!(rex & 1) && (base === 4 || base === 5)) d.eaSeg = SS;
  d.base = base | ((rex & 1) << 3);
  if (d.mod === 1) {
    if (p + 1 > end) return -1;
    d.disp = (buf[p] << 24) >> 24;
    return p + 1;
  }
  if (d.mod === 2) {
    if (p + 4 > end) return -1;
    d.disp = disp32(buf, p);
    return p + 4;
  }
  return p;
}
