/**
 * Interrupt and exception delivery in long mode (64-bit and compatibility
 * mode): 16-byte IDT gates, the stack switch to RSP0-2 of the 64-bit TSS or
 * to an IST stack, the 16-byte aligned frame of five 8-byte pushes (SS,
 * RSP, RFLAGS, CS, RIP) plus the error code.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { fault, GP, NP, SSF, TS } from "../fault.ts";
import { IF, NT, RF, TF, VM } from "../flags.ts";
import { descAr, markAccessed, readDescriptor, setCache } from "../segment.ts";
import { AR_DB, AR_L, AR_P, AR_UNUSABLE, CS, ESP, SS, TR } from "../state.ts";
import { canonical, getRip, lin48, regSigned, setRegSigned, setRip, signed } from "./access.ts";

/** A 64-bit value of a system table (IDT, TSS) at a signed linear address, read as a supervisor. */
function sysRead64(cpu: Cpu, at: number): number {
  const lin = lin48(at);
  return signed(cpu.mem.sysRead(lin, 4), cpu.mem.sysRead(lin + 4, 4));
}

/** The signed linear base of a descriptor table or the TSS as the state holds it (unsigned from the ABI). */
export function tableBase(base: number): number {
  return base >= 2 ** 63 ? base - 2 ** 64 : base;
}

/** Writes 8 bytes of the new stack frame at signed `at` (a supervisor or user access at the new CPL). */
function pushAt(cpu: Cpu, at: number, lo: number, hi: number): void {
  if (!canonical(at) || !canonical(at + 7)) fault(SSF, 0);
  const lin = lin48(at);
  cpu.mem.write32(lin, lo >>> 0);
  cpu.mem.write32(lin + 4, hi >>> 0);
}

/** Checks that the 8 bytes at signed `at` can be written (before any of the frame is). */
function probe(cpu: Cpu, at: number): void {
  if (!canonical(at) || !canonical(at + 7)) fault(SSF, 0);
  cpu.translate(lin48(at), true, false);
  if (lin48(at) % 4096 > 4088) cpu.translate(lin48(at + 8 - ((at + 8) % 4096 + 4096) % 4096), true, false);
}

/**
 * Delivers vector `vec` in long mode, returning to signed `retRip`; `code`
 * is the error code or -1; `soft` (INT n, INT3) checks the gate's DPL.
 */
export function deliverLong(cpu: Cpu, vec: number, code: number, soft: boolean, retRip: number): void {
  const ext = soft ? 0 : 1;
  const idtErr = vec * 8 + 2 + ext;
  if (vec * 16 + 15 > cpu.idtLimit) fault(GP, idtErr);
  const at = lin48(tableBase(cpu.idtBase) + vec * 16);
  const lo = cpu.mem.sysRead(at, 4), hi = cpu.mem.sysRead(at + 4, 4), hi2 = cpu.mem.sysRead(at + 8, 4);
  const type = (hi >>> 8) & 0x1f, gdpl = (hi >>> 13) & 3;
  if (type !== 0xe && type !== 0xf) fault(GP, idtErr);
  if (soft && gdpl < cpu.cpl) fault(GP, idtErr);
  if (!(hi & 0x8000)) fault(NP, idtErr);
  const sel = lo >>> 16, ist = hi & 7;
  const target = signed(((lo & 0xffff) | (hi & 0xffff0000)) >>> 0, hi2);
  if ((sel & 0xfffc) === 0) fault(GP, ext);
  const desc = readDescriptor(cpu, sel);
  const ar = descAr(desc), dpl = (ar >> 5) & 3;
  if ((ar & 0x18) !== 0x18 || !(ar & AR_L) || ar & AR_DB || dpl > cpu.cpl) fault(GP, (sel & 0xfffc) + ext);
  if (!(ar & AR_P)) fault(NP, (sel & 0xfffc) + ext);
  if (!canonical(target)) fault(GP, ext);
  const oldCpl = cpu.cpl, newCpl = ar & 4 ? oldCpl : dpl;
  const oldSs = cpu.segSel[SS], oldRsp = regSigned(cpu, ESP);
  let rsp = oldRsp;
  if (ist || newCpl < oldCpl) {
    const off = ist ? 0x24 + 8 * (ist - 1) : 4 + 8 * newCpl;
    if (off + 7 > cpu.segLimit[TR]) fault(TS, (cpu.segSel[TR] & 0xfffc) + ext);
    rsp = sysRead64(cpu, tableBase(cpu.segBase[TR]) + off);
  }
  rsp -= ((rsp % 16) + 16) % 16;
  const flags = cpu.getFlags();
  const frame = [oldSs, 0, oldRsp >>> 0, Math.floor(oldRsp / 2 ** 32) >>> 0, flags, 0, cpu.segSel[CS], 0];
  frame.push(retRip >>> 0, Math.floor(retRip / 2 ** 32) >>> 0);
  if (code >= 0) frame.push(code, 0);
  const n = frame.length / 2;
  cpu.cpl = newCpl;
  if (newCpl !== oldCpl) cpu.mem.flush();
  try {
    probe(cpu, rsp - 8);
    probe(cpu, rsp - 8 * n);
    for (let i = 0; i < n; i++) pushAt(cpu, rsp - 8 * (i + 1), frame[2 * i], frame[2 * i + 1]);
  } catch (e) {
    cpu.cpl = oldCpl;
    if (newCpl !== oldCpl) cpu.mem.flush();
    throw e;
  }
  markAccessed(cpu, desc);
  setCache(cpu, CS, (sel & 0xfffc) | newCpl, desc);
  if (newCpl !== oldCpl) {
    cpu.segSel[SS] = newCpl;
    cpu.segBase[SS] = 0;
    cpu.segLimit[SS] = 0;
    cpu.segAr[SS] = AR_UNUSABLE | (newCpl << 5);
  }
  setRegSigned(cpu, ESP, rsp - 8 * n);
  let rest = cpu.eflRest & ~(TF | NT | RF | VM);
  if (!(type & 1)) rest &= ~IF;
  cpu.eflRest = rest;
  setRip(cpu, target);
  cpu.nextEip = target;
}

/** The current RIP as a signed number (the return address of a fault). */
export function faultRip(cpu: Cpu): number {
  return getRip(cpu);
}
