/**
 * Userspace MSR exits: with KVM_CAP_X86_USER_SPACE_MSR and an MSR filter
 * that denies an MSR, the guest's rdmsr/wrmsr of it become
 * "x86_rdmsr"/"x86_wrmsr" exits that the program answers through the exit
 * object. The emulator refuses both ioctls cleanly.
 */
import assert from "node:assert/strict";
import type { MsrFilter } from "../../mod.ts";
import {
  KVM_CAP_X86_MSR_FILTER,
  KVM_CAP_X86_USER_SPACE_MSR,
  KVM_MSR_EXIT_REASON_FILTER,
  MSR_IA32_SYSENTER_CS,
} from "../../abi/constants.ts";
import { backendTest } from "../_support/harness.ts";
import { CODE, machine, realMode, runTo, view } from "../_support/guests.ts";
import { denySysenterCs, emuRefuses, kvmTest, MSR_EXIT_CAPS, msrExits } from "./_vmm.ts";

// 0x1000: rdmsr and wrmsr of MSR 0x174 (IA32_SYSENTER_CS), keeping what rdmsr returned at 0x2000.
const MSR_GUEST = [
  "66 b9 74 01 00 00", // mov ecx, 0x174
  "0f 32", //             rdmsr
  "66 a3 00 20", //       mov [0x2000], eax
  "66 89 16 04 20", //    mov [0x2004], edx
  "66 b8 ef be ad de", // mov eax, 0xdeadbeef
  "66 ba 01 00 00 00", // mov edx, 1
  "0f 30", //             wrmsr
  "f4", //                hlt
];

kvmTest("userspace MSR exits: a filtered rdmsr and wrmsr are answered by the program", MSR_EXIT_CAPS, (kvm) => {
  using m = machine(kvm);
  msrExits(m, MSR_GUEST);

  const rd = runTo(m.vcpu, "x86_rdmsr");
  assert.equal(rd.index, MSR_IA32_SYSENTER_CS);
  assert.equal(rd.msrReason, KVM_MSR_EXIT_REASON_FILTER);
  rd.data = 0x1122_3344_5566_7788n;
  rd.error = 0;
  assert.throws(() => (rd.data = -1n), /exit\.data/);

  const wr = runTo(m.vcpu, "x86_wrmsr");
  assert.equal(wr.index, MSR_IA32_SYSENTER_CS);
  assert.equal(wr.data, 0x1_dead_beefn);
  wr.error = 0;
  runTo(m.vcpu, "hlt");

  const mem = view(m.mem);
  assert.equal(mem.getUint32(0x2000, true), 0x5566_7788, "eax got the low half of the answer");
  assert.equal(mem.getUint32(0x2004, true), 0x1122_3344, "edx got the high half");
  const [kept] = m.vcpu.getMsrs([MSR_IA32_SYSENTER_CS]);
  assert.equal(kept.data, 0n, "the guest's wrmsr went to the program, not to KVM");

  // Without the filter the MSR is KVM's again: no exit.
  m.vm.setMsrFilter(null);
  realMode(m.vcpu, CODE);
  runTo(m.vcpu, "hlt");
  const written = m.vcpu.getMsrs([MSR_IA32_SYSENTER_CS])[0].data;
  assert.equal(
    written & 0xffff_ffffn,
    0xdead_beefn,
    "KVM took the write (how many high bits it keeps is the vendor's)",
  );
});

backendTest("setMsrFilter validates before any ioctl", (kvm) => {
  using m = machine(kvm);
  const bad = (filter: unknown) => () => m.vm.setMsrFilter(filter as MsrFilter);
  const range = { flags: { read: true }, base: 0, bitmap: new Uint8Array(1) };
  assert.throws(bad({ ranges: Array(17).fill(range) }), RangeError);
  assert.throws(bad({ ranges: [{ ...range, flags: {} }] }), /filter\.ranges\.0\.flags: filters neither/);
  assert.throws(bad({ ranges: [{ ...range, nmsrs: 9 }] }), /filter\.ranges\.0\.nmsrs: 9 MSRs need 2 bitmap bytes/);
  assert.throws(bad({ ranges: [{ ...range, bitmap: new Uint8Array(0x601) }] }), RangeError);
  assert.throws(bad({ ranges: [range], defaultDeny: "yes" }), TypeError);
});

emuRefuses("enableCap(KVM_CAP_X86_USER_SPACE_MSR)", KVM_CAP_X86_USER_SPACE_MSR, (m) => {
  m.vm.enableCap(KVM_CAP_X86_USER_SPACE_MSR, { args: [KVM_MSR_EXIT_REASON_FILTER] });
});

emuRefuses("setMsrFilter", KVM_CAP_X86_MSR_FILTER, (m) => denySysenterCs(m.vm));
