/**
 * The x87 differential check (tests/_x87_diff.ts) as a test: 2,000 random
 * x87 streams from random initial states at CPL 3 in 64-bit mode, on the
 * kvm backend (natively on the host CPU) and on the emulator; registers,
 * status, control and tag words, pointers, RFLAGS, stored memory and #MF
 * compared. It runs the full generator (nothing avoided: `KNOWN_ISSUES`
 * is empty); `tools/x87_diff.ts` runs as many cases as asked.
 *
 * @module
 */
import { equal, ok } from "node:assert/strict";
import { backendUnavailable, skip, test } from "./_harness.ts";
import { Prng } from "./_sse_diff.ts";
import { buildProgram, compareCase, describe, faultCount, genCase, reproduces, runOn } from "./_x87_diff.ts";
import { Kvm } from "../mod.ts";

const PROGRAMS = 2, PER_PROGRAM = 1000, SEED = 1;
const name = `x87 differential, kvm vs emu: ${PROGRAMS * PER_PROGRAM} random 64-bit CPL 3 streams (seed ${SEED})`;
const why = backendUnavailable("kvm") ?? backendUnavailable("emu");
if (why !== undefined) skip(name, why);
else {
  test(name, () => {
    using kvm = Kvm.open({ backend: "kvm" });
    using emu = Kvm.open({ backend: "emu" });
    const r = new Prng(SEED);
    let faults = 0;
    for (let p = 0; p < PROGRAMS; p++) {
      const cases = Array.from({ length: PER_PROGRAM }, () => genCase(r));
      const prog = buildProgram(cases);
      const a = runOn(kvm, prog), b = runOn(emu, prog);
      if (typeof a === "string" || typeof b === "string") {
        equal(String(b), String(a), "both backends end the program the same way");
        continue;
      }
      faults += faultCount(a, PER_PROGRAM);
      const bad: string[] = [];
      cases.forEach((c, i) => {
        const diffs = compareCase(c, a, b, i);
        // A difference that a rerun does not repeat is the host dropping FOP/FIP/FDP (see `reproduces`).
        if (diffs.length && reproduces(kvm, emu, c)) bad.push(`case ${i}:\n${describe(c)}\n  ${diffs.join("\n  ")}`);
      });
      equal(bad.length, 0, bad.slice(0, 5).join("\n"));
    }
    ok(faults > 0, "some streams raise #MF, so the unmasked-exception path is compared");
  });
}
