/**
 * Integer SIMD rearrangement (SSE2/SSSE3): PSHUFD/PSHUFLW/PSHUFHW,
 * SHUFPS/SHUFPD, the unpacks (PUNPCK*, UNPCK*PS/PD), the packs with
 * saturation, the shifts by an XMM count or an immediate (PSLL/PSRL/PSRA,
 * PSLLDQ/PSRLDQ), PINSRW/PEXTRW, PSHUFB and PALIGNR.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import type { Exec, Insn } from "../insn.ts";
import { A, B, begin, gpr, loadReg, R, sseCheck, storeReg, type V128 } from "./common.ts";
import type { Lanes } from "./int.ts";

/** The instruction `xmm(reg) = f(xmm(reg), xmm/m128, imm8)`. */
export function binImm(f: (a: V128, b: V128, r: V128, imm: number) => void): Exec {
  return (cpu: Cpu, d: Insn) => {
    begin(cpu, d);
    f(A, B, R, d.imm);
    storeReg(cpu, d.reg, R);
  };
}

/** 66 0F 70: PSHUFD xmm, xmm/m128, imm8. */
export const pshufd: Exec = binImm((_a, b, r, imm) => {
  for (let i = 0; i < 4; i++) r.u32[i] = b.u32[(imm >> (2 * i)) & 3];
});

/** PSHUFHW: words 4-7 shuffled, 0-3 copied. */
export const pshufhw: Exec = binImm((_a, b, r, imm) => {
  r.u32[0] = b.u32[0];
  r.u32[1] = b.u32[1];
  for (let i = 0; i < 4; i++) r.u16[4 + i] = b.u16[4 + ((imm >> (2 * i)) & 3)];
});

/** PSHUFLW: words 0-3 shuffled, 4-7 copied. */
export const pshuflw: Exec = binImm((_a, b, r, imm) => {
  r.u32[2] = b.u32[2];
  r.u32[3] = b.u32[3];
  for (let i = 0; i < 4; i++) r.u16[i] = b.u16[(imm >> (2 * i)) & 3];
});

/** 0F C6: SHUFPS. */
export const shufps: Exec = binImm((a, b, r, imm) => {
  r.u32[0] = a.u32[imm & 3];
  r.u32[1] = a.u32[(imm >> 2) & 3];
  r.u32[2] = b.u32[(imm >> 4) & 3];
  r.u32[3] = b.u32[(imm >> 6) & 3];
});

/** 66 0F C6: SHUFPD. */
export const shufpd: Exec = binImm((a, b, r, imm) => {
  const x = (imm & 1) * 2, y = ((imm >> 1) & 1) * 2;
  r.u32[0] = a.u32[x];
  r.u32[1] = a.u32[x + 1];
  r.u32[2] = b.u32[y];
  r.u32[3] = b.u32[y + 1];
});

/** Interleaves elements of `size` bytes from the low (high = false) or high halves of A and B. */
function unpack(size: number, high: boolean): Lanes {
  return (a, b, r) => {
    const n = 8 / size, from = high ? 8 : 0;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < size; k++) {
        r.u8[2 * i * size + k] = a.u8[from + i * size + k];
        r.u8[(2 * i + 1) * size + k] = b.u8[from + i * size + k];
      }
    }
  };
}

