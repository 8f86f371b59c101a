/**
 * The x87 differential check (tests/emu/x87/_diff.ts) as a test: 2,000 random
 * x87 streams from random initial states at CPL 3 in 64-bit mode, on the
 * kvm backend (natively on the host CPU) and on the emulator presenting the
 * host's vendor; registers, status, control and tag words, pointers,
 * RFLAGS, stored memory and #MF compared. It runs the full generator
 * (nothing avoided: `KNOWN_ISSUES` is empty); `tools/x87_diff.ts` runs as
 * many cases as asked.
 *
 * FOP, FIP and FDP follow the vendor. On Intel (found on a Sapphire Rapids
 * host, CPUID.(EAX=7,ECX=0):EBX bits 6 and 13 set) FOP and FDP change only
 * when a non-control instruction incurs an unmasked exception, FIP with
 * every non-control instruction, and FCS/FDS are saved as zeros: a native
 * 64-bit process (fxrstor64 of FOP 0x575 and FDP 0x2222222222, a masked
 * FDIV m64, fxsave64) reads back FOP 0x575 and FDP 0x2222222222 with the new
 * FIP, exactly as the kvm_pvm guest does, so these are the CPU's values and
 * not an artefact of the host kernel's XSAVES/XRSTORS, which keep them on
 * Intel. Every difference therefore fails there. On AMD the pointers are
 * saved only while an unmasked exception is pending, so a host interrupt
 * (an XSAVE by the kernel) can drop them between any two guest
 * instructions: there a difference counts only if it repeats when the case
 * runs alone, twice (`reproduces`).
 *
 * @module
 */
import { equal, ok } from "node:assert/strict";
import { Prng } from "../sse/_diff.ts";
import { differentialTest } from "../sse/_kvm_vs_emu.ts";
import { buildProgram, compareCase, describe, faultCount, reproduces, runOn } from "./_diff.ts";
import { genCase } from "./_gen.ts";

const PROGRAMS = 2, PER_PROGRAM = 1000, SEED = 1;
const name = `x87 differential, kvm vs emu: ${PROGRAMS * PER_PROGRAM} random 64-bit CPL 3 streams (seed ${SEED})`;
differentialTest(name, (kvm, emu, vendor) => {
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
      // Only AMD loses the pointers at a host interrupt (see above); on Intel a difference is a difference.
      if (diffs.length && (vendor !== "amd" || reproduces(kvm, emu, c))) {
        bad.push(`case ${i}:\n${describe(c)}\n  ${diffs.join("\n  ")}`);
      }
    });
    equal(bad.length, 0, bad.slice(0, 5).join("\n"));
  }
  ok(faults > 0, "some streams raise #MF, so the unmasked-exception path is compared");
});
