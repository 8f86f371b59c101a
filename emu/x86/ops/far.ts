/**
 * Far control transfer in every mode: far JMP and CALL (direct, and through
 * memory as m16:16/32, or m16:64 in 64-bit mode) to code segments, or
 * through call gates and task gates outside long mode (gate.ts); RETF [imm16]
 * to the same or an outer level; IRET (IRETD, IRETQ), which in long mode
 * always pops SS:RSP (a null SS allowed when returning to 64-bit code below
 * CPL 3), and which outside long mode may return from a nested task.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { fault, GP, NP, SSF, Unimplemented } from "../fault.ts";
import { IF, IOPL, MASK, NT, RF, VM } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { farSystem } from "../gate.ts";
import { taskReturn } from "../task.ts";
import { descAr, descLimit, type Descriptor, loadCsDirect, loadSeg, readDescriptor, setCache } from "../segment.ts";
import { AR_DB, AR_L, AR_UNUSABLE, CS, DS, ES, ESP, FS, GS, SS } from "../state.ts";
import { canonical, peekLong, pushLong, qv, readQ, regSigned, setRegSigned, signed } from "../long/access.ts";

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
  const rpl = sel & 3, desc = returnCode(cpu, sel);
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
  const sdesc = returnStack(cpu, ss, rpl);
  setCache(cpu, CS, sel, desc);
  cpu.cpl = rpl;
  setCache(cpu, SS, ss, sdesc);
  cpu.setReg(ESP, cpu.stackSize, (esp + extra) & MASK[cpu.stackSize]);
  cpu.nextEip = off;
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
  iretFlags(cpu, fl, size, oldCpl, iopl);
}

function saveCs(cpu: Cpu): number[] {
  return [cpu.segSel[CS], cpu.segBase[CS], cpu.segLimit[CS], cpu.segAr[CS], cpu.cpl];
}

function restoreCs(cpu: Cpu, c: number[]): void {
  [cpu.segSel[CS], cpu.segBase[CS], cpu.segLimit[CS], cpu.segAr[CS], cpu.cpl] = c;
}

/**
 * The code segment a far return (RETF, IRET) goes to: a non-null selector of RPL >= CPL naming a code segment
 * whose DPL is the RPL (at most the RPL when conforming), else #GP(selector); present, else #NP(selector).
 */
function returnCode(cpu: Cpu, sel: number): Descriptor {
  if ((sel & 0xfffc) === 0) fault(GP, 0);
  const rpl = sel & 3;
  if (rpl < cpu.cpl) fault(GP, sel & 0xfffc);
  const desc = readDescriptor(cpu, sel);
  const ar = descAr(desc), dpl = (ar >> 5) & 3;
  if ((ar & 0x18) !== 0x18 || (ar & 4 ? dpl > rpl : dpl !== rpl)) fault(GP, sel & 0xfffc);
  if (!(ar & 0x80)) fault(NP, sel & 0xfffc);
  return desc;
}

/** The stack segment of a return to outer level `rpl`: a writable data segment of RPL and DPL `rpl` (#GP), present (#SS). */
function returnStack(cpu: Cpu, ss: number, rpl: number): Descriptor {
  const sdesc = readDescriptor(cpu, ss);
  const sar = descAr(sdesc);
  if ((ss & 3) !== rpl || ((sar >> 5) & 3) !== rpl || (sar & 0x1a) !== 0x12) fault(GP, ss & 0xfffc);
  if (!(sar & 0x80)) fault(SSF, ss & 0xfffc);
  return sdesc;
}

/**
 * Loads the flags an IRET popped (`fl`, `size` bytes): RF, AC and ID come from the image (a 32- or 64-bit IRET),
 * so that a #DB handler returns with RF to skip its breakpoint; IOPL only from CPL 0, IF only at CPL <= IOPL;
 * VM is not loaded here.
 */
function iretFlags(cpu: Cpu, fl: number, size: number, oldCpl: number, iopl: number): void {
  let mask = (0x2c7fd5 | RF) & ~(VM | IOPL | IF);
  if (size === 2) mask &= 0xffff;
  if (oldCpl === 0) mask |= IOPL;
  if (oldCpl <= iopl) mask |= IF;
  const old = cpu.getFlags();
  cpu.setFlags((old & ~mask) | (fl & mask));
}

/** Reads `size` bytes `depth` above RSP as a signed number. */
function stackValue(cpu: Cpu, depth: number, size: number): number {
  const lo = peekLong(cpu, depth, size);
  return size === 8 ? signed(lo, qv[1]) : lo;
}

/**
 * Returns to sel:rip with the stack ss:rsp (IRET, and RETF to an outer
 * level): checks, then commits CS, CPL, SS, RSP and RIP.
 */
