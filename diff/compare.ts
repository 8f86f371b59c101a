/**
 * Compares two outcomes of one case: exits, general registers, RIP, RFLAGS,
 * segment registers, cr2 and memory. RFLAGS, in the register and in an
 * exception frame, is masked only where the encoding table says the flags
 * are undefined at the point where the case stopped; the comparison says
 * which bits it masked and why.
 *
 * @module
 */
import { type Case, GPR, layoutCode } from "./case.ts";
import { poisonTrace } from "./effects.ts";
import { flagNames, STATUS } from "./flags.ts";
import { CODE, DATA, DATA_SIZE, ERROR_CODE_VECTORS, RING0_STACK_TOP, RING0_STACK_WATCH } from "./layout.ts";
import { exceptionOf, type ExitRecord, type Outcome, RFLAGS, RIP, SEGS } from "./outcome.ts";

/** One difference between the expected and the actual outcome. */
export interface Difference {
  what: string;
  expected: string;
  actual: string;
}

/** The result of a comparison. */
export interface Comparison {
  agree: boolean;
  differences: Difference[];
  /** What was masked, e.g. "rflags AF, OF: undefined before instruction 3 (shift.shl.d3/4)". */
  masked: string[];
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** Where the case stopped, as an instruction index (length = it ran to the end), and the exception frame. */
interface Stop {
  index: number | undefined;
  /** Offset into Outcome.memory of the RFLAGS image in the exception frame, and its width in bytes. */
  frameFlags?: { at: number; bytes: number };
}

/** Finds where `c` stopped in `o` (the expected outcome): the faulting instruction and the frame. */
function stopOf(c: Case, o: Outcome, starts: readonly number[]): Stop {
  const exc = exceptionOf(o);
  if (!exc) {
    if (!o.exits.some((e) => e.reason === "internal_error")) return { index: starts.length - 1 };
    // The kernel gave up on the instruction at rip (an offset into the code segment in mode 16).
    const index = starts.indexOf(Number(o.regs[RIP]) - (c.env.mode === "16" ? 0 : CODE));
    return { index: index >= 0 ? index : undefined };
  }
  const mem = new DataView(o.memory.buffer, o.memory.byteOffset, o.memory.byteLength);
  const top = DATA_SIZE + RING0_STACK_WATCH; // RING0_STACK_TOP in memory offsets
  let ripAt: number, flagsAt: number, width: number, offset: number;
  if (c.env.mode === "64") {
    [ripAt, flagsAt, width] = [top - 40, top - 24, 8];
    offset = Number(mem.getBigUint64(ripAt, true)) - CODE;
  } else if (c.env.mode === "32") {
    [ripAt, flagsAt, width] = [top - 20, top - 12, 4];
    offset = mem.getUint32(ripAt, true) - CODE;
  } else {
    const err = !c.env.real && ERROR_CODE_VECTORS.has(exc.vector) ? 2 : 0;
    ripAt = Number(o.segs.ss.base) + Number(o.regs[4] & 0xffffn) - DATA + err;
    if (ripAt < 0 || ripAt + 6 > DATA_SIZE) return { index: undefined };
    [flagsAt, width] = [ripAt + 4, 2];
    offset = mem.getUint16(ripAt, true);
  }
  const index = starts.indexOf(offset);
  return { index: index >= 0 ? index : undefined, frameFlags: { at: flagsAt, bytes: width } };
}

/** The form of the instruction where `c` stopped in `o` (an exception's or the kernel's), if known. */
export function stoppedAt(c: Case, o: Outcome): string | undefined {
  const layout = layoutCode(c);
  const i = stopOf(c, o, layout.starts).index;
  return i !== undefined && i < layout.insns.length ? layout.insns[i].form : undefined;
}

function exitText(e: ExitRecord | undefined): string {
  if (!e) return "(none)";
  if (e.reason !== "io") return e.detail ? `${e.reason} (${e.detail})` : e.reason;
  return `io ${e.direction} port ${hex(e.port ?? 0)} size ${e.size} value ${hex(e.value ?? 0)}`;
}

/** Differing byte ranges of two memory images, as differences (at most `limit`). */
function memoryDiffs(a: Uint8Array, b: Uint8Array, limit: number): Difference[] {
  const out: Difference[] = [];
  for (let i = 0; i < a.length && out.length < limit; i++) {
    if (a[i] === b[i]) continue;
    let j = i;
    while (j + 1 < a.length && j - i < 15 && a[j + 1] !== b[j + 1]) j++;
    const where = i < DATA_SIZE ? DATA + i : RING0_STACK_TOP - RING0_STACK_WATCH + (i - DATA_SIZE);
    const bytes = (m: Uint8Array) => [...m.subarray(i, j + 1)].map((x) => x.toString(16).padStart(2, "0")).join(" ");
    out.push({ what: `memory ${hex(where)}..${hex(where + j - i)}`, expected: bytes(a), actual: bytes(b) });
    i = j;
  }
  return out;
}

/** How {@linkcode compareOutcomes} compares. */
export interface CompareOptions {
  /**
   * Compare the flags the manuals leave undefined too (the host CPU's values are then the reference: a check of
   * a vendor personality, not of the architecture). Default false.
   */
  strictFlags?: boolean;
}

/** Bits of the final rflags not to compare, and why (an oracle's known deviation). */
export interface ExtraMask {
  rflags: bigint;
  why: string;
}

/**
 * Compares `actual` with `expected` for case `c`. Undefined flags are
 * masked (unless `options.strictFlags`); so are the hidden parts of null
 * selectors outside real mode (the architecture leaves them unusable, and
 * KVM reports them differently on VMX, SVM and PVM), and any `extra` bits.
 */
export function compareOutcomes(
  c: Case,
  expected: Outcome,
  actual: Outcome,
  extra: ExtraMask[] = [],
  options: CompareOptions = {},
): Comparison {
  const layout = layoutCode(c);
  const trace = poisonTrace(layout.insns);
  const stop = stopOf(c, expected, layout.starts);
  const undefinedFlags = (stop.index === undefined ? trace.reduce((a, b) => a | b, 0) : trace[stop.index]) & STATUS;
  const flagMask = options.strictFlags ? 0 : undefinedFlags;
  const masked: string[] = [];
  if (flagMask) {
    const where = stop.index === undefined
      ? "somewhere in the case (the stop point is unknown)"
      : stop.index >= layout.insns.length
      ? "at the end of the case"
      : `before instruction ${stop.index} (${layout.insns[stop.index].form})`;
    masked.push(`rflags ${flagNames(flagMask).join(", ")}: undefined ${where}`);
  }
  const diffs: Difference[] = [];
  const n = Math.max(expected.exits.length, actual.exits.length);
  for (let i = 0; i < n; i++) {
    const [a, b] = [exitText(expected.exits[i]), exitText(actual.exits[i])];
    if (a !== b) diffs.push({ what: `exit ${i}`, expected: a, actual: b });
  }
  let rflagsMask = BigInt(flagMask);
  for (const x of extra) {
    rflagsMask |= x.rflags;
    masked.push(`rflags 0x${x.rflags.toString(16)}: ${x.why}`);
  }
  for (let i = 0; i < 18; i++) {
    let [a, b] = [expected.regs[i], actual.regs[i]];
    if (i === RFLAGS) [a, b] = [a & ~rflagsMask, b & ~rflagsMask];
    if (a !== b) {
      diffs.push({ what: i === RIP ? "rip" : i === RFLAGS ? "rflags" : GPR[i], expected: hex(a), actual: hex(b) });
    }
  }
  for (const s of SEGS) {
    const [a, b] = [expected.segs[s], actual.segs[s]];
    const nullSelector = !c.env.real && a.selector < 4 && b.selector === a.selector;
    if (nullSelector && (a.base !== b.base || a.limit !== b.limit || a.attrs !== b.attrs)) {
      masked.push(`${s}: the hidden part of a null selector`);
    }
    for (const k of nullSelector ? ["selector"] as const : ["selector", "base", "limit", "attrs"] as const) {
      if (a[k] !== b[k]) diffs.push({ what: `${s}.${k}`, expected: hex(a[k]), actual: hex(b[k]) });
    }
  }
  if (expected.cr2 !== actual.cr2) diffs.push({ what: "cr2", expected: hex(expected.cr2), actual: hex(actual.cr2) });
  let [ma, mb] = [expected.memory, actual.memory];
  if (flagMask && stop.frameFlags) {
    [ma, mb] = [ma.slice(), mb.slice()];
    for (const m of [ma, mb]) {
      m[stop.frameFlags.at] &= ~flagMask & 0xff;
      m[stop.frameFlags.at + 1] &= ~(flagMask >> 8) & 0xff;
    }
    masked.push(`the RFLAGS image in the exception frame: the same bits`);
  }
  diffs.push(...memoryDiffs(ma, mb, 8));
  return { agree: diffs.length === 0, differences: diffs, masked };
}
