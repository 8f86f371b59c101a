/**
 * Templates: the common integer instructions written out as JavaScript,
 * their registers, immediates, addresses and flag kinds as constants. This
 * module is the table by template name (the decode table's `jit`) and the
 * entry codegen.ts uses; each family has a module of its own:
 * `templates_alu.ts` (the ALU operations, ADC/SBB of 32 and 64 bits only,
 * TEST, INC/DEC, NOT/NEG on registers or a memory source),
 * `templates_rmw.ts` (those on a memory destination: a read-modify-write in
 * place when the write TLB holds the page, else the semantic function),
 * `templates_mov.ts` (MOV, MOVZX/MOVSX, MOVSXD, LEA, CMOVcc, SETcc),
 * `templates_mul.ts` (IMUL r64 and MUL/IMUL into rDX:rAX, their code in
 * templates64.ts), `templates_branch.ts` (Jcc, JMP rel, CALL rel, RET),
 * `templates_flags.ts` (which templates set which flags, conditions read
 * from the locals, the flags' liveness) and `templates_site.ts` (the
 * types and helpers they share); shifts and IMUL of 32 bits are in
 * eager.ts and templates64.ts, the stack in stack.ts. A low byte register
 * (AL, SIL, R8B...) is read and written as the low byte of its 32-bit
 * half, so that a looping block keeps it in a local.
 *
 * Flags stay lazy (flags.ts): a template that sets them keeps its operands
 * and result in the block's locals A, B, V (and the carry-in C of INC/DEC),
 * so that a Jcc or INC/DEC after it in the same block evaluates from
 * locals, and writes the lazy record into the CPU only when something may
 * see it (codegen.ts decides).
 *
 * @module
 */
import type { Insn, JitTemplate } from "../insn.ts";
import { popReg32, popReg64, pushReg32, pushReg64 } from "./stack.ts";
import { eagerOf, imulCode, isEager, shiftCode } from "./eager.ts";
import { isShift64, isShiftNarrow, shift64Code, shiftNarrowCode } from "./templates64.ts";
import { flags, notNeg } from "./templates_alu.ts";
import { cmov, lea, movExtend, movRegImm, movRegRm, movRmImm, movRmReg, movsxd, setcc } from "./templates_mov.ts";
import { imul64, mulAcc } from "./templates_mul.ts";
import { type Emitter, pure, type Site, type Template } from "./templates_site.ts";
export { branch, loopsBack, relativeTarget, skipOpen } from "./templates_branch.ts";
export { condition, flagsDead, flagSync, producerOf, readsFlags } from "./templates_flags.ts";
export { F_EAGER64, type Producer, type Site, type Template } from "./templates_site.ts";

/** A stack template's code (or nothing): its slow paths check for a queued exit themselves (Site.stop). */
function stack(emit: (d: Insn, site: Site) => string | undefined): Emitter {
  return (d, site) => pure(emit(d, site));
}

/** An eager template (eager.ts), as `code` writes it. */
function eager(code: typeof imulCode): Emitter {
  return (d, site) => isEager(d) ? pure(code(d, site.producer, site.amd, site.flagsDead === true)) : undefined;
}

/** A shift or rotate of a 64-bit register by 1 or an immediate (templates64.ts). */
function shift64(d: Insn, site: Site): Template | undefined {
  return isShift64(d) ? pure(shift64Code(d, site.amd, eagerOf(site.producer))) : undefined;
}

/** A shift of a 16-bit register by 1 or an immediate, or of a 32-bit one by CL (templates64.ts). */
function shiftNarrow(d: Insn, site: Site): Template {
  return { code: shiftNarrowCode(d, site.amd, eagerOf(site.producer)), mayExit: false };
}

/** A NOP: no code. 90 is one unless F3 makes it PAUSE (which the devices see) or REX.B XCHG R8, rAX. */
function nop(d: Insn): Template | undefined {
  return d.op === 0x90 && (d.rep === 0xf3 || d.rex & 1) ? undefined : pure("");
}

/** The templates of instructions a block's body may hold, by name (the decode table's `jit`, insn.ts JitTemplate). */
const TEMPLATES: Readonly<Partial<Record<JitTemplate, Emitter>>> = {
  aluRmReg: flags,
  aluRegRm: flags,
  aluAccImm: flags,
  aluRmImm: flags,
  testRmReg: flags,
  testRmImm: flags,
  testAccImm: flags,
  incDecReg: flags,
  incDecRm: flags,
  aluRmReg64: flags,
  aluRegRm64: flags,
  aluAccImm64: flags,
  aluRmImm64: flags,
  incDec64: flags,
  imul2: (d, site) => d.size === 8 ? imul64(d, site) : eager(imulCode)(d, site),
  mulAcc,
  shiftGroup: (d, site) =>
    d.size === 8 ? shift64(d, site) : isShiftNarrow(d) ? shiftNarrow(d, site) : eager(shiftCode)(d, site),
  shiftGroupZx: (d, site) => isShiftNarrow(d) ? shiftNarrow(d, site) : eager(shiftCode)(d, site),
  lea,
  movRmReg,
  movRegRm,
  cmov,
  movRegImm,
  movRmImm,
  movzx: movExtend(false),
  movsx: movExtend(true),
  movsxd,
  setcc,
  notNeg,
  nop,
  pushReg: stack(pushReg32),
  popReg: stack(popReg32),
  pushRegLong: stack(pushReg64),
  popRegLong: stack(popReg64),
};

/** The template of `d` at `site`, or undefined when it is called through its semantic function. */
export function template(d: Insn, site: Site): Template | undefined {
  return TEMPLATES[d.jit]?.(d, site);
}
