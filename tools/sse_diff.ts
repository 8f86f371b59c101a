/**
 * Runs the SSE differential check of tests/emu/sse/_diff.ts at scale: random
 * 64-bit CPL 3 cases on the kvm backend (the host CPU) and the emulator.
 *
 *     deno run -A tools/sse_diff.ts [--cases 100000] [--seed 1]
 *     bun tools/sse_diff.ts --cases 100000 --seed 1
 *
 * Prints the counts and the first disagreements; exits 1 on a disagreement.
 *
 * @module
 */
import { Kvm } from "../mod.ts";
import { backendVendor } from "../diff/vendor.ts";
import { failedRunDisagreements } from "./_diff_report.ts";
import { buildProgram, CASES_PER_PROGRAM, compareRecords, Prng, runOn, sseForms } from "../tests/emu/sse/_diff.ts";

declare const process: { argv: string[]; exit(code: number): never };

function arg(name: string, fallback: number): number {
  const argv = typeof Deno !== "undefined" ? Deno.args : process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
}

const total = arg("cases", 100000), seed = arg("seed", 1);
using kvm = Kvm.open({ backend: "kvm" });
// The emulator presents the host's vendor (DPPS/DPPD choose NaNs in a vendor's own order).
const vendor = backendVendor(kvm);
using emu = Kvm.open({ backend: "emu", vendor });
const forms = sseForms(), r = new Prng(seed);
let done = 0, bad = 0;
const t0 = performance.now();
while (done < total) {
  const n = Math.min(CASES_PER_PROGRAM, total - done);
  const prog = buildProgram(forms, n, r);
  const a = runOn(kvm, prog.code, prog.records), b = runOn(emu, prog.code, prog.records);
  if (typeof a === "string" || typeof b === "string") {
    bad += failedRunDisagreements(done, n, a, b);
  } else {
    const diffs = compareRecords(prog.cases, a, b, 1000);
    bad += diffs.length;
    for (const d of diffs.slice(0, 5)) console.log(d);
  }
  done += n;
}
const s = ((performance.now() - t0) / 1000).toFixed(1);
console.log(
  `sse diff: seed ${seed}, ${vendor ?? "unknown"} host, ${forms.length} forms: agree ${
    done - bad
  }, disagree ${bad} (${s} s)`,
);
if (bad) {
  if (typeof Deno !== "undefined") Deno.exit(1);
  else process.exit(1);
}
