/**
 * The ModRM byte's memory operand in every addressing mode: 16-bit (base
 * and index pairs, disp16), 32-bit and 64-bit (SIB, disp8/disp32; in
 * 64-bit mode REX.X and REX.B extend index and base and mod 00 r/m 101 is
 * RIP-relative), and the REX extensions of the reg and r/m fields,
 * including the byte registers a REX prefix selects (SPL, BPL, SIL, DIL
 * and R8B-R15B instead of AH-BH). Each decoder fills `Insn.base`, `index`,
 * `scale`, `disp` and the default segment `eaSeg`, and returns the position
 * after the operand, or -1 when the bytes ran out.
 *
 * @module
 */
import { B, type Insn, REGONLY } from "./insn.ts";
import { DS, EBP, EBX, EDI, ESI, SS } from "./state.ts";

/** The pseudo base register of a RIP-relative operand: the address is the next instruction's RIP plus disp. */
export const RIP_BASE = 16;

/** The base and index registers of the eight 16-bit r/m encodings (-1: none). */
const BASE16 = [EBX, EBX, EBP, EBP, ESI, EDI, EBP, EBX];
const INDEX16 = [ESI, EDI, ESI, EDI, -1, -1, -1, -1];

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

/** Little-endian unsigned 16-bit displacement. */
function disp16(buf: Uint8Array, p: number): number {
  return buf[p] | (buf[p + 1] << 8);
}

/** Little-endian signed 32-bit displacement. */
function disp32(buf: Uint8Array, p: number): number {
  return buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24);
}

/** The displacement that follows a base: 8 bits sign-extended with mod 01, `wide` bytes (2 or 4) with mod 10. */
function baseDisp(d: Insn, buf: Uint8Array, p: number, end: number, wide: number): number {
  if (d.mod === 1) {
    if (p + 1 > end) return -1;
    d.disp = (buf[p] << 24) >> 24;
    return p + 1;
  }
  if (d.mod === 2) {
    if (p + wide > end) return -1;
    d.disp = wide === 2 ? disp16(buf, p) : disp32(buf, p);
    return p + wide;
  }
  return p;
}

/** Decodes the memory form of ModRM with 16-bit addressing. */
export function modrm16(d: Insn, buf: Uint8Array, p: number, end: number): number {
  const rm = d.rm;
  if (d.mod === 0 && rm === 6) {
    if (p + 2 > end) return -1;
    d.disp = disp16(buf, p);
    return p + 2;
  }
  d.base = BASE16[rm];
  d.index = INDEX16[rm];
  if (d.base === EBP) d.eaSeg = SS;
  return baseDisp(d, buf, p, end, 2);
}

/**
 * Decodes the memory form of ModRM (and SIB) with 32- or 64-bit addressing. In 64-bit mode (`long`) `rex`
 * extends the index and base, and a bare disp32 (mod 00, r/m 101) is RIP-relative.
 */
export function modrmSib(d: Insn, buf: Uint8Array, p: number, end: number, rex: number, long: boolean): number {
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
    if (long) d.base = RIP_BASE;
    return p + 4;
  }
  // rSP and rBP (not R12 and R13) as a base make a stack reference.
  if (!(rex & 1) && (base === 4 || base === 5)) d.eaSeg = SS;
  d.base = base | ((rex & 1) << 3);
  return baseDisp(d, buf, p, end, 4);
}
