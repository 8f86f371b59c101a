/**
 * AES-NI (AESENC, AESENCLAST, AESDEC, AESDECLAST, AESIMC,
 * AESKEYGENASSIST) and PCLMULQDQ. The S-boxes are computed at load time
 * from the field inverse and the affine map of FIPS-197. The AES state is
 * the XMM register with byte i at row i % 4, column i / 4.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import type { Exec, Insn } from "../insn.ts";
import { A, B, begin, loadB, R, sseCheck, storeReg, type V128 } from "./common.ts";

/** Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1. */
function gmul(a: number, b: number): number {
  let p = 0;
  for (let i = 0; i < 8; i++) {
    if (b & 1) p ^= a;
    const hi = a & 0x80;
    a = (a << 1) & 0xff;
    if (hi) a ^= 0x1b;
    b >>= 1;
  }
  return p;
}

const SBOX = new Uint8Array(256), INV_SBOX = new Uint8Array(256);
for (let x = 0; x < 256; x++) {
  let inv = 0;
  for (let y = 1; y < 256 && x; y++) {
    if (gmul(x, y) === 1) {
      inv = y;
      break;
    }
  }
  let s = inv;
  for (let k = 1; k < 5; k++) s ^= ((inv << k) | (inv >> (8 - k))) & 0xff;
  s ^= 0x63;
  SBOX[x] = s;
  INV_SBOX[s] = x;
}

const T = new Uint8Array(16);

/** ShiftRows (or its inverse) and SubBytes (or its inverse) of v into T. */
function shiftSub(v: V128, inverse: boolean): void {
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      const from = inverse ? (c - r + 4) & 3 : (c + r) & 3;
      const b = v.u8[r + 4 * from];
      T[r + 4 * c] = inverse ? INV_SBOX[b] : SBOX[b];
    }
  }
}

/** MixColumns (or InvMixColumns) of T in place. */
function mix(inverse: boolean): void {
  const k = inverse ? [14, 11, 13, 9] : [2, 3, 1, 1];
  for (let c = 0; c < 4; c++) {
    const s = [T[4 * c], T[4 * c + 1], T[4 * c + 2], T[4 * c + 3]];
    for (let r = 0; r < 4; r++) {
      T[4 * c + r] = gmul(s[r], k[0]) ^ gmul(s[(r + 1) & 3], k[1]) ^ gmul(s[(r + 2) & 3], k[2]) ^
        gmul(s[(r + 3) & 3], k[3]);
    }
  }
}

/** 66 0F38 DC-DF: AESENC / AESENCLAST / AESDEC / AESDECLAST xmm, xmm/m128. */
export function aesRound(decrypt: boolean, last: boolean): Exec {
  return (cpu: Cpu, d: Insn) => {
    begin(cpu, d);
    shiftSub(A, decrypt);
    if (!last) mix(decrypt);
    for (let i = 0; i < 16; i++) R.u8[i] = T[i] ^ B.u8[i];
    storeReg(cpu, d.reg, R);
  };
}

/** 66 0F38 DB: AESIMC xmm, xmm/m128. */
export function aesimc(cpu: Cpu, d: Insn): void {
  begin(cpu, d);
  T.set(B.u8);
  mix(true);
  R.u8.set(T);
  storeReg(cpu, d.reg, R);
}

function subWord(w: number): number {
  return (SBOX[w & 0xff] | (SBOX[(w >>> 8) & 0xff] << 8) | (SBOX[(w >>> 16) & 0xff] << 16) |
    (SBOX[w >>> 24] << 24)) >>> 0;
}

/** 66 0F3A DF: AESKEYGENASSIST xmm, xmm/m128, imm8. */
export function aeskeygenassist(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  loadB(cpu, d, true);
  const x1 = subWord(B.u32[1]), x3 = subWord(B.u32[3]);
  R.u32[0] = x1;
  R.u32[1] = ((x1 >>> 8) | (x1 << 24)) ^ d.imm;
  R.u32[2] = x3;
  R.u32[3] = ((x3 >>> 8) | (x3 << 24)) ^ d.imm;
  storeReg(cpu, d.reg, R);
}

const P = new Uint32Array(2);

/** The carry-less product of two dwords into P[0] (low), P[1] (high). */
function clmul32(a: number, b: number): void {
  let lo = 0, hi = 0;
  for (let i = 0; i < 32; i++) {
    if ((b >>> i) & 1) {
      lo ^= a << i;
      if (i) hi ^= a >>> (32 - i);
    }
  }
  P[0] = lo;
  P[1] = hi;
}

/** 66 0F3A 44: PCLMULQDQ xmm, xmm/m128, imm8 (imm bit 0 picks A's qword, bit 4 B's). */
export function pclmulqdq(cpu: Cpu, d: Insn): void {
  begin(cpu, d);
  const ai = (d.imm & 1) * 2, bi = ((d.imm >> 4) & 1) * 2;
  const al = A.u32[ai], ah = A.u32[ai + 1], bl = B.u32[bi], bh = B.u32[bi + 1];
  clmul32(al, bl);
  const r0 = P[0], r1a = P[1];
  clmul32(ah, bh);
  const r2a = P[0], r3 = P[1];
  clmul32(al, bh);
  let r1 = r1a ^ P[0], r2 = r2a ^ P[1];
  clmul32(ah, bl);
  r1 ^= P[0];
  r2 ^= P[1];
  R.u32[0] = r0;
  R.u32[1] = r1;
  R.u32[2] = r2;
  R.u32[3] = r3;
  storeReg(cpu, d.reg, R);
}
