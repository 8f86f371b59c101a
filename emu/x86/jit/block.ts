/**
 * Basic blocks: a run of decoded instructions from an entry point to the
 * first near branch (included), an instruction a block may not hold
 * (excluded), the end of the next page or `MAX_INSNS`. A Jcc does not end
 * a block (its taken branch is a side exit), and neither does a JMP rel or
 * CALL rel whose target is in the block's pages and not yet in the block:
 * the block goes on at the target (a superblock), so a block may be decoded
 * from several ranges; a CALL rel into code the block holds already is
 * followed too, a few times (a recursion). After a main path that ends at a
 * CALL rel or a RET, a block holds a copy of the few instructions up to a
 * RET that a Jcc of it goes to (its tails: a recursion's leaf). A block
 * lies in the page of its entry and may go on into the next linear page, by
 * an instruction that crosses the boundary or
 * one that starts there (the next page's bytes have offsets from PAGE_SIZE
 * on, so that offsets still count linear addresses from the first page's
 * start); it is used only while that page maps the same physical page
 * (run.ts blockAt), and is dropped when either page is written (cache.ts).
 * A block remembers the bytes of each range, so that a write by the host
 * between two KVM_RUNs is noticed before it runs again (the guest's writes
 * drop the whole page: memory.ts; the check compares the 32-bit words that
 * hold the ranges, and the bytes only where a word differs), and the CS base
 * and EIP it was compiled for, since its code holds EIP as constants.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { decode, type OpMaps } from "../decode.ts";
import type { Insn } from "../insn.ts";
import { stillValid } from "../fetch.ts";
import { blockHolds, END_DIRECT, endOf, isSystemCall } from "./safe.ts";
import { type Compiled, forwardSkips } from "./codegen.ts";
import { relativeTarget } from "./templates.ts";
import { PAGE_SIZE } from "./names.ts";
import { MASK } from "../flags.ts";

/** The most instructions in one block. */
export const MAX_INSNS = 64;
/**
 * How many times a block follows a CALL rel into code it holds already (a recursion): fib's blocks, of 4 instructions
 * a run, ran 10 % faster with 3 (Deno and Bun); with no bound (up to MAX_INSNS) Bun ran its 64-bit code slower.
 */
