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
 * this tier until `codegen.ts` compiles it (run.ts promote): on its
 * `BlockCache.promote`th run (cache.ts PROMOTE) when it loops, else once
 * blocks of its shape have made `BlockCache.promoteAlways` runs in the
 * process (PROMOTE_ALWAYS), its own or those of the same code in other VMs.
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
import { loopsBack } from "./templates.ts";
import { quiet, specialize } from "./first/forms.ts";

/**
 * The first-tier runs of each block shape (shapeOf) in this process, counted `BlockCache.promote` at a time, up to
 * MAX_SHAPES shapes: a block whose shape has made `BlockCache.promoteAlways` runs (in this VM or others: a guest run
 * again in a new VM, the same code at other addresses) is compiled after `promote` runs of its own; once a block of a
 * shape is compiled, its source's factory and V8's code for it exist, and the count stays at Infinity.
 */
const shapeRuns = new Map<number, number>();
/** The most shapes `shapeRuns` keeps (it starts again empty when full). */
const MAX_SHAPES = 65536;
/** A number for each semantic function (an opcode's entry in the decode table), for shapeOf. */
const execIds = new Map<Exec, number>();

/**
 * A 53-bit hash of what a block's compiled source follows from: its instructions as decoded, where each lies from the
 * entry, its main path's length and tails. Two blocks of one shape share their source; a collision only compiles a
 * block sooner.
 */
function shapeOf(scan: Scan): number {
  let a = 0x811c9dc5 ^ scan.main, b = 0x01000193 ^ scan.insns.length;
  const mix = (v: number) => {
    a = Math.imul(a ^ v, 0x01000193);
    b = Math.imul(b ^ v, 0x5bd1e995);
  };
  const o = scan.offs[0];
  scan.insns.forEach((d, i) => {
    let id = execIds.get(d.exec);
    if (id === undefined) execIds.set(d.exec, id = execIds.size);
    for (
      const v of [
        scan.offs[i] - o,
        id,
        d.op,
        d.len,
        d.size | (d.osize << 4) | (d.asize << 8) | ((d.seg + 1) << 12) | (d.eaSeg << 16) | (d.mode << 20),
        d.rep | (+d.lock << 8) | (d.mod << 9) | (d.reg << 11) | (d.rm << 15) | (d.scale << 19) | (d.rex << 21),
        d.base,
        d.index,
        d.disp,
        d.imm,
        d.imm2,
        d.vex | (d.vvvv << 8) | (d.vexL << 12) | (d.vexW << 13),
      ]
    ) mix(v | 0);
  });
  for (const [jcc, start] of scan.tails) mix(jcc << 8 | start);
  return (a >>> 0) * 0x200000 + (b >>> 11);
}

/**
 * The first-tier code of the block `scan` entered at `rip` (the whole RIP in 64-bit mode, else EIP): its exits are
 * numbered as the compiled code's are (codegen.ts EXIT_*), its side exits one per Jcc on the way. `promote` is called
 * before its `after`th run when it loops (a branch goes back to its entry: compiled, it runs the iterations inside one
 * call), else before the first of its `after`th runs at which the first-tier runs of its shape in the process
 * (shapeRuns, this block's included) come to `BlockCache.promoteAlways`: the compiled code it returns runs that call
 * instead (null: it stays here).
 */
export function threaded(scan: Scan, rip: number, after: number, promote: () => Compiled | null): Compiled {
  const insns = scan.insns, n = insns.length, last = n - 1;
  const ips = scan.offs.map((o) => rip + (o - scan.offs[0]));
  const nexts = insns.map((d, i) => nextIp(d, ips[i]));
  // Each instruction's semantics: its specialized closure (first/forms.ts) where it has one, else its generic one.
  const execs: Exec[] = insns.map((d, i) => specialize(d, nexts[i]) ?? d.exec);
  // The instructions before the last that touch only registers and flags: run without EIP stored or checks after.
  const calm = Uint8Array.from(insns, (d, i) => i < last && quiet(d) ? 1 : 0);
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
  const loops = insns.some((d, i) =>
    (d.jit === "jcc" || d.jit === "jccLong" || (i === last && end === END_DIRECT)) && loopsBack(d, nexts[i], ips[0])
  );
  let runs = 0, check = after, shape = -1;
  const fn = (c: Cpu, budget: number): number => {
    if (++runs === check) {
      if (shape < 0) shape = shapeOf(scan);
      if (shapeRuns.size >= MAX_SHAPES) shapeRuns.clear();
      const always = c.blocks.promoteAlways, total = (shapeRuns.get(shape) ?? 0) + after;
      shapeRuns.set(shape, total);
      if (loops || total >= always) {
        check = -1;
        const compiled = promote();
        if (compiled !== null) {
          shapeRuns.set(shape, Infinity);
          return compiled.fn(c, budget);
        }
      } else check = runs + after;
    }
    const g = c.codeGen;
    for (let i = 0;; i++) {
      if (calm[i] !== 0) {
        execs[i](c, insns[i]);
        continue;
      }
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
