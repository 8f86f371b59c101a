/**
 * The differential conformance command: generates cases, runs each on the
 * kvm backend (the oracle: the host CPU at CPL 3, the kernel's emulator at
 * CPL 0) and on the candidate (the emulator), prints agreement per family,
 * saves minimised disagreements to the regression corpus, and exits 1 when
 * any case disagreed. Runs under Deno (`deno task diff ...`) and Bun
 * (`bun diff/cli.ts ...`).
 *
 * @module
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Kvm } from "../mod.ts";
import { parseArgs, USAGE } from "./args.ts";
import { type CaseResult, runDifferential, type Sides } from "./differential.ts";
import { familiesFor, generateCase } from "./generate.ts";
import { probeOracle } from "./oracle.ts";
import { Runner } from "./runner.ts";
import { CorpusWriter } from "./save.ts";
import { backendVendor } from "./vendor.ts";
import { FAMILY_NAMES } from "./table.ts";

interface Tally {
  cases: number;
  agree: number;
  disagree: number;
  noOracle: number;
}

const pad = (s: string | number, n: number) => String(s).padStart(n);

function describeResult(r: CaseResult): string {
  const d = r.comparison?.differences ?? [];
  return d.map((x) => `${x.what}: kvm ${x.expected}, candidate ${x.actual}`).join("; ");
}

function main(): number {
  const o = parseArgs(process.argv.slice(2));
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  using oracleKvm = Kvm.open({ backend: "kvm" });
  using candidateKvm = Kvm.open({ backend: o.candidate, vendor: o.vendor });
  using oracle = new Runner(oracleKvm);
  using candidate = new Runner(candidateKvm);
  const limits = probeOracle(oracle);
  const sides: Sides = { oracle, candidate, limits };
  const hostVendor = backendVendor(oracleKvm);
  const candidateName = `${o.candidate} (${backendVendor(candidateKvm) ?? "unknown vendor"})`;
  if (hostVendor) sides.oracleVendor = hostVendor;
  if (o.strictFlags) {
    if (!hostVendor) throw new Error("--strict-flags: the host's CPUID names neither Intel nor AMD");
    sides.strictFlags = true;
  }
  const families = o.families ?? familiesFor(o.mode);
  console.log(
    `kvmkit diff: mode ${o.mode}, ${o.cases} cases from seed ${o.seed}, families ${families.join(",")}; ` +
      `oracle kvm (${hostVendor ?? "unknown vendor"}), candidate ${candidateName}`,
  );
  console.log(
    `host CPU vendor: ${hostVendor ?? "unknown"} (CPUID leaf 0 of the kvm backend's KVM_GET_SUPPORTED_CPUID); ` +
      (o.candidate === "emu"
        ? `emulator personality: ${backendVendor(candidateKvm)} (${o.vendor ? "--vendor" : "default: the host's"})`
        : `candidate kvm presents ${backendVendor(candidateKvm) ?? "unknown"}`),
  );
  console.log(
    o.strictFlags
      ? `strict flags: the flags the manuals leave undefined are compared too (${hostVendor} behaviour expected)`
      : "flags the manuals leave undefined are masked (--strict-flags compares them)",
  );
  for (const l of limits) console.log(`oracle limit (${l.name}): ${l.why}`);

  const tally = new Map<string, Tally>(
    FAMILY_NAMES.filter((f) => families.includes(f)).map((f) => [f, { cases: 0, agree: 0, disagree: 0, noOracle: 0 }]),
  );
  const reasons = new Map<string, number>();
  const writer = new CorpusWriter(fileURLToPath(new URL("../tests/corpus/", import.meta.url)), o.save, o.candidate);
  let shown = 0;
  const t0 = performance.now();
  for (let i = 0; i < o.cases; i++) {
    const c = generateCase(o.seed, i, { mode: o.mode, families });
    const r = runDifferential(sides, c);
    const t = tally.get(c.family)!;
    t.cases++;
    t[r.verdict]++;
    if (r.verdict === "noOracle") reasons.set(r.reason ?? "?", (reasons.get(r.reason ?? "?") ?? 0) + 1);
    if (r.verdict !== "disagree") continue;
    if (o.verbose || shown < 5) {
      console.log(`disagree: case ${i} (${c.family}): ${describeResult(r)}`);
      shown++;
    }
    const w = writer.offer(sides, c, r);
    if (w) {
      console.log(
        `saved ${w.file}: ${c.groups.length} -> ${w.small.groups.length} groups; ${describeResult(w.result)}`,
      );
    }
  }
  const seconds = (performance.now() - t0) / 1000;

  console.log(
    `\n${"family".padEnd(8)} ${pad("cases", 7)} ${pad("agree", 7)} ${pad("disagree", 9)} ${pad("no oracle", 10)}`,
  );
  const total: Tally = { cases: 0, agree: 0, disagree: 0, noOracle: 0 };
  for (const [f, t] of tally) {
    if (t.cases === 0) continue;
    console.log(`${f.padEnd(8)} ${pad(t.cases, 7)} ${pad(t.agree, 7)} ${pad(t.disagree, 9)} ${pad(t.noOracle, 10)}`);
    for (const k of ["cases", "agree", "disagree", "noOracle"] as const) total[k] += t[k];
  }
  for (const [why, n] of reasons) console.log(`no oracle: ${n} x ${why}`);
  console.log(`${total.cases} cases in ${seconds.toFixed(1)} s (${Math.round(total.cases / seconds)} cases/s)`);
  console.log(
    `agree ${total.agree}, disagree ${total.disagree}, no oracle ${total.noOracle}` +
      (o.strictFlags ? " (strict flags: undefined flags compared)" : ""),
  );
  return total.disagree > 0 ? 1 : 0;
}

try {
  process.exitCode = main();
} catch (e) {
  console.error(`diff: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 2;
}
