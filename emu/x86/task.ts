/**
 * Hardware task switches: far JMP/CALL to a TSS or a task gate, an
 * interrupt or exception through a task gate in the IDT, and IRET with
 * EFLAGS.NT (the return to the task in the back link). The outgoing state
 * is saved in the current TSS, the incoming one is loaded from the new TSS
 * (16-bit or 32-bit format), busy bits, NT and the back link are kept as
 * the SDM describes, and CR0.TS is set. Faults found before the switch
 * belong to the old task; faults while loading the new task's segments are
 * raised after the switch, in the new task's context (#TS with the
 * offending selector).
 *
 * @module
 */
import type { Cpu } from "./cpu.ts";
import { CpuFault, fault, GP, NP, SSF, TS, Unimplemented } from "./fault.ts";
import { NT, VM } from "./flags.ts";
import { CR0_PG } from "./control_bits.ts";
import {
  descAr,
  descBase,
  descLimit,
  type Descriptor,
  linPlus,
  markAccessed,
  setCache,
  tableLinear,
} from "./segment.ts";
import { AR_P, AR_UNUSABLE, CS, DS, ES, FS, GS, LDTR, SS, TR } from "./state.ts";

/** Why a task switch happens: it decides busy bits, NT and the back link. */
export const TASK_JMP = 0, TASK_CALL = 1, TASK_IRET = 2, TASK_INT = 3;

/** The segment registers in the order of their TSS slots (ES CS SS DS FS GS). */
const TSS_SEGS = [ES, CS, SS, DS, FS, GS];

/** The state read from an incoming TSS. */
interface TaskState {
  cr3: number;
  eip: number;
  eflags: number;
  regs: number[];
  sels: number[];
  ldt: number;
}

/** Reads a descriptor for a task switch: a selector outside its table is #TS(selector). */
function taskDescriptor(cpu: Cpu, sel: number): Descriptor {
  let base = cpu.gdtBase, limit = cpu.gdtLimit;
  if (sel & 4) {
    if (cpu.segAr[LDTR] & AR_UNUSABLE || !(cpu.segAr[LDTR] & AR_P)) fault(TS, sel & 0xfffc);
    base = cpu.segBase[LDTR];
    limit = cpu.segLimit[LDTR];
  }
  const off = sel & 0xfff8;
  if (off + 7 > limit) fault(TS, sel & 0xfffc);
  const addr = tableLinear(cpu, base, off);
  return { lo: cpu.mem.sysRead(addr, 4), hi: cpu.mem.sysRead(linPlus(addr, 4), 4), addr };
}

/** Reads the state of the task whose TSS starts at `base`. */
function readTask(cpu: Cpu, base: number, is32: boolean): TaskState {
  const rd = (off: number, size: number) => cpu.mem.sysRead((base + off) >>> 0, size);
  if (is32) {
    const regs: number[] = [];
    for (let n = 0; n < 8; n++) regs.push(rd(0x28 + 4 * n, 4));
    return {
      cr3: rd(0x1c, 4),
      eip: rd(0x20, 4),
      eflags: rd(0x24, 4),
      regs,
      sels: TSS_SEGS.map((_, i) => rd(0x48 + 4 * i, 2)),
      ldt: rd(0x60, 2),
    };
  }
  const regs: number[] = [];
  for (let n = 0; n < 8; n++) regs.push(rd(0x12 + 2 * n, 2));
  const sels = [rd(0x22, 2), rd(0x24, 2), rd(0x26, 2), rd(0x28, 2), 0, 0];
  return { cr3: -1, eip: rd(0x0e, 2), eflags: rd(0x10, 2), regs, sels, ldt: rd(0x2a, 2) };
}

