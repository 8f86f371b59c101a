/**
 * Basic blocks: a run of decoded instructions in one physical page, from an
 * entry point to the first near branch (included), an instruction a block
 * may not hold (excluded), the end of the page or `MAX_INSNS`. A block
 * remembers the bytes it was decoded from, so that a write by the host
 * between two KVM_RUNs is noticed before it runs again, and the CS base
 * and EIP it was compiled for, since its code holds EIP as constants.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { decode, type OpMaps } from "../decode.ts";
import type { Insn } from "../insn.ts";
import { stillValid } from "../fetch.ts";
import { blockHolds, ENDS } from "./safe.ts";
import { PAGE_SIZE } from "./names.ts";

/** The most instructions in one block. */
export const MAX_INSNS = 64;

/**
 * A block's code: runs it on `c` (once, or as a loop of about `budget` instructions at most); returns the iterations
 * run times 64, plus its exit: 0 (on to the next instruction), 1 (the branch at its end taken), 2 (anywhere, or it
 * stopped early: look the next block up), 3-63 (a Jcc on the way taken).
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
  /** The bytes decoded, from `off` on. */
  readonly raw: Uint8Array;
  fn: BlockFn;
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
    insns: Insn[],
    raw: Uint8Array,
    checked: number,
  ) {
    this.pfn = pfn;
    this.off = off;
    this.mode = mode;
    this.csBase = csBase;
    this.csLimit = csLimit;
    this.eip = eip;
    this.ripHigh = ripHigh;
    this.insns = insns;
    this.raw = raw;
    this.checked = checked;
    this.fn = () => 2; // replaced by the compiled code
  }
}

/** The instructions of the block at `off` of the page `view`, or an empty list when the first may not be in one. */
export function scanBlock(
  cpu: Cpu,
  page: (Insn | undefined)[],
  view: Uint8Array,
  off: number,
  eip: number,
  mode: number,
  maps: OpMaps,
): Insn[] {
  const insns: Insn[] = [];
  const limit = mode === 8 ? Infinity : cpu.segLimit[1];
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
    // A Jcc does not end a block: its taken branch becomes a side exit and the block goes on (a superblock).
    if (end && d.jit !== "jcc" && d.jit !== "jccLong") break;
    at += d.len;
    ip += d.len;
  }
  return insns;
}
