/**
 * The differential harness checked against itself on the kvm backend: two
 * VMs must agree on every case (any disagreement is a bug in the runner:
 * state leaking from one case into the next, or a nondeterministic
 * outcome), and the machine's exception handlers report what the
 * architecture says. Skipped, with the reason, where /dev/kvm is missing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../../mod.ts";
import type { Case } from "../../diff/case.ts";
import { compareOutcomes } from "../../diff/compare.ts";
import { runDifferential, type Sides } from "../../diff/differential.ts";
import type { Env, Mode } from "../../diff/env.ts";
import { generateCase } from "../../diff/generate.ts";
import { DONE_PORT, ERROR_PORT, VECTOR_PORT } from "../../diff/layout.ts";
import { probeOracle } from "../../diff/oracle.ts";
import { Runner } from "../../diff/runner.ts";
import { backendTest, backendUnavailable, skip, test } from "../_support/harness.ts";

const CASES_PER_MODE = 200;

for (const mode of ["16", "32", "64"] as Mode[]) {
  const name = `diff: kvm agrees with kvm on ${CASES_PER_MODE} generated cases in mode ${mode}`;
  const why = backendUnavailable("kvm");
  if (why !== undefined) {
    skip(name, why);
    continue;
  }
  test(name, () => {
    using a = Kvm.open({ backend: "kvm" });
    using b = Kvm.open({ backend: "kvm" });
    using oracle = new Runner(a);
    using candidate = new Runner(b);
    const sides: Sides = { oracle, candidate, limits: probeOracle(oracle) };
    const verdicts = { agree: 0, disagree: 0, noOracle: 0 };
    for (let i = 0; i < CASES_PER_MODE; i++) {
      const c = generateCase(2024, i, { mode });
      const r = runDifferential(sides, c);
      verdicts[r.verdict]++;
      assert.notEqual(r.verdict, "disagree", `case ${i}: ${JSON.stringify(r.comparison?.differences)}`);
    }
    assert.ok(verdicts.agree >= CASES_PER_MODE / 2, `only ${verdicts.agree} cases had an oracle`);
  });
}

const orderName = "diff: a case's outcome on kvm does not depend on the cases run before it";
const noKvm = backendUnavailable("kvm");
if (noKvm !== undefined) {
  skip(orderName, noKvm);
} else {
  test(orderName, () => {
    // One runner runs the cases in order, the other in reverse: the runner's reset must leave nothing behind.
    using a = Kvm.open({ backend: "kvm" });
    using b = Kvm.open({ backend: "kvm" });
    using forward = new Runner(a);
    using backward = new Runner(b);
    for (const mode of ["16", "32", "64"] as Mode[]) {
      const cases = Array.from({ length: 100 }, (_, i) => generateCase(77, i, { mode }));
      const first = cases.map((c) => forward.run(c));
      for (let i = cases.length - 1; i >= 0; i--) {
        const r = compareOutcomes(cases[i], first[i], backward.run(cases[i]));
        assert.ok(r.agree, `mode ${mode} case ${i}: ${JSON.stringify(r.differences)}`);
      }
    }
  });
}

function env(mode: Mode, real = false): Env {
  return { mode, real, paging: mode === "64", seg: { es: 1, ss: 0, ds: 2, fs: 3, gs: 1 }, alignmentCheck: false };
}

function oneInsn(e: Env, bytes: number[], regs: Record<number, bigint> = {}): Case {
  const r = Array.from({ length: 16 }, (_, i) => regs[i] ?? 0n);
  // The stack pointer 0x1000 bytes into the data area (in mode 16, ss is based at the data area).
  r[4] = e.mode === "16" ? 0x1000n : 0x31000n;
  return {
    env: e,
    family: "probe",
    groups: [{ insns: [{ bytes, form: "mov.nop.0f1f/0", size: 32 }] }],
    regs: r,
    rflags: 0n,
    memory: 0,
    seed: 0,
    index: 0,
  };
}

backendTest("diff machine: a clean case ends with the done exit and its result", (kvm) => {
  using runner = new Runner(kvm);
  // add eax, ebx with eax = 2, ebx = 3 in 64-bit mode.
  const o = runner.run(oneInsn(env("64"), [0x01, 0xd8], { 0: 2n, 3: 3n }));
  assert.deepEqual(o.exits.map((e) => [e.reason, e.port]), [["io", DONE_PORT]]);
  assert.equal(o.regs[0], 5n);
}, { only: ["kvm"] });

backendTest("diff machine: a page fault reports vector 14, its error code and cr2", (kvm) => {
  using runner = new Runner(kvm);
  // mov [0x32010], eax: a user write to the read-only page.
  const o = runner.run(oneInsn(env("64"), [0x89, 0x04, 0x25, 0x10, 0x20, 0x03, 0x00]));
  assert.deepEqual(o.exits.map((e) => [e.reason, e.port, e.value]), [
    ["io", VECTOR_PORT, 14],
    ["io", ERROR_PORT, 7],
    ["hlt", undefined, undefined],
  ]);
  assert.equal(o.cr2, 0x32010n);
}, { only: ["kvm"] });

backendTest("diff machine: #DE in real mode and in 32-bit mode reach their handlers", (kvm) => {
  using runner = new Runner(kvm);
  for (const e of [env("16", true), env("32")]) {
    const o = runner.run(oneInsn(e, [0xf6, 0xf1])); // div cl with cl = 0
    assert.deepEqual(o.exits.map((x) => [x.reason, x.port, x.value]), [
      ["io", VECTOR_PORT, 0],
      ["hlt", undefined, undefined],
    ], `mode ${e.mode}`);
  }
}, { only: ["kvm"] });
