/**
 * Exception and interrupt delivery in every mode: through the IVT in real
 * mode; through IDT interrupt, trap and task gates in protected mode (gate
 * checks, the stack switch from the TSS on a privilege change, error
 * codes); through 16-byte IDT gates in long mode (64-bit and compatibility
 * mode: the stack switch to RSP0-2 of the 64-bit TSS or to an IST stack, the
 * 16-byte aligned frame of five 8-byte pushes, SS, RSP, RFLAGS, CS and RIP,
 * plus the error code); and the double-fault rules that end in a triple
 * fault (KVM_EXIT_SHUTDOWN).
 *
 * @module
 */
import type { Cpu } from "./cpu.ts";
import { CpuFault, DF, fault, GP, NP, PF, SSF, TS, Unimplemented } from "./fault.ts";
import { AC, IF, NT, RF, TF, VM } from "./flags.ts";
import { descAr, descLimit, type Descriptor, markAccessed, readDescriptor, setCache } from "./segment.ts";
import { AR_DB, AR_L, AR_P, AR_UNUSABLE, CS, ESP, SS, TR } from "./state.ts";
import { TASK_INT, throughTaskGate } from "./task.ts";
import { EFER_LMA } from "./control_bits.ts";
import { canonical, getRip, lin48, regSigned, setRegSigned, setRip, signed } from "./long/access.ts";

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
      deliver(cpu, vec, HAS_CODE.has(vec) ? err : -1, false, getRip(cpu));
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
 * faults, the next instruction for traps and INT n; a signed RIP in long
 * mode). `code` is the error code or -1; `soft` is INT n/INT3/INTO, which
 * checks the gate's DPL. Faults raised here propagate.
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
  const { lo, hi, type } = readGate(cpu, vec, soft, 8);
  if (type === 5) {
    throughTaskGate(cpu, lo, TASK_INT, retEip, code);
    return;
  }
  const gate32 = (type & 8) !== 0, size = gate32 ? 4 : 2;
  const sel = lo >>> 16;
  const offset = gate32 ? ((lo & 0xffff) | (hi & 0xffff0000)) >>> 0 : lo & 0xffff;
  const desc = handlerSegment(cpu, sel, ext, false);
  const ar = descAr(desc), dpl = (ar >> 5) & 3;
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
  enterHandler(cpu, sel, desc, type);
  cpu.eip = offset;
  cpu.nextEip = offset;
}

/** An IDT gate: its first two dwords (and the third of a 16-byte gate) and its type. */
interface Gate {
  lo: number;
  hi: number;
  hi2: number;
  type: number;
}

/**
 * Reads the `size`-byte IDT gate of `vec` (8, or 16 in long mode): #GP past the IDT's limit, for a type other
 * than an interrupt or trap gate (or a task gate outside long mode), or, for a software interrupt, when the
 * gate's DPL is below CPL; then #NP when it is not present.
 */
function readGate(cpu: Cpu, vec: number, soft: boolean, size: 8 | 16): Gate {
  const idtErr = vec * 8 + 2 + (soft ? 0 : 1);
  if (vec * size + size - 1 > cpu.idtLimit) fault(GP, idtErr);
  const at = size === 16 ? lin48(tableBase(cpu.idtBase) + vec * 16) : (cpu.idtBase + vec * 8) >>> 0;
  const lo = cpu.mem.sysRead(at, 4), hi = cpu.mem.sysRead(size === 16 ? at + 4 : (at + 4) >>> 0, 4);
  const hi2 = size === 16 ? cpu.mem.sysRead(at + 8, 4) : 0;
  const type = (hi >>> 8) & 0x1f, gdpl = (hi >>> 13) & 3;
  if (type !== 0xe && type !== 0xf && (size === 16 || (type !== 5 && type !== 6 && type !== 7))) fault(GP, idtErr);
  if (soft && gdpl < cpu.cpl) fault(GP, idtErr);
  if (!(hi & 0x8000)) fault(NP, idtErr);
  return { lo, hi, hi2, type };
}

