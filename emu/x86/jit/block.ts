/**
 * Basic blocks: a run of decoded instructions in one physical page, from an
 * entry point to the first near branch (included), an instruction a block
 * may not hold (excluded), the end of the page or `MAX_INSNS`. A Jcc does
 * not end a block (its taken branch is a side exit), and neither does a
 * JMP rel or CALL rel whose target is in the same page and not yet in the
 * block: the block goes on at the target (a superblock), so a block may be
 * decoded from several ranges of its page. A block remembers the bytes of
 * each range, so that a write by the host between two KVM_RUNs is noticed
 * before it runs again (the guest's writes drop the whole page: memory.ts),
 * and the CS base and EIP it was compiled for, since its code holds EIP as
 * constants.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { decode, type OpMaps } from "../decode.ts";
import type { Insn } from "../insn.ts";
import { stillValid } from "../fetch.ts";
import { blockHolds, END_DIRECT, ENDS } from "./safe.ts";
import { PAGE_SIZE } from "./names.ts";
import { MASK } from "../flags.ts";

/** The most instructions in one block. */
export const MAX_INSNS = 64;

/**
 * A block's code: runs it on `c` (once, or as a loop of about `budget` instructions at most); returns the iterations
 * run (the last one whole or not) times 64, plus its exit: 0 (on to the next instruction), 1 (the branch at its end
 * taken), 2 (anywhere, or it stopped early: look the next block up), 3-63 (a Jcc on the way taken).
 */
export type BlockFn = (c: Cpu, budget: number) => number;

/** A compiled basic block. */
export class Block {
  /** Physical page and offset of the first instruction. */
  readonly pfn: number;
  readonly off: number;
  /** Code-segment size it was decoded for (2, 4, or 8 in 64-bit mode). */
  readonly mode: number;
  /** CS base and EIP (low half of RIP) at entry. */
  readonly csBase: number;
  /** CS limit at compile time (its code checks branch targets against it). */
  readonly csLimit: number;
  readonly eip: number;
  /** High half of RIP at entry (64-bit mode), else 0. */
  readonly ripHigh: number;
  readonly insns: readonly Insn[];
  /** The bytes decoded: those of each range of `ranges`, one after another. */
  readonly raw: Uint8Array;
  /** The ranges of the page the block was decoded from, as pairs of offset and length (the first at `off`). */
  readonly ranges: readonly number[];
  fn: BlockFn;
  /**
   * By side exit (3 on): how many of its instructions its last iteration ran when it left there (codegen.ts
   * Compiled.sides); the other exits count all of them.
   */
  sides: readonly number[] = [];
  /** False once its page was written. */
  valid = true;
  /** The KVM_RUN in which its bytes were last compared with memory. */
  checked: number;
  /** Successors found by the dispatcher, valid while `linkEpoch` is the TLB's epoch. */
  /** Successors by exit (codegen.ts EXIT_*), valid while `linkEpochs[exit]` is the TLB's epoch. */
  readonly links: (Block | null)[] = [];
  readonly linkEpochs: number[] = [];
  /** Earlier targets of the indirect exit (run.ts), valid while `farEpoch` is the TLB's epoch. */
  readonly far: Block[] = [];
  farEpoch = -1;

  constructor(
    pfn: number,
    off: number,
    mode: number,
    csBase: number,
    csLimit: number,
    eip: number,
    ripHigh: number,
    scan: Scan,
    view: Uint8Array,
    checked: number,
  ) {
    this.pfn = pfn;
    this.off = off;
    this.mode = mode;
    this.csBase = csBase;
    this.csLimit = csLimit;
    this.eip = eip;
    this.ripHigh = ripHigh;
    this.insns = scan.insns;
    this.ranges = rangesOf(scan);
    this.raw = bytesOf(view, this.ranges);
    this.checked = checked;
    this.fn = () => 2; // replaced by the compiled code
  }

  /** True when the bytes of its ranges in `view` (its page) are still those it was decoded from. */
  sameBytes(view: Uint8Array): boolean {
    const raw = this.raw, ranges = this.ranges;
    for (let r = 0, k = 0; r < ranges.length; r += 2) {
      const off = ranges[r], end = off + ranges[r + 1];
      for (let i = off; i < end; i++, k++) if (raw[k] !== view[i]) return false;
    }
    return true;
  }
}

