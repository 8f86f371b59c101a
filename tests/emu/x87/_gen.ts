/**
 * The random side of the x87 differential harness (_diff.ts): x87 instructions by form (register, memory,
 * loads, stores, environment saves), operand values that reach the edges (zeros, denormals, unnormals,
 * infinities, NaNs, pseudo-denormals, integers at their limits, packed BCD), random control and status words, and
 * {@linkcode genCase}, which draws one case: a random FXRSTOR image and a short instruction stream.
 *
 * @module
 */
import { F64_HI_BOUNDS, type Prng } from "../sse/_diff.ts";

/** Bytes per case record. */
export const RECORD = 2048;
/** Record layout. */
export const IN_FX = 0, OUT_FX = 0x200, MEM = 0x400, IN_RFLAGS = 0x480, IN_RAX = 0x488, OUT_RFLAGS = 0x490;
export const OUT_RAX = 0x498, OUT_ENV = 0x4a0, MF_INFO = 0x4c0, SAVE = 0x500, SAVE_END = 0x800;
export function hexBytes(h: string): number[] {
  return h.match(/../g)!.map((b) => parseInt(b, 16));
}

/** The kind of value an instruction reads from its operand slot. */
export type Kind = "f32" | "f64" | "f80" | "i16" | "i32" | "i64" | "bcd" | "cw";

/** One instruction of a stream: its assembly, bytes, and what it reads or writes. */
export interface X87Insn {
  asm: string;
  bytes: number[];
  /** The operand slot (0-7, 16 bytes each at rsi) and the kind of value it is loaded with. */
  load?: { slot: number; kind: Kind };
  /** Bytes of the save area (from its start) that hold the host's selectors after this instruction. */
  selectors?: readonly number[];
}

/** One case: the record's initial bytes and the stream. */
export interface X87Case {
  record: Uint8Array;
  insns: X87Insn[];
}

/** Options of {@linkcode genCase}. */
export interface GenOptions {
  /** Include FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1. */
  transcendentals?: boolean;
  /** The longest stream (default 6). */
  maxLength?: number;
  /** Leave out what the emulator is known to get wrong (see {@linkcode KNOWN_ISSUES}): nothing at present. */
  avoidKnown?: boolean;
}

/**
 * Where the emulator and the AMD host disagree, found by this harness and not fixed yet; `avoidKnown` keeps
 * clear of them. Remove an entry (and its part of `avoidKnown`) when the emulator is fixed.
 */
export const KNOWN_ISSUES: readonly string[] = [];

export const ARITH = ["fadd", "fmul", "fcom", "fcomp", "fsub", "fsubr", "fdiv", "fdivr"];
export const IARITH = ["fiadd", "fimul", "ficom", "ficomp", "fisub", "fisubr", "fidiv", "fidivr"];

/** [opcode, /reg, mnemonic, kind] of the memory forms that read a value. */
export const LOADS: readonly [number, number, string, Kind][] = [
  ...ARITH.map((m, i): [number, number, string, Kind] => [0xd8, i, `${m} dword`, "f32"]),
  ...ARITH.map((m, i): [number, number, string, Kind] => [0xdc, i, `${m} qword`, "f64"]),
  ...IARITH.map((m, i): [number, number, string, Kind] => [0xda, i, `${m} dword`, "i32"]),
  ...IARITH.map((m, i): [number, number, string, Kind] => [0xde, i, `${m} word`, "i16"]),
  [0xd9, 0, "fld dword", "f32"],
  [0xdd, 0, "fld qword", "f64"],
  [0xdb, 5, "fld tword", "f80"],
  [0xdf, 0, "fild word", "i16"],
  [0xdb, 0, "fild dword", "i32"],
  [0xdf, 5, "fild qword", "i64"],
  [0xdf, 4, "fbld", "bcd"],
  [0xd9, 5, "fldcw", "cw"],
];

