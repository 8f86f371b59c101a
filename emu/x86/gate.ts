/**
 * Far CALL and JMP to system descriptors in protected mode: through a call
 * gate (to the same level, or a CALL to an inner level with the stack
 * switch from the TSS and the copy of the gate's parameters), through a
 * task gate, or straight to a TSS (a task switch).
 *
 * @module
 */
import type { Cpu } from "./cpu.ts";
import { fault, GP, NP } from "./fault.ts";
import { switchStack } from "./interrupt.ts";
import { descAr, descLimit, type Descriptor, markAccessed, readDescriptor, setCache } from "./segment.ts";
import { AR_P, CS, ESP, SS } from "./state.ts";
import { TASK_CALL, TASK_JMP, taskSwitch, throughTaskGate } from "./task.ts";

/** Far CALL (`call`) or JMP to selector `sel` whose descriptor `desc` is a system descriptor. */
export function farSystem(cpu: Cpu, sel: number, desc: Descriptor, call: boolean): void {
  const ar = descAr(desc), type = ar & 0xf, dpl = (ar >> 5) & 3, rpl = sel & 3;
  const reason = call ? TASK_CALL : TASK_JMP;
  switch (type) {
    case 4:
    case 0xc:
      callGate(cpu, sel, desc, call);
      return;
    case 5:
      if (dpl < cpu.cpl || dpl < rpl) fault(GP, sel & 0xfffc);
      if (!(ar & AR_P)) fault(NP, sel & 0xfffc);
      throughTaskGate(cpu, desc.lo, reason, cpu.nextEip);
      return;
    case 1:
    case 9:
      if (dpl < cpu.cpl || dpl < rpl) fault(GP, sel & 0xfffc);
      taskSwitch(cpu, sel, desc, reason, cpu.nextEip);
      return;
    default:
      fault(GP, sel & 0xfffc);
  }
}

/** A far CALL or JMP through the call gate `gate` (selector `sel`). */
function callGate(cpu: Cpu, sel: number, gate: Descriptor, call: boolean): void {
  const gdpl = (gate.hi >>> 13) & 3;
  if (gdpl < cpu.cpl || gdpl < (sel & 3)) fault(GP, sel & 0xfffc);
  if (!(gate.hi & 0x8000)) fault(NP, sel & 0xfffc);
  const gate32 = (gate.hi & 0x800) !== 0, size = gate32 ? 4 : 2;
  const csel = gate.lo >>> 16;
  const off = gate32 ? ((gate.lo & 0xffff) | (gate.hi & 0xffff0000)) >>> 0 : gate.lo & 0xffff;
  const params = gate.hi & 0x1f;
  if ((csel & 0xfffc) === 0) fault(GP, 0);
  const cd = readDescriptor(cpu, csel);
  const ar = descAr(cd), dpl = (ar >> 5) & 3, conforming = (ar & 4) !== 0;
  if ((ar & 0x18) !== 0x18 || dpl > cpu.cpl) fault(GP, csel & 0xfffc);
  if (!call && !conforming && dpl !== cpu.cpl) fault(GP, csel & 0xfffc);
  if (!(ar & AR_P)) fault(NP, csel & 0xfffc);
  if (off > descLimit(cd)) fault(GP, 0);
  const oldCs = cpu.segSel[CS], ret = cpu.nextEip;
  if (!call) {
    markAccessed(cpu, cd);
    setCache(cpu, CS, (csel & 0xfffc) | cpu.cpl, cd);
    cpu.nextEip = off;
    return;
  }
  const saved = saveState(cpu);
  try {
    if (!conforming && dpl < cpu.cpl) {
      // An inner level: the TSS gives the new stack; the parameters follow the caller's SS:ESP.
      const oldSs = cpu.segSel[SS], oldEsp = cpu.r32[ESP << 1];
      const args: number[] = [];
      for (let i = 0; i < params; i++) args.push(cpu.peek(i * size, size));
      switchStack(cpu, dpl, 0);
      cpu.cpl = dpl;
      cpu.push(oldSs, size);
      cpu.push(size === 2 ? oldEsp & 0xffff : oldEsp, size);
      for (let i = params - 1; i >= 0; i--) cpu.push(args[i], size);
    }
    cpu.push(oldCs, size);
    cpu.push(size === 2 ? ret & 0xffff : ret, size);
  } catch (e) {
    restoreState(cpu, saved);
    throw e;
  }
  markAccessed(cpu, cd);
  setCache(cpu, CS, (csel & 0xfffc) | cpu.cpl, cd);
  cpu.nextEip = off;
}

/** SS's cache, ESP and the CPL, to undo a CALL whose pushes fault. */
function saveState(cpu: Cpu): number[] {
  return [cpu.segSel[SS], cpu.segBase[SS], cpu.segLimit[SS], cpu.segAr[SS], cpu.r32[ESP << 1], cpu.cpl];
}

function restoreState(cpu: Cpu, s: number[]): void {
  [cpu.segSel[SS], cpu.segBase[SS], cpu.segLimit[SS], cpu.segAr[SS], cpu.r32[ESP << 1], cpu.cpl] = s;
}
