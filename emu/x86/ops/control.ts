/**
 * Control transfer: Jcc, JMP, CALL, RET (near and far), LOOP/LOOPE/LOOPNE,
 * JCXZ/JECXZ, INT n/INT3/INTO/INT1, IRET, far JMP/CALL to code segments.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { IF, IOPL, MASK, NT, RF, VM } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { BP, fault, GP, OFV, SSF, Unimplemented } from "../fault.ts";
import { deliver } from "../interrupt.ts";
import { farSystem } from "../gate.ts";
import { taskReturn } from "../task.ts";
import { descAr, descLimit, loadCsDirect, loadSeg, readDescriptor, setCache } from "../segment.ts";
import { CS, DS, ECX, ES, ESP, FS, GS, SS } from "../state.ts";

/** Sets the next EIP after a limit check against CS. */
export function jumpTo(cpu: Cpu, target: number, osize: number): void {
  const t = (target & MASK[osize]) >>> 0;
  if (t > cpu.segLimit[CS]) fault(GP, 0);
  cpu.nextEip = t;
}

/** 70-7F, 0F 80-8F: Jcc rel. */
export function jcc(cpu: Cpu, d: Insn): void {
  if (cpu.cond(d.op & 0xf)) jumpTo(cpu, cpu.nextEip + rel(d), d.osize);
}

function rel(d: Insn): number {
  if (d.op < 0x100 && d.op !== 0xe8 && d.op !== 0xe9) return (d.imm << 24) >> 24;
  return d.osize === 2 ? (d.imm << 16) >> 16 : d.imm | 0;
}

/** EB/E9: JMP rel. */
export function jmpRel(cpu: Cpu, d: Insn): void {
  jumpTo(cpu, cpu.nextEip + rel(d), d.osize);
}

/** E8: CALL rel. */
export function callRel(cpu: Cpu, d: Insn): void {
  const target = (cpu.nextEip + rel(d)) & MASK[d.osize];
  if (target > cpu.segLimit[CS]) fault(GP, 0);
  cpu.push(cpu.nextEip, d.osize);
  cpu.nextEip = target >>> 0;
}

/** FF /2: CALL r/m. */
export function callRm(cpu: Cpu, d: Insn): void {
  const target = cpu.readRm(d);
  if (target > cpu.segLimit[CS]) fault(GP, 0);
  cpu.push(cpu.nextEip, d.osize);
  cpu.nextEip = target;
}

/** FF /4: JMP r/m. */
export function jmpRm(cpu: Cpu, d: Insn): void {
  jumpTo(cpu, cpu.readRm(d), d.osize);
}

/** C3/C2: RET [imm16]. */
export function ret(cpu: Cpu, d: Insn): void {
  const target = cpu.peek(0, d.osize);
  if (target > cpu.segLimit[CS]) fault(GP, 0);
  cpu.addSp(d.osize + (d.op === 0xc2 ? d.imm : 0));
  cpu.nextEip = target;
}

/** E0-E3: LOOPNE, LOOPE, LOOP, JCXZ (the counter is CX or ECX by address size). */
export function loop(cpu: Cpu, d: Insn): void {
  let c = cpu.getReg(ECX, d.asize);
  let taken: boolean;
  if (d.op === 0xe3) taken = c === 0;
  else {
    c = (c - 1) & MASK[d.asize];
    taken = c !== 0 && (d.op === 0xe2 || (d.op === 0xe1) === (cpu.zf() === 1));
  }
  if (taken) jumpTo(cpu, cpu.nextEip + ((d.imm << 24) >> 24), d.osize);
  if (d.op !== 0xe3) cpu.setReg(ECX, d.asize, c >>> 0);
}

