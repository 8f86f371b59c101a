/**
 * Which instructions a compiled block may hold. A block runs with the CPU's
 * mode, CS, paging, TF and interrupt shadow fixed, so its body takes only
 * instructions that change none of them: integer, x87, MMX and SSE data
 * operations, the stack, port I/O (the block stops after an exit), RDTSC
 * and RDTSCP. Interrupts are taken between blocks (run.ts runChain), so
 * CLI, which only clears IF and so lets none in, may be held too. Near
 * branches end a block, and so do the fast system calls (SYSCALL, SYSRET,
 * SYSENTER, SYSEXIT: `SYSTEM_CALLS`), as the block's last instruction: they
 * change CS, SS, the CPL and the flags, which nothing after them in the
 * block could then assume (runChain checks the next block's CS, and stops
 * when they leave TF or RF set). Everything else (segment loads, far transfers,
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

/**
 * The fast system calls by opcode (0F 05 SYSCALL, 0F 07 SYSRET, 0F 34 SYSENTER, 0F 35 SYSEXIT): a block may end with
 * one, as an indirect exit that calls its semantic function. Their decode table entries name no template (they
 * are not data operations), so they are known here by opcode.
 */
export const SYSTEM_CALLS: ReadonlySet<number> = new Set([0x105, 0x107, 0x134, 0x135]);

/** Whether `d` is a fast system call (SYSTEM_CALLS). */
export function isSystemCall(d: Insn): boolean {
  return d.jit === "" && SYSTEM_CALLS.has(d.op);
}

/** Whether a block may hold `d` (in its body, or as the branch that ends it). */
export function blockHolds(d: Insn): boolean {
  return d.jit !== "" || SYSTEM_CALLS.has(d.op);
}

/** How `d` ends a block (END_COND, END_DIRECT, END_INDIRECT), or undefined when it does not. */
export function endOf(d: Insn): number | undefined {
  return d.jit === "" ? (SYSTEM_CALLS.has(d.op) ? END_INDIRECT : undefined) : ENDS.get(d.jit);
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