const UNROLL = 3;
/** The most instructions of a tail (Scan.tails): fib's leaf is two. */
const TAIL_INSNS = 4;
/** The bytes an instruction across a page boundary is decoded from (more than the decoder reads for one). */
const ACROSS_BYTES = 32;

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
  /** How many of them its main path holds (Scan.main): the count of its exits 0 to 2 (run.ts runChain). */
  readonly length: number;
  /**
   * The instructions one iteration of its loop runs (codegen.ts loopLength): the block's code returns its iterations,
   * and the last one ran up to where it left (run.ts runChain).
   */
  loop: number;
  /** Its length over `loop`: the factor of its code's budget (run.ts runChain). */
  scale: number;
  /**
   * The bytes of its page (the fetch cache's view of the physical page, valid while the memory slots are: a change of
   * them drops every block), for comparing them with `raw` in place (run.ts runChain).
   */
  readonly view: Uint8Array;
  /** The bytes decoded: those of each range of `ranges`, one after another. */
  readonly raw: Uint8Array;
  /**
   * For a block that lies in its page (most blocks), when the page's bytes start at a multiple of 4 in their buffer:
   * the 32-bit words of the page that hold its ranges, range after range, as they were when it was decoded; `view` as
   * words; and the words of each range (pairs of first word and count). `sameBytes` compares a quarter as many
   * elements so; a word that differs may differ only outside the ranges: the bytes decide then. Else null.
   */
  readonly words: Uint32Array | null = null;
  readonly view32: Uint32Array | null = null;
  readonly wordRanges: readonly number[] = [];
  /**
   * The ranges the block was decoded from, as pairs of offset and length (the first at `off`): offsets in its page,
   * and from PAGE_SIZE on in the next linear page's.
   */
  readonly ranges: readonly number[];
  /** The physical page of the next linear page when the block holds some of its bytes (Scan.next), else -1. */
  readonly nextPfn: number;
  /** The TLB epoch in which the next linear page was last seen to map `nextPfn` (run.ts blockAt). */
  nextEpoch: number;
  fn: BlockFn;
  /**
   * By side exit (3 on): how many of its instructions its last iteration ran when it left there (codegen.ts
   * Compiled.sides); the other exits count all of them.
   */
  sides: readonly number[] = [];
  /**
   * Its first side exit that leaves through the RET of a tail (Scan.tails; codegen.ts Compiled.indirect): from there
   * on its exits go anywhere, as EXIT_ANY does (run.ts runChain). 64 when none does.
   */
  indirect = 64;
  /**
   * Whether it ends with a fast system call (safe.ts SYSTEM_CALLS), which changes CS and the CPL and may set TF or RF:
   * the dispatcher checks the CS its successor was compiled for and stops on TF or RF (run.ts runChain).
   */
  readonly modal: boolean;
  /** False once its page was written. */
  valid = true;
  /** The KVM_RUN in which its bytes were last compared with memory; -1 once it is invalid (cache.ts). */
  checked: number;
  /**
   * Successors by exit (codegen.ts EXIT_*: fixed exits, the indirect one, then the side exits), valid while
   * `linkEpochs[exit]` is the TLB's epoch. Both hold an entry for each exit (`unlink`), so that the dispatcher reads
   * them without a hole or a miss.
   */
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
    epoch: number,
    loop: number,
  ) {
    this.pfn = pfn;
    this.off = off;
    this.mode = mode;
    this.csBase = csBase;
    this.csLimit = csLimit;
    this.eip = eip;
    this.ripHigh = ripHigh;
    this.insns = scan.insns;
    this.length = scan.main;
    this.loop = loop;
    this.scale = scan.main / this.loop;
    this.modal = isSystemCall(scan.insns[scan.insns.length - 1]);
    this.ranges = rangesOf(scan);
    this.nextPfn = scan.next?.pfn ?? -1;
    this.nextEpoch = epoch;
    this.view = view;
    this.raw = bytesOf(view, scan.next?.view ?? null, this.ranges);
    if (this.nextPfn < 0 && (view.byteOffset & 3) === 0) {
      const r = this.ranges, wordRanges: number[] = [];
      let n = 0;
      for (let i = 0; i < r.length; i += 2) {
        const first = r[i] >> 2, count = ((r[i] + r[i + 1] + 3) >> 2) - first;
        wordRanges.push(first, count);
        n += count;
      }
      this.view32 = wordsOf(view);
      this.words = new Uint32Array(n);
      this.wordRanges = wordRanges;
      this.#refresh();
    }
    this.checked = checked;
    this.fn = () => 2; // replaced by the compiled code
  }

  /**
   * Takes `code` as its code (made when it is, or compiled from the first tier: run.ts promote): its function, side
   * exits and loop, and forgets its successors, whose exits may be numbered otherwise.
   */
  install(code: Compiled): void {
    this.fn = code.fn;
    this.sides = code.sides;
    this.indirect = code.indirect;
    this.loop = code.loop;
    this.scale = this.length / code.loop;
    this.unlink();
  }

  /** Forgets its successors: one empty entry for each of its exits (the side exits' once `sides` is set). */
  unlink(): void {
    const exits = 3 + this.sides.length;
    this.links.length = this.linkEpochs.length = 0;
    for (let k = 0; k < exits; k++) {
      this.links.push(null);
      this.linkEpochs.push(-1);
    }
  }

  /**
   * True when the bytes of its ranges in `view` (its page) and `next` (the next page's bytes, when it holds some)
   * are still those it was decoded from.
   */
  sameBytes(view: Uint8Array, next: Uint8Array | null): boolean {
    const raw = this.raw, ranges = this.ranges, words = this.words;
    if (words !== null && view === this.view && this.#sameWords(words)) return true;
    if (ranges.length === 2 && ranges[0] + ranges[1] <= PAGE_SIZE) {
      // One range in its page (most blocks): a plain loop.
      const off = ranges[0], len = ranges[1];
      for (let i = 0; i < len; i++) if (raw[i] !== view[off + i]) return false;
    } else {
      for (let r = 0, k = 0; r < ranges.length; r += 2) {
        const off = ranges[r], end = off + ranges[r + 1];
        for (let i = off; i < end; i++, k++) {
          if (raw[k] !== (i < PAGE_SIZE ? view[i] : next![i - PAGE_SIZE])) return false;
        }
      }
    }
    // The host wrote next to the block's bytes: its words become those of now.
    if (words !== null && view === this.view) this.#refresh();
    return true;
  }

  /** Whether the words of its ranges in its page are `words`. */
  #sameWords(words: Uint32Array): boolean {
    const view32 = this.view32!, wordRanges = this.wordRanges;
    for (let r = 0, k = 0; r < wordRanges.length; r += 2) {
      for (let i = wordRanges[r], end = i + wordRanges[r + 1]; i < end; i++, k++) {
        if (words[k] !== view32[i]) return false;
      }
    }
    return true;
  }

  /** Copies the words of its ranges from its page into `words`. */
  #refresh(): void {
    const view32 = this.view32!, words = this.words!, wordRanges = this.wordRanges;
    for (let r = 0, k = 0; r < wordRanges.length; r += 2) {
      for (let i = wordRanges[r], end = i + wordRanges[r + 1]; i < end; i++, k++) words[k] = view32[i];
    }
  }
}

