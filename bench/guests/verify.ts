/**
 * Checks the workload models against the images: each guest is run with
 * small iteration counts, its instructions counted and its checksum read,
 * and both are compared with workloads.ts. Counting is by single-stepping on
 * kvmkit (step_count.ts) or from QEMU's per-instruction exec log
 * (qemu_runner.ts). With --record the counts that agreed are written into
 * manifest.json's "verified" lists.
 *
 * Run:
 *
 *   deno run --allow-ffi --allow-read --allow-write --allow-env bench/guests/verify.ts [options]
 *   bun bench/guests/verify.ts [options]
 *
 * Options: --backend=emu|kvm|qemu (default emu), --mode=32|64 (default 32),
 * --n=1,2 (iteration counts, default 1,2), --workloads=a,b (default all),
 * --record. On kvm the guest starts the way the benchmark starts it there
 * (tools.ts: from the reset vector if that works, else with the host doing
 * the boot stub), and the instructions before the entry are not counted.
 * Single-stepping costs tens of microseconds per instruction: all workloads
 * at N = 1, 2 are several million steps. On kvm_pvm, the step that completes
 * an `out` often runs the next instruction too, so counts there come out
 * short: count 64-bit guests with --backend=qemu on such a host.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import { Kvm } from "../../mod.ts";
import { imagePath, readImage } from "./kvmkit_runner.ts";
import { countOnQemu } from "./qemu_runner.ts";
import { kvmkitEntry } from "./tools.ts";
import { countInstructions } from "./step_count.ts";
import type { StepCount } from "./step_count.ts";
import { checksumText, instructionCount, workload, WORKLOADS } from "./workloads.ts";
import type { GuestMode } from "./workloads.ts";
import type { Manifest } from "./manifest.ts";
import { MANIFEST_PATH } from "./manifest.ts";
import { runMain } from "../../examples/_shared.ts";

/** Reads the command line; throws RangeError naming a bad argument. */
function parseOptions(args: readonly string[]) {
  let backend: "emu" | "kvm" | "qemu" = "emu", mode: GuestMode = 32, ns = [1, 2], record = false;
  let names = WORKLOADS.map((w) => w.name);
  for (const arg of args) {
    const [key, value = ""] = arg.split("=", 2);
    if (key === "--backend" && (value === "emu" || value === "kvm" || value === "qemu")) backend = value;
    else if (key === "--mode" && (value === "32" || value === "64")) mode = value === "32" ? 32 : 64;
    else if (key === "--n" && value.split(",").every((v) => Number.isSafeInteger(Number(v)) && Number(v) >= 1)) {
      ns = value.split(",").map(Number);
    } else if (key === "--workloads" && value) names = value.split(",").map((n) => workload(n).name);
    else if (arg === "--record") record = true;
    else {
      throw new RangeError(
        `unknown or bad argument "${arg}": expected --backend=emu|kvm|qemu --mode=32|64 --n=1,2 --workloads=a,b --record`,
      );
    }
  }
  return { backend, mode, ns, names, record };
}

/** Counts one run's instructions; `skipped` is what the entry leaves out of the model's count. */
interface Counter {
  describe: string;
  skipped: number;
  /** It also counts the faulting attempt of an access that faults and runs again (QEMU's exec log). */
  countsFaults: boolean;
  count(name: string, mode: GuestMode, n: number): StepCount;
  close(): void;
}

/** The counter for `backend`: kvmkit single-stepping, or QEMU's exec log. */
function openCounter(backend: "emu" | "kvm" | "qemu", mode: GuestMode): Counter {
  if (backend === "qemu") {
    return {
      describe: "qemu -singlestep -d exec",
      skipped: 0,
      countsFaults: true,
      count: (name, m, n) => countOnQemu(imagePath(name, m), n),
      close: () => {},
    };
  }
  const kvm = Kvm.open({ backend });
  const { entry, skipped } = kvmkitEntry(kvm, mode);
  return {
    describe: `${backend} single-step, entry ${entry.entry}${entry.paging === false ? " paging off" : ""}`,
    skipped,
    countsFaults: false,
    count: (name, m, n) =>
      countInstructions(kvm, { image: readImage(name, m), n, mode: m, irqchip: workload(name).irqchip, ...entry }),
    close: () => kvm.close(),
  };
}

function main(): number {
  const { backend, mode, ns, names, record } = parseOptions(process.argv.slice(2));
  const counter = openCounter(backend, mode);
  console.log(`verify: ${mode}-bit, ${counter.describe}`);
  const manifest = JSON.parse(readFileSync(MANIFEST_PATH, "utf8")) as Manifest;
  let failures = 0;
  try {
    for (const name of names) {
      const w = workload(name);
      for (const n of ns) {
        const counted = counter.count(name, mode, n);
        const faults = counter.countsFaults ? (w.faultsPerIteration ?? 0) * n : 0;
        const expected = instructionCount(w, mode, n) - counter.skipped + faults;
        const sum = checksumText(w.checksum(n));
        if (!counted.ok) {
          console.log(`  ${name} n=${n}: fails: ${counted.failure}`);
          failures++;
          continue;
        }
        const good = counted.instructions === expected && counted.output === sum;
        if (!good) failures++;
        console.log(
          `  ${name} n=${n}: ${counted.instructions} instructions (model ${expected}), checksum ${counted.output} ` +
            `(model ${sum}): ${good ? "ok" : "MISMATCH"}`,
        );
        const entryOf = manifest.workloads.find((m) => m.name === name)?.modes[String(mode) as "32" | "64"];
        if (record && good && entryOf) {
          entryOf.verified = [...new Set([...entryOf.verified, `${counter.describe}, n=${n}`])];
        }
      }
    }
  } finally {
    counter.close();
  }
  if (record) writeFileSync(MANIFEST_PATH, JSON.stringify(manifest, null, 2) + "\n");
  console.log(failures ? `${failures} mismatches` : "all counts and checksums agree with the models");
  return failures ? 1 : 0;
}

runMain("verify", main);
