/**
 * Descriptor inspection without loading: LAR, LSL, VERR, VERW, and ARPL.
 * They report through ZF and never fault for a selector that is null,
 * outside its table or not visible at the current privilege level; they
 * are invalid (#UD) in real and virtual-8086 mode.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { ZF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { fault, UD } from "../fault.ts";
import { VM } from "../flags.ts";
import { descLimit, type Descriptor, linPlus, tableLinear } from "../segment.ts";
import { AR_P, AR_UNUSABLE, LDTR } from "../state.ts";

/** System descriptor types LAR accepts: TSSs (available and busy), LDT, call, task gates. */
const LAR_TYPES = new Set([1, 2, 3, 4, 5, 9, 0xb, 0xc]);
/** System descriptor types LSL accepts: TSSs and LDT. */
const LSL_TYPES = new Set([1, 2, 3, 9, 0xb]);

function requireProtected(cpu: Cpu): void {
  if (!(cpu.cr0 & 1) || cpu.eflRest & VM) fault(UD);
}

function setZf(cpu: Cpu, on: boolean): void {
  cpu.setArith((cpu.arith() & ~ZF) | (on ? ZF : 0));
}

/** The descriptor `sel` selects, or null for a null selector or one outside its table (no fault). */
function lookup(cpu: Cpu, sel: number): Descriptor | null {
  if ((sel & 0xfffc) === 0) return null;
  let base = cpu.gdtBase, limit = cpu.gdtLimit;
  if (sel & 4) {
    if (cpu.segAr[LDTR] & AR_UNUSABLE || !(cpu.segAr[LDTR] & AR_P)) return null;
    base = cpu.segBase[LDTR];
    limit = cpu.segLimit[LDTR];
  }
  const off = sel & 0xfff8;
  if (off + 7 > limit) return null;
  const addr = tableLinear(cpu, base, off);
  return { lo: cpu.mem.sysRead(addr, 4), hi: cpu.mem.sysRead(linPlus(addr, 4), 4), addr };
}

/** Whether the current privilege level may see the descriptor (conforming code is always visible). */
function visible(cpu: Cpu, sel: number, hi: number): boolean {
  const dpl = (hi >>> 13) & 3;
  if ((hi & 0x1c00) === 0x1c00) return true;
  return dpl >= cpu.cpl && dpl >= (sel & 3);
}

/** The descriptor for LAR/LSL when its type is in `types` and it is visible, else null. */
function inspect(cpu: Cpu, sel: number, types: Set<number>): Descriptor | null {
  const d = lookup(cpu, sel);
  if (!d) return null;
  if (!(d.hi & 0x1000) && !types.has((d.hi >>> 8) & 0xf)) return null;
  return visible(cpu, sel, d.hi) ? d : null;
}

/** 0F 02: LAR r, r/m16: the access-rights bytes of a descriptor. */
export function lar(cpu: Cpu, d: Insn): void {
  requireProtected(cpu);
  const sel = cpu.readRmSize(d, 2);
  const desc = inspect(cpu, sel, LAR_TYPES);
  if (desc) cpu.setReg(d.reg, d.osize, d.osize === 4 ? (desc.hi & 0x00ffff00) >>> 0 : desc.hi & 0xff00);
  setZf(cpu, desc !== null);
}

/** 0F 03: LSL r, r/m16: a descriptor's limit in bytes. */
export function lsl(cpu: Cpu, d: Insn): void {
  requireProtected(cpu);
  const sel = cpu.readRmSize(d, 2);
  const desc = inspect(cpu, sel, LSL_TYPES);
  if (desc) cpu.setReg(d.reg, d.osize, d.osize === 4 ? descLimit(desc) : descLimit(desc) & 0xffff);
  setZf(cpu, desc !== null);
}

/** 0F 00 /4 VERR, /5 VERW: whether the segment could be read (written) at the current privilege level. */
export function verify(cpu: Cpu, d: Insn): void {
  requireProtected(cpu);
  const sel = cpu.readRmSize(d, 2);
  const desc = lookup(cpu, sel);
  let ok = false;
  if (desc && desc.hi & 0x1000) {
    const type = (desc.hi >>> 8) & 0xf, code = (type & 8) !== 0;
    if (d.reg === 4) ok = (!code || (type & 2) !== 0) && visible(cpu, sel, desc.hi);
    else ok = !code && (type & 2) !== 0 && visible(cpu, sel, desc.hi);
  }
  setZf(cpu, ok);
}

/** 63: ARPL r/m16, r16: raises the RPL of the destination selector to the source's. */
export function arpl(cpu: Cpu, d: Insn): void {
  requireProtected(cpu);
  const dst = cpu.readRmSize(d, 2), src = cpu.getReg(d.reg, 2);
  const raise = (dst & 3) < (src & 3);
  if (raise) {
    const v = (dst & ~3) | (src & 3);
    if (d.mod === 3) cpu.setReg(d.rm, 2, v);
    else cpu.write(cpu.seg(d), cpu.ea(d), 2, v);
  }
  setZf(cpu, raise);
}