/** Saves the outgoing task's dynamic state into the current TSS. */
function saveTask(cpu: Cpu, eip: number, eflags: number): void {
  const base = cpu.segBase[TR], is32 = (cpu.segAr[TR] & 8) !== 0;
  const wr = (off: number, size: number, v: number) => cpu.mem.sysWrite((base + off) >>> 0, size, v);
  if (is32) {
    wr(0x20, 4, eip);
    wr(0x24, 4, eflags);
    for (let n = 0; n < 8; n++) wr(0x28 + 4 * n, 4, cpu.r32[n << 1]);
    TSS_SEGS.forEach((s, i) => wr(0x48 + 4 * i, 2, cpu.segSel[s]));
    return;
  }
  wr(0x0e, 2, eip & 0xffff);
  wr(0x10, 2, eflags & 0xffff);
  for (let n = 0; n < 8; n++) wr(0x12 + 2 * n, 2, cpu.r16[n << 2]);
  [ES, CS, SS, DS].forEach((s, i) => wr(0x22 + 2 * i, 2, cpu.segSel[s]));
}

/** Sets or clears the busy bit of the TSS descriptor at `d`. */
function setBusy(cpu: Cpu, d: Descriptor, busy: boolean): void {
  const hi = busy ? d.hi | 0x200 : d.hi & ~0x200;
  cpu.mem.sysWrite(linPlus(d.addr, 4), 4, hi >>> 0);
  d.hi = hi >>> 0;
}

/**
 * Switches to the task whose TSS selector is `sel` (descriptor `desc`).
 * `retEip` is saved as the outgoing task's EIP; `code` (or -1) is pushed on
 * the new task's stack for an exception with an error code.
 */
export function taskSwitch(cpu: Cpu, sel: number, desc: Descriptor, reason: number, retEip: number, code = -1): void {
  const ar = descAr(desc), type = ar & 0x1f;
  const busy = (type & 2) !== 0;
  if (type !== 1 && type !== 3 && type !== 9 && type !== 0xb) fault(GP, sel & 0xfffc);
  if (reason === TASK_IRET ? !busy : busy) fault(reason === TASK_IRET ? TS : GP, sel & 0xfffc);
  if (!(ar & AR_P)) fault(NP, sel & 0xfffc);
  const is32 = (type & 8) !== 0, limit = descLimit(desc);
  if (limit < (is32 ? 0x67 : 0x2b)) fault(TS, sel & 0xfffc);
  const base = descBase(desc);
  const next = readTask(cpu, base, is32);
  if (is32 && next.eflags & VM) throw new Unimplemented("task switch into virtual-8086 mode");

  // The outgoing task: its TSS gets the current state; JMP and IRET free it.
  let oldFlags = cpu.getFlags();
  if (reason === TASK_IRET) oldFlags &= ~NT;
  const oldSel = cpu.segSel[TR];
  saveTask(cpu, retEip, oldFlags);
  if (reason === TASK_JMP || reason === TASK_IRET) {
    const oldDesc = taskDescriptor(cpu, oldSel);
    setBusy(cpu, oldDesc, false);
    if (oldDesc.addr === desc.addr) desc.hi = oldDesc.hi;
  }
  // The incoming task: CALL and interrupts nest (NT and the back link).
  let eflags = next.eflags;
  if (reason === TASK_CALL || reason === TASK_INT) {
    cpu.mem.sysWrite(base, 2, oldSel);
    eflags |= NT;
  }
  if (reason !== TASK_IRET) setBusy(cpu, desc, true);
  cpu.segSel[TR] = sel;
  cpu.segBase[TR] = base;
  cpu.segLimit[TR] = limit;
  cpu.segAr[TR] = descAr(desc) | 2;
  cpu.cr0 = (cpu.cr0 | 8) >>> 0;
  if (is32 && cpu.cr0 & CR0_PG && next.cr3 !== cpu.cr3) cpu.cr3 = next.cr3;
  cpu.mem.flush();

  for (let n = 0; n < 8; n++) {
    if (is32) cpu.r32[n << 1] = next.regs[n];
    else cpu.r32[n << 1] = (next.regs[n] | 0xffff0000) >>> 0;
  }
  cpu.setFlags(is32 ? eflags : (eflags & 0xffff) | 2);
  cpu.eip = next.eip;
  cpu.nextEip = next.eip;
  // Selectors first, with no descriptor yet: a fault below is taken in the new task.
  TSS_SEGS.forEach((s, i) => {
    cpu.segSel[s] = next.sels[i];
    if (s !== CS && s !== SS) cpu.segAr[s] = AR_UNUSABLE;
  });
  cpu.segSel[LDTR] = next.ldt;
  cpu.segAr[LDTR] = AR_UNUSABLE;
  cpu.cpl = next.sels[1] & 3;
  loadTaskSegments(cpu, next);
  if (code >= 0) cpu.push(code, is32 ? 4 : 2);
}

