/**
 * The dispatcher of compiled blocks: finds (or, once an entry is hot,
 * compiles) the block at CS:EIP, and runs blocks one after another,
 * following the links each block keeps to the blocks it went on to, for as
 * long as no exit is queued and the budget of instructions lasts. A link
 * holds while the TLB's epoch is the one it was made in (the same linear
 * addresses map the same pages) and its target is still valid; a target
 * not yet compared with memory in this KVM_RUN (the host may have written
 * guest code between runs) is compared in place. A chain that stopped with
 * an exit goes on in the next KVM_RUN through the link of the block where
 * it stopped, as if it had not stopped, while EIP is where it was left.
 *
 * This module is the block compiler's only entry for the core: `cpu.ts`
 * makes its `BlockCache` from here and `exec.ts` runs blocks through
 * `runChain`; no other module of the core imports `jit/` (but for `cpu.ts`
 * naming the `Block` type of `Cpu.chainFrom`).
 * The compiler's mode type lives outside it (`compiler_mode.ts`).
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { codeLinear, codePage, type FetchCache } from "../fetch.ts";
import { getRip } from "../long/access.ts";
import { OP_MAPS64 } from "../long/optable64.ts";
import { OP_MAPS } from "../optable.ts";
import { CS } from "../state.ts";
import { IF, RF, TF } from "../flags.ts";
import { CpuFault, Unimplemented } from "../fault.ts";
import { PAGE_MASK, PAGE_SIZE } from "./names.ts";
import { TWO32 } from "../long/access.ts";
import { Block, type CodeView, type Scan, scanBlock } from "./block.ts";
import { compile, type Compiled, EXIT_ANY, EXIT_SIDE } from "./codegen.ts";
import { threaded } from "./threaded.ts";

export { BlockCache } from "./cache.ts";

/**
 * What compiling one instruction of a block counts as, in instructions run (cpu.work): generating and compiling the
 * code of a block costs about as much as running each of its instructions a few dozen times in the interpreter.
 */
const COMPILE_WORK = 32;

/**
 * The block to run at CS:EIP, or null when the interpreter takes this instruction. Raises what fetching it raises
 * (#GP, #PF), as the interpreter would; nothing for the next page a block goes on into (the interpreter raises that
 * when an instruction gets there).
 */