/** [opcode, /reg, mnemonic] of the memory forms that store into a slot. */
export const STORES: readonly [number, number, string][] = [
  [0xd9, 2, "fst dword"],
  [0xd9, 3, "fstp dword"],
  [0xdd, 2, "fst qword"],
  [0xdd, 3, "fstp qword"],
  [0xdb, 7, "fstp tword"],
  [0xdf, 2, "fist word"],
  [0xdf, 3, "fistp word"],
  [0xdb, 2, "fist dword"],
  [0xdb, 3, "fistp dword"],
  [0xdf, 7, "fistp qword"],
  [0xdf, 1, "fisttp word"],
  [0xdb, 1, "fisttp dword"],
  [0xdd, 1, "fisttp qword"],
  [0xdf, 6, "fbstp"],
  [0xd9, 7, "fnstcw"],
  [0xdd, 7, "fnstsw"],
];

/**
 * The save-area forms: bytes, mnemonic, bytes of the save area that hold selectors (or MXCSR_MASK) after them.
 * FXSAVE writes at rdi + 256, beyond the 108 bytes FRSTOR and FLDENV read, so its MXCSR_MASK is never loaded.
 */
export const SAVES: readonly [number[], string, number[]][] = [
  [[0xd9, 0x27], "fldenv [rdi]", []],
  [[0xdd, 0x27], "frstor [rdi]", []],
  [[0xd9, 0x37], "fnstenv [rdi]", [16, 17, 24, 25]],
  [[0xdd, 0x37], "fnsave [rdi]", [16, 17, 24, 25]],
  [[0x0f, 0xae, 0x87, 0, 1, 0, 0], "fxsave [rdi+256]", [268, 269, 276, 277, 284, 285, 286, 287]],
  [[0x48, 0x0f, 0xae, 0x87, 0, 1, 0, 0], "fxsave64 [rdi+256]", [284, 285, 286, 287]],
];

/** Register forms: [first byte, second byte, mnemonic] with `i` standing for ST(i) where it appears. */
export function registerForms(trans: boolean): [number, number, string][] {
  const f: [number, number, string][] = [];
  const eight = (op: number, base: number, m: string) => {
    for (let i = 0; i < 8; i++) f.push([op, base + i, m.replace(/\bi\b/, `st${i}`)]);
  };
  ARITH.forEach((m, k) => eight(0xd8, 0xc0 + 8 * k, k === 2 || k === 3 ? `${m} i` : `${m} st0, i`));
  eight(0xdc, 0xc0, "fadd i, st0");
  eight(0xdc, 0xc8, "fmul i, st0");
  eight(0xdc, 0xe0, "fsubr i, st0");
  eight(0xdc, 0xe8, "fsub i, st0");
  eight(0xdc, 0xf0, "fdivr i, st0");
  eight(0xdc, 0xf8, "fdiv i, st0");
  eight(0xde, 0xc0, "faddp i");
  eight(0xde, 0xc8, "fmulp i");
  eight(0xde, 0xe0, "fsubrp i");
  eight(0xde, 0xe8, "fsubp i");
  eight(0xde, 0xf0, "fdivrp i");
  eight(0xde, 0xf8, "fdivp i");
  f.push([0xde, 0xd9, "fcompp"], [0xda, 0xe9, "fucompp"]);
  eight(0xd9, 0xc0, "fld i");
  eight(0xd9, 0xc8, "fxch i");
  ["fcmovb", "fcmove", "fcmovbe", "fcmovu"].forEach((m, k) => eight(0xda, 0xc0 + 8 * k, `${m} st0, i`));
  ["fcmovnb", "fcmovne", "fcmovnbe", "fcmovnu"].forEach((m, k) => eight(0xdb, 0xc0 + 8 * k, `${m} st0, i`));
  eight(0xdb, 0xe8, "fucomi st0, i");
  eight(0xdb, 0xf0, "fcomi st0, i");
  eight(0xdf, 0xe8, "fucomip st0, i");
  eight(0xdf, 0xf0, "fcomip st0, i");
  eight(0xdd, 0xc0, "ffree i");
  eight(0xdd, 0xd0, "fst i");
  eight(0xdd, 0xd8, "fstp i");
  eight(0xdd, 0xe0, "fucom i");
  eight(0xdd, 0xe8, "fucomp i");
  const d9: [number, string][] = [
    [0xd0, "fnop"],
    [0xe0, "fchs"],
    [0xe1, "fabs"],
    [0xe4, "ftst"],
    [0xe5, "fxam"],
    [0xe8, "fld1"],
    [0xe9, "fldl2t"],
    [0xea, "fldl2e"],
    [0xeb, "fldpi"],
    [0xec, "fldlg2"],
    [0xed, "fldln2"],
    [0xee, "fldz"],
    [0xf4, "fxtract"],
    [0xf5, "fprem1"],
    [0xf6, "fdecstp"],
    [0xf7, "fincstp"],
    [0xf8, "fprem"],
    [0xfa, "fsqrt"],
    [0xfc, "frndint"],
    [0xfd, "fscale"],
  ];
  if (trans) {
    d9.push([0xf0, "f2xm1"], [0xf1, "fyl2x"], [0xf2, "fptan"], [0xf3, "fpatan"], [0xf9, "fyl2xp1"]);
    d9.push([0xfb, "fsincos"], [0xfe, "fsin"], [0xff, "fcos"]);
  }
  // The unary forms and constants are few: repeat them so that they weigh like a register form family.
  for (let k = 0; k < 4; k++) for (const [b, m] of d9) f.push([0xd9, b, m]);
  f.push([0xdb, 0xe2, "fnclex"], [0xdb, 0xe3, "fninit"], [0xdf, 0xe0, "fnstsw ax"]);
  f.push([0xdb, 0xe0, "feni (nop)"], [0xdb, 0xe1, "fdisi (nop)"], [0xdb, 0xe4, "fsetpm (nop)"]);
  return f;
}