/** Loads LDTR, CS, SS and the data segment registers of the incoming task, with the #TS checks. */
function loadTaskSegments(cpu: Cpu, t: TaskState): void {
  if (t.ldt & 0xfffc) {
    if (t.ldt & 4) fault(TS, t.ldt & 0xfffc);
    const d = taskDescriptor(cpu, t.ldt);
    if ((descAr(d) & 0x1f) !== 2) fault(TS, t.ldt & 0xfffc);
    if (!(descAr(d) & AR_P)) fault(TS, t.ldt & 0xfffc);
    cpu.segSel[LDTR] = t.ldt;
    cpu.segBase[LDTR] = descBase(d);
    cpu.segLimit[LDTR] = descLimit(d);
    cpu.segAr[LDTR] = descAr(d);
  }
  const cpl = cpu.cpl;
  const cs = t.sels[1];
  if ((cs & 0xfffc) === 0) fault(TS, 0);
  const cd = taskDescriptor(cpu, cs), car = descAr(cd), cdpl = (car >> 5) & 3;
  if ((car & 0x18) !== 0x18 || (car & 4 ? cdpl > cpl : cdpl !== cpl)) fault(TS, cs & 0xfffc);
  if (!(car & AR_P)) fault(NP, cs & 0xfffc);
  const ss = t.sels[2];
  if ((ss & 0xfffc) === 0) fault(TS, 0);
  const sd = taskDescriptor(cpu, ss), sar = descAr(sd);
  if ((ss & 3) !== cpl || ((sar >> 5) & 3) !== cpl || (sar & 0x1a) !== 0x12) fault(TS, ss & 0xfffc);
  if (!(sar & AR_P)) fault(SSF, ss & 0xfffc);
  markAccessed(cpu, cd);
  setCache(cpu, CS, cs, cd);
  markAccessed(cpu, sd);
  setCache(cpu, SS, ss, sd);
  for (const s of [ES, DS, FS, GS]) {
    const sel = cpu.segSel[s];
    if ((sel & 0xfffc) === 0) {
      cpu.segAr[s] = AR_UNUSABLE;
      continue;
    }
    const d = taskDescriptor(cpu, sel), ar = descAr(d), dpl = (ar >> 5) & 3;
    if (!(ar & 0x10) || (ar & 0xa) === 0x8) fault(TS, sel & 0xfffc);
    if ((ar & 0xc) !== 0xc && dpl < Math.max(cpl, sel & 3)) fault(TS, sel & 0xfffc);
    if (!(ar & AR_P)) fault(NP, sel & 0xfffc);
    markAccessed(cpu, d);
    setCache(cpu, s, sel, d);
  }
}

/** IRET with NT set: returns to the task named by the back link of the current TSS. */
export function taskReturn(cpu: Cpu): void {
  const link = cpu.mem.sysRead(cpu.segBase[TR], 2);
  if (link & 4) fault(TS, link & 0xfffc);
  const d = taskDescriptor(cpu, link);
  taskSwitch(cpu, link, d, TASK_IRET, cpu.nextEip);
}

/**
 * A task gate (whose low dword is `lo`) reached by a far JMP/CALL or an
 * interrupt, once the gate itself passed its checks: checks the TSS it
 * names (in the GDT, available), then switches.
 */
export function throughTaskGate(cpu: Cpu, lo: number, reason: number, retEip: number, code = -1): void {
  const tss = lo >>> 16;
  if (tss & 4) fault(GP, tss & 0xfffc);
  let d: Descriptor;
  try {
    d = taskDescriptor(cpu, tss);
  } catch (e) {
    if (e instanceof CpuFault && e.vector === TS) fault(GP, tss & 0xfffc);
    throw e;
  }
  const type = descAr(d) & 0x1f;
  if (type !== 1 && type !== 9) fault(GP, tss & 0xfffc);
  taskSwitch(cpu, tss, d, reason, retEip, code);
}
