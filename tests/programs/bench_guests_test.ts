/**
 * The benchmark guests (bench/guests/) stay correct: every 32-bit workload
 * image boots and reports the checksum its model predicts, on each backend
 * (on /dev/kvm started the way the benchmark starts it there), and a few
 * cheap ones execute exactly the instructions their model counts,
 * single-stepped (on a KVM whose single step stops after an `out`).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../mod.ts";
import { readImage, runImage } from "../../bench/guests/kvmkit_runner.ts";
import { countInstructions } from "../../bench/guests/step_count.ts";
import { kvmkitEntry } from "../../bench/guests/tools.ts";
import type { EntryChoice } from "../../bench/guests/tools.ts";
import { checksumText, instructionCount, WORKLOADS } from "../../bench/guests/workloads.ts";
import { CODE, describe, featureTest, load, machine, protectedMode } from "../_support/guests.ts";

/** Iterations per run: enough to loop, little enough for kvm_pvm's emulated CPL 0 (about 1 MIPS). */
const N = 2;

/** The entry per backend, chosen once. */
const entries = new Map<string, EntryChoice>();
function entryFor(kvm: Kvm): EntryChoice {
  let choice = entries.get(kvm.backend);
  if (!choice) entries.set(kvm.backend, choice = kvmkitEntry(kvm, 32));
  return choice;
}

/** Guest images run once per backend: the probe's run, reused by the test. */
function runGuest(kvm: Kvm, name: string) {
  const w = WORKLOADS.find((x) => x.name === name)!;
  const { entry } = entryFor(kvm);
  const image = readImage(name, 32);
  return runImage(kvm, { image, n: N, mode: 32, timeoutMs: 60_000, irqchip: w.irqchip, ...entry });
}

/**
 * The kernel-shaped guests' CPL 0 code (CR3 loads, IRET frames, the LAPIC) goes through the host kernel's
 * instruction emulator on kvm_pvm, which may give up on it: an internal error there is the host's finding, reported
 * as the reason for skipping. The emulator's half always runs.
 */
function kvmEmulates(name: string): (kvm: Kvm) => string | undefined {
  return (kvm) => {
    if (kvm.backend !== "kvm") return undefined;
    const r = runGuest(kvm, name);
    return !r.ok && r.failure.startsWith("internal_error")
      ? `its instruction emulator stops ${name} with ${r.failure}`
      : undefined;
  };
}

for (const w of WORKLOADS) {
  featureTest(`bench guest ${w.name} (32-bit) reports its model's checksum`, kvmEmulates(w.name), (kvm) => {
    const r = runGuest(kvm, w.name);
    assert.ok(r.ok, r.ok ? "" : `${w.name}: ${r.failure}`);
    assert.equal(r.output, checksumText(w.checksum(N)));
  });
}

/**
 * Single-steps `out 0xe9, al` then `nop`s in 32-bit protected mode: after the I/O exit, the step must stop at the
 * first nop. (kvm_pvm's step that completes an `out` also runs the next instruction, so counts come out short.)
 */
function probeStepAfterOut(kvm: Kvm): string | undefined {
  using m = machine(kvm);
  load(m.mem, CODE, ["e6 e9", "90", "90", "f4"]); // out 0xe9, al / nop / nop / hlt
  protectedMode(m.vcpu, m.mem, CODE);
  m.vcpu.setGuestDebug({ singlestep: true });
  const first = m.vcpu.run({ timeoutMs: 3000 });
  if (first.reason !== "io") return `a single-stepped out gives ${describe(first)} before its I/O exit`;
  const step = m.vcpu.run({ timeoutMs: 3000 });
  if (step.reason === "debug" && step.pc === BigInt(CODE + 2)) return undefined;
  const next = (CODE + 2).toString(16);
  return `the single step that completes an out stops at ${describe(step)}, not at the next instruction (0x${next})`;
}

for (const name of ["alu", "memset_rep", "pagewalk", "portio"]) {
  const w = WORKLOADS.find((x) => x.name === name)!;
  featureTest(`bench guest ${name} (32-bit) executes its model's instruction count`, probeStepAfterOut, (kvm) => {
    const counted = countInstructions(kvm, { image: readImage(name, 32), n: N, mode: 32 });
    assert.ok(counted.ok, counted.ok ? "" : `${name}: ${counted.failure}`);
    assert.equal(counted.instructions, instructionCount(w, 32, N));
    assert.equal(counted.output, checksumText(w.checksum(N)));
  });
}