/** Transfers to sel:off for far JMP (call=false) or CALL (call=true). */
function farTransfer(cpu: Cpu, sel: number, off: number, d: Insn, call: boolean): void {
  if (!(cpu.cr0 & 1) || cpu.eflRest & VM) {
    if (off > 0xffff && d.osize === 2) fault(GP, 0);
    if (call) {
      cpu.push(cpu.segSel[CS], d.osize);
      cpu.push(cpu.nextEip, d.osize);
    }
    cpu.loadSegReal(CS, sel);
    cpu.nextEip = off;
    return;
  }
  if ((sel & 0xfffc) === 0) fault(GP, 0);
  const desc = readDescriptor(cpu, sel);
  const ar = descAr(desc);
  if (!(ar & 0x10)) return farSystem(cpu, sel, desc, call);
  if (off > descLimit(desc)) fault(GP, 0);
  const oldCs = cpu.segSel[CS], ret = cpu.nextEip;
  if (call) {
    // Check that both pushes fit before changing anything.
    const sp = cpu.getReg(ESP, cpu.stackSize);
    cpu.lin(SS, (sp - 2 * d.osize) & MASK[cpu.stackSize], 2 * d.osize, true);
  }
  const cache = saveCs(cpu);
  loadCsDirect(cpu, sel, desc);
  if (call) {
    try {
      cpu.push(oldCs, d.osize);
      cpu.push(ret, d.osize);
    } catch (e) {
      restoreCs(cpu, cache);
      throw e;
    }
  }
  cpu.nextEip = off;
}

/** EA: JMP ptr16:16/32. */
export function jmpFar(cpu: Cpu, d: Insn): void {
  farTransfer(cpu, d.imm2, d.imm, d, false);
}

/** 9A: CALL ptr16:16/32. */
export function callFar(cpu: Cpu, d: Insn): void {
  farTransfer(cpu, d.imm2, d.imm, d, true);
}

/** FF /3 and /5: CALL/JMP m16:16/32. */
export function farIndirect(cpu: Cpu, d: Insn): void {
  const seg = cpu.seg(d), off = cpu.ea(d);
  const target = cpu.read(seg, off, d.osize);
  const sel = cpu.read(seg, (off + d.osize) & MASK[d.asize], 2);
  farTransfer(cpu, sel, target, d, d.reg === 3);
}

/** CB/CA: RETF [imm16]. */
export function retf(cpu: Cpu, d: Insn): void {
  const size = d.osize, extra = d.op === 0xca ? d.imm : 0;
  const off = cpu.peek(0, size), sel = cpu.peek(size, size) & 0xffff;
  if (!(cpu.cr0 & 1) || cpu.eflRest & VM) {
    cpu.loadSegReal(CS, sel);
    cpu.addSp(2 * size + extra);
    cpu.nextEip = off;
    return;
  }
  returnFar(cpu, sel, off, size, 2 * size + extra, extra);
}

/** The protected-mode part of RETF and IRET: same or outer privilege level. */
function returnFar(cpu: Cpu, sel: number, off: number, size: number, popped: number, extra: number): void {
  if ((sel & 0xfffc) === 0) fault(GP, 0);
  const rpl = sel & 3;
  if (rpl < cpu.cpl) fault(GP, sel & 0xfffc);
  const desc = readDescriptor(cpu, sel);
  const ar = descAr(desc), dpl = (ar >> 5) & 3;
  if ((ar & 0x18) !== 0x18) fault(GP, sel & 0xfffc);
  if (ar & 4 ? dpl > rpl : dpl !== rpl) fault(GP, sel & 0xfffc);
  if (!(ar & 0x80)) fault(11, sel & 0xfffc);
  if (off > descLimit(desc)) fault(GP, 0);
  if (rpl === cpu.cpl) {
    setCache(cpu, CS, sel, desc);
    cpu.addSp(popped);
    cpu.nextEip = off;
    return;
  }
  // Return to an outer level: SS:ESP follow.
  const esp = cpu.peek(popped, size), ss = cpu.peek(popped + size, size) & 0xffff;
  if ((ss & 0xfffc) === 0) fault(GP, 0);
  const sdesc = readDescriptor(cpu, ss);
  const sar = descAr(sdesc);
  if ((ss & 3) !== rpl || ((sar >> 5) & 3) !== rpl || (sar & 0x1a) !== 0x12) fault(GP, ss & 0xfffc);
  if (!(sar & 0x80)) fault(SSF, ss & 0xfffc);
  setCache(cpu, CS, sel, desc);
  cpu.cpl = rpl;
  setCache(cpu, SS, ss, sdesc);
  cpu.setReg(ESP, cpu.stackSize, (esp + extra) & MASK[cpu.stackSize]);
  cpu.nextEip = off;
  cpu.mem.flush();
  // Data segments the new level may not use become null.
  for (const s of [ES, DS, FS, GS]) {
    const a = cpu.segAr[s], sd = (a >> 5) & 3;
    const conformingCode = (a & 0x1c) === 0x1c;
    if (!conformingCode && sd < rpl) {
      try {
        loadSeg(cpu, s, 0);
      } catch { /* a null load cannot fail for these registers */ }
    }
  }
}