export const F32 = [
  0x00000000,
  0x80000000,
  0x3f800000,
  0xbf800000,
  0x3fc00000,
  0x7f7fffff,
  0x00800000,
  0x00000001,
  0x807fffff,
  0x7f800000,
  0xff800000,
  0x7fc00000,
  0xffc12345,
  0x7f800001,
  0x7fa00000,
  0x4f000000,
  0xcf000000,
  0x46fffe00,
  0x3f000000,
];
export const F64_HI = [
  ...F64_HI_BOUNDS,
  0x7ff00000,
  0xfff00000,
  0x7ff80000,
  0x7ff40000,
  0x43e00000,
  0xc3e00000,
  0x41dfffff,
  0x40dfffe0,
  0x3fe00000,
  0x3c000000,
  0x43c00000,
];

/** Writes a random 80-bit value, biased towards the special classes. */
export function f80(r: Prng, v: DataView, at: number): void {
  const sign = r.below(2) << 15, k = r.below(17), hi = r.next(), lo = r.next();
  let exp = 0x3fff - 4 + r.below(9), h = (hi | 0x80000000) >>> 0, l = lo;
  switch (k) {
    case 0: // zero
      exp = h = l = 0;
      break;
    case 1: // an integer or half-integer of up to 64 bits
      exp = 0x3fff + r.below(66);
      l = exp - 0x3fff < 32 ? 0 : l & ~((1 << (r.below(31))) - 1);
      h = exp - 0x3fff < 31 ? h & ~((1 << (30 - (exp - 0x3fff))) - 1) : h;
      break;
    case 2: // any exponent
      exp = r.below(0x7fff);
      if (exp === 0) exp = 1;
      break;
    case 3: // extreme exponents
      exp = r.below(2) ? 1 + r.below(64) : 0x7ffe - r.below(64);
      break;
    case 4: // denormal
      exp = 0;
      h &= 0x7fffffff >>> r.below(31);
      break;
    case 5: // pseudo-denormal
      exp = 0;
      break;
    case 6: // unnormal
      exp = 1 + r.below(0x7ffe);
      h &= 0x7fffffff >>> r.below(31);
      break;
    case 7: // infinity
      exp = 0x7fff, h = 0x80000000, l = 0;
      break;
    case 8: // pseudo-infinity, pseudo-NaN
      exp = 0x7fff, h &= r.below(2) ? 0 : 0x7fffffff;
      if (h === 0) l = r.below(2) ? 0 : l;
      break;
    case 9: // QNaN, indefinite
      exp = 0x7fff, h = r.below(2) ? (h | 0x40000000) >>> 0 : 0xc0000000;
      if (h === 0xc0000000) l = r.below(2) ? 0 : l;
      break;
    case 10: // SNaN
      exp = 0x7fff, h = (h & 0xbfffffff) >>> 0;
      if (h === 0x80000000 && l === 0) l = 1;
      break;
    case 11: // short significands (exact results)
      l = 0, h = (h & 0xfff00000) >>> 0;
      break;
    case 12: // anything
      exp = r.next() & 0x7fff, h = hi;
      break;
  }
  v.setUint32(at, l >>> 0, true);
  v.setUint32(at + 4, h >>> 0, true);
  v.setUint16(at + 8, sign | exp, true);
}