function returnTo(cpu: Cpu, sel: number, rip: number, ss: number, rsp: number, always: boolean): void {
  const rpl = sel & 3, desc = returnCode(cpu, sel), ar = descAr(desc);
  const to64 = (ar & AR_L) !== 0 && !(ar & AR_DB);
  const target = to64 ? rip : rip >>> 0;
  if (to64 ? !canonical(target) : target > descLimit(desc)) fault(GP, 0);
  const loadStack = always || rpl !== cpu.cpl;
  let sdesc = null;
  if (loadStack && (ss & 0xfffc) === 0) {
    if (!to64 || rpl === 3) fault(GP, 0);
  } else if (loadStack) {
    sdesc = returnStack(cpu, ss, rpl);
  }
  const changed = rpl !== cpu.cpl;
  setCache(cpu, CS, sel, desc);
  cpu.cpl = rpl;
  if (sdesc) setCache(cpu, SS, ss, sdesc);
  else if (loadStack) {
    cpu.segSel[SS] = ss;
    cpu.segBase[SS] = 0;
    cpu.segLimit[SS] = 0;
    cpu.segAr[SS] = AR_UNUSABLE | (rpl << 5);
  }
  if (loadStack) setRegSigned(cpu, ESP, to64 ? rsp : rsp >>> 0);
  cpu.nextEip = target;
  if (changed) {
    // Data segments the outer level may not use become null.
    for (const s of [ES, DS]) {
      const a = cpu.segAr[s];
      if ((a & 0x1c) !== 0x1c && ((a >> 5) & 3) < rpl && !(a & AR_UNUSABLE)) {
        cpu.segSel[s] = 0;
        cpu.segAr[s] = AR_UNUSABLE;
      }
    }
  }
}

/** CF in 64-bit mode: IRETQ (REX.W), IRETD or IRET: pops RIP, CS, RFLAGS, RSP and SS; unblocks NMIs. */
export function iretLong(cpu: Cpu, d: Insn): void {
  cpu.nmiMasked = false;
  if (cpu.eflRest & NT) fault(GP, 0);
  const size = d.osize;
  const rip = stackValue(cpu, 0, size), sel = peekLong(cpu, size, size) & 0xffff;
  const fl = peekLong(cpu, 2 * size, size);
  const rsp = stackValue(cpu, 3 * size, size), ss = peekLong(cpu, 4 * size, size) & 0xffff;
  const oldCpl = cpu.cpl, iopl = (cpu.eflRest & IOPL) >> 12;
  returnTo(cpu, sel, rip, ss, rsp, true);
  iretFlags(cpu, fl, size, oldCpl, iopl);
}

/** CB/CA in 64-bit mode: RETF [imm16] with 2-, 4- or 8-byte operands. */
export function retfLong(cpu: Cpu, d: Insn): void {
  const size = d.osize, extra = d.op === 0xca ? d.imm : 0;
  const rip = stackValue(cpu, 0, size), sel = peekLong(cpu, size, size) & 0xffff;
  if ((sel & 3) === cpu.cpl) {
    const sp = regSigned(cpu, ESP);
    returnTo(cpu, sel, rip, 0, 0, false);
    setRegSigned(cpu, ESP, sp + 2 * size + extra);
    return;
  }
  const rsp = stackValue(cpu, 2 * size + extra, size), ss = peekLong(cpu, 3 * size + extra, size) & 0xffff;
  returnTo(cpu, sel, rip, ss, rsp + extra, true);
}

/** FF /3 and /5 in 64-bit mode: CALL/JMP m16:16/32/64 to a code segment (no gates). */
export function farIndirectLong(cpu: Cpu, d: Insn): void {
  const seg = cpu.seg(d), off = cpu.ea(d), size = d.osize;
  let target: number;
  if (size === 8) {
    readQ(cpu, seg, off);
    target = signed(qv[0], qv[1]);
  } else target = cpu.read(seg, off, size);
  const sel = cpu.read(seg, off + size, 2);
  if ((sel & 0xfffc) === 0) fault(GP, 0);
  const desc = readDescriptor(cpu, sel);
  if (!(descAr(desc) & 0x10)) fault(GP, sel & 0xfffc);
  const ar = descAr(desc), to64 = (ar & AR_L) !== 0 && !(ar & AR_DB);
  if (to64 ? !canonical(target) : target > descLimit(desc)) fault(GP, 0);
  const call = d.reg === 3, oldCs = cpu.segSel[CS], ret = cpu.nextEip, sp = regSigned(cpu, ESP);
  try {
    // The pushes use the 64-bit stack, so they come before CS changes.
    if (call) {
      cpu.lin(SS, sp - 2 * size, 2 * size, true);
      pushLong(cpu, oldCs, size, 0);
      pushLong(cpu, ret >>> 0, size, Math.floor(ret / 2 ** 32) >>> 0);
    }
    loadCsDirect(cpu, sel, desc);
  } catch (e) {
    setRegSigned(cpu, ESP, sp);
    throw e;
  }
  cpu.nextEip = target;
}