/** CF: IRET/IRETD (unblocks NMIs, even when it then faults). */
export function iret(cpu: Cpu, d: Insn): void {
  const size = d.osize;
  cpu.nmiMasked = false;
  if (!(cpu.cr0 & 1)) {
    const ip = cpu.peek(0, size), cs = cpu.peek(size, size) & 0xffff, fl = cpu.peek(2 * size, size);
    cpu.loadSegReal(CS, cs);
    cpu.addSp(3 * size);
    const keep = size === 2 ? cpu.getFlags() & 0xffff0000 : cpu.getFlags() & 0x1a0000;
    cpu.setFlags(size === 2 ? keep | fl : (fl & ~0x1a0000) | keep);
    cpu.nextEip = ip;
    return;
  }
  if (cpu.eflRest & VM) throw new Unimplemented("IRET in virtual-8086 mode");
  if (cpu.eflRest & NT) return taskReturn(cpu);
  const off = cpu.peek(0, size), sel = cpu.peek(size, size) & 0xffff, fl = cpu.peek(2 * size, size);
  if (size === 4 && fl & VM && cpu.cpl === 0) throw new Unimplemented("IRET to virtual-8086 mode");
  const oldCpl = cpu.cpl, iopl = (cpu.eflRest & IOPL) >> 12;
  returnFar(cpu, sel, off, size, 3 * size, 0);
  // RF, AC and ID come from the image (a 32- or 64-bit IRET): a #DB handler returns with RF to skip its breakpoint.
  let mask = (0x2c7fd5 | RF) & ~(VM | IOPL | IF);
  if (size === 2) mask &= 0xffff;
  if (oldCpl === 0) mask |= IOPL;
  if (oldCpl <= iopl) mask |= IF;
  const old = cpu.getFlags();
  cpu.setFlags((old & ~mask) | (fl & mask));
}

/** CD: INT imm8 (#GP in virtual-8086 mode with IOPL < 3). */
export function intN(cpu: Cpu, d: Insn): void {
  if (cpu.eflRest & VM && (cpu.eflRest & IOPL) !== IOPL) fault(GP, 0);
  deliver(cpu, d.imm, -1, true, cpu.nextEip);
}

/** CC: INT3 (the guest's #BP; guest debugging intercepts it before this runs). */
export function int3(cpu: Cpu): void {
  deliver(cpu, BP, -1, true, cpu.nextEip);
}

/** CE: INTO. */
export function into(cpu: Cpu): void {
  if (cpu.of()) deliver(cpu, OFV, -1, true, cpu.nextEip);
}

/** F1: INT1 (ICEBP): a #DB trap that ignores the gate's DPL. */
export function int1(cpu: Cpu): void {
  deliver(cpu, 1, -1, false, cpu.nextEip);
}

function saveCs(cpu: Cpu): number[] {
  return [cpu.segSel[CS], cpu.segBase[CS], cpu.segLimit[CS], cpu.segAr[CS], cpu.cpl];
}

function restoreCs(cpu: Cpu, c: number[]): void {
  [cpu.segSel[CS], cpu.segBase[CS], cpu.segLimit[CS], cpu.segAr[CS], cpu.cpl] = c;
}
