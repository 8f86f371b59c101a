#!/usr/bin/env node
// The npm scripts' entry (`npm start`, `npm test`, `npm run bench`): installs
// the project's dependencies on first use, so that a fresh clone needs only
// Node and npm, then runs the task under Deno and/or Bun.
//
//   start  examples/hello.ts on the best backend (Deno)
//   test   the whole suite under Deno, then under Bun, and a summary line
//   bench  the facade benchmarks (exit round trip, kick latency, SMP scaling) under Deno and under Bun
//   peers  bench/emu_vs_peers.ts (emulator vs KVM vs QEMU TCG) under Deno and under Bun
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const DENO_TEST_FLAGS = [
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-net=127.0.0.1",
];

function ensureInstalled() {
  if (existsSync(bin("deno")) && existsSync(bin("bun")) && existsSync(join(root, "node_modules", "zod"))) return;
  console.log("kvmkit: installing dependencies (npm install)...");
  const lock = existsSync(join(root, "package-lock.json"));
  const r = spawnSync("npm", [lock ? "ci" : "install", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/** Runs a command, echoing its output, and returns its status and output. */
function run(cmd, args, { capture = false } = {}) {
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: capture ? ["inherit", "pipe", "pipe"] : "inherit",
    maxBuffer: 1 << 28,
  });
  if (r.error) throw r.error;
  const out = capture ? r.stdout.toString() + r.stderr.toString() : "";
  if (capture) {
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
  }
  return { status: r.status ?? 1, out };
}

// deno-lint-ignore no-control-regex
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");

function test(extra) {
  const t0 = performance.now();
  // Bun first, then Deno: each runner's own summary stays in the output, Deno's just above the total.
  const bun = run(bin("bun"), ["test", "--timeout", "300000", ...extra, "tests/"], { capture: true });
  const deno = run(bin("deno"), ["test", ...DENO_TEST_FLAGS, ...extra, "tests/"], { capture: true });
  const d = strip(deno.out).match(/(\d+) passed \| (\d+) failed(?: \| (\d+) ignored)?/);
  const b = strip(bun.out);
  const count = (re) => Number(b.match(re)?.[1] ?? 0);
  const denoCounts = [Number(d?.[1] ?? 0), Number(d?.[2] ?? 0), Number(d?.[3] ?? 0)];
  const bunCounts = [count(/^\s*(\d+) pass$/m), count(/^\s*(\d+) fail$/m), count(/^\s*(\d+) skip$/m)];
  const [passed, failed, skipped] = denoCounts.map((n, i) => n + bunCounts[i]);
  const mode = process.env.KVMKIT_BLOCK_COMPILER ?? "on";
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `\nDeno: exit ${deno.status} (${denoCounts.join("/")}); Bun: exit ${bun.status} (${bunCounts.join("/")})`,
  );
  console.log(`${seconds}s, emulator block compiler: ${mode}`);
  console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  // The closing line in the common runners' shape (pytest's), so that a
  // recorder that knows those reads how many tests ran.
  const parts = [failed ? `${failed} failed` : "", `${passed} passed`, skipped ? `${skipped} skipped` : ""];
  console.log(`======== ${parts.filter(Boolean).join(", ")} in ${seconds}s ========`);
  return deno.status === 0 && bun.status === 0 && failed === 0 && passed > 0 ? 0 : 1;
}

const [task, ...rest] = process.argv.slice(2);
ensureInstalled();
switch (task) {
  case "install":
    process.exit(0);
    break;
  case "start":
    process.exit(run(bin("deno"), ["run", "--allow-ffi", "--allow-read", "examples/hello.ts", ...rest]).status);
    break;
  case "test":
    process.exit(test(rest));
    break;
  case "bench": {
    let status = 0;
    for (const bench of ["bench/exit_roundtrip.ts", "bench/kick_latency.ts", "bench/smp_scaling.ts"]) {
      status |= run(bin("deno"), ["run", ...DENO_TEST_FLAGS, bench, ...rest]).status;
      status |= run(bin("bun"), [bench, ...rest]).status;
    }
    process.exit(status);
    break;
  }
  case "peers": {
    let status = 0;
    status |= run(bin("deno"), ["run", ...DENO_TEST_FLAGS, "bench/emu_vs_peers.ts", ...rest]).status;
    status |= run(bin("bun"), ["bench/emu_vs_peers.ts", ...rest]).status;
    process.exit(status);
    break;
  }
  default:
    console.error(`usage: node tools/run.mjs start|test|bench|peers`);
    process.exit(2);
}
