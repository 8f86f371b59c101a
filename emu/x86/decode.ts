/**
 * The table-driven decoder: prefixes, the one-byte, 0F, 0F38 and 0F3A
 * opcode maps (data, in optable.ts) with mandatory-prefix selection, the VEX
 * prefix, ModRM/SIB effective addresses (modrm.ts) and immediates, into
 * an `Insn` record.
 *
 * @module
 */
import { B, D64, I64, I8, I8S, IA, IE, IP, IV, IW, M, MEMONLY, type OpSpec, REGONLY } from "./insn.ts";
import { Insn } from "./insn.ts";
import { execUd, execUnimplemented } from "./fault.ts";
import { modrm16, modrmSib, rexModrm } from "./modrm.ts";
import { isRmw } from "./rmw.ts";

const SEG_PREFIX: Record<number, number> = { 0x26: 0, 0x2e: 1, 0x36: 2, 0x3e: 3, 0x64: 4, 0x65: 5 };

/** The maps the decoder reads: 256 entries each for the one-byte, 0F, 0F38 and 0F3A maps. */
export interface OpMaps {
  readonly one: readonly (OpSpec | undefined)[];
  readonly two: readonly (OpSpec | undefined)[];
  readonly three38: readonly (OpSpec | undefined)[];
  readonly three3a: readonly (OpSpec | undefined)[];
  /** VEX-encoded opcodes by VEX.mmmmm (1: 0F, 2: 0F38, 3: 0F3A). */
  readonly vex: readonly (readonly (OpSpec | undefined)[] | undefined)[];
}

/**
 * Decodes one instruction from `buf[pos..end)` for a code segment of
 * default size `mode` (2 or 4; 8 in 64-bit mode, with REX). Returns the record, or null when more bytes
 * are needed. Invalid encodings decode to a #UD record; valid ones the core
 * lacks decode to an internal-error record.
 */
