/**
 * The SSE differential check (tests/emu/sse/_diff.ts) as a test: random cases
 * of every instruction in tests/emu/sse/_vectors.ts at CPL 3 in 64-bit mode,
 * on the kvm backend (natively on the host CPU) and on the emulator, every
 * output byte compared. A short run here (seed 1); `tools/sse_diff.ts`
 * runs as many as asked.
 *
 * @module
 */
import { equal } from "node:assert/strict";
import { buildProgram, CASES_PER_PROGRAM, compareRecords, Prng, runOn, sseForms } from "./_diff.ts";
import { differentialTest } from "./_kvm_vs_emu.ts";

const PROGRAMS = 3, SEED = 1;
const name = `sse differential, kvm vs emu: ${PROGRAMS * CASES_PER_PROGRAM} random 64-bit CPL 3 cases (seed ${SEED})`;
differentialTest(name, (kvm, emu) => {
  const forms = sseForms(), r = new Prng(SEED);
  for (let p = 0; p < PROGRAMS; p++) {
    const prog = buildProgram(forms, CASES_PER_PROGRAM, r);
    const a = runOn(kvm, prog.code, prog.records), b = runOn(emu, prog.code, prog.records);
    if (typeof a === "string" || typeof b === "string") {
      equal(String(b), String(a), "both backends end the program the same way");
      continue;
    }
    const bad = compareRecords(prog.cases, a, b);
    equal(bad.length, 0, bad.join("\n"));
  }
});
