/**
 * Exception and interrupt delivery: through the IVT in real mode and
 * through IDT interrupt/trap gates in protected mode (gate checks, stack
 * switch from the TSS on a privilege change, error codes), and the
 * double-fault rules that end in a triple fault (KVM_EXIT_SHUTDOWN).
 *
 * @module
 */
import type { Cpu } from "./cpu.ts";
import { CpuFault, DF, fault, GP, NP, PF, TS, Unimplemented } from "./fault.ts";
import { AC, IF, NT, RF, TF, VM } from "./flags.ts";
import { descAr, descBase, descLimit, markAccessed, readDescriptor, setCache } from "./segment.ts";
import { AR_P, CS, ESP, SS, TR } from "./state.ts";
import { TASK_INT, throughTaskGate } from "./task.ts";
import { EFER_LMA } from "./long/access.ts";
import { deliverLong, faultRip } from "./long/interrupt64.ts";

/** Vectors whose error code is pushed. */
const HAS_CODE = new Set([8, 10, 11, 12, 13, 14, 17]);

function contributory(v: number): boolean {
  return v === 0 || (v >= 10 && v <= 13);
}

/**
 * Delivers a fault raised by an instruction (EIP still at the instruction),
 * applying the double-fault rules. Returns false on a triple fault.
 */
export function deliverFault(cpu: Cpu, vector: number, code: number): boolean {
  let vec = vector, err = code;
  for (;;) {
    try {
      // A fault pushes EFLAGS with RF set, so that IRET does not break on the instruction again.
      if (vec !== 1 && vec !== 3 && vec !== 4) cpu.eflRest |= RF;
      deliver(cpu, vec, HAS_CODE.has(vec) ? err : -1, false, faultRip(cpu));
      return true;
    } catch (e) {
      if (!(e instanceof CpuFault)) throw e;
      if (vec === DF) return false;
      const second = e.vector;
      if ((contributory(vec) && contributory(second)) || (vec === PF && (contributory(second) || second === PF))) {
        vec = DF;
        err = 0;
      } else {
        vec = second;
        err = e.code;
      }
    }
  }
}

/**
 * Delivers vector `vec` with return address `retEip` (the instruction for
 * faults, the next instruction for traps and INT n). `soft` is INT n/INT3/
 * INTO, which checks the gate's DPL. Faults raised here propagate.
 */
export function deliver(cpu: Cpu, vec: number, code: number, soft: boolean, retEip: number): void {
  cpu.halted = false;
  cpu.deliveries++;
  if (cpu.efer & EFER_LMA) {
    deliverLong(cpu, vec, code, soft, retEip);
    return;
  }
  if (!(cpu.cr0 & 1)) {
    deliverReal(cpu, vec, retEip);
    return;
  }
  if (cpu.eflRest & VM) throw new Unimplemented("interrupt in virtual-8086 mode");
  const ext = soft ? 0 : 1;
  const idtErr = vec * 8 + 2 + ext;
  if (vec * 8 + 7 > cpu.idtLimit) fault(GP, idtErr);
  const at = (cpu.idtBase + vec * 8) >>> 0;
  const lo = cpu.mem.sysRead(at, 4), hi = cpu.mem.sysRead((at + 4) >>> 0, 4);
  const type = (hi >>> 8) & 0x1f, gdpl = (hi >>> 13) & 3;
  if (type === 5) {
    if (soft && gdpl < cpu.cpl) fault(GP, idtErr);
    if (!(hi & 0x8000)) fault(NP, idtErr);
    throughTaskGate(cpu, lo, TASK_INT, retEip, code);
    return;
  }
  if (type !== 6 && type !== 7 && type !== 0xe && type !== 0xf) fault(GP, idtErr);
  if (soft && gdpl < cpu.cpl) fault(GP, idtErr);
  if (!(hi & 0x8000)) fault(NP, idtErr);
  const gate32 = (type & 8) !== 0, size = gate32 ? 4 : 2;
  const sel = lo >>> 16;
  const offset = gate32 ? ((lo & 0xffff) | (hi & 0xffff0000)) >>> 0 : lo & 0xffff;
  if ((sel & 0xfffc) === 0) fault(GP, ext);
  const desc = readDescriptor(cpu, sel);
  const ar = descAr(desc), dpl = (ar >> 5) & 3;
  if ((ar & 0x18) !== 0x18 || dpl > cpu.cpl) fault(GP, (sel & 0xfffc) + ext);
  if (!(ar & AR_P)) fault(NP, (sel & 0xfffc) + ext);
  if (offset > descLimit(desc)) fault(GP, ext);
  const flags = cpu.getFlags();
  const oldCs = cpu.segSel[CS], oldCpl = cpu.cpl;
  const conforming = (ar & 4) !== 0;
  // Keep what a fault during the pushes must restore.
  const saved = saveStack(cpu);
  try {
    if (!conforming && dpl < cpu.cpl) {
      const oldSs = cpu.segSel[SS], oldEsp = cpu.r32[ESP << 1];
      switchStack(cpu, dpl, ext);
      cpu.cpl = dpl;
      cpu.push(oldSs, size);
      cpu.push(size === 2 ? oldEsp & 0xffff : oldEsp, size);
    }
    cpu.push(flags & (size === 2 ? 0xffff : 0xffffffff), size);
    cpu.push(oldCs, size);
    cpu.push(retEip, size);
    if (code >= 0) cpu.push(code, size);
  } catch (e) {
    restoreStack(cpu, saved);
    cpu.cpl = oldCpl;
    throw e;
  }
  markAccessed(cpu, desc);
  setCache(cpu, CS, (sel & 0xfffc) | cpu.cpl, desc);
  let rest = cpu.eflRest & ~(TF | NT | RF | VM);
  if (!(type & 1)) rest &= ~IF;
  cpu.eflRest = rest;
  cpu.eip = offset;
  cpu.nextEip = offset;
  if (cpu.cpl !== oldCpl) cpu.mem.flush();
}

