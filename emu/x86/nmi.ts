/**
 * Non-maskable interrupts: the pending count with the kernel's limit
 * (processNmi), queueing for KVM_NMI, and delivery through vector 2 with
 * NMI blocking until the next IRET. The state lives in `State`
 * (`nmiPending`, `nmiInjected`, `nmiMasked`); KVM_GET/SET_VCPU_EVENTS read
 * and write it.
 *
 * @module
 */
import type { Cpu } from "./cpu.ts";
import { NMI } from "./fault.ts";
import { deliver } from "./interrupt.ts";
import { getRip } from "./long/access.ts";
import type { State } from "./state.ts";

/**
 * How many NMIs may wait, as the kernel's processNmi allows: two (one to
 * deliver, one to follow), or one while NMIs are masked or one is injected.
 */
function nmiLimit(s: State): number {
  return s.nmiMasked || s.nmiInjected ? 1 : 2;
}

/** Applies `nmiLimit` to the pending count (after a change of the masked or injected state). */
export function limitNmis(s: State): void {
  s.nmiPending = Math.min(s.nmiPending, nmiLimit(s));
}

/** KVM_NMI: one more pending NMI (the kernel's kvmInjectNmi, then processNmi). */
export function queueNmi(s: State): void {
  s.nmiPending++;
  limitNmis(s);
}

/**
 * Whether an NMI is to be delivered before the next instruction: an
 * injected one always; a pending one unless NMIs are masked or an interrupt
 * shadow (after STI, MOV SS or POP SS) blocks it, as both VMX and SVM do.
 */
export function nmiReady(cpu: Cpu): boolean {
  return cpu.nmiInjected || (cpu.nmiPending > 0 && !cpu.nmiMasked && cpu.shadow === 0);
}

/**
 * Delivers the injected NMI, else a pending one, through vector 2 of the
 * IVT or IDT (an external event: no gate DPL check, no error code), returning
 * to the current instruction; NMIs stay masked until IRET. Faults raised by
 * the delivery propagate (the caller delivers them, as for an interrupt).
 */
export function deliverNmi(cpu: Cpu): void {
  if (cpu.nmiInjected) cpu.nmiInjected = false;
  else cpu.nmiPending--;
  cpu.nmiMasked = true;
  deliver(cpu, NMI, -1, false, getRip(cpu));
}
