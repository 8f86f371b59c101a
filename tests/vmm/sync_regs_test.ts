/**
 * Sync regs (KVM_CAP_SYNC_REGS): after each run() the enabled register sets
 * are read from kvm_run without an ioctl, and a set assigned there is
 * loaded by the next run(). The emulator has no sync regs: enabling them is
 * refused with EINVAL, as KVM_RUN would refuse them.
 */
import assert from "node:assert/strict";
import { KvmError } from "../../mod.ts";
import { KVM_CAP_SYNC_REGS } from "../../abi/constants.ts";
import { CODE, load, machine, realMode, runTo, runToOut } from "../_support/guests.ts";
import { emuRefuses, kvmTest } from "./_vmm.ts";

// 0x1000: mov ax, 0x1234 ; out 0xe9, al ; out 0xe9, al ; hlt
const GUEST = [
  "b8 34 12", // mov ax, 0x1234
  "e6 e9", //    out 0xe9, al
  "e6 e9", //    out 0xe9, al   ; al as the program left it in kvm_run.s
  "f4", //       hlt
];

kvmTest("syncRegs: registers read from and written to kvm_run around run()", { KVM_CAP_SYNC_REGS }, (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, GUEST);
  realMode(m.vcpu, CODE);
  const sync = m.vcpu.syncRegs;
  sync.enable({ regs: true, sregs: true });
  assert.deepEqual(sync.enabled, { regs: true, sregs: true, events: false });

  assert.equal(runToOut(m.vcpu, 0xe9), 0x34);
  const regs = sync.regs;
  assert.deepEqual(regs, m.vcpu.getRegs(), "kvm_run.s.regs is what KVM_GET_REGS says");
  assert.equal(regs.rax & 0xffffn, 0x1234n);
  assert.deepEqual(sync.sregs.cs, m.vcpu.getSregs().cs);
  assert.throws(() => sync.events, (e) => e instanceof KvmError && /events are not synced/.test(e.message));

  sync.regs = { ...regs, rax: 0x77n };
  assert.equal(runToOut(m.vcpu, 0xe9), 0x77, "the next run() loaded the dirty regs");
  assert.equal(m.vcpu.getRegs().rax, 0x77n);
  runTo(m.vcpu, "hlt");
  assert.throws(() => (sync.regs = { ...regs, rax: -1n }), /regs\.rax/);

  sync.enable({});
  assert.throws(() => sync.regs, KvmError);
  m.vcpu.close();
  assert.throws(() => sync.enable({ regs: true }), (e) => e instanceof KvmError && e.code === "EBADF");
});

emuRefuses("syncRegs.enable", KVM_CAP_SYNC_REGS, (m) => m.vcpu.syncRegs.enable({ regs: true }), ["EINVAL"]);
