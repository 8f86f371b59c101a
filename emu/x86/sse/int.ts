/**
 * Integer SIMD arithmetic on XMM registers (SSE2, SSSE3, SSE4.1/4.2):
 * wrapping and saturating add/subtract, multiplies, PMADDWD, PSADBW, PAVG,
 * minimum/maximum, logic, compares, absolute value and sign, horizontal
 * add/subtract. Each operation is a lane function over the scratch values
 * (R = A op B); `bin` turns it into an instruction.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import type { Exec, Insn } from "../insn.ts";
import { A, B, begin, R, storeReg, type V128 } from "./common.ts";

/** A lane function: computes R from A (destination) and B (source). */
export type Lanes = (a: V128, b: V128, r: V128) => void;

/** The instruction `xmm(reg) = f(xmm(reg), xmm/m128)`. */
export function bin(f: Lanes): Exec {
  return (cpu: Cpu, d: Insn) => {
    begin(cpu, d);
    f(A, B, R);
    storeReg(cpu, d.reg, R);
  };
}

function satS8(v: number): number {
  return v > 127 ? 127 : v < -128 ? -128 : v;
}
function satU8(v: number): number {
  return v > 255 ? 255 : v < 0 ? 0 : v;
}
function satS16(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}
function satU16(v: number): number {
  return v > 65535 ? 65535 : v < 0 ? 0 : v;
}

/** Lane-wise op on `n` lanes of a typed view chosen by `pick`. */
function lanes<T extends Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array>(
  pick: (v: V128) => T,
  op: (x: number, y: number) => number,
): Lanes {
  return (a, b, r) => {
    const x = pick(a), y = pick(b), z = pick(r);
    for (let i = 0; i < z.length; i++) z[i] = op(x[i], y[i]);
  };
}

const u8 = (v: V128) => v.u8, i8 = (v: V128) => v.i8, u16 = (v: V128) => v.u16, i16 = (v: V128) => v.i16;
const u32 = (v: V128) => v.u32, i32 = (v: V128) => v.i32;

/** Adds or subtracts two 64-bit lanes made of dword pairs. */
function q64(sub: boolean): Lanes {
  return (a, b, r) => {
    for (let k = 0; k < 4; k += 2) {
      const lo = sub ? a.u32[k] - b.u32[k] : a.u32[k] + b.u32[k];
      const carry = sub ? (lo < 0 ? -1 : 0) : lo > 0xffffffff ? 1 : 0;
      r.u32[k] = lo;
      r.u32[k + 1] = (sub ? a.u32[k + 1] - b.u32[k + 1] : a.u32[k + 1] + b.u32[k + 1]) + carry;
    }
  };
}

/** The 64-bit product of two unsigned dwords, into `out[at]` (low) and `out[at+1]` (high). */
export function mulU32(x: number, y: number, out: Uint32Array, at: number): void {
  const xl = x & 0xffff, xh = x >>> 16, yl = y & 0xffff, yh = y >>> 16;
  const ll = xl * yl, mid = xh * yl + xl * yh; // mid < 2^33
  const lo = ll + (mid % 65536) * 65536;
  out[at] = lo;
  out[at + 1] = xh * yh + Math.floor(mid / 65536) + Math.floor(lo / 4294967296);
}

/** The 64-bit product of two signed dwords. */
function mulS32(x: number, y: number, out: Uint32Array, at: number): void {
  mulU32(x >>> 0, y >>> 0, out, at);
  // Signed correction: subtract y << 32 when x < 0, x << 32 when y < 0.
  let hi = out[at + 1];
  if (x < 0) hi -= y >>> 0;
  if (y < 0) hi -= x >>> 0;
  out[at + 1] = hi;
}

/** Compares 64-bit signed lanes for PCMPGTQ / equality for PCMPEQQ. */
function cmpq(gt: boolean): Lanes {
  return (a, b, r) => {
    for (let k = 0; k < 4; k += 2) {
      const ah = a.i32[k + 1], bh = b.i32[k + 1];
      const t = gt ? ah > bh || (ah === bh && a.u32[k] > b.u32[k]) : ah === bh && a.u32[k] === b.u32[k];
      r.u32[k] = r.u32[k + 1] = t ? 0xffffffff : 0;
    }
  };
}

