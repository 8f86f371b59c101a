/**
 * The table-driven decoder: prefixes, the one-byte and 0F opcode maps
 * (data, in optable.ts), ModRM/SIB effective addresses and immediates, into
 * an `Insn` record.
 *
 * @module
 */
import { B, I8, I8S, IA, IE, IP, IV, IW, M, MEMONLY, type OpSpec, REGONLY } from "./insn.ts";
import { Insn } from "./insn.ts";
import { DS, EBP, EBX, EDI, ESI, ESP, SS } from "./state.ts";
import { execUd, execUnimplemented } from "./fault.ts";

const BASE16 = [EBX, EBX, EBP, EBP, ESI, EDI, EBP, EBX];
const INDEX16 = [ESI, EDI, ESI, EDI, -1, -1, -1, -1];
const SEG_PREFIX: Record<number, number> = { 0x26: 0, 0x2e: 1, 0x36: 2, 0x3e: 3, 0x64: 4, 0x65: 5 };

/** The maps the decoder reads: 256 one-byte entries and 256 0F entries. */
export interface OpMaps {
  readonly one: readonly (OpSpec | undefined)[];
  readonly two: readonly (OpSpec | undefined)[];
}

/** Signals that the bytes given ran out before the instruction ended. */
export const NEED_MORE = 0;

/**
 * Decodes one instruction from `buf[pos..end)` for a code segment of
 * default size `mode` (2 or 4). Returns the record, or null when more bytes
 * are needed. Invalid encodings decode to a #UD record; valid ones the core
 * lacks decode to an internal-error record.
 */
export function decode(maps: OpMaps, buf: Uint8Array, pos: number, end: number, mode: number): Insn | null {
  const d = new Insn(execUnimplemented);
  d.mode = mode;
  let osize = mode, asize = mode, p = pos, op: number;
  for (;;) {
    if (p >= end) return null;
    if (p - pos >= 15) return finish(d, execUd, p - pos + 1, 0);
    op = buf[p++];
    if (op === 0x66) osize = mode ^ 6;
    else if (op === 0x67) asize = mode ^ 6;
    else if (op === 0xf2 || op === 0xf3) d.rep = op;
    else if (op === 0xf0) d.lock = true;
    else if (op in SEG_PREFIX) d.seg = SEG_PREFIX[op];
    else break;
  }
  let spec: OpSpec | undefined;
  if (op === 0x0f) {
    if (p >= end) return null;
    op = 0x100 | buf[p++];
    spec = maps.two[op & 0xff];
  } else {
    spec = maps.one[op];
  }
  d.op = op;
  d.osize = osize;
  d.asize = asize;
  if (!spec) return finish(d, execUnimplemented, p - pos, 0);
  let f = spec.f;
  if (f & M) {
    if (p >= end) return null;
    const modrm = buf[p++];
    d.mod = modrm >> 6;
    d.reg = (modrm >> 3) & 7;
    d.rm = modrm & 7;
    if (spec.group) {
      const g = spec.group[d.reg];
      if (!g) return finish(d, execUnimplemented, p - pos, 0);
      f |= g.f;
      spec = g;
    }
    if (d.mod !== 3 && !(f & REGONLY)) {
      const q = asize === 2 ? modrm16(d, buf, p, end) : modrm32(d, buf, p, end);
      if (q < 0) return null;
      p = q;
    } else if (f & MEMONLY) {
      return finish(d, execUd, p - pos, 0);
    }
  }
  d.size = f & B ? 1 : osize;
  if (f & (I8 | I8S | IV | IW | IA | IP | IE)) {
    let n = 0;
    if (f & (I8 | I8S)) n = 1;
    else if (f & IV) n = osize;
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
    } else {
      d.imm = le(buf, p, n);
    }
    p += n;
  }
  if (p - pos > 15) return finish(d, execUd, 15, 0);
  return finish(d, spec.exec ?? execUnimplemented, p - pos, 1);
}

function finish(d: Insn, exec: Insn["exec"], len: number, _ok: number): Insn {
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

function modrm16(d: Insn, buf: Uint8Array, p: number, end: number): number {
  const rm = d.rm;
  if (d.mod === 0 && rm === 6) {
    if (p + 2 > end) return -1;
    d.disp = le(buf, p, 2);
    return p + 2;
  }
  d.base = BASE16[rm];
  d.index = INDEX16[rm];
  if (d.base === EBP) d.eaSeg = SS;
  if (d.mod === 1) {
    if (p + 1 > end) return -1;
    d.disp = (buf[p] << 24) >> 24;
    return p + 1;
  }
  if (d.mod === 2) {
    if (p + 2 > end) return -1;
    d.disp = le(buf, p, 2);
    return p + 2;
  }
  return p;
}

function modrm32(d: Insn, buf: Uint8Array, p: number, end: number): number {
  let base = d.rm;
  if (base === 4) {
    if (p + 1 > end) return -1;
    const sib = buf[p++];
    d.scale = sib >> 6;
    const index = (sib >> 3) & 7;
    d.index = index === 4 ? -1 : index;
    base = sib & 7;
    if (base === 5 && d.mod === 0) {
      if (p + 4 > end) return -1;
      d.disp = le(buf, p, 4) | 0;
      d.eaSeg = DS;
      return p + 4;
    }
  } else if (base === 5 && d.mod === 0) {
    if (p + 4 > end) return -1;
    d.disp = le(buf, p, 4) | 0;
    return p + 4;
  }
  d.base = base;
  if (base === ESP || base === EBP) d.eaSeg = SS;
  if (d.mod === 1) {
    if (p + 1 > end) return -1;
    d.disp = (buf[p] << 24) >> 24;
    return p + 1;
  }
  if (d.mod === 2) {
    if (p + 4 > end) return -1;
    d.disp = le(buf, p, 4) | 0;
    return p + 4;
  }
  return p;
}
