/**
 * The checks that the guest-debug tests of every mode share (tests/api/debug_test.ts in real and protected
 * mode, tests/emu/long/debug_test.ts in long mode): the test loads and starts the guest, these turn on
 * KVM_SET_GUEST_DEBUG and run the guest through its debug exits.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Vcpu } from "../../mod.ts";
import { describe, runTo, runToOut } from "../_support/guests.ts";

export const DR6_B0 = 1n;
export const DR6_B1 = 2n;
export const DR6_BS = 1n << 14n;

/** Runs to a debug exit and checks its exception vector and pc; returns the exit. */
export function expectDebugExit(vcpu: Vcpu, exception: number, pc: number | bigint) {
  const exit = runTo(vcpu, "debug");
  assert.equal(exit.exception, exception, describe(exit));
  assert.equal(exit.pc, BigInt(pc), describe(exit));
  return exit;
}

/** Single-steps the guest (KVM_GUESTDBG_SINGLESTEP): one exception-1 exit at each of `pcs`, dr6.BS set, rip there. */
export function expectSteps(vcpu: Vcpu, pcs: readonly number[]): void {
  vcpu.setGuestDebug({ singlestep: true });
  for (const pc of pcs) {
    const exit = expectDebugExit(vcpu, 1, pc);
    assert.ok(exit.dr6 & DR6_BS, describe(exit));
    assert.equal(vcpu.getRegs().rip, BigInt(pc));
  }
}

/**
 * A guest of `nop / nop / mov al, 0x42 / out 0xe9, al` at `code`, with a hardware execution breakpoint on the
 * mov in DR0 and then in DR1: each run from `code` stops before the mov with dr6 naming the slot; then, with
 * debugging off, the guest writes 0x42.
 */
export function expectExecBreakpoints(vcpu: Vcpu, code: number): void {
  for (const [slot, bits] of [[0, DR6_B0], [1, DR6_B1]] as const) {
    const bps = [{ address: code + 2 }, { address: 0x8000 }];
    if (slot === 1) bps.reverse();
    vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(code), rax: 0n });
    vcpu.setGuestDebug({ hardwareBreakpoints: bps });
    const exit = expectDebugExit(vcpu, 1, code + 2);
    assert.equal(exit.dr6 & 0xfn, bits, `DR${slot}: ${describe(exit)}`);
    assert.equal(vcpu.getRegs().rax & 0xffn, 0n, "the instruction did not run");
  }
  vcpu.setGuestDebug(null);
  assert.equal(runToOut(vcpu, 0xe9), 0x42);
}

/** The guest of expectDebugOff, the same bytes in every mode. */
export const FREE_RUN_GUEST: readonly string[] = [
  "90", //    nop
  "b0 42", // mov al, 0x42
  "e6 e9", // out 0xe9, al
  "f4", //    hlt
];

/**
 * With FREE_RUN_GUEST at `code`, setGuestDebug(null) after single-step and a breakpoint on the mov lets the
 * guest run freely to its out and hlt.
 */
export function expectDebugOff(vcpu: Vcpu, code: number): void {
  vcpu.setGuestDebug({ singlestep: true, hardwareBreakpoints: [{ address: code + 1 }] });
  vcpu.setGuestDebug(null);
  assert.equal(runToOut(vcpu, 0xe9), 0x42);
  runTo(vcpu, "hlt");
}
