/**
 * x87 arithmetic and comparison instructions: FADD/FMUL/FSUB/FSUBR/FDIV/
 * FDIVR (register, m32fp, m64fp, m16int, m32int, and the popping DE forms),
 * FCOM/FCOMP/FCOMPP/FICOM/FICOMP, FUCOM/FUCOMP/FUCOMPP, FCOMI/FCOMIP/
 * FUCOMI/FUCOMIP, FTST, FXAM, and the one-register operations FCHS, FABS,
 * FSQRT, FRNDINT, FSCALE, FPREM, FPREM1.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { CF, PF, ZF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { add, div, mul, sqrt } from "../fpu/arith.ts";
import { fromF32, fromF64, fromInt } from "../fpu/convert.ts";
import { type F80, f80, zero } from "../fpu/f80.ts";
import { compare, examine, prem, rndint, scale } from "../fpu/misc.ts";
import { SF } from "../fpu/round.ts";
import { SW_C0, SW_C1, SW_C2, SW_C3, SW_CC } from "../fpu/state.ts";
import { begin, commit, ENV, next, operand, storable, underflow } from "./x87_core.ts";

/** Condition codes (C3 C2 C0) of GREATER, LESS, EQUAL, UNORDERED. */
const COM_CC = [0, SW_C0, SW_C3, SW_C3 | SW_C2 | SW_C0];
/** EFLAGS (ZF PF CF) of GREATER, LESS, EQUAL, UNORDERED. */
const COMI_FLAGS = [0, CF, ZF, ZF | PF | CF];

/** dest op src for the ModRM.reg operation numbers 0 add, 1 mul, 4 sub, 5 subr, 6 div, 7 divr. */
function calc(k: number, a: F80, b: F80): F80 {
  switch (k) {
    case 0:
      return add(ENV, a, b, 0);
    case 1:
      return mul(ENV, a, b);
    case 4:
      return add(ENV, a, b, 1);
    case 5:
      return add(ENV, b, a, 1);
    case 6:
      return div(ENV, a, b);
    default:
      return div(ENV, b, a);
  }
}

/** The memory source of D8 (m32fp), DC (m64fp), DA (m32int), DE (m16int), as an arithmetic operand. */
function memSource(cpu: Cpu, d: Insn): F80 {
  const [seg, off] = operand(cpu, d);
  switch (d.op) {
    case 0xd8:
      return fromF32(ENV, cpu.read(seg, off, 4), true);
    case 0xdc:
      return fromF64(ENV, cpu.read(seg, off, 4), cpu.read(seg, next(d, off, 4), 4), true);
    case 0xda:
      return fromInt(BigInt(cpu.read(seg, off, 4) | 0));
    default:
      return fromInt(BigInt((cpu.read(seg, off, 2) << 16) >> 16));
  }
}

/** Sets C3/C2/C0 from a comparison of ST(0) with `b` (null: an empty source), popping `pops` times. */
function fcom(cpu: Cpu, b: F80 | null, bEmpty: boolean, quiet: boolean, pops: number): void {
  const fpu = cpu.fpu;
  let rel = 3;
  if (fpu.isEmpty(0) || bEmpty || !b) underflow();
  else rel = compare(ENV, fpu.st(0), b, quiet);
  const ok = storable(fpu);
  if (ok) { for (let i = 0; i < pops; i++) fpu.pop(); }
  // The host sets the condition codes even when an unmasked exception keeps it from popping.
  commit(fpu, COM_CC[rel]);
}

/** D8 /r, DC /r, DA /r, DE /r with a memory operand: arithmetic or FCOM/FCOMP with ST(0). */
export function arithMem(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d);
  const src = memSource(cpu, d);
  if (d.reg === 2 || d.reg === 3) return fcom(cpu, src, false, false, d.reg - 2);
  const r = fpu.isEmpty(0) ? underflow() : calc(d.reg, fpu.st(0), src);
  if (storable(fpu)) fpu.setSt(0, r);
  commit(fpu);
}

/** D8 C0-FF: ST(0) = ST(0) op ST(i), and FCOM/FCOMP ST(i). */
export function arithSt0(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d), i = d.rm & 7;
  if (d.reg === 2 || d.reg === 3) return fcom(cpu, fpu.st(i), fpu.isEmpty(i), false, d.reg - 2);
  const r = fpu.isEmpty(0) || fpu.isEmpty(i) ? underflow() : calc(d.reg, fpu.st(0), fpu.st(i));
  if (storable(fpu)) fpu.setSt(0, r);
  commit(fpu);
}