export function blockAt(cpu: Cpu, fc: FetchCache): Block | null {
  const mode = cpu.codeSize;
  const lin = codeLinear(cpu, mode);
  codePage(cpu, fc, lin);
  const off = lin & PAGE_MASK, key = fc.pfn * PAGE_SIZE + off;
  const cache = cpu.blocks;
  const b = cache.byAddress.get(key);
  if (
    b !== undefined && b.valid && b.mode === mode && b.eip === cpu.eip && b.csBase === cpu.segBase[CS] &&
    b.csLimit === cpu.segLimit[CS] &&
    b.ripHigh === (mode === 8 ? cpu.ripHigh : 0)
  ) {
    if (b.checked === cpu.runEpoch && (b.nextPfn < 0 || b.nextEpoch === cpu.mem.epoch)) return b;
    const view = fc.view, next = b.nextPfn < 0 ? null : nextPage(cpu, fc, lin);
    // A block that goes on into the next linear page holds while that page maps the physical page it was compiled
    // from; else it is compiled again (below), as far as the next page allows.
    if (b.nextPfn < 0 || (next !== null && next.pfn === b.nextPfn)) {
      b.nextEpoch = cpu.mem.epoch;
      if (b.checked === cpu.runEpoch) return b;
      // The fetch cache's view may be another object over the same bytes: the block's own compares words.
      const own = view.buffer === b.view.buffer && view.byteOffset === b.view.byteOffset ? b.view : view;
      if (b.sameBytes(own, next && next.view)) {
        b.checked = cpu.runEpoch;
        return b;
      }
      // The host rewrote its page, or the next one, since the block was compiled.
      cpu.codeWritten(fc.pfn);
      if (next !== null) cpu.codeWritten(next.pfn);
      return null;
    }
  }
  if (!cache.hot(fc.pfn, off, cpu.runEpoch)) return null;
  const here: CodeView = { pfn: fc.pfn, view: fc.view, page: fc.page };
  const maps = mode === 8 ? OP_MAPS64 : OP_MAPS;
  const scan = scanBlock(cpu, here, off, cpu.eip, mode, maps, () => nextPage(cpu, fc, lin));
  const insns = scan.insns;
  if (insns.length === 0) {
    // An instruction across into a page not mapped now may start a block once it is.
    if (!scan.nextMissing) cache.never(fc.pfn, off);
    return null;
  }
  const rip = mode === 8 ? getRip(cpu) : cpu.eip;
  const csLimit = cpu.segLimit[CS], amd = cpu.vendor.name === "amd";
  // Mode "on" runs a new block in the first tier (threaded.ts) until it has run `cache.promote` times, unless the
  // block it replaces (dropped when its page was written, or evicted) had got that far.
  const at: { block?: Block } = {};
  const compiled = cache.promote <= 1 || cache.wasPromoted(fc.pfn, off)
    ? compile(scan, rip, csLimit, amd)
    : threaded(scan, rip, cache.promote, () => promote(cpu, at.block!, scan, rip, csLimit, amd));
  cpu.work += COMPILE_WORK * insns.length;
  if (compiled === null) {
    // A new shape beyond the process's budget of source (codegen.ts limitSources): the interpreter runs it.
    cache.never(fc.pfn, off);
    return null;
  }
  const ripHigh = mode === 8 ? cpu.ripHigh : 0;
  const block = new Block(
    fc.pfn,
    off,
    mode,
    cpu.segBase[CS],
    cpu.segLimit[CS],
    cpu.eip,
    ripHigh,
    scan,
    fc.view,
    cpu.runEpoch,
    cpu.mem.epoch,
    compiled.loop,
  );
  block.install(compiled);
  at.block = block;
  cache.add(key, block);
  return block;
}

/**
 * Compiles `block`, which ran in the first tier (threaded.ts) until now: its code, side exits and loop become the
 * compiled code's, and it forgets its successors (its exits are numbered anew). Null when its source would take the
 * process past its budget (codegen.ts limitSources): it stays in the first tier.
 */
function promote(cpu: Cpu, block: Block, scan: Scan, rip: number, csLimit: number, amd: boolean): Compiled | null {
  const compiled = compile(scan, rip, csLimit, amd);
  cpu.work += COMPILE_WORK * scan.insns.length;
  if (compiled === null) return null;
  block.install(compiled);
  cpu.blocks.promoted(block.pfn, block.off);
  cpu.blocks.stats.promoted++;
  return compiled;
}

/**
 * The code page after that of linear `lin` (the current code page of `fc`, which it stays), or null where a block may
 * not go on into it: it is not mapped for fetching at the CPL (its #PF is the interpreter's to raise, when an
 * instruction gets there: the walk's CR2 is put back), not RAM, or past a 4 GiB boundary of linear addresses (where
 * EIP or RIP's low half would wrap inside the block's code).
 */
function nextPage(cpu: Cpu, fc: FetchCache, lin: number): CodeView | null {
  const at = lin - (lin & PAGE_MASK) + PAGE_SIZE;
  if (at % TWO32 === 0) return null;
  const cr2 = cpu.cr2;
  try {
    codePage(cpu, fc, at);
  } catch (e) {
    if (!(e instanceof CpuFault) && !(e instanceof Unimplemented)) throw e;
    cpu.cr2 = cr2;
    return null;
  }
  const next: CodeView = { pfn: fc.pfn, view: fc.view, page: fc.page };
  codePage(cpu, fc, lin);
  return next;
}

