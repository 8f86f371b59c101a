/**
 * KVM_SET_REGS drops a pending single-step trap, as the kernel's
 * __set_regs() clears exception.pending: a guest that sets EFLAGS.TF with
 * POPF and then exits on an OUT leaves its #DB trap pending; a VMM that then
 * rewrites the registers (the differential harness does so between cases)
 * must not see that trap fire at the start of the next run.
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/harness.ts";
import {
  CODE,
  describe,
  load,
  machine,
  protectedMode,
  RFLAGS_FIXED,
  RFLAGS_IOPL3,
  runToOut,
} from "../_support/guests.ts";

/** Where the second run starts: an `out 0xd1, al`. */
const RESUME = CODE + 0x10;

backendTest("KVM_SET_REGS drops a single-step trap left pending by an OUT", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "9c", // pushfd
    "81 0c 24 00 01 00 00", // or dword [esp], 0x100 (TF)
    "9d", // popfd
    "e6 d0", // out 0xd0, al: the exit; the single-step trap after it is pending
  ]);
  load(m.mem, RESUME, ["e6 d1"]); // out 0xd1, al
  protectedMode(m.vcpu, m.mem, CODE, 3);
  assert.equal(runToOut(m.vcpu, 0xd0), 0);
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rip: BigInt(RESUME), rflags: RFLAGS_FIXED | RFLAGS_IOPL3 });
  // With the trap still pending, #DB would be delivered through the (empty) IDT first.
  const exit = m.vcpu.run();
  assert.ok(exit.reason === "io" && exit.port === 0xd1, `expected out 0xd1, got ${describe(exit)}`);
  assert.equal(m.vcpu.getRegs().rip, BigInt(RESUME + 2));
});
