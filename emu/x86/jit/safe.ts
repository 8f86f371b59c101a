/**
 * Which instructions a compiled block may hold. A block runs with the CPU's
 * mode, CS, paging, IF, TF and interrupt shadow fixed, so its body takes
 * only instructions that change none of them: integer, x87, MMX and SSE
 * data operations, the stack, port I/O (the block stops after an exit).
 * Near branches end a block. Everything else (segment loads, far
 * transfers, string instructions, HLT, CLI/STI/POPF, control registers,
 * INT, ...) is left to the interpreter.
 *
 * The branches that end a block are found by their template name (the
 * decode table's `jit`, insn.ts JitTemplate). The body's set still holds
 * semantic functions, so a new opcode is interpreted until it is listed
 * here.
 *
 * @module
 */
import type { Exec, JitTemplate, OpSpec } from "../insn.ts";
import { OP_MAPS } from "../optable.ts";
import { OP_MAPS64, ZERO_EXTENDED } from "../long/optable64.ts";
import * as alu from "../ops/alu.ts";
import * as bcd from "../ops/bcd.ts";
import * as bit from "../ops/bit.ts";
import * as bmi from "../ops/bmi.ts";
import * as io from "../ops/io.ts";
import * as md from "../ops/muldiv.ts";
import * as mov from "../ops/mov.ts";
import * as sh from "../ops/shift.ts";
import * as stk from "../ops/stack.ts";
import * as sys from "../ops/system.ts";
import * as c64 from "../ops/stack.ts";
import { X87_ESCAPES } from "../ops/x87_table.ts";
import { installSse, SSE_MAPS } from "../sse/optable.ts";

/** How a block-ending branch leaves: to a fixed target and the next instruction, to a fixed target, or anywhere. */
export const END_COND = 1, END_DIRECT = 2, END_INDIRECT = 3;

/** Every function exported by `module` (exports that are not semantics are never looked up). */
function functions(module: Record<string, unknown>, except: readonly unknown[] = []): Exec[] {
  return Object.values(module).filter((f): f is Exec => typeof f === "function" && !except.includes(f));
}

/** Every semantic function reachable from `spec`. */
function walk(spec: OpSpec | undefined, into: Set<Exec>): void {
  if (!spec) return;
  if (spec.exec) into.add(spec.exec);
  if (spec.exec64) into.add(spec.exec64);
  for (const list of [spec.group, spec.pfx, spec.regForm]) list?.forEach((s) => walk(s, into));
}

/** The SSE/MMX entries of the 0F maps (what `installSse` adds), and the 0F38/0F3A/VEX maps. */
function vectorOps(into: Set<Exec>): void {
  const added: (OpSpec | undefined)[] = new Array(256).fill(undefined);
  installSse(added);
  added.forEach((s, i) => {
    if (s) {
      walk(OP_MAPS.two[i], into);
      walk(OP_MAPS64.two[i], into);
    }
  });
  for (const maps of [SSE_MAPS, OP_MAPS, OP_MAPS64]) {
    maps.three38.forEach((s) => walk(s, into));
    maps.three3a.forEach((s) => walk(s, into));
    for (const m of maps.vex) m?.forEach((s) => walk(s, into));
  }
  X87_ESCAPES.forEach((s) => walk(s, into));
}

/** Instructions that may stand anywhere in a block. */
export const BODY: ReadonlySet<Exec> = (() => {
  const s = new Set<Exec>([
    ...functions(alu),
    ...functions(bcd),
    ...functions(bit),
    ...functions(bmi),
    ...functions(md),
    ...functions(sh),
    ...functions(mov, [mov.movSregRm, mov.loadFarPointer, mov.loadFarLong]),
    stk.pushReg,
    stk.popReg,
    stk.pushImm,
    stk.pushRm,
    stk.popRm,
    stk.pusha,
    stk.popa,
    stk.pushf,
    stk.leave,
    stk.enter,
    c64.pushRegLong,
    c64.popRegLong,
    c64.pushImmLong,
    c64.pushRmLong,
    c64.popRmLong,
    c64.pushfLong,
    c64.leaveLong,
    c64.enterLong,
    sys.flagOp,
    sys.cpuid,
    sys.rdtsc,
    sys.nopRm,
    io.inPort,
    io.outPort,
  ]);
  vectorOps(s);
  for (const [wrapper, inner] of ZERO_EXTENDED) if (s.has(inner)) s.add(wrapper);
  return s;
})();

/** Near branches, which end a block, by their template (the decode table's `jit`) and how they leave it. */
export const ENDS: ReadonlyMap<JitTemplate, number> = new Map<JitTemplate, number>([
  ["jcc", END_COND],
  ["loop", END_COND],
  ["jccLong", END_COND],
  ["loopLong", END_COND],
  ["jmpRel", END_DIRECT],
  ["callRel", END_DIRECT],
  ["jmpRelLong", END_DIRECT],
  ["callRelLong", END_DIRECT],
  ["ret", END_INDIRECT],
  ["jmpRm", END_INDIRECT],
  ["callRm", END_INDIRECT],
  ["retLong", END_INDIRECT],
  ["jmpRmLong", END_INDIRECT],
  ["callRmLong", END_INDIRECT],
]);