/** DC C0-FF and DE C0-FF (popping): ST(i) = ST(i) op ST(0), SUB/SUBR and DIV/DIVR swapped. */
export function arithSti(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d), i = d.rm & 7, k = d.reg >= 4 ? d.reg ^ 1 : d.reg;
  const r = fpu.isEmpty(0) || fpu.isEmpty(i) ? underflow() : calc(k, fpu.st(i), fpu.st(0));
  if (storable(fpu)) {
    fpu.setSt(i, r);
    if (d.op === 0xde) fpu.pop();
  }
  commit(fpu);
}

/** DD E0-EF: FUCOM/FUCOMP ST(i); DE D9: FCOMPP; DA E9: FUCOMPP. */
export function fcomReg(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d);
  if (d.op === 0xde) return fcom(cpu, fpu.st(1), fpu.isEmpty(1), false, 2);
  if (d.op === 0xda) return fcom(cpu, fpu.st(1), fpu.isEmpty(1), true, 2);
  const i = d.rm & 7;
  fcom(cpu, fpu.st(i), fpu.isEmpty(i), true, d.reg === 5 ? 1 : 0);
}

/** DB F0/E8 (FCOMI/FUCOMI) and DF F0/E8 (FCOMIP/FUCOMIP) ST(i): ZF, PF, CF; OF, SF, AF cleared. */
export function fcomi(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d), i = d.rm & 7;
  let rel = 3;
  if (fpu.isEmpty(0) || fpu.isEmpty(i)) underflow();
  else rel = compare(ENV, fpu.st(0), fpu.st(i), d.reg === 5);
  const ok = storable(fpu);
  cpu.setArith(COMI_FLAGS[rel]); // even under an unmasked exception, as on the host
  if (ok && d.op === 0xdf) fpu.pop();
  // C1 is left alone unless a stack fault cleared it (as on the host).
  if (!(ENV.flags & SF)) ENV.c1 = (fpu.sw >> 9) & 1;
  commit(fpu);
}

/** D9 E4: FTST (compare ST(0) with +0.0). */
export function ftst(cpu: Cpu, d: Insn): void {
  begin(cpu, d);
  fcom(cpu, zero(0), false, false, 0);
}

/** D9 E5: FXAM (class of ST(0) in C3 C2 C0, its sign in C1; an empty register is a class of its own). */
export function fxam(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d);
  const v = fpu.st(0), c = examine(v, fpu.isEmpty(0));
  fpu.sw = (fpu.sw & ~SW_CC) | (c & 4 ? SW_C3 : 0) | (c & 2 ? SW_C2 : 0) |
    (c & 1 ? SW_C0 : 0) | (v.sign ? SW_C1 : 0);
}

/** D9 E0, E1, FA, FC, FD, F8, F5: FCHS, FABS, FSQRT, FRNDINT, FSCALE, FPREM, FPREM1. */
export function unary(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d), op = (d.rm & 7) | (d.reg << 3);
  const twoOperands = op === 0x3d || op === 0x38 || op === 0x35;
  if (fpu.isEmpty(0) || (twoOperands && fpu.isEmpty(1))) {
    const r = underflow();
    if (storable(fpu)) fpu.setSt(0, r);
    // FPREM and FPREM1 clear C2 on a stack fault (as the host does).
    return commit(fpu, 0, op === 0x38 || op === 0x35 ? SW_C2 : 0);
  }
  const a = fpu.st(0);
  let r: F80, cc = -1;
  switch (op) {
    case 0x20:
      r = f80(a.sign ^ 1, a.exp, a.hi, a.lo);
      break;
    case 0x21:
      r = f80(0, a.exp, a.hi, a.lo);
      break;
    case 0x3a:
      r = sqrt(ENV, a);
      break;
    case 0x3c:
      r = rndint(ENV, a);
      break;
    case 0x3d:
      r = scale(ENV, a, fpu.st(1));
      break;
    default: {
      const q = prem(ENV, a, fpu.st(1), op === 0x35, cpu.vendor.name === "intel");
      r = q.value;
      cc = (q.incomplete ? SW_C2 : 0) | (q.q & 4 ? SW_C0 : 0) | (q.q & 2 ? SW_C3 : 0);
      ENV.c1 = q.q & 1;
      if (q.invalid) {
        // A NaN or invalid operand (or an unmasked DE) leaves C0 and C3 alone and clears C1 and C2, as on the host.
        ENV.c1 = 0;
        if (storable(fpu)) fpu.setSt(0, r);
        return commit(fpu, 0, SW_C2);
      }
    }
  }
  if (storable(fpu)) fpu.setSt(0, r);
  commit(fpu, cc);
}