function sat(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Packs signed words to bytes (signed or unsigned saturation) or dwords to words. */
function pack(kind: "sswb" | "uswb" | "ssdw" | "usdw"): Lanes {
  return (a, b, r) => {
    if (kind === "sswb" || kind === "uswb") {
      const [lo, hi] = kind === "sswb" ? [-128, 127] : [0, 255];
      for (let i = 0; i < 8; i++) {
        r.u8[i] = sat(a.i16[i], lo, hi);
        r.u8[8 + i] = sat(b.i16[i], lo, hi);
      }
    } else {
      const [lo, hi] = kind === "ssdw" ? [-32768, 32767] : [0, 65535];
      for (let i = 0; i < 4; i++) {
        r.u16[i] = sat(a.i32[i], lo, hi);
        r.u16[4 + i] = sat(b.i32[i], lo, hi);
      }
    }
  };
}

/** The rearranging lane operations by mnemonic. */
export const SHUFFLE_OPS: Record<string, Lanes> = {
  punpcklbw: unpack(1, false),
  punpcklwd: unpack(2, false),
  punpckldq: unpack(4, false),
  punpcklqdq: unpack(8, false),
  punpckhbw: unpack(1, true),
  punpckhwd: unpack(2, true),
  punpckhdq: unpack(4, true),
  punpckhqdq: unpack(8, true),
  packsswb: pack("sswb"),
  packuswb: pack("uswb"),
  packssdw: pack("ssdw"),
  packusdw: pack("usdw"),
  pshufb: (a, b, r) => {
    for (let i = 0; i < 16; i++) r.u8[i] = b.u8[i] & 0x80 ? 0 : a.u8[b.u8[i] & 15];
  },
};

/** Shifts every lane of `size` bytes of `v` by `count` bits: kind 0 logical right, 1 arithmetic right, 2 left. */
function shiftLanes(v: V128, size: number, kind: number, count: number): void {
  if (size === 8) {
    for (let k = 0; k < 4; k += 2) {
      const lo = v.u32[k], hi = v.u32[k + 1];
      if (count > 63) v.u32[k] = v.u32[k + 1] = 0;
      else if (count >= 32) {
        v.u32[k] = kind === 2 ? 0 : hi >>> (count - 32);
        v.u32[k + 1] = kind === 2 ? lo << (count - 32) : 0;
      } else if (count > 0) {
        v.u32[k] = kind === 2 ? lo << count : (lo >>> count) | (hi << (32 - count));
        v.u32[k + 1] = kind === 2 ? (hi << count) | (lo >>> (32 - count)) : hi >>> count;
      }
    }
    return;
  }
  const bits = size * 8;
  const u = size === 2 ? v.u16 : v.u32, s = size === 2 ? v.i16 : v.i32;
  for (let i = 0; i < u.length; i++) {
    if (kind === 1) s[i] = s[i] >> (count >= bits ? bits - 1 : count);
    else if (count >= bits) u[i] = 0;
    else u[i] = kind === 2 ? u[i] << count : u[i] >>> count;
  }
}

/** The shift count of an XMM/m128 operand: its low qword, saturated. */
function count(b: V128): number {
  return b.u32[1] !== 0 || b.u32[0] > 255 ? 255 : b.u32[0];
}

/** 66 0F D1-D3, E1-E2, F1-F3: PSRL/PSRA/PSLL W/D/Q xmm, xmm/m128. */
export function shiftByXmm(size: number, kind: number): Exec {
  return (cpu: Cpu, d: Insn) => {
    begin(cpu, d);
    shiftLanes(A, size, kind, count(B));
    storeReg(cpu, d.reg, A);
  };
}

/** 66 0F 71-73 /2 /4 /6: PSRL/PSRA/PSLL W/D/Q xmm, imm8. */
export function shiftByImm(size: number, kind: number): Exec {
  return (cpu: Cpu, d: Insn) => {
    sseCheck(cpu);
    loadReg(cpu, d.rm, A);
    shiftLanes(A, size, kind, d.imm);
    storeReg(cpu, d.rm, A);
  };
}

/** 66 0F 73 /3 and /7: PSRLDQ / PSLLDQ xmm, imm8 (bytes). */
export function shiftBytes(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  loadReg(cpu, d.rm, A);
  const n = d.imm > 16 ? 16 : d.imm, left = d.reg === 7;
  for (let i = 0; i < 16; i++) {
    const j = left ? i - n : i + n;
    R.u8[i] = j >= 0 && j < 16 ? A.u8[j] : 0;
  }
  storeReg(cpu, d.rm, R);
}

/** 66 0F 3A 0F: PALIGNR xmm, xmm/m128, imm8: bytes imm.. of the 32-byte value A:B. */
export const palignr: Exec = binImm((a, b, r, imm) => {
  for (let i = 0; i < 16; i++) {
    const j = i + imm;
    r.u8[i] = j < 16 ? b.u8[j] : j < 32 ? a.u8[j - 16] : 0;
  }
});

/** 66 0F C4: PINSRW xmm, r32/m16, imm8. */
export function pinsrw(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  const v = d.mod === 3 ? gpr(cpu, d.rm) : cpu.read(cpu.seg(d), cpu.ea(d), 2);
  cpu.xmm.u16[(d.reg << 3) + (d.imm & 7)] = v;
}

/** 66 0F C5: PEXTRW r32, xmm, imm8. */
export function pextrw(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  cpu.setReg(d.reg, 4, cpu.xmm.u16[(d.rm << 3) + (d.imm & 7)]);
}
