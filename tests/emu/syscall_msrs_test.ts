/**
 * SYSCALL reads LSTAR at every call: the emulator keeps what it derives from
 * the MSRs (ops/fastcall.ts), and a new value must replace it at once.
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