/** A block's instructions in the order they run (its fall-through path), and the page offset of each. */
export interface Scan {
  readonly insns: Insn[];
  readonly offs: number[];
}

/** The ranges of the page `scan` was decoded from: pairs of offset and length. */
function rangesOf(scan: Scan): number[] {
  const ranges: number[] = [];
  for (let i = 0; i < scan.insns.length; i++) {
    const off = scan.offs[i], len = scan.insns[i].len, last = ranges.length - 2;
    if (last >= 0 && ranges[last] + ranges[last + 1] === off) ranges[last + 1] += len;
    else ranges.push(off, len);
  }
  return ranges;
}

/** The bytes of `ranges` of `view`, one range after another. */
function bytesOf(view: Uint8Array, ranges: readonly number[]): Uint8Array {
  let n = 0;
  for (let r = 1; r < ranges.length; r += 2) n += ranges[r];
  const raw = new Uint8Array(n);
  for (let r = 0, k = 0; r < ranges.length; k += ranges[r + 1], r += 2) {
    raw.set(view.subarray(ranges[r], ranges[r] + ranges[r + 1]), k);
  }
  return raw;
}

/**
 * The instructions of the block at `off` of the page `view` (entered at `eip`), with their offsets; no instructions
 * when the first may not be in a block.
 */
export function scanBlock(
  cpu: Cpu,
  page: (Insn | undefined)[],
  view: Uint8Array,
  off: number,
  eip: number,
  mode: number,
  maps: OpMaps,
): Scan {
  const insns: Insn[] = [], offs: number[] = [];
  const limit = mode === 8 ? Infinity : cpu.segLimit[1];
  // Offsets already in the block: a branch back into it is not followed (the block would unroll a loop).
  const seen = new Set<number>();
  let at = off, ip = eip;
  while (insns.length < MAX_INSNS && at < PAGE_SIZE) {
    let d = page[at];
    if (!d || d.mode !== mode || !stillValid(cpu, d, view, at)) {
      const fresh = decode(maps, view, at, PAGE_SIZE, mode);
      if (!fresh) break; // crosses the page
      fresh.raw = view.slice(at, at + fresh.len);
      fresh.checked = cpu.runEpoch;
      page[at] = d = fresh;
    }
    if (!blockHolds(d)) break;
    const end = ENDS.get(d.jit);
    // The whole instruction must be inside CS (else the interpreter raises #GP), and 16-bit IP must not wrap.
    const last = ip + d.len - 1;
    if (mode !== 8 && (last > limit || (mode === 2 && last > 0xffff))) break;
    insns.push(d);
    offs.push(at);
    seen.add(at);
    // A Jcc does not end a block: its taken branch becomes a side exit and the block goes on (a superblock).
    if (end && d.jit !== "jcc" && d.jit !== "jccLong") {
      // A JMP or CALL rel into the same page goes on at its target; the target's own checks (above) apply to it.
      // Where its first instruction cannot join the block, the JMP or CALL ends it after all (codegen.ts: a
      // direct branch that is not the block's last was followed).
      const rel = end === END_DIRECT ? followed(d, mode) : undefined;
      if (rel === undefined) break;
      const to = at + d.len + rel, target = ip + d.len + rel;
      // The target's EIP must not wrap (the block's code counts EIP without a mask).
      if (to < 0 || to >= PAGE_SIZE || seen.has(to) || (mode !== 8 && (target < 0 || target > MASK[mode]))) break;
      ip = target;
      at = to;
      continue;
    }
    at += d.len;
    ip += d.len;
  }
  return { insns, offs };
}

/**
 * The displacement of the JMP rel or CALL rel `d` when a block may go on at its target, else undefined: an operand of
 * the code's size (a 16-bit one in 32- or 64-bit code masks its target), and for a CALL one whose push a stack
 * template does (a 32-bit operand in 32-bit code, 8 bytes in 64-bit mode: stack.ts callPush).
 */
function followed(d: Insn, mode: number): number | undefined {
  const jmp = d.jit === "jmpRel" || d.jit === "jmpRelLong";
  if (d.osize !== mode || (!jmp && (mode === 2 || (d.jit !== "callRel" && d.jit !== "callRelLong")))) return undefined;
  if (jmp && d.op === 0xeb) return (d.imm << 24) >> 24;
  return mode === 2 ? (d.imm << 16) >> 16 : d.imm | 0;
}