export function decode(maps: OpMaps, buf: Uint8Array, pos: number, end: number, mode: number): Insn | null {
  const d = new Insn(execUnimplemented);
  d.mode = mode;
  let osize = mode === 8 ? 4 : mode, asize = mode, p = pos, op: number, p66 = false, rex = 0;
  for (;;) {
    if (p >= end) return null;
    if (p - pos >= 15) return finish(d, execUd, p - pos + 1);
    op = buf[p++];
    if (mode === 8 && (op & 0xf0) === 0x40) {
      rex = op; // REX counts only as the last prefix: a legacy prefix after it clears it below.
      continue;
    }
    if (op === 0x66) {
      osize = mode === 2 ? 4 : 2;
      p66 = true;
    } else if (op === 0x67) asize = mode === 4 ? 2 : 4;
    else if (op === 0xf2 || op === 0xf3) d.rep = op;
    else if (op === 0xf0) d.lock = true;
    else if (op in SEG_PREFIX) d.seg = mode === 8 && SEG_PREFIX[op] < 4 ? -1 : SEG_PREFIX[op];
    else break;
    rex = 0;
  }
  if (rex & 8) osize = 8;
  d.rex = rex;
  let spec: OpSpec | undefined;
  // The mandatory prefix (F2/F3 win over 66): index into OpSpec.pfx.
  let pfx = d.rep === 0xf3 ? 2 : d.rep === 0xf2 ? 3 : p66 ? 1 : 0;
  if (op === 0x0f) {
    if (p >= end) return null;
    op = 0x100 | buf[p++];
    if (op === 0x138 || op === 0x13a) {
      if (p >= end) return null;
      op = (op === 0x138 ? 0x200 : 0x300) | buf[p++];
      spec = (op < 0x300 ? maps.three38 : maps.three3a)[op & 0xff];
    } else {
      spec = maps.two[op & 0xff];
    }
  } else if ((op === 0xc4 || op === 0xc5) && (p < end ? mode === 8 || buf[p] >= 0xc0 : true)) {
    // VEX (outside 64-bit mode only when the next byte's top bits are 11: LES/LDS otherwise).
    const n = op === 0xc4 ? 3 : 2;
    if (p + n > end) return null;
    const b1 = buf[p], b2 = op === 0xc4 ? buf[p + 1] : b1;
    const map = op === 0xc4 ? b1 & 0x1f : 1;
    if (d.rep || d.lock || p66 || rex) return finish(d, execUd, p - pos + n);
    d.vex = 1;
    d.vexW = op === 0xc4 ? b2 >> 7 : 0;
    if (mode === 8) {
      // VEX.R, X, B (inverted) and W act as REX would.
      rex = 0x40 | ((~b1 >> 5) & 4) | (op === 0xc4 ? ((~b1 >> 5) & 3) | (d.vexW << 3) : 0);
      d.rex = rex;
      if (d.vexW) osize = 8;
    }
    d.vvvv = (~b2 >> 3) & (mode === 8 ? 15 : 7);
    d.vexL = (b2 >> 2) & 1;
    pfx = b2 & 3;
    p += n - 1;
    op = (map === 2 ? 0x200 : map === 3 ? 0x300 : 0x100) | buf[p++];
    spec = map >= 1 && map <= 3 ? maps.vex[map]?.[op & 0xff] : undefined;
  } else {
    spec = maps.one[op];
  }
  if (spec?.pfx) spec = spec.pfx[pfx];
  d.op = op;
  d.osize = osize;
  d.asize = asize;
  if (!spec) return finish(d, execUnimplemented, p - pos);
  let f = spec.f;
  if (mode === 8 && f & D64 && osize === 4) d.osize = osize = 8;
  if (f & M) {
    if (p >= end) return null;
    const modrm = buf[p++];
    d.mod = modrm >> 6;
    d.reg = (modrm >> 3) & 7;
    d.rm = modrm & 7;
    const grouped = spec.group !== undefined;
    if (d.mod === 3 && spec.regForm) {
      const g = spec.regForm[modrm & 0x3f];
      if (!g) return finish(d, execUnimplemented, p - pos);
      f |= g.f;
      spec = g;
    } else if (spec.group) {
      const g = spec.group[d.reg];
      if (!g) return finish(d, execUnimplemented, p - pos);
      f |= g.f;
      spec = g;
      if (mode === 8 && f & D64 && osize === 4) d.osize = osize = 8;
    }
    if (rex) rexModrm(d, rex, f, grouped);
    if (d.mod !== 3 && !d.vex) d.rmw = isRmw(op, (modrm >> 3) & 7);
    if (d.mod !== 3 && !(f & REGONLY)) {
      const q = asize === 2 ? modrm16(d, buf, p, end) : modrmSib(d, buf, p, end, rex, mode === 8);
      if (q < 0) return null;
      p = q;
    } else if (f & MEMONLY) {
      return finish(d, execUd, p - pos);
    }
  }
  d.size = f & B ? 1 : osize;
  if (f & (I8 | I8S | IV | IW | IA | IP | IE)) {
    let n = 0;
    if (f & (I8 | I8S)) n = 1;
    else if (f & IV) n = osize === 8 ? (f & I64 ? 8 : 4) : osize;
    else if (f & IW) n = 2;
    else if (f & IA) n = asize;
    else if (f & IP) n = osize + 2;
    else n = 3;
    if (p + n > end) return null;
    if (f & IP) {
      d.imm = le(buf, p, osize);
      d.imm2 = le(buf, p + osize, 2);
    } else if (f & IE) {
      d.imm = le(buf, p, 2);
      d.imm2 = buf[p + 2];
    } else if (f & I8S) {
      d.imm = ((buf[p] << 24) >> 24) & (osize === 2 && !(f & B) ? 0xffff : 0xffffffff);
      if (f & B) d.imm &= 0xff;
      d.imm >>>= 0;
    } else if (n === 8) {
      d.imm = le(buf, p, 4);
      d.imm2 = le(buf, p + 4, 4);
    } else {
      d.imm = le(buf, p, n);
    }
    // A 32- or 8-bit immediate of a 64-bit operation is sign-extended: imm2 is its high half.
    if (osize === 8 && n !== 8 && f & (IV | I8S) && !(f & B)) d.imm2 = d.imm & 0x80000000 ? 0xffffffff : 0;
    p += n;
  }
  if (p - pos > 15) return finish(d, execUd, 15);
  const exec = d.size === 8 ? spec.exec64 : spec.exec;
  if (exec) d.jit = (d.size === 8 ? spec.jit64 : spec.jit) ?? "";
  return finish(d, exec ?? execUnimplemented, p - pos);
}

function finish(d: Insn, exec: Insn["exec"], len: number): Insn {
  d.exec = exec;
  d.len = len;
  return d;
}

/** Little-endian unsigned integer of n (1-4) bytes. */
function le(buf: Uint8Array, p: number, n: number): number {
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + buf[p + i];
  return v;
}
