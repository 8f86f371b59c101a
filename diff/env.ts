/**
 * The execution environment of a case: the mode, its variant (real or
 * protected 16-bit mode, paging on or off in 32-bit mode) and which base
 * each data segment register gets. The generator uses it to aim memory
 * operands at the data area; the machine turns it into KVM_SET_SREGS state.
 *
 * @module
 */
import { CODE, DATA, SEGMENT_DELTAS } from "./layout.ts";

/** The three modes of the harness: code-segment default size 16, 32 or 64 bits. */
export type Mode = "16" | "32" | "64";

/** Every mode, in order. */
export const MODES: readonly Mode[] = ["16", "32", "64"];

/** The data segment registers, in the encoding order of their override prefixes' segment numbers (es, cs, ss, ds, fs, gs). */
export type SegReg = "es" | "cs" | "ss" | "ds" | "fs" | "gs";

/** Segment register by its number in the ModRM sreg encoding / prefix order. */
export const SEG_REGS: readonly SegReg[] = ["es", "cs", "ss", "ds", "fs", "gs"];

/** The override prefix byte of each segment register. */
export const SEG_PREFIX: Readonly<Record<SegReg, number>> = {
  es: 0x26,
  cs: 0x2e,
  ss: 0x36,
  ds: 0x3e,
  fs: 0x64,
  gs: 0x65,
};

/** The environment of one case. */
export interface Env {
  mode: Mode;
  /** Mode "16": real mode (true) or 16-bit protected mode (false). CPL 0 either way. */
  real: boolean;
  /** Mode "32": paging on. Mode "64" always pages; mode "16" never does. */
  paging: boolean;
  /** Index into SEGMENT_DELTAS of each data segment's base (ss is flat-based in 32-bit mode; only fs/gs count in 64-bit mode). */
  seg: { es: number; ss: number; ds: number; fs: number; gs: number };
  /** rflags.AC at CPL 3 (cr0.AM is set there, so misaligned accesses raise #AC). */
  alignmentCheck: boolean;
}

/** The privilege level the case runs at. */
export function cpl(env: Env): 0 | 3 {
  return env.mode === "16" ? 0 : 3;
}

/**
 * The base of data segment choice `k` (0-3) in `mode`: just below the data
 * area in mode 16 (so 16-bit offsets reach it); 0, 0x10 or just below the
 * data area in mode 32 (so both 32- and 16-bit addressing get exercised);
 * small offsets for fs and gs in mode 64.
 */
export function baseChoice(mode: Mode, k: number): number {
  const delta = SEGMENT_DELTAS[k];
  if (mode === "16") return DATA - delta;
  if (mode === "32") return k < 2 ? delta : DATA - delta;
  return delta;
}

/** The linear base address of segment `reg` in `env` (cs: the code segment's). */
export function segmentBase(env: Env, reg: SegReg): number {
  if (reg === "cs") return env.mode === "16" ? CODE : 0;
  if (env.mode === "64" && reg !== "fs" && reg !== "gs") return 0;
  if (env.mode === "32" && reg === "ss") return 0;
  return baseChoice(env.mode, env.seg[reg]);
}