/**
 * Runs blocks one after another from CS:EIP until one leaves for an unknown place, an exit is queued, or `cpu.work`
 * reaches `budget`. The first is the successor of the block where the last chain stopped (an exit, the budget or an
 * interrupt: `Cpu.chainFrom`) when EIP is still where that chain left it, else the block at CS:EIP (blockAt), so that
 * a KVM_RUN after an I/O exit goes on through a link as the chain would have. The instructions run are added to
 * `cpu.work` when the chain ends, however it ends (a block that faults included: a guest that faults every few
 * blocks once held a 10 ms run for 500 ms, the chains it ran lost). Returns the instructions run: 0 when no block
 * starts at CS:EIP (the interpreter takes the instruction), else at least 1. A chain that ends where no block starts
 * sets `cpu.chainMissed`: the interpreter takes that instruction next without a second search.
 */
export function runChain(cpu: Cpu, fc: FetchCache, budget: number): number {
  const stats = cpu.blocks.stats, run = cpu.runEpoch, from = cpu.chainFrom;
  cpu.chainFrom = null;
  // The stopped chain's block goes on by its link while EIP is where it left it (the host did not move it) and CS is
  // the block's own (else its fixed successors may not be: a system call's successor is checked in `next`).
  let b = from !== null && cpu.eip === cpu.chainEip && cpu.ripHigh === cpu.chainRipHigh &&
      (from.modal || sameCode(cpu, from))
    ? next(cpu, fc, from, cpu.chainExit, run)
    : blockAt(cpu, fc);
  if (b === null) return 0;
  let n = 0, runs = 0;
  try {
    for (;;) {
      // A looping block's code runs up to its budget divided by its length in iterations (codegen.ts LIM): its
      // budget is scaled so that the iterations of a loop shorter than the block (Block.loop) use it all.
      const result: number = b.fn(cpu, ((budget - cpu.work - n) * b.scale) | 0), k = result & 63;
      // A block whose load or store met a #PF returned -1, EIP at that instruction (Memory.faultCode: exec.ts delivers it).
      if (result < 0) return n;
      // Each iteration but the last ran the loop's instructions; the last one ran up to its exit: a side exit's Jcc,
      // else the block's end (a stop after an exit or a write to code counts the block's rest too).
      const last = k < EXIT_SIDE ? b.length : b.sides[k - EXIT_SIDE];
      n += b.loop * ((result >>> 6) - 1) + last;
      runs++;
      // An interrupt the irqchip raised meanwhile is taken between instructions, by the interpreter's loop. Compiling
      // counts as work too, so that compile churn ends the chain as running does. The next chain may go on from here.
      if (cpu.work + n >= budget || cpu.exits.length !== 0 || (cpu.intrRequest && cpu.eflRest & IF)) {
        cpu.chainFrom = b;
        cpu.chainExit = k;
        cpu.chainEip = cpu.eip;
        cpu.chainRipHigh = cpu.ripHigh;
        return n;
      }
      // A fast system call or system instruction at the block's end (Block.modal) may have set TF or RF (SYSRET loads
      // RFLAGS from R11, IRET from the stack): the interpreter runs the next instruction and its single step. The
      // epoch is read after it, at its new CPL. One that set IF, or an IRET that unmasked NMIs, lets the run loop take
      // what waited for that (an injected interrupt, an interrupt window, an NMI) before the next instruction.
      if (k === EXIT_ANY && b.modal && (cpu.eflRest & (TF | RF) || eventWaits(cpu))) return n;
      // The link, without a call, when `next` would take it as it is: made in this TLB epoch, its target checked in
      // this run, and for an indirect exit at CS:EIP (after a system call `next` compares CS too).
      let to: Block | null = b.links[k];
      if (
        to === null || b.linkEpochs[k] !== cpu.mem.epoch || to.checked !== run ||
        ((k === EXIT_ANY || k >= b.indirect) && (to.eip !== cpu.eip || to.ripHigh !== cpu.ripHigh || b.modal))
      ) {
        const found = next(cpu, fc, b, k, run);
        if (found === null) {
          cpu.chainMissed = true;
          return n;
        }
        to = found;
      }
      b = to;
    }
  } finally {
    cpu.work += n;
    stats.executed += runs;
    stats.insns += n;
  }
}

