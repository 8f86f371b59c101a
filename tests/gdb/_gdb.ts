/**
 * Driving Debian's gdb in batch mode for the real-gdb tests (tests/gdb/real_test.ts
 * against the library's stub, tests/gdb/cli_test.ts against `kvmkit run --gdb`):
 * whether gdb is installed, a step of a session, running the steps with
 * echo markers between them, asserting each step's output, and keeping the
 * steps this host's KVM can do (the others register as skipped with the
 * probes' findings).
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { skip } from "../_support/harness.ts";

/** Why the real-gdb tests cannot run here, or undefined when gdb is installed. */
export const GDB_MISSING: string | undefined = spawnSync("gdb", ["--version"]).status === 0
  ? undefined
  : "gdb is not installed (apt-get install -y gdb)";

/** One gdb step: its commands, the probed features it needs, and what its output (and the guest's console) must show. */
export interface GdbStep<Feature extends string = string> {
  name: string;
  needs: Feature[];
  commands: string[];
  check(out: string, console: string): void;
}

/** What a gdb session printed: each step's output by name, and all of it. */
export interface GdbRun {
  outputs: Map<string, string>;
  all: string;
}

/**
 * Runs gdb against 127.0.0.1:`port` with `steps`, an echo marker before each; `file` is the symbol file (none when
 * undefined). `onStep` is called once per step as its marker arrives — the previous step is done and the guest
 * stopped — with gdb's process (to interrupt it, say).
 */
export async function runGdb(
  port: number,
  steps: readonly GdbStep[],
  file: string | undefined,
  onStep?: (name: string, gdb: ChildProcess) => void,
): Promise<GdbRun> {
  const args = ["-batch", "-nx", "-iex", "set debuginfod enabled off"];
  if (file) args.push(file);
  args.push("-ex", `target remote 127.0.0.1:${port}`);
  steps.forEach((s, i) => {
    args.push("-ex", `echo @@step ${i}\\n`);
    for (const c of s.commands) args.push("-ex", c);
  });
  args.push("-ex", "echo @@end\\n");
  // One stream for both: gdb prints monitor output on stderr, and the step markers must stay in order with it.
  const child = spawn("sh", ["-c", 'exec gdb "$@" 2>&1', "sh", ...args], { stdio: ["ignore", "pipe", "ignore"] });
  let all = "";
  const seen = new Set<number>();
  child.stdout.on("data", (d: Uint8Array) => {
    all += new TextDecoder().decode(d);
    for (const m of all.matchAll(/^@@step (\d+)\n/gm)) {
      const i = Number(m[1]);
      if (seen.has(i)) continue;
      seen.add(i);
      onStep?.(steps[i].name, child);
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  await new Promise<void>((resolve) => child.on("close", () => resolve()));
  clearTimeout(timer);
  const outputs = new Map<string, string>();
  const parts = all.split(/^@@step (\d+)\n/m);
  for (let i = 1; i < parts.length; i += 2) outputs.set(steps[Number(parts[i])].name, parts[i + 1].split("@@end\n")[0]);
  return { outputs, all };
}

/** Asserts every step ran and passed its check; `consoles` holds the guest's console as each step began. */
export function checkSteps(steps: readonly GdbStep[], run: GdbRun, consoles?: Map<string, string>): void {
  for (const s of steps) {
    const out = run.outputs.get(s.name);
    assert.ok(out !== undefined, `step "${s.name}" did not run; gdb said:\n${run.all}`);
    try {
      s.check(out, consoles?.get(s.name) ?? "");
    } catch (e) {
      throw new Error(`step "${s.name}": ${e instanceof Error ? e.message : e}\ngdb said:\n${out}`);
    }
  }
}

/**
 * The steps of test `name` on `backend` whose features it has; each other step registers as skipped with what
 * `missing` (feature → the probe's finding) says.
 */
export function stepsFor<F extends string>(
  name: string,
  backend: string,
  steps: readonly GdbStep<F>[],
  missing: Map<F, string>,
): GdbStep<F>[] {
  for (const s of steps) {
    const why = s.needs.filter((f) => missing.has(f)).map((f) => missing.get(f)).join("; ");
    if (why) skip(`${name}: ${s.name} [${backend}]`, `this host's KVM: ${why}`);
  }
  return steps.filter((s) => s.needs.every((f) => !missing.has(f)));
}
