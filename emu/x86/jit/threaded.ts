/**
 * The first tier of a block: its instructions' semantic functions called one
 * after another by one function shared by every block (`threaded`), so that
 * V8 optimizes that function once, instead of each block's own code running
 * unoptimized until it is hot enough to tier up. A Linux boot compiles
 * thousands of blocks that each run a few hundred to a few thousand times:
 * measured on a PVH boot's first 96 M instructions (Deno), a compiled block
 * took about 0.7 ms on its first call, 60 us on each of its next 15, 13 us
 * up to its 256th and 4 us up to its 4096th (Ignition and Sparkplug running
 * code written for TurboFan), against 0.5 us once optimized. A block runs in
 * this tier until it has run `BlockCache.promote` times (cache.ts PROMOTE);
 * then `codegen.ts` compiles it (run.ts promote).
 *
 * It runs the same instructions as the compiled code, with the interpreter's
 * semantics: each one's EIP and next EIP set before its call (a fault leaves
 * EIP at the instruction), the block left as soon as an instruction goes
 * elsewhere than the next one in the block (a Jcc's taken branch through its
 * side exit, anything else through the indirect exit) or queues an exit or
 * writes code (codeGen).
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import type { Exec } from "../insn.ts";
import { setRip } from "../long/access.ts";
import { EFER_LMA } from "../control_bits.ts";
import type { Scan } from "./block.ts";
import { type Compiled, EXIT_ANY, EXIT_NEXT, EXIT_SIDE, EXIT_TAKEN, EXITS, nextIp, ONCE } from "./codegen.ts";
import { END_COND, END_DIRECT, endOf } from "./safe.ts";

/**
 * The first-tier code of the block `scan` entered at `rip` (the whole RIP in 64-bit mode, else EIP): its exits are
 * numbered as the compiled code's are (codegen.ts EXIT_*), its side exits one per Jcc on the way. `promote` is called
 * on its `after`th run, before it: the compiled code it returns runs that call instead (null: it stays here).
 */
export function threaded(scan: Scan, rip: number, after: number, promote: () => Compiled | null): Compiled {
  const insns = scan.insns, n = insns.length, last = n - 1;
  const execs: Exec[] = insns.map((d) => d.exec);
  const ips = scan.offs.map((o) => rip + (o - scan.offs[0]));
  const nexts = insns.map((d, i) => nextIp(d, ips[i]));
  // Where each instruction goes on to in the block: the next one's address (a followed JMP or CALL's target).
  const expect = nexts.map((x, i) => i < last ? ips[i + 1] : x);
  const eips = ips.map((ip) => ip >>> 0);
  const sides: number[] = [];
  const exits = insns.map((d, i) => {
    if (i === last || (d.jit !== "jcc" && d.jit !== "jccLong") || EXIT_SIDE + sides.length >= EXITS) return EXIT_ANY;
    sides.push(i + 1);
    return EXIT_SIDE + sides.length - 1;
  });
  const end = endOf(insns[last]);
  // The last instruction's exit when it goes on to the next address, and when it goes elsewhere.
  const onNext = end === END_DIRECT ? EXIT_TAKEN : end === undefined || end === END_COND ? EXIT_NEXT : EXIT_ANY;
  const onOther = end === END_DIRECT || end === END_COND ? EXIT_TAKEN : EXIT_ANY;
  let runs = 0;
  const fn = (c: Cpu, budget: number): number => {
    if (++runs === after) {
      const compiled = promote();
      if (compiled !== null) return compiled.fn(c, budget);
    }
    const g = c.codeGen;
    for (let i = 0;; i++) {
      c.eip = eips[i];
      c.nextEip = nexts[i];
      execs[i](c, insns[i]);
      // Within the block EIP is set before each instruction; only a way out sets it to where the block goes on.
      const to = c.nextEip;
      if (to !== expect[i]) return leave(c, to, i === last ? onOther : exits[i]);
      if (i === last) {
        return leave(c, to, onNext === EXIT_NEXT && (c.exits.length !== 0 || c.codeGen !== g) ? EXIT_ANY : onNext);
      }
      if (c.exits.length !== 0 || c.codeGen !== g) return leave(c, to, EXIT_ANY);
    }
  };
  // Its side exits are all Jccs', to fixed targets: none leaves through a RET (`indirect`, the first that may).
  const tier = { fn, sides, indirect: EXITS, loop: n };
  return tier;
}

/** Leaves a block for `to` (the whole RIP in 64-bit mode) through `exit`, after one iteration. */
function leave(c: Cpu, to: number, exit: number): number {
  if (c.efer & EFER_LMA) setRip(c, to);
  else c.eip = to;
  return ONCE | exit;
}