/** The lane operations by mnemonic. */
export const INT_OPS: Record<string, Lanes> = {
  paddb: lanes(u8, (x, y) => x + y),
  paddw: lanes(u16, (x, y) => x + y),
  paddd: lanes(u32, (x, y) => x + y),
  paddq: q64(false),
  psubb: lanes(u8, (x, y) => x - y),
  psubw: lanes(u16, (x, y) => x - y),
  psubd: lanes(u32, (x, y) => x - y),
  psubq: q64(true),
  paddsb: lanes(i8, (x, y) => satS8(x + y)),
  paddsw: lanes(i16, (x, y) => satS16(x + y)),
  paddusb: lanes(u8, (x, y) => satU8(x + y)),
  paddusw: lanes(u16, (x, y) => satU16(x + y)),
  psubsb: lanes(i8, (x, y) => satS8(x - y)),
  psubsw: lanes(i16, (x, y) => satS16(x - y)),
  psubusb: lanes(u8, (x, y) => satU8(x - y)),
  psubusw: lanes(u16, (x, y) => satU16(x - y)),
  pmullw: lanes(u16, (x, y) => Math.imul(x, y)),
  pmulhw: lanes(i16, (x, y) => (x * y) >> 16),
  pmulhuw: lanes(u16, (x, y) => (x * y) >>> 16),
  pmulld: lanes(u32, (x, y) => Math.imul(x, y)),
  pmulhrsw: lanes(i16, (x, y) => (((x * y) >> 14) + 1) >> 1),
  pmuludq: (a, b, r) => {
    mulU32(a.u32[0], b.u32[0], r.u32, 0);
    mulU32(a.u32[2], b.u32[2], r.u32, 2);
  },
  pmuldq: (a, b, r) => {
    mulS32(a.i32[0], b.i32[0], r.u32, 0);
    mulS32(a.i32[2], b.i32[2], r.u32, 2);
  },
  pmaddwd: (a, b, r) => {
    for (let i = 0; i < 4; i++) r.i32[i] = a.i16[2 * i] * b.i16[2 * i] + a.i16[2 * i + 1] * b.i16[2 * i + 1];
  },
  pmaddubsw: (a, b, r) => {
    for (let i = 0; i < 8; i++) r.i16[i] = satS16(a.u8[2 * i] * b.i8[2 * i] + a.u8[2 * i + 1] * b.i8[2 * i + 1]);
  },
  psadbw: (a, b, r) => {
    for (let k = 0; k < 2; k++) {
      let s = 0;
      for (let i = 0; i < 8; i++) s += Math.abs(a.u8[8 * k + i] - b.u8[8 * k + i]);
      r.u32[2 * k] = s;
      r.u32[2 * k + 1] = 0;
    }
  },
  pavgb: lanes(u8, (x, y) => (x + y + 1) >> 1),
  pavgw: lanes(u16, (x, y) => (x + y + 1) >> 1),
  pminub: lanes(u8, Math.min),
  pmaxub: lanes(u8, Math.max),
  pminsw: lanes(i16, Math.min),
  pmaxsw: lanes(i16, Math.max),
  pminsb: lanes(i8, Math.min),
  pmaxsb: lanes(i8, Math.max),
  pminuw: lanes(u16, Math.min),
  pmaxuw: lanes(u16, Math.max),
  pminsd: lanes(i32, Math.min),
  pmaxsd: lanes(i32, Math.max),
  pminud: lanes(u32, Math.min),
  pmaxud: lanes(u32, Math.max),
  pand: lanes(u32, (x, y) => x & y),
  pandn: lanes(u32, (x, y) => ~x & y),
  por: lanes(u32, (x, y) => x | y),
  pxor: lanes(u32, (x, y) => x ^ y),
  pcmpeqb: lanes(u8, (x, y) => x === y ? 0xff : 0),
  pcmpeqw: lanes(u16, (x, y) => x === y ? 0xffff : 0),
  pcmpeqd: lanes(u32, (x, y) => x === y ? -1 : 0),
  pcmpeqq: cmpq(false),
  pcmpgtb: lanes(i8, (x, y) => x > y ? -1 : 0),
  pcmpgtw: lanes(i16, (x, y) => x > y ? -1 : 0),
  pcmpgtd: lanes(i32, (x, y) => x > y ? -1 : 0),
  pcmpgtq: cmpq(true),
  psignb: lanes(i8, (x, y) => y < 0 ? -x : y === 0 ? 0 : x),
  psignw: lanes(i16, (x, y) => y < 0 ? -x : y === 0 ? 0 : x),
  psignd: lanes(i32, (x, y) => y < 0 ? -x : y === 0 ? 0 : x),
  pabsb: lanes(i8, (_x, y) => Math.abs(y)),
  pabsw: lanes(i16, (_x, y) => Math.abs(y)),
  pabsd: lanes(i32, (_x, y) => Math.abs(y)),
  phaddw: horizontal(i16, (x, y) => x + y),
  phaddd: horizontal(i32, (x, y) => x + y),
  phaddsw: horizontal(i16, (x, y) => satS16(x + y)),
  phsubw: horizontal(i16, (x, y) => x - y),
  phsubd: horizontal(i32, (x, y) => x - y),
  phsubsw: horizontal(i16, (x, y) => satS16(x - y)),
};

/** Horizontal pairs: the low half of R from pairs of A, the high half from pairs of B. */
function horizontal(pick: (v: V128) => Int16Array | Int32Array, op: (x: number, y: number) => number): Lanes {
  return (a, b, r) => {
    const x = pick(a), y = pick(b), z = pick(r), h = z.length >> 1;
    for (let i = 0; i < h; i++) {
      z[i] = op(x[2 * i], x[2 * i + 1]);
      z[h + i] = op(y[2 * i], y[2 * i + 1]);
    }
  };
}