/** The gate's code segment: a present code segment of DPL <= CPL (64-bit code in long mode), else #GP or #NP. */
function handlerSegment(cpu: Cpu, sel: number, ext: number, long: boolean): Descriptor {
  if ((sel & 0xfffc) === 0) fault(GP, ext);
  const desc = readDescriptor(cpu, sel);
  const ar = descAr(desc), dpl = (ar >> 5) & 3;
  const wrongMode = long && (!(ar & AR_L) || (ar & AR_DB) !== 0);
  if ((ar & 0x18) !== 0x18 || wrongMode || dpl > cpu.cpl) fault(GP, (sel & 0xfffc) + ext);
  if (!(ar & AR_P)) fault(NP, (sel & 0xfffc) + ext);
  return desc;
}

/** Loads CS for the handler at the new CPL and clears TF, NT, RF and VM (and IF through an interrupt gate). */
function enterHandler(cpu: Cpu, sel: number, desc: Descriptor, type: number): void {
  markAccessed(cpu, desc);
  setCache(cpu, CS, (sel & 0xfffc) | cpu.cpl, desc);
  let rest = cpu.eflRest & ~(TF | NT | RF | VM);
  if (!(type & 1)) rest &= ~IF;
  cpu.eflRest = rest;
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
}

/** A 64-bit value of a system table (IDT, TSS) at a signed linear address, read as a supervisor. */
function sysRead64(cpu: Cpu, at: number): number {
  const lin = lin48(at);
  return signed(cpu.mem.sysRead(lin, 4), cpu.mem.sysRead(lin + 4, 4));
}

/** The signed linear base of a descriptor table or the TSS as the state holds it (unsigned from the ABI). */
function tableBase(base: number): number {
  return base >= 2 ** 63 ? base - 2 ** 64 : base;
}

/**
 * Checks that the 8 bytes at signed `at`, the end of a frame to be pushed, are canonical and can be written (before
 * any of the frame is), at the CPL the pushes are made at.
 */
function probe(cpu: Cpu, at: number): void {
  if (!canonical(at) || !canonical(at + 7)) fault(SSF, 0);
  // Through the TLB first (Memory.probeWrite): the stack of a handler just entered is nearly always in it.
  cpu.mem.probeWrite(lin48(at), 8);
}

/** Delivers vector `vec` in long mode (64-bit or compatibility mode), returning to signed `retRip`. */
function deliverLong(cpu: Cpu, vec: number, code: number, soft: boolean, retRip: number): void {
  const ext = soft ? 0 : 1;
  const { lo, hi, hi2, type } = readGate(cpu, vec, soft, 16);
  const sel = lo >>> 16, ist = hi & 7;
  const target = signed(((lo & 0xffff) | (hi & 0xffff0000)) >>> 0, hi2);
  const desc = handlerSegment(cpu, sel, ext, true);
  const ar = descAr(desc), dpl = (ar >> 5) & 3;
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
  const flags = cpu.getFlags(), oldCs = cpu.segSel[CS];
  const n = code >= 0 ? 6 : 5;
  cpu.cpl = newCpl;
  try {
    probe(cpu, rsp - 8);
    probe(cpu, rsp - 8 * n);
  } catch (e) {
    cpu.cpl = oldCpl;
    throw e;
  }
  // Both ends of the frame are canonical and writable: so is all of it (the non-canonical hole is far wider).
  const mem = cpu.mem;
  mem.write64(lin48(rsp - 8), oldSs, 0);
  mem.write64(lin48(rsp - 16), oldRsp >>> 0, Math.floor(oldRsp / 2 ** 32) >>> 0);
  mem.write64(lin48(rsp - 24), flags, 0);
  mem.write64(lin48(rsp - 32), oldCs, 0);
  mem.write64(lin48(rsp - 40), retRip >>> 0, Math.floor(retRip / 2 ** 32) >>> 0);
  if (code >= 0) mem.write64(lin48(rsp - 48), code, 0);
  enterHandler(cpu, sel, desc, type);
  if (newCpl !== oldCpl) {
    cpu.segSel[SS] = newCpl;
    cpu.segBase[SS] = 0;
    cpu.segLimit[SS] = 0;
    cpu.segAr[SS] = AR_UNUSABLE | (newCpl << 5);
  }
  setRegSigned(cpu, ESP, rsp - 8 * n);
  setRip(cpu, target);
  cpu.nextEip = target;
}
