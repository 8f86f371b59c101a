/**
 * Fast system calls and the performance counters: SYSENTER and SYSEXIT
 * (flat segments derived from MSR IA32_SYSENTER_CS, entry point and stack
 * from IA32_SYSENTER_EIP/ESP), and RDPMC (#GP(0): no counters).
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { IF, RF, VM } from "../flags.ts";
import { fault, GP } from "../fault.ts";
import { AR_DB, AR_G, AR_P, AR_S, CS, ECX, EDX, ESP, SS } from "../state.ts";

const SYSENTER_CS = 0x174, SYSENTER_ESP = 0x175, SYSENTER_EIP = 0x176;
const CR4_PCE = 1 << 8;

function msr32(cpu: Cpu, index: number): number {
  return Number((cpu.msrs.get(index) ?? 0n) & 0xffffffffn);
}

/** Loads a flat 4 GiB segment with type `type` and DPL `dpl` into `seg`. */
function flat(cpu: Cpu, seg: number, sel: number, type: number, dpl: number): void {
  cpu.segSel[seg] = sel;
  cpu.segBase[seg] = 0;
  cpu.segLimit[seg] = 0xffffffff;
  cpu.segAr[seg] = type | AR_S | (dpl << 5) | AR_P | AR_DB | AR_G;
}

/** 0F 34: SYSENTER (#GP(0) in real mode or with a null IA32_SYSENTER_CS). */
export function sysenter(cpu: Cpu): void {
  const cs = msr32(cpu, SYSENTER_CS) & 0xffff;
  if (!(cpu.cr0 & 1) || (cs & 0xfffc) === 0) fault(GP, 0);
  cpu.eflRest &= ~(VM | IF | RF);
  flat(cpu, CS, cs & 0xfffc, 0xb, 0);
  flat(cpu, SS, (cs + 8) & 0xfffc, 0x3, 0);
  cpu.cpl = 0;
  cpu.r32[ESP << 1] = msr32(cpu, SYSENTER_ESP);
  cpu.nextEip = msr32(cpu, SYSENTER_EIP);
  cpu.mem.flush();
}

/** 0F 35: SYSEXIT to CPL 3 at EDX with ESP = ECX (#GP(0) unless CPL 0 in protected mode). */
export function sysexit(cpu: Cpu): void {
  const cs = msr32(cpu, SYSENTER_CS) & 0xffff;
  if (!(cpu.cr0 & 1) || cpu.eflRest & VM || cpu.cpl !== 0 || (cs & 0xfffc) === 0) fault(GP, 0);
  flat(cpu, CS, ((cs + 16) & 0xfffc) | 3, 0xb, 3);
  flat(cpu, SS, ((cs + 24) & 0xfffc) | 3, 0x3, 3);
  cpu.cpl = 3;
  cpu.r32[ESP << 1] = cpu.r32[ECX << 1];
  cpu.nextEip = cpu.r32[EDX << 1];
  cpu.mem.flush();
}

/**
 * 0F 33: RDPMC. The emulated CPU has no performance counters (CPUID
 * advertises none, as KVM without a virtual PMU): after the privilege
 * check, every counter index is #GP(0).
 */
export function rdpmc(cpu: Cpu): void {
  if (cpu.cr0 & 1 && (cpu.cpl > 0 || cpu.eflRest & VM) && !(cpu.cr4 & CR4_PCE)) fault(GP, 0);
  fault(GP, 0);
}
