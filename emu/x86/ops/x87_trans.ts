/**
 * The x87 transcendental instructions: FSIN, FCOS, FSINCOS, FPTAN (C2 set
 * and the operand kept when |x| >= 2^63), FPATAN, F2XM1, FYL2X, FYL2XP1,
 * with their stack faults. The values come from fpu/trans.ts.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import type { Insn } from "../insn.ts";
import { type F80, fromSig } from "../fpu/f80.ts";
import { f2xm1, patan, trig, yl2x, yl2xp1 } from "../fpu/trans.ts";
import { SW_C2 } from "../fpu/state.ts";
import { begin, commit, ENV, overflow, storable, underflow } from "./x87_core.ts";

/** D9 FE, FF, FB, F2: FSIN, FCOS, FSINCOS, FPTAN. */
export function ftrig(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d), rm = d.rm & 7;
  const which = rm === 6 ? 0 : rm === 7 ? 1 : rm === 3 ? 2 : 3;
  const pushes = which >= 2;
  if (fpu.isEmpty(0)) {
    const r = underflow();
    if (storable(fpu)) {
      fpu.setSt(0, r);
      if (pushes) fpu.push(r);
    }
    return commit(fpu, 0, SW_C2);
  }
  if (pushes && !fpu.isEmpty(7)) {
    const r = overflow();
    if (storable(fpu)) {
      fpu.setSt(0, r);
      fpu.push(r);
    }
    return commit(fpu, 0, SW_C2);
  }
  const t = trig(ENV, fpu.st(0), which);
  if (t.c2) return commit(fpu, SW_C2, SW_C2);
  if (storable(fpu)) {
    fpu.setSt(0, t.a);
    if (which === 2) fpu.push(t.b);
    else if (which === 3) fpu.push(fromSig(0, 0x3fff, 1n << 63n));
  }
  commit(fpu, 0, SW_C2);
}

/** D9 F0: F2XM1. */
export function f2xm1Op(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d);
  const r = fpu.isEmpty(0) ? underflow() : f2xm1(ENV, fpu.st(0));
  if (storable(fpu)) fpu.setSt(0, r);
  commit(fpu);
}

/** D9 F3, F1, F9: FPATAN, FYL2X, FYL2XP1 (ST(1) = f(ST(0), ST(1)), then pop). */
export function fbinary(cpu: Cpu, d: Insn): void {
  const fpu = begin(cpu, d), rm = d.rm & 7;
  let r: F80;
  if (fpu.isEmpty(0) || fpu.isEmpty(1)) r = underflow();
  else {
    const x = fpu.st(0), y = fpu.st(1);
    r = rm === 3 ? patan(ENV, y, x) : rm === 1 ? yl2x(ENV, x, y) : yl2xp1(ENV, x, y);
  }
  if (storable(fpu)) {
    fpu.setSt(1, r);
    fpu.pop();
  }
  commit(fpu);
}
