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

/**
 * The system instructions a block may end with in 64-bit mode, as the fast system calls do (a call leaving through
 * its indirect exit, after which runChain checks CS and stops for TF or RF): IRET (CS, SS, the CPL and RFLAGS),
 * 0F 01 /7 (INVLPG m: a translation; SWAPGS: GS.base), MOV r, CRn and MOV CRn, r (CR0's PE and PG cannot change in
 * 64-bit mode: only translations, which the next block's guards read again, and CR8), RDMSR and WRMSR. A kernel
 * runs them often (Linux's PVH boot to /init: 110,000 IRETQs, 77,000 INVLPGs, 17,000 MOV CR3s), and each took a way
 * out of the block, the interpreter and a new block search; a #PF handler reads CR2 and returns with IRETQ. None of
 * them sets an interrupt shadow or changes the mode or CS.D in 64-bit mode. MOVS and STOS (A4, A5, AA, AB) end a
 * block the same way: a REP of them (240,000 REP STOSQs clear pages in that boot) runs a chunk at a time and, where
 * a chunk or an exit stops it, leaves for itself (RIP at the REP), as the interpreter's step does.
 */
export const SYSTEM_ENDS: ReadonlySet<number> = new Set([
  0xcf,
  0x101,
  0x120,
  0x122,
  0x130,
  0x132,
  0xa4,
  0xa5,
  0xaa,
  0xab,
]);

/** Whether `d` is a fast system call (SYSTEM_CALLS) or a system instruction that may end a block (SYSTEM_ENDS). */
export function isSystemCall(d: Insn): boolean {
  return d.jit === "" && (SYSTEM_CALLS.has(d.op) || systemEnd(d));
}

/** Whether `d`, an instruction without a template, is one of SYSTEM_ENDS in 64-bit mode (0F 01 only as /7). */
function systemEnd(d: Insn): boolean {
  return d.mode === 8 && SYSTEM_ENDS.has(d.op) && (d.op !== 0x101 || (d.reg & 7) === 7);
}

/** Whether a block may hold `d` (in its body, or as the branch that ends it). */
export function blockHolds(d: Insn): boolean {
  return d.jit !== "" || SYSTEM_CALLS.has(d.op) || systemEnd(d);
}

/** How `d` ends a block (END_COND, END_DIRECT, END_INDIRECT), or undefined when it does not. */
export function endOf(d: Insn): number | undefined {
  return d.jit === "" ? (SYSTEM_CALLS.has(d.op) || systemEnd(d) ? END_INDIRECT : undefined) : ENDS.get(d.jit);
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
