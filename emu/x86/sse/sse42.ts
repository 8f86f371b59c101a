/**
 * SSE4.2 string and checksum instructions: PCMPESTRI, PCMPESTRM,
 * PCMPISTRI, PCMPISTRM (explicit or implicit lengths, the four
 * aggregations, polarity, index or mask output, and their flags) and CRC32
 * (the Castagnoli polynomial, bit-reflected).
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { CF, OF, SF, ZF } from "../flags.ts";
import type { Exec, Insn } from "../insn.ts";
import { EAX, ECX, EDX } from "../state.ts";
import { A, B, loadB, loadReg, R, readRmQ, sseCheck, storeReg } from "./common.ts";

const CRC_TABLE = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  CRC_TABLE[i] = c;
}

function crcBytes(c: number, v: number, n: number): number {
  for (let i = 0; i < n; i++) {
    c = (c >>> 8) ^ CRC_TABLE[(c ^ v) & 0xff];
    v = Math.floor(v / 256);
  }
  return c >>> 0;
}

/** F2 0F38 F0/F1: CRC32 r32, r/m8 / r/m16 / r/m32. */
export function crc32(cpu: Cpu, d: Insn): void {
  let c = cpu.r32[d.reg << 1];
  if (d.op === 0x2f1 && d.osize === 8) {
    // CRC32 r64, r/m64: eight bytes; the result is zero-extended.
    const q = readRmQ(cpu, d);
    c = crcBytes(crcBytes(c, q[0], 4), q[1], 4);
  } else {
    const size = d.op === 0x2f0 ? 1 : d.osize === 2 ? 2 : 4;
    c = crcBytes(c, cpu.readRmSize(d, size), size);
  }
  cpu.setReg(d.reg, 4, c);
}

/** Element i of v in the format of imm[1:0]. */
function elem(v: typeof A, i: number, fmt: number): number {
  return fmt === 0 ? v.u8[i] : fmt === 1 ? v.u16[i] : fmt === 2 ? v.i8[i] : v.i16[i];
}

/** The number of valid elements before the first zero element (implicit length). */
function implicitLength(v: typeof A, n: number, fmt: number): number {
  for (let i = 0; i < n; i++) if (elem(v, i, fmt) === 0) return i;
  return n;
}

/** An explicit length register: its absolute value, saturated to n. */
function explicitLength(r: number, n: number): number {
  const a = Math.abs(r | 0);
  return a > n ? n : a;
}

/** PCMPxSTRx: `explicit` lengths in EAX/EDX (else up to a zero element); `index` output (else mask). */
export function pcmpstr(explicit: boolean, index: boolean): Exec {
  return (cpu: Cpu, d: Insn) => {
    sseCheck(cpu);
    loadReg(cpu, d.reg, A);
    loadB(cpu, d, false);
    const imm = d.imm, fmt = imm & 3, n = fmt & 1 ? 8 : 16, agg = (imm >> 2) & 3, pol = (imm >> 4) & 3;
    const la = explicit ? explicitLength(cpu.r32[EAX << 1], n) : implicitLength(A, n, fmt);
    const lb = explicit ? explicitLength(cpu.r32[EDX << 1], n) : implicitLength(B, n, fmt);
    let res = 0;
    for (let i = 0; i < n; i++) {
      let bit = 0;
      const bi = elem(B, i, fmt);
      if (agg === 0) {
        for (let j = 0; j < la && !bit; j++) if (i < lb && elem(A, j, fmt) === bi) bit = 1;
      } else if (agg === 1) {
        // Pairs (low, high) of A; an invalid element makes its comparison false.
        for (let j = 0; j + 1 < la && i < lb && !bit; j += 2) {
          if (elem(A, j, fmt) <= bi && bi <= elem(A, j + 1, fmt)) bit = 1;
        }
      } else if (agg === 2) {
        const va = i < la, vb = i < lb;
        bit = !va && !vb ? 1 : va && vb ? (elem(A, i, fmt) === bi ? 1 : 0) : 0;
      } else {
        bit = 1;
        for (let j = 0; j < n - i && bit; j++) {
          if (j >= la) break;
          if (i + j >= lb) bit = 0;
          else if (elem(A, j, fmt) !== elem(B, i + j, fmt)) bit = 0;
        }
      }
      res |= bit << i;
    }
    const all = (1 << n) - 1;
    if (pol === 1) res ^= all;
    else if (pol === 3) res ^= (1 << lb) - 1;
    if (index) {
      let idx = n;
      if (res) idx = imm & 0x40 ? 31 - Math.clz32(res) : 31 - Math.clz32(res & -res);
      cpu.setReg(ECX, 4, idx);
    } else {
      R.u32.fill(0);
      if (imm & 0x40) {
        for (let i = 0; i < n; i++) {
          if ((res >> i) & 1) {
            if (n === 16) R.u8[i] = 0xff;
            else R.u16[i] = 0xffff;
          }
        }
      } else R.u16[0] = res;
      storeReg(cpu, 0, R);
    }
    cpu.setArith((res ? CF : 0) | (lb < n ? ZF : 0) | (la < n ? SF : 0) | (res & 1 ? OF : 0));
  };
}
