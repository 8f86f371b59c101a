/**
 * Which instructions a compiled block may hold. A block runs with the CPU's
 * mode, CS, paging, TF and interrupt shadow fixed, so its body takes only
 * instructions that change none of them: integer, x87, MMX and SSE data
 * operations, the stack, port I/O (the block stops after an exit), RDTSC
 * and RDTSCP. Interrupts are taken between blocks (run.ts runChain), so
 * CLI, which only clears IF and so lets none in, may be held too. Near
 * branches end a block. Everything else (segment loads, far transfers,
 * string instructions, HLT, STI and POPF with their interrupt shadow or
 * window, control registers, INT, ...) is left to the interpreter.
 *
 * The decode table says which is which (insn.ts JitTemplate, copied into
 * `Insn.jit`): a template's name or "call" (the block calls the semantic
 * function) for what a block may hold, "" for what it may not; the
 * branches that end a block are found here by their template's name. A
 * new opcode is interpreted until its table entry names a template or
 * "call".
 *
 * @module
 */
import type { Insn, JitTemplate } from "../insn.ts";

/** How a block-ending branch leaves: to a fixed target and the next instruction, to a fixed target, or anywhere. */
export const END_COND = 1, END_DIRECT = 2, END_INDIRECT = 3;

/** Whether a block may hold `d` (in its body, or as the branch that ends it). */
export function blockHolds(d: Insn): boolean {
  return d.jit !== "";
}

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
