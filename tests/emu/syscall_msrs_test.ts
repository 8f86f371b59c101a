/**
 * SYSCALL reads LSTAR at every call: the emulator keeps what it derives from
 * the MSRs (ops/fastcall.ts), and a new value must replace it at once, whether
 * the guest's WRMSR or the host's KVM_SET_MSRS wrote it, and each vCPU must
 * see its own.
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/harness.ts";
import { bench64, put64 } from "../_support/long64.ts";
import { probeRun } from "../_support/probes.ts";
import { describe } from "../_support/sys.ts";

backendTest("SYSCALL: a new LSTAR takes effect at the next call", (kvm) => {
  // EFER.SCE / LSTAR = 0x3800 / syscall / LSTAR = 0x3900 / syscall / hlt
  using m = bench64(
    kvm,
    "b9800000c0 0f32 83c801 0f30 b9820000c0 b800380000 31d2 0f30 0f05 " +
      "b9820000c0 b800390000 0f30 0f05 f4",
  );
  // Each entry point reports its number and returns to RCX: mov eax, n / out 0xe9, eax / jmp rcx.
  put64(m, 0x3800, "b8aa000000 e7e9 ffe1");
  put64(m, 0x3900, "b8bb000000 e7e9 ffe1");
  const run = probeRun(m.vcpu);
  assert.equal(run.exit.reason, "hlt", describe(run.exit));
  assert.deepEqual(run.out, [0xaa, 0xbb]);
});

// Each entry point reports its number and returns to RCX: mov eax, n / out 0xe9, eax / jmp rcx.
const ENTRY_AA = "b8aa000000 e7e9 ffe1", ENTRY_BB = "b8bb000000 e7e9 ffe1";

backendTest("SYSCALL: each vCPU calls through its own LSTAR, with no MSR written in between", (kvm) => {
  // EFER.SCE / LSTAR = `entry` / report 0x11 / syscall / hlt
  const machine = (entry: string) => {
    const m = bench64(
      kvm,
      `b9800000c0 0f32 83c801 0f30 b9820000c0 b8${entry}0000 31d2 0f30 b811000000 e7e9 0f05 f4`,
    );
    put64(m, 0x3800, ENTRY_AA);
    put64(m, 0x3900, ENTRY_BB);
    return m;
  };
  using a = machine("0038"), b = machine("0039");
  // Both write their MSRs first; then A's SYSCALL, then B's, with no write between them.
  for (const m of [a, b]) assert.deepEqual(probeRun(m.vcpu, 1).out, [0x11]);
  const runA = probeRun(a.vcpu), runB = probeRun(b.vcpu);
  assert.deepEqual([runA.out, runB.out], [[0xaa], [0xbb]], `${describe(runA.exit)}; ${describe(runB.exit)}`);
  assert.equal(runB.exit.reason, "hlt", describe(runB.exit));
});

backendTest("SYSCALL: an LSTAR written by KVM_SET_MSRS takes effect at the next call", (kvm) => {
  // EFER.SCE / LSTAR = 0x3800 / syscall / syscall / hlt; the host moves LSTAR to 0x3900 between the calls.
  using m = bench64(kvm, "b9800000c0 0f32 83c801 0f30 b9820000c0 b800380000 31d2 0f30 0f05 0f05 f4");
  put64(m, 0x3800, ENTRY_AA);
  put64(m, 0x3900, ENTRY_BB);
  assert.deepEqual(probeRun(m.vcpu, 1).out, [0xaa]);
  m.vcpu.setMsrs([{ index: 0xc0000082, data: 0x3900n }]);
  const run = probeRun(m.vcpu);
  assert.deepEqual(run.out, [0xbb]);
  assert.equal(run.exit.reason, "hlt", describe(run.exit));
});
