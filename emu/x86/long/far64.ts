/**
 * Far returns and far transfers in 64-bit mode: IRETQ/IRETD (always pops
 * SS:RSP; a null SS is allowed when returning to 64-bit code below CPL 3),
 * RETF with 8-byte operands, and far JMP/CALL through memory (m16:16/32/64)
 * to code segments of the same privilege, including into compatibility mode.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { fault, GP, NP, SSF } from "../fault.ts";
import { IF, IOPL, NT, RF, VM } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { descAr, descLimit, loadCsDirect, readDescriptor, setCache } from "../segment.ts";
import { AR_DB, AR_L, AR_UNUSABLE, CS, DS, ES, ESP, SS } from "../state.ts";
import { canonical, peekLong, pushLong, qv, readQ, regSigned, setRegSigned, signed } from "./access.ts";

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
  if ((sel & 0xfffc) === 0) fault(GP, 0);
  const rpl = sel & 3;
  if (rpl < cpu.cpl) fault(GP, sel & 0xfffc);
  const desc = readDescriptor(cpu, sel);
  const ar = descAr(desc), dpl = (ar >> 5) & 3;
  if ((ar & 0x18) !== 0x18 || (ar & 4 ? dpl > rpl : dpl !== rpl)) fault(GP, sel & 0xfffc);
  if (!(ar & 0x80)) fault(NP, sel & 0xfffc);
  const to64 = (ar & AR_L) !== 0 && !(ar & AR_DB);
  const target = to64 ? rip : rip >>> 0;
  if (to64 ? !canonical(target) : target > descLimit(desc)) fault(GP, 0);
  const loadStack = always || rpl !== cpu.cpl;
  let sdesc = null;
  if (loadStack && (ss & 0xfffc) === 0) {
    if (!to64 || rpl === 3) fault(GP, 0);
  } else if (loadStack) {
    sdesc = readDescriptor(cpu, ss);
    const sar = descAr(sdesc);
    if ((ss & 3) !== rpl || ((sar >> 5) & 3) !== rpl || (sar & 0x1a) !== 0x12) fault(GP, ss & 0xfffc);
    if (!(sar & 0x80)) fault(SSF, ss & 0xfffc);
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
    cpu.mem.flush();
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
  // RF, AC and ID come from the image (a 32- or 64-bit IRET): a #DB handler returns with RF to skip its breakpoint.
  let mask = (0x2c7fd5 | RF) & ~(VM | IOPL | IF);
  if (size === 2) mask &= 0xffff;
  if (oldCpl === 0) mask |= IOPL;
  if (oldCpl <= iopl) mask |= IF;
  const old = cpu.getFlags();
  cpu.setFlags((old & ~mask) | (fl & mask));
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