/** Pages' bytes as 32-bit words, one view for each page's view (its blocks share it). */
const WORDS = new WeakMap<Uint8Array, Uint32Array>();

/** `view` (a page's bytes, starting at a multiple of 4 in their buffer) as 32-bit words. */
function wordsOf(view: Uint8Array): Uint32Array {
  let w = WORDS.get(view);
  if (w === undefined) WORDS.set(view, w = new Uint32Array(view.buffer, view.byteOffset, PAGE_SIZE >> 2));
  return w;
}

/** A code page as a scan reads it: its physical page, its bytes, and its decoded instructions (fetch.ts). */
export interface CodeView {
  readonly pfn: number;
  readonly view: Uint8Array;
  readonly page: (Insn | undefined)[];
}

/**
 * A block's instructions in the order they run (its fall-through path), and the offset of each from the start of the
 * entry's page (past PAGE_SIZE in the next page).
 */
export interface Scan {
  readonly insns: Insn[];
  readonly offs: number[];
  /** The next linear page, when some instruction's bytes lie there; else null. */
  readonly next: CodeView | null;
  /** True when the scan stopped where it needed the next page and could not have it (not mapped, say). */
  readonly nextMissing: boolean;
  /**
   * The instructions of its main path, the first `main` of `insns`: a block that ends at a CALL rel or a RET holds
   * after them the tails of its Jccs, in the reverse order of the Jccs (so that each Jcc's skip over the rest of the
   * main path nests inside those of the Jccs before it).
   */
  readonly main: number;
  /**
   * Its Jccs whose taken branch goes on in the block, in a copy of its target's code that ends at a RET (a
   * recursion's leaf): the index of the Jcc and that of the tail's first instruction (codegen.ts: a skip to it).
   */
  readonly tails: readonly (readonly [number, number])[];
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

/** The bytes of `ranges` of `view` and (from PAGE_SIZE on) `next`, one range after another. */
function bytesOf(view: Uint8Array, next: Uint8Array | null, ranges: readonly number[]): Uint8Array {
  let n = 0;
  for (let r = 1; r < ranges.length; r += 2) n += ranges[r];
  const raw = new Uint8Array(n);
  for (let r = 0, k = 0; r < ranges.length; r += 2) {
    for (let i = ranges[r], end = i + ranges[r + 1]; i < end; i++) {
      raw[k++] = i < PAGE_SIZE ? view[i] : next![i - PAGE_SIZE];
    }
  }
  return raw;
}

/**
 * The instructions of the block at `off` of the code page `here` (entered at `eip`), with their offsets; no
 * instructions when the first may not be in a block. `nextPage` gives the next linear page (null when a block may not
 * go on there), asked for only when the block reaches it.
 */
export function scanBlock(
  cpu: Cpu,
  here: CodeView,
  off: number,
  eip: number,
  mode: number,
  maps: OpMaps,
  nextPage: () => CodeView | null,
): Scan {
  const insns: Insn[] = [], offs: number[] = [], ips: number[] = [];
  const limit = mode === 8 ? Infinity : cpu.segLimit[1];
  // Offsets already in the block: a branch back into it is not followed (the block would unroll a loop).
  const seen = new Set<number>();
  let next: CodeView | null = null, nextMissing = false;
  let at = off, ip = eip, calls = 0;
  while (insns.length < MAX_INSNS && at < 2 * PAGE_SIZE) {
    let d: Insn | null = null;
    if (at < PAGE_SIZE) d = cached(cpu, here, at, mode, maps);
    if (d === null) {
      // It starts on the next page or crosses into it.
      if (next === null && !nextMissing) nextMissing = (next = nextPage()) === null;
      if (next === null) break;
      d = at < PAGE_SIZE
        ? across(cpu, here.view, next.view, at, mode, maps)
        : cached(cpu, next, at - PAGE_SIZE, mode, maps);
      if (d === null) break; // it crosses the end of the next page
    }
    if (!blockHolds(d)) break;
    const end = endOf(d);
    // The whole instruction must be inside CS (else the interpreter raises #GP), and 16-bit IP must not wrap.
    const last = ip + d.len - 1;
    if (mode !== 8 && (last > limit || (mode === 2 && last > 0xffff))) break;
    insns.push(d);
    offs.push(at);
    ips.push(ip);
    seen.add(at);
    // A Jcc does not end a block: its taken branch becomes a side exit and the block goes on (a superblock).
    if (end && d.jit !== "jcc" && d.jit !== "jccLong") {
      // A JMP or CALL rel into the block's pages (the next one once the block holds some of its bytes) goes on at
      // its target; the target's own checks (above) apply to it. Where its first instruction cannot join the block,
      // the JMP or CALL ends it after all (codegen.ts: a direct branch that is not the block's last was followed).
      const rel = end === END_DIRECT ? followed(d, mode) : undefined;
      if (rel === undefined) break;
      const to = at + d.len + rel, target = ip + d.len + rel;
      const pages = next === null ? PAGE_SIZE : 2 * PAGE_SIZE;
      // The target's EIP must not wrap (the block's code counts EIP without a mask).
      // A CALL goes on into code the block holds already, UNROLL times (a recursion: its call sites are unrolled); a
      // JMP does not (that would unroll a loop, which a branch back to the entry runs instead).
      const again = seen.has(to) &&
        (d.jit !== "callRel" && d.jit !== "callRelLong" || ++calls > UNROLL);
      if (to < 0 || to >= pages || again || (mode !== 8 && (target < 0 || target > MASK[mode]))) break;
      ip = target;
      at = to;
      continue;
    }
    at += d.len;
    ip += d.len;
  }
  const main = insns.length;
  const tails = main === 0 ? [] : addTails(cpu, here, mode, maps, insns, offs, ips, seen);
  const spans = offs.some((o, i) => o + insns[i].len > PAGE_SIZE);
  return { insns, offs, next: spans ? next : null, nextMissing, main, tails };
}

/**
 * Appends to a block that ends at a CALL rel or a RET the tails of its Jccs that leave it (Scan.tails): where a Jcc's
 * target in the entry's page starts a few instructions that end at a RET (C3) and hold no other branch, a copy of them
 * for each such Jcc, so that the block returns from there itself (fib's `jb .leaf`: `mov eax, ecx` / `ret`). A Jcc
 * inside a skip of the block's own (forwardSkips) keeps its side exit: its tail's skip would cross that one.
 */
function addTails(
  cpu: Cpu,
  here: CodeView,
  mode: number,
  maps: OpMaps,
  insns: Insn[],
  offs: number[],
  ips: number[],
  seen: Set<number>,
): (readonly [number, number])[] {
  const main = insns.length, end = insns[main - 1];
  if (end.jit !== "callRel" && end.jit !== "callRelLong" && end.jit !== "ret" && end.jit !== "retLong") return [];
  const skips = forwardSkips(insns, ips);
  const inside = new Set<number>();
  for (const [from, to] of skips) for (let i = from + 1; i < to; i++) inside.add(i);
  const limit = mode === 8 ? Infinity : cpu.segLimit[1];
  const found: [number, Insn[], number[], number[]][] = [];
  let room = MAX_INSNS - main;
  for (let i = 0; i < main - 1 && room > 0; i++) {
    const d = insns[i];
    if ((d.jit !== "jcc" && d.jit !== "jccLong") || skips.has(i) || inside.has(i)) continue;
    const next = mode === 2 ? (ips[i] + d.len) & 0xffff : mode === 8 ? ips[i] + d.len : (ips[i] + d.len) >>> 0;
    const target = relativeTarget(d, next);
    if (target === undefined) continue;
    let at = offs[i] + (target - ips[i]), ip = target;
    if (at < 0 || at >= PAGE_SIZE || seen.has(at)) continue;
    const code: Insn[] = [], codeOffs: number[] = [], codeIps: number[] = [];
    while (code.length < Math.min(TAIL_INSNS, room)) {
      const t = cached(cpu, here, at, mode, maps);
      if (t === null || !blockHolds(t) || at + t.len > PAGE_SIZE) break;
      const last = ip + t.len - 1;
      if (mode !== 8 && (last > limit || (mode === 2 && last > 0xffff))) break;
      const tEnd = endOf(t);
      if (tEnd !== undefined && t.op !== 0xc3) break;
      code.push(t);
      codeOffs.push(at);
      codeIps.push(ip);
      if (tEnd !== undefined) {
        found.push([i, code, codeOffs, codeIps]);
        room -= code.length;
        break;
      }
      at += t.len;
      ip += t.len;
    }
  }
  const tails: [number, number][] = [];
  for (let k = found.length - 1; k >= 0; k--) {
    const [jcc, code, codeOffs, codeIps] = found[k];
    tails.push([jcc, insns.length]);
    insns.push(...code);
    offs.push(...codeOffs);
    ips.push(...codeIps);
  }
  return tails;
}

/**
 * The instruction at `at` of the code page `cv`, from its decode cache (decoded now when the bytes there changed, or
 * when none is cached); null when it runs past the page's end.
 */
function cached(cpu: Cpu, cv: CodeView, at: number, mode: number, maps: OpMaps): Insn | null {
  const d = cv.page[at];
  if (d && d.mode === mode && stillValid(cpu, d, cv.view, at)) return d;
  const fresh = decode(maps, cv.view, at, PAGE_SIZE, mode);
  if (!fresh) return null;
  fresh.raw = cv.view.slice(at, at + fresh.len);
  fresh.checked = cpu.runEpoch;
  cv.page[at] = fresh;
  return fresh;
}

/**
 * The instruction at `at` of the page `view` that goes on into the page `next`, decoded from a copy of its bytes (no
 * page's decode cache holds it).
 */
function across(cpu: Cpu, view: Uint8Array, next: Uint8Array, at: number, mode: number, maps: OpMaps): Insn | null {
  const buf = new Uint8Array(ACROSS_BYTES);
  buf.set(view.subarray(at));
  buf.set(next.subarray(0, ACROSS_BYTES - (PAGE_SIZE - at)), PAGE_SIZE - at);
  const d = decode(maps, buf, 0, ACROSS_BYTES, mode);
  if (d === null) return null;
  d.raw = buf.slice(0, d.len);
  d.checked = cpu.runEpoch;
  return d;
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