/** A random control word: mostly masked, every precision and rounding control, now and then reserved bits. */
export function controlWord(r: Prng): number {
  const masks = r.below(3) === 0 ? r.next() & 0x3f : 0x3f;
  const reserved = r.below(16) === 0 ? r.next() & 0xe0c0 : 0x40;
  return masks | reserved | (r.below(4) << 8) | (r.below(4) << 10);
}

/** A random status word consistent with `cw` (ES and B set exactly when an unmasked flag is). */
export function statusWord(r: Prng, cw: number): number {
  const flags = r.below(3) === 0 ? r.next() & 0x7f : 0;
  const pending = flags & ~cw & 0x3f ? 0x8080 : 0;
  return flags | pending | (r.next() & 0x4700) | (r.below(8) << 11);
}

export function integerValue(r: Prng, v: DataView, at: number, bytes: number): void {
  const k = r.below(6);
  for (let i = 0; i < bytes; i++) v.setUint8(at + i, k < 2 ? (k ? 0xff : 0) : r.next() & 0xff);
  if (k === 2) v.setUint8(at + bytes - 1, r.below(2) ? 0x80 : 0x7f);
  if (k === 3) { for (let i = 1; i < bytes; i++) v.setUint8(at + i, v.getUint8(at + bytes - 1) & 0x80 ? 0xff : 0); }
}

/** Writes a random value of `kind` at `at`. */
export function value(r: Prng, v: DataView, at: number, kind: Kind): void {
  switch (kind) {
    case "f32":
      v.setUint32(at, r.below(2) ? F32[r.below(F32.length)] : r.next(), true);
      break;
    case "f64":
      v.setUint32(at, r.below(2) ? 0 : r.next(), true);
      v.setUint32(at + 4, r.below(2) ? F64_HI[r.below(F64_HI.length)] : r.next(), true);
      break;
    case "f80":
      f80(r, v, at);
      break;
    case "i16":
      integerValue(r, v, at, 2);
      break;
    case "i32":
      integerValue(r, v, at, 4);
      break;
    case "i64":
      integerValue(r, v, at, 8);
      break;
    case "bcd": {
      const digits = r.below(19);
      for (let i = 0; i < 9; i++) {
        const d = () => (r.below(24) === 0 ? 10 + r.below(6) : r.below(10));
        v.setUint8(at + i, 2 * i < digits ? d() | (2 * i + 1 < digits ? d() << 4 : 0) : 0);
      }
      v.setUint8(at + 9, r.below(8) === 0 ? r.next() & 0xff : r.below(2) << 7);
      break;
    }
    case "cw":
      v.setUint16(at, controlWord(r), true);
      break;
  }
}