/** Whether an event the run loop delivers between instructions may be taken now (exec.ts run). */
function eventWaits(cpu: Cpu): boolean {
  return (cpu.eflRest & IF && (cpu.pendingIrq >= 0 || cpu.requestIrqWindow)) || cpu.nmiPending > 0 ||
    cpu.nmiInjected || cpu.pendingException >= 0;
}

/**
 * The block that follows `b`, which left by exit `k` in KVM_RUN `run`: its link, or the block at CS:EIP (blockAt),
 * which becomes the link. Null when no block starts there.
 */
function next(cpu: Cpu, fc: FetchCache, b: Block, k: number, run: number): Block | null {
  const epoch = cpu.mem.epoch, far = k === EXIT_ANY || k >= b.indirect;
  let to = b.links[k];
  // A fixed exit's successor holds while the TLB's epoch does and it was checked in this run (an invalid block
  // never is); an indirect one (RET, JMP/CALL r/m, a stop after a write to code) also needs the same EIP (and,
  // after a system call, the same CS: a SYSRET returns to 64-bit or to compatibility mode), and is looked up
  // among the last few the exit went to.
  if (far && to !== null && (to.eip !== cpu.eip || to.ripHigh !== cpu.ripHigh || (b.modal && !sameCode(cpu, to)))) {
    to = farTarget(cpu, b, k, epoch);
  }
  // A successor linked in this TLB epoch but not yet checked in this run (every KVM_RUN is a new run: the host may
  // have written guest code in between) is compared with its page in place, as blockAt would after finding it.
  // One that goes on into the next page, or was dropped (checked -1), is looked up again.
  if (
    to !== null && to.checked !== run && to.checked >= 0 && to.nextPfn < 0 && b.linkEpochs[k] === epoch &&
    to.sameBytes(to.view, null)
  ) to.checked = run;
  if (to === null || b.linkEpochs[k] !== epoch || to.checked !== run) {
    to = blockAt(cpu, fc);
    if (to === null) return null;
    if (far && b.links[k] !== null && b.linkEpochs[k] === epoch) keepFar(b, b.links[k]!, epoch);
    b.links[k] = to;
    b.linkEpochs[k] = epoch;
  }
  return to;
}

/** How many earlier targets of an indirect exit a block remembers (a RET returns to a few call sites). */
const FAR_TARGETS = 4;

/**
 * The earlier target of `b`'s indirect exit `k` (EXIT_ANY, or a tail's: Block.indirect) at CS:EIP, valid in this TLB
 * epoch and KVM_RUN, or null. Its indirect exits share the earlier targets.
 */
function farTarget(cpu: Cpu, b: Block, k: number, epoch: number): Block | null {
  if (b.farEpoch !== epoch) return null;
  const far = b.far;
  for (let i = 0; i < far.length; i++) {
    const t = far[i];
    if (
      t.eip === cpu.eip && t.ripHigh === cpu.ripHigh && t.checked === cpu.runEpoch && (!b.modal || sameCode(cpu, t))
    ) {
      // It becomes the link; the link it replaces takes its place among the earlier ones.
      const old = b.links[k];
      if (old != null && b.linkEpochs[k] === epoch) far[i] = old;
      else far.splice(i, 1);
      b.links[k] = t;
      b.linkEpochs[k] = epoch;
      return t;
    }
  }
  return null;
}

/** Whether `t` was compiled for the code segment CS holds now: its mode, base and limit (blockAt's key). */
function sameCode(cpu: Cpu, t: Block): boolean {
  return t.mode === cpu.codeSize && t.csBase === cpu.segBase[CS] && t.csLimit === cpu.segLimit[CS];
}

/** Remembers `t`, a target of `b`'s indirect exit that a new one replaces as its link. */
function keepFar(b: Block, t: Block, epoch: number): void {
  if (b.farEpoch !== epoch) {
    b.far.length = 0;
    b.farEpoch = epoch;
  }
  if (b.far.includes(t)) return;
  if (b.far.length === FAR_TARGETS) b.far.shift();
  b.far.push(t);
}
