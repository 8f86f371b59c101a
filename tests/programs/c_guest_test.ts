/**
 * The C guest (examples/c_guest): a freestanding gcc-built program that
 * hashes, sorts and computes in double and long double at CPL 3 in 64-bit
 * mode. Its console output must match the output recorded from KVM
 * (examples/c_guest/expected.txt) on every backend.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadCGuestImage, runCGuest } from "../../examples/c_guest/run.ts";
import { backendTest } from "../_support/harness.ts";

const expected = readFileSync(new URL("../../examples/c_guest/expected.txt", import.meta.url), "utf8");

backendTest("C guest: gcc-built 64-bit program prints the output recorded on KVM", (kvm) => {
  const r = runCGuest(kvm, loadCGuestImage());
  assert.equal(r.output, expected);
  assert.equal(r.exitCode, 0);
});