/** Writes a random FXRSTOR image: control and status words, abridged tags, pointers, MXCSR, ST(0)-ST(7). */
export function initialImage(r: Prng, v: DataView, at: number): void {
  const cw = controlWord(r);
  v.setUint16(at, cw, true);
  v.setUint16(at + 2, statusWord(r, cw), true);
  let tags = 0;
  for (let i = 0; i < 8; i++) if (r.below(10) < 6) tags |= 1 << i;
  v.setUint8(at + 4, r.below(8) === 0 ? r.next() & 0xff : tags);
  v.setUint16(at + 6, r.next() & 0x7ff, true);
  v.setUint32(at + 8, r.next(), true);
  v.setUint32(at + 16, r.next(), true);
  v.setUint32(at + 24, 0x1f80, true);
  for (let i = 0; i < 8; i++) f80(r, v, at + 32 + 16 * i);
}

/** Writes a random FNSAVE image (the 32-bit protected-mode format) for FRSTOR and FLDENV. */
export function saveImage(r: Prng, v: DataView, at: number): void {
  const cw = controlWord(r);
  v.setUint32(at, 0xffff0000 | cw, true);
  v.setUint32(at + 4, 0xffff0000 | statusWord(r, cw), true);
  v.setUint32(at + 8, 0xffff0000 | (r.below(4) === 0 ? r.next() & 0xffff : 0xffff & ~(r.next() & r.next())), true);
  v.setUint32(at + 12, r.next(), true);
  v.setUint32(at + 16, ((r.next() & 0x7ff) << 16) | 0x2b, true);
  v.setUint32(at + 20, r.next(), true);
  v.setUint32(at + 24, 0xffff0023, true);
  for (let i = 0; i < 8; i++) f80(r, v, at + 28 + 10 * i);
}

export function pick<T>(r: Prng, xs: readonly T[]): T {
  return xs[r.below(xs.length)];
}

/** One random instruction; loads write their operand into the record. */
export function genInsn(r: Prng, v: DataView, regForms: readonly [number, number, string][]): X87Insn {
  const k = r.below(20);
  const slot = r.below(8), disp = slot * 16;
  if (k < 7) {
    const [op, reg, m, kind] = pick(r, LOADS);
    value(r, v, MEM + disp, kind);
    return { asm: `${m} [rsi+${disp}]`, bytes: [op, 0x46 | (reg << 3), disp], load: { slot, kind } };
  }
  if (k < 10) {
    const [op, reg, m] = pick(r, STORES);
    return { asm: `${m} [rsi+${disp}]`, bytes: [op, 0x46 | (reg << 3), disp] };
  }
  if (k === 10 && r.below(2) === 0) {
    const [bytes, asm, selectors] = pick(r, SAVES);
    return { asm, bytes, selectors };
  }
  if (k === 11) return { asm: "fwait", bytes: [0x9b] };
  const [a, b, asm] = pick(r, regForms);
  return { asm, bytes: [a, b] };
}

/** A random case: initial state, operands, and a stream of 1 to `maxLength` instructions. */
export function genCase(r: Prng, options: GenOptions = {}): X87Case {
  const record = new Uint8Array(RECORD), v = new DataView(record.buffer);
  initialImage(r, v, IN_FX);
  saveImage(r, v, SAVE);
  for (let i = 0; i < 8; i++) value(r, v, MEM + 16 * i, pick(r, ["f32", "f64", "f80", "i32"] as const));
  v.setBigUint64(IN_RFLAGS, BigInt((r.next() & 0x8d5) | 0x202), true);
  v.setUint32(IN_RAX, r.next(), true);
  v.setUint32(IN_RAX + 4, r.next(), true);
  const forms = registerForms(options.transcendentals ?? false);
  const n = 1 + r.below(options.maxLength ?? 6), insns: X87Insn[] = [];
  for (let i = 0; i < n; i++) insns.push(genInsn(r, v, forms));
  if (r.below(2)) insns.push({ asm: "fwait", bytes: [0x9b] });
  return { record, insns };
}

/** A guest program of cases: its code, records, and where each case's code and `POST` start. */
