/**
 * Byte-level assembly: an instruction from its parts (legacy prefixes, REX,
 * opcode, ModRM, SIB, displacement, immediate), and the setup instructions
 * the generator inserts (`mov reg, imm`, `mov r8, imm8`, `cmp reg, reg`,
 * `push imm`), each as an {@linkcode Insn}.
 *
 * @module
 */
import type { Insn } from "./case.ts";
import type { Mode } from "./env.ts";
import { SETUP_CMP, SETUP_MOV, SETUP_MOVB, SETUP_PUSH } from "./table.ts";

/** The parts of one instruction. */
export interface Parts {
  /** Legacy prefixes, in the order they are emitted. */
  prefixes: number[];
  /** The REX byte, or 0 for none. */
  rex: number;
  opcode: number[];
  modrm?: number;
  sib?: number;
  disp: number[];
  imm: number[];
  /** A RIP-relative operand's target effective address (its displacement is patched at layout). */
  ripRel?: number;
}

/** Concatenates `p`; says where a RIP-relative displacement sits. */
export function assemble(p: Parts): { bytes: number[]; ripRel?: { at: number; target: number } } {
  const bytes = [...p.prefixes];
  if (p.rex) bytes.push(p.rex);
  bytes.push(...p.opcode);
  if (p.modrm !== undefined) bytes.push(p.modrm);
  if (p.sib !== undefined) bytes.push(p.sib);
  const at = bytes.length;
  bytes.push(...p.disp, ...p.imm);
  return p.ripRel === undefined ? { bytes } : { bytes, ripRel: { at, target: p.ripRel } };
}

/** `value` as `n` little-endian bytes. */
export function littleEndian(value: bigint | number, n: number): number[] {
  const v = BigInt.asUintN(8 * n, BigInt(value));
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
  return out;
}

/** `mov reg, imm`: sets the whole register (32 bits in modes 16 and 32, 64 bits in mode 64). */
export function movImm(mode: Mode, reg: number, value: bigint): Insn {
  let bytes: number[];
  if (mode === "64") {
    const v = BigInt.asUintN(64, value);
    if (v < 1n << 32n) bytes = [...(reg >= 8 ? [0x41] : []), 0xb8 + (reg & 7), ...littleEndian(v, 4)];
    else bytes = [0x48 | (reg >= 8 ? 1 : 0), 0xb8 + (reg & 7), ...littleEndian(v, 8)];
  } else {
    bytes = [...(mode === "16" ? [0x66] : []), 0xb8 + reg, ...littleEndian(value, 4)];
  }
  return { bytes, form: SETUP_MOV.id, size: mode === "64" ? 64 : 32 };
}

/** `mov r8, imm8` for CL (1) or AH (4, without REX). */
export function movByte(reg: 1 | 4, value: number): Insn {
  return { bytes: [0xb0 + reg, value & 0xff], form: SETUP_MOVB.id, size: 8 };
}

/** `cmp r/m32, r32` between two of the first eight registers: defines all six status flags, writes no register. */
export function cmpRegs(mode: Mode, a: number, b: number, wide: boolean): Insn {
  const rex = mode === "64" && wide ? [0x48] : [];
  return { bytes: [...rex, 0x39, 0xc0 | (b << 3) | a], form: SETUP_CMP.id, size: wide && mode === "64" ? 64 : 32 };
}

/** `push imm` with operand size `osize` in `mode` (a 64-bit push sign-extends an imm32). */
export function pushImm(mode: Mode, osize: number, value: number): Insn {
  const def = mode === "16" ? 16 : mode === "32" ? 32 : 64;
  const prefix = osize === def ? [] : [0x66];
  const immBytes = osize === 16 ? 2 : 4;
  return {
    bytes: [...prefix, 0x68, ...littleEndian(value, immBytes)],
    form: SETUP_PUSH.id,
    size: osize,
    stack: { delta: -osize / 8 },
  };
}
