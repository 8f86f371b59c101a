/**
 * timeout_overshoot: how far past its deadline `run({ timeoutMs })` returns,
 * for random guests, per backend and (on the emulator) per block compiler
 * mode; and, with --memory, the resident set and time of many VM lifecycles
 * and random guests on the emulator (issue 14).
 *
 * Run:
 *
 *   deno run -A --v8-flags=--expose-gc bench/timeout_overshoot.ts
 *   bun bench/timeout_overshoot.ts
 *
 * Options: --guests=N (random guests per backend and mode, default 1000),
 * --timeout=MS (each run's deadline, default 20), --backend=kvm|emu|both
 * (default both; kvm is skipped, saying why, where /dev/kvm cannot be
 * opened), --modes=off,on,eager (the emulator's compiler modes),
 * --memory (also, per backend and mode: --lifecycles=N VM lifecycles, default 10000, and
 * --random=N random guests, default 5000, with the resident set before and
 * after and the open descriptors; collections need gc(), which Deno gives with the flag above).
 *
 * Each guest is 256 seeded random bytes at 0x1000 of 64 KiB of real-mode
 * memory (CS base 0). It runs until a run ends by its deadline (at most 8
 * runs: I/O and MMIO exits end a run early and are resumed; a shutdown or an
 * internal error ends the guest); the time past the deadline of that run is
 * one sample. Target: a maximum of 20 ms on a quiet machine.
 *
 * @module
 */
import { Kvm } from "../mod.ts";
import type { BackendName } from "../mod.ts";
import {
  bytes,
  collect,
  type CompilerMode,
  memory,
  randomCode,
  randomGuest,
  withRealModeGuest,
} from "../tests/_support/lifecycle.ts";

const argv: string[] = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
  (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);

/** The value of --name=value, or `fallback`. */
function option(name: string, fallback: string): string {
  const hit = argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? (argv.includes(`--${name}`) ? "true" : fallback) : hit.slice(name.length + 3);
}

const GUESTS = Number(option("guests", "1000"));
const TIMEOUT = Number(option("timeout", "20"));
const BACKEND = option("backend", "both");
const MODES = option("modes", "off,on,eager").split(",") as CompilerMode[];

/** One sample per guest: the time past the deadline of its first run that the deadline ended (ms). */
function overshoots(open: () => Kvm, seed: number): number[] {
  const next = bytes(seed);
  const samples: number[] = [];
  using kvm = open();
  for (let i = 0; i < GUESTS; i++) {
    withRealModeGuest(kvm, randomCode(next), (vcpu) => {
      for (let k = 0; k < 8; k++) {
        const t0 = performance.now();
        const exit = vcpu.run({ timeoutMs: TIMEOUT });
        const past = performance.now() - t0 - TIMEOUT;
        if (exit.reason === "intr") {
          samples.push(past);
          break;
        }
        if (exit.reason !== "io" && exit.reason !== "mmio") break;
      }
    });
  }
  return samples;
}

/** "median 0.40 ms, p99 2.10 ms, max 3.00 ms (n = 980)". */
function summary(ms: number[]): string {
  if (ms.length === 0) return "no run reached its deadline";
  const s = [...ms].sort((a, b) => a - b), at = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `median ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms, max ${at(1).toFixed(2)} ms ` +
    `(n = ${s.length})`;
}

/** Why `backend` cannot be opened here, or undefined. */
function unavailable(backend: BackendName): string | undefined {
  try {
    Kvm.open({ backend }).close();
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

console.log(`timeout_overshoot: ${GUESTS} random real-mode guests per row, deadline ${TIMEOUT} ms`);
if (BACKEND === "kvm" || BACKEND === "both") {
  const why = unavailable("kvm");
  if (why !== undefined) console.log(`kvm: skipped (${why})`);
  else console.log(`kvm:         ${summary(overshoots(() => Kvm.open({ backend: "kvm" }), 2026))}`);
}
if (BACKEND === "emu" || BACKEND === "both") {
  for (const mode of MODES) {
    const ms = overshoots(() => Kvm.open({ backend: "emu", blockCompiler: mode }), 2026);
    console.log(`emu ${mode.padEnd(5)}:   ${summary(ms)}`);
  }
}

if (option("memory", "false") === "true") {
  const lifecycles = Number(option("lifecycles", "10000")), random = Number(option("random", "5000"));
  const gc = collect() ? "after a collection" : "without a collection (no gc() here)";
  const measure = (what: string, count: number, one: () => void) => {
    collect();
    const before = memory(), t0 = performance.now();
    for (let i = 0; i < count; i++) one();
    collect();
    const after = memory(), s = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(
      `${what}: ${count} in ${s} s; RSS ${before.rss} -> ${after.rss} MiB, heap ${before.heap} -> ${after.heap} MiB, ` +
        `descriptors ${before.fds} -> ${after.fds} (${gc})`,
    );
  };
  const rows: [string, () => Kvm][] = [];
  if (BACKEND === "kvm" || BACKEND === "both") {
    const why = unavailable("kvm");
    if (why !== undefined) console.log(`kvm memory: skipped (${why})`);
    else rows.push(["kvm", () => Kvm.open({ backend: "kvm" })]);
  }
  if (BACKEND === "emu" || BACKEND === "both") {
    for (const mode of MODES) rows.push([`emu ${mode}`, () => Kvm.open({ backend: "emu", blockCompiler: mode })]);
  }
  for (const [name, open] of rows) {
    measure(`${name} VM lifecycles (open, VM, 64 KiB, vCPU, 2 runs, close)`, lifecycles, () => {
      using kvm = open();
      withRealModeGuest(kvm, [0xe6, 0x10, 0xf4], (vcpu) => { // out 0x10, al; hlt
        vcpu.run({ timeoutMs: 5 });
        vcpu.run({ timeoutMs: 5 });
      });
    });
    const next = bytes(14);
    measure(`${name} random guests (20 runs of 2 ms each)`, random, () => {
      using kvm = open();
      randomGuest(kvm, next, 20, 2);
    });
  }
}
