/**
 * Segment loads: real mode (base = selector * 16) and protected mode
 * (descriptor fetch from the GDT or LDT, with the type, privilege and
 * presence checks of MOV/POP to a segment register and of far transfers).
 *
 * @module
 */
import { fault, GP, NP, SSF } from "./fault.ts";
import { VM } from "./flags.ts";
import type { Cpu } from "./cpu.ts";
import { AR_L, AR_P, AR_UNUSABLE, CS, LDTR, SS } from "./state.ts";
import { lin48 } from "./long/access.ts";
import { EFER_LMA } from "./control_bits.ts";

/** A raw 8-byte descriptor as two 32-bit words, and where it lives. */
export interface Descriptor {
  lo: number;
  hi: number;
  /** Linear address of the descriptor (for the accessed bit). */
  addr: number;
}

/**
 * The linear address `off` bytes into a system table (GDT, LDT, IDT, TSS) at `base`: in IA-32e mode a table may
 * lie anywhere in the 64-bit address space (Linux keeps its GDT in the cpu_entry_area at 0xfffffe0000001000), so
 * the sum is the 48-bit linear form of the signed address; otherwise it wraps at 4 GiB.
 */
export function tableLinear(cpu: Cpu, base: number, off: number): number {
  if (!(cpu.efer & EFER_LMA)) return (base + off) >>> 0;
  return lin48((base >= 2 ** 63 ? base - 2 ** 64 : base) + off);
}

/** The linear address `n` bytes after `lin`, a system table address from tableLinear (wrapping as it does). */
export function linPlus(lin: number, n: number): number {
  return lin > 0xffffffff ? lin + n : (lin + n) >>> 0;
}

/** Reads the descriptor `sel` selects, or raises #GP(sel) when outside the table. */
export function readDescriptor(cpu: Cpu, sel: number): Descriptor {
  let base: number, limit: number;
  if (sel & 4) {
    if (cpu.segAr[LDTR] & AR_UNUSABLE || !(cpu.segAr[LDTR] & AR_P)) fault(GP, sel & 0xfffc);
    base = cpu.segBase[LDTR];
    limit = cpu.segLimit[LDTR];
  } else {
    base = cpu.gdtBase;
    limit = cpu.gdtLimit;
  }
  const off = sel & 0xfff8;
  if (off + 7 > limit) fault(GP, sel & 0xfffc);
  const addr = tableLinear(cpu, base, off);
  return { lo: cpu.mem.sysRead(addr, 4), hi: cpu.mem.sysRead(linPlus(addr, 4), 4), addr };
}

/** Base of a descriptor. */
export function descBase(d: Descriptor): number {
  return ((d.lo >>> 16) | ((d.hi & 0xff) << 16) | (d.hi & 0xff000000)) >>> 0;
}

/** Limit of a descriptor in bytes (granularity applied). */
export function descLimit(d: Descriptor): number {
  const raw = (d.lo & 0xffff) | (d.hi & 0xf0000);
  return d.hi & 0x800000 ? ((raw << 12) | 0xfff) >>> 0 : raw;
}

/** Access rights of a descriptor in the cache's packed form. */
export function descAr(d: Descriptor): number {
  return ((d.hi >>> 8) & 0xff) | ((d.hi >>> 8) & 0xf000);
}

/** Sets the accessed bit of a code/data descriptor. */
export function markAccessed(cpu: Cpu, d: Descriptor): void {
  if (!(d.hi & 0x100)) cpu.mem.sysWrite(linPlus(d.addr, 4), 4, (d.hi | 0x100) >>> 0);
}

/** Puts a descriptor into segment register `seg`'s cache. */
export function setCache(cpu: Cpu, seg: number, sel: number, d: Descriptor): void {
  cpu.segSel[seg] = sel;
  cpu.segBase[seg] = descBase(d);
  cpu.segLimit[seg] = descLimit(d);
  cpu.segAr[seg] = descAr(d) | 0x1;
}

/** MOV/POP/LDS... to ES, SS, DS, FS or GS, with the mode's checks. */
export function loadSeg(cpu: Cpu, seg: number, sel: number): void {
  if (!(cpu.cr0 & 1) || cpu.eflRest & VM) {
    cpu.loadSegReal(seg, sel);
    return;
  }
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0) {
    // 64-bit mode lets CPL 0-2 load a null SS whose RPL is the CPL (SDM, MOV: "CS.L = 0 or CPL = 3 or CPL != RPL").
    const nullSsOk = cpu.efer & 0x400 && cpu.segAr[CS] & AR_L && cpu.cpl < 3 && rpl === cpu.cpl;
    if (seg === SS && !nullSsOk) fault(GP, 0);
    cpu.segSel[seg] = sel;
    cpu.segAr[seg] = AR_UNUSABLE;
    cpu.segBase[seg] = 0;
    cpu.segLimit[seg] = 0;
    return;
  }
  const d = readDescriptor(cpu, sel);
  const ar = descAr(d), type = ar & 0xf, dpl = (ar >> 5) & 3;
  if (!(ar & 0x10)) fault(GP, sel & 0xfffc);
  if (seg === SS) {
    if (rpl !== cpu.cpl || dpl !== cpu.cpl || type & 8 || !(type & 2)) fault(GP, sel & 0xfffc);
    if (!(ar & AR_P)) fault(SSF, sel & 0xfffc);
  } else {
    if ((type & 0xa) === 0x8) fault(GP, sel & 0xfffc); // execute-only code
    const conformingCode = (type & 0xc) === 0xc;
    if (!conformingCode && dpl < Math.max(cpu.cpl, rpl)) fault(GP, sel & 0xfffc);
    if (!(ar & AR_P)) fault(NP, sel & 0xfffc);
  }
  markAccessed(cpu, d);
  setCache(cpu, seg, sel, d);
}

/** Loads CS for a far transfer to a code segment (no gates): returns the new CPL. */
export function loadCsDirect(cpu: Cpu, sel: number, d: Descriptor): number {
  const ar = descAr(d), dpl = (ar >> 5) & 3, rpl = sel & 3;
  if ((ar & 0x18) !== 0x18) fault(GP, sel & 0xfffc);
  if (ar & 4) {
    if (dpl > cpu.cpl) fault(GP, sel & 0xfffc);
  } else if (rpl > cpu.cpl || dpl !== cpu.cpl) fault(GP, sel & 0xfffc);
  if (!(ar & AR_P)) fault(NP, sel & 0xfffc);
  markAccessed(cpu, d);
  const cpl = cpu.cpl;
  setCache(cpu, CS, (sel & 0xfffc) | cpl, d);
  return cpl;
}