function deliverReal(cpu: Cpu, vec: number, retEip: number): void {
  if (vec * 4 + 3 > cpu.idtLimit) fault(GP, 0);
  const at = (cpu.idtBase + vec * 4) >>> 0;
  const ip = cpu.mem.read16(at), cs = cpu.mem.read16((at + 2) >>> 0);
  const sp = cpu.r32[ESP << 1];
  try {
    cpu.push(cpu.getFlags() & 0xffff, 2);
    cpu.push(cpu.segSel[CS], 2);
    cpu.push(retEip & 0xffff, 2);
  } catch (e) {
    cpu.r32[ESP << 1] = sp;
    throw e;
  }
  cpu.eflRest &= ~(IF | TF | AC | RF);
  cpu.loadSegReal(CS, cs);
  cpu.eip = ip;
  cpu.nextEip = ip;
}

interface SavedStack {
  sel: number;
  base: number;
  limit: number;
  ar: number;
  esp: number;
}

function saveStack(cpu: Cpu): SavedStack {
  return {
    sel: cpu.segSel[SS],
    base: cpu.segBase[SS],
    limit: cpu.segLimit[SS],
    ar: cpu.segAr[SS],
    esp: cpu.r32[ESP << 1],
  };
}

function restoreStack(cpu: Cpu, s: SavedStack): void {
  cpu.segSel[SS] = s.sel;
  cpu.segBase[SS] = s.base;
  cpu.segLimit[SS] = s.limit;
  cpu.segAr[SS] = s.ar;
  cpu.r32[ESP << 1] = s.esp;
}

/** Loads SS:ESP for privilege level `dpl` from the current TSS. */
export function switchStack(cpu: Cpu, dpl: number, ext: number): void {
  const tss32 = (cpu.segAr[TR] & 8) !== 0;
  const off = tss32 ? 4 + dpl * 8 : 2 + dpl * 4;
  const width = tss32 ? 4 : 2;
  if (off + width + 1 >= cpu.segLimit[TR] + 1) fault(TS, (cpu.segSel[TR] & 0xfffc) + ext);
  const base = cpu.segBase[TR];
  const esp = cpu.mem.sysRead((base + off) >>> 0, width);
  const ss = cpu.mem.sysRead((base + off + width) >>> 0, 2);
  if ((ss & 0xfffc) === 0) fault(TS, ext);
  const desc = readDescriptor(cpu, ss);
  const ar = descAr(desc);
  if ((ss & 3) !== dpl || ((ar >> 5) & 3) !== dpl || (ar & 0x1a) !== 0x12) fault(TS, (ss & 0xfffc) + ext);
  if (!(ar & AR_P)) fault(12, (ss & 0xfffc) + ext);
  markAccessed(cpu, desc);
  setCache(cpu, SS, ss, desc);
  cpu.r32[ESP << 1] = esp;
  void descBase;
}
