/**
 * emu_vs_peers: the guest workloads of bench/guests/ on kvmkit's emulator,
 * on kvmkit over /dev/kvm and on QEMU's TCG (`qemu-system-x86_64 -accel
 * tcg`), all booting the same 64 KiB images, in 32-bit and in 64-bit mode.
 * Prints MIPS per tool and workload, the ratios emulator/TCG and
 * emulator/KVM, and their geometric means: one table per mode.
 *
 * Run:
 *
 *   deno run --allow-ffi --allow-read --allow-run --allow-env bench/emu_vs_peers.ts
 *   bun bench/emu_vs_peers.ts
 *   npm run bench:peers   (both)
 *
 * Options: --workloads=alu,sort,... (default all), --mode=32|64|both
 * (default both), --reps=N (timed runs per cell, the median is used,
 * default 2), --target-ms=N (the wall time each timed run aims at,
 * default 250), --tools=emu,kvm,tcg (default all that can run here).
 *
 * Method. Every tool runs the whole guest: boot stub, workload, report.
 * Its start-up (for kvmkit: creating the VM and its 16 MiB of memory; for
 * QEMU: the process) is measured with the empty guest and subtracted, with
 * the empty guest's instructions: MIPS = (instructions(N) - instructions
 * (empty)) / (time(N) - time(empty)). Instruction counts come from the
 * workload models (bench/guests/workloads.ts; a `rep` iteration counts as one
 * instruction). N is chosen per tool and workload from an untimed probe run
 * (which also warms the JIT) so that a timed run takes about --target-ms.
 * Each timed run is paired with an empty-guest run just before it, and the
 * cell is the median of the pairs' differences: a start-up measured once, at
 * the start (cold JIT, another load), could exceed a whole timed run later.
 * A cell whose differences leave no time runs again with 4 times the N;
 * one whose differences come to under half the target (its probe's time
 * was mostly a one-off cost) runs again with the N their speed gives.
 * Each workload is measured on every tool in turn before the next one, so
 * that a change in the machine's load affects the tools alike.
 * Every run's checksum is checked against the model; a run that ends in
 * another way, or with a wrong checksum, is printed as "fails: ..." and is
 * left out of the means.
 *
 * @module
 */
import process from "node:process";
import { runMain } from "../examples/_shared.ts";
import { median, printTable, runtimeName } from "./_report.ts";
import { kvmFlavour, openKvmkit, openQemu } from "./guests/tools.ts";
import type { Tool, ToolName } from "./guests/tools.ts";
import { checksumText, instructionCount, workload, WORKLOADS } from "./guests/workloads.ts";
import type { GuestMode, Workload } from "./guests/workloads.ts";

/** The benchmark's parameters. */
interface Options {
  workloads: Workload[];
  modes: GuestMode[];
  reps: number;
  targetMs: number;
  tools: ToolName[];
}

/**
 * Instructions each tool's first probe run aims at (before its speed is known); the probes grow from there. Small
 * enough for the slowest workload on each tool: TCG takes about 30 µs per LAPIC timer interrupt of the timer guest, so
 * a first probe of 3e7 instructions (2.5 M interrupts) outlasted RUN_TIMEOUT_MS there.
 */
const PROBE_INSTRUCTIONS: Record<ToolName, number> = { emu: 1e6, kvm: 2e5, tcg: 1e6 };
/** How often a cell's N is set again from its timed runs when they took under half the target (measure). */
const MAX_REGROWTH = 3;
/** Give up on one guest run after this long. */
const RUN_TIMEOUT_MS = 60_000;
const TOOL_NAMES: readonly ToolName[] = ["emu", "kvm", "tcg"];

/** Reads the command line; throws RangeError naming a bad argument. */
function parseOptions(args: readonly string[]): Options {
  const options: Options = {
    workloads: WORKLOADS.filter((w) => w.name !== "empty"),
    modes: [32, 64],
    reps: 2,
    targetMs: 250,
    tools: [...TOOL_NAMES],
  };
  for (const arg of args) {
    const [key, value = ""] = arg.split("=", 2);
    const count = Number(value);
    if (key === "--workloads" && value) {
      options.workloads = value.split(",").map((name) => workload(name));
    } else if (key === "--mode" && (value === "32" || value === "64" || value === "both")) {
      options.modes = value === "both" ? [32, 64] : [value === "32" ? 32 : 64];
    } else if ((key === "--reps" || key === "--target-ms") && Number.isSafeInteger(count) && count >= 1) {
      if (key === "--reps") options.reps = count;
      else options.targetMs = count;
    } else if (key === "--tools" && value.split(",").every((t) => TOOL_NAMES.includes(t as ToolName))) {
      options.tools = value.split(",") as ToolName[];
    } else {
      throw new RangeError(
        `unknown or bad argument "${arg}": expected --workloads=a,b --mode=32|64|both --reps=N ` +
          "--target-ms=N --tools=emu,kvm,tcg",
      );
    }
  }
  return options;
}

/** A measured cell: MIPS, or why there is none. */
type Cell = { mips: number } | { fails: string };

/** Runs `w` with `n` iterations on `tool`; the time, or the failure (a wrong checksum included). */
function timedRun(tool: Tool, w: Workload, n: number): { ms: number } | { fails: string } {
  const r = tool.run(w.name, n);
  if (!r.ok) return { fails: r.failure };
  const expected = checksumText(w.checksum(n));
  if (r.output !== expected) return { fails: `checksum ${r.output || "(none)"}, expected ${expected}` };
  return { ms: r.ms };
}

/** The median time of `reps` runs, or the first failure. */
function medianRun(tool: Tool, w: Workload, n: number, reps: number): { ms: number } | { fails: string } {
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const r = timedRun(tool, w, n);
    if ("fails" in r) return r;
    times.push(r.ms);
  }
  return { ms: median(times) };
}

/** The median over `reps` pairs of a run of `w` less the empty-guest run just before it, or the first failure. */
function medianNet(tool: Tool, w: Workload, n: number, reps: number): { ms: number } | { fails: string } {
  const nets: number[] = [];
  for (let i = 0; i < reps; i++) {
    const empty = timedRun(tool, WORKLOADS[0], 1);
    if ("fails" in empty) return { fails: `empty guest: ${empty.fails}` };
    const r = timedRun(tool, w, n);
    if ("fails" in r) return r;
    nets.push(r.ms - empty.ms);
  }
  return { ms: median(nets) };
}

/**
 * Measures `w` on `tool` against its empty-guest start-up (`empty`, ms).
 * Untimed probe runs grow N until a run takes a fifth of the target, then
 * the timed runs use the N that the probe's speed says takes the target;
 * timed runs that took under half the target set N again by their own
 * speed and run again.
 */
function measure(tool: Tool, w: Workload, mode: GuestMode, empty: number, options: Options): Cell {
  const emptyCount = instructionCount(WORKLOADS[0], mode, 1);
  let probeN = Math.max(1, Math.round(PROBE_INSTRUCTIONS[tool.name] / w.perIteration));
  let net: number;
  for (let attempt = 0;; attempt++) {
    const probe = timedRun(tool, w, probeN);
    if ("fails" in probe) return probe;
    net = probe.ms - empty;
    if (net >= options.targetMs / 5 || attempt === 8) break;
    probeN = Math.ceil(probeN * Math.min(20, Math.max(2, options.targetMs / 3 / Math.max(net, 1))));
  }
  const perMs = (instructionCount(w, mode, probeN) - emptyCount) / Math.max(net, 0.5);
  let n = Math.max(1, Math.round(perMs * options.targetMs / w.perIteration));
  for (let attempt = 0, grown = 0;; attempt++) {
    const timed = medianNet(tool, w, n, options.reps);
    if ("fails" in timed) return timed;
    // A probe whose time was mostly a one-off cost (compiling the workload's code in a new VM, a collection) reads
    // as slow, so the N it gives leaves the timed runs far shorter than the target, and their time the same noise:
    // the timed runs' own speed then sets N again, up to MAX_REGROWTH times.
    if (timed.ms > 0 && timed.ms < options.targetMs / 2 && grown < MAX_REGROWTH) {
      n = Math.ceil(n * Math.min(20, options.targetMs / timed.ms));
      grown++;
      continue;
    }
    if (timed.ms > 0) return { mips: (instructionCount(w, mode, n) - emptyCount) / timed.ms / 1000 };
    if (attempt === 2 + grown) {
      return { fails: `no time left after start-up (${timed.ms.toFixed(1)} ms net at N = ${n})` };
    }
    n *= 4;
  }
}

/** Formats a cell. */
function show(cell: Cell | undefined): string {
  if (cell === undefined) return "-";
  return "mips" in cell ? cell.mips.toFixed(cell.mips < 10 ? 2 : 1) : `fails: ${cell.fails}`;
}

/** The ratio of two cells' MIPS, or undefined when either has none. */
function ratio(a: Cell | undefined, b: Cell | undefined): number | undefined {
  return a && b && "mips" in a && "mips" in b ? a.mips / b.mips : undefined;
}

/** The geometric mean, or undefined for none. */
function geomean(values: readonly number[]): number | undefined {
  return values.length ? Math.exp(values.reduce((s, v) => s + Math.log(v), 0) / values.length) : undefined;
}

/**
 * The `rep` workloads: the emulator moves their strings a page at a time, far beyond an instruction-at-a-time pace,
 * so a mean over the rest says how general code fares.
 */
const REP_WORKLOADS: readonly string[] = ["memcpy_rep", "memset_rep"];

/** The table's heading of each tool. */
const TOOL_HEADINGS: Record<ToolName, string> = { emu: "emu", kvm: "KVM", tcg: "TCG" };

/**
 * Prints one mode's table: a MIPS column per tool that ran, the ratios
 * emulator/TCG and emulator/KVM where both ran, and the ratios' geometric
 * means over the workloads where both have a number, with and without the
 * `rep` workloads.
 */
function printResults(workloads: readonly Workload[], ran: readonly ToolName[], cells: Map<string, Cell>): void {
  const pairs = (["tcg", "kvm"] as const).filter((t) => ran.includes("emu") && ran.includes(t));
  const columns = TOOL_NAMES.filter((t) => ran.includes(t));
  const ratios = new Map<ToolName, number[]>(pairs.map((t) => [t, []]));
  const loopRatios = new Map<ToolName, number[]>(pairs.map((t) => [t, []]));
  const rows = workloads.map((w) => {
    const cell = (t: ToolName) => cells.get(`${t}:${w.name}`);
    const shown = pairs.map((t) => {
      const r = ratio(cell("emu"), cell(t));
      if (r !== undefined) ratios.get(t)!.push(r);
      if (r !== undefined && !REP_WORKLOADS.includes(w.name)) loopRatios.get(t)!.push(r);
      return r?.toFixed(3) ?? "-";
    });
    return [w.name, ...columns.map((t) => show(cell(t))), ...shown];
  });
  for (const [label, from] of [["geometric mean", ratios], ["without the rep rows", loopRatios]] as const) {
    rows.push([label, ...columns.map(() => ""), ...pairs.map((t) => geomean(from.get(t)!)?.toFixed(3) ?? "-")]);
  }
  printTable([
    "workload",
    ...columns.map((t) => `${TOOL_HEADINGS[t]} MIPS`),
    ...pairs.map((t) => `emu/${TOOL_HEADINGS[t]}`),
  ], rows);
}

/** Opens the tools for `mode`; prints why a tool is missing, and how the others start their guests. */
function openTools(mode: GuestMode, options: Options): Map<ToolName, Tool> {
  const tools = new Map<ToolName, Tool>();
  for (const name of options.tools) {
    const opened = name === "tcg" ? openQemu(mode, RUN_TIMEOUT_MS) : openKvmkit(name, mode, RUN_TIMEOUT_MS);
    if ("reason" in opened) {
      console.log(`  ${name}: skipped, cannot run here: ${opened.reason}`);
      continue;
    }
    tools.set(name, opened.tool);
    if (opened.tool.note) console.log(`  ${name}: ${opened.tool.note}`);
  }
  return tools;
}

/** Measures and prints one mode's table. */
function runMode(mode: GuestMode, options: Options): void {
  console.log(`\n${mode}-bit guests (${mode === 32 ? "protected mode" : "long mode"}, 4 KiB paging):`);
  const tools = openTools(mode, options);
  const cells = new Map<string, Cell>();
  const started = performance.now();
  try {
    const empties = new Map(
      [...tools].map(([name, tool]) => [name, medianRun(tool, WORKLOADS[0], 1, options.reps + 1)]),
    );
    // Workload by workload, the tools one after another: a change in the machine's load affects them alike.
    for (const w of options.workloads) {
      for (const [name, tool] of tools) {
        const empty = empties.get(name)!;
        let cell: Cell;
        if ("fails" in empty) {
          // Show the workload's own failure; one that runs has no start-up to subtract.
          const r = timedRun(tool, w, 1);
          cell = "fails" in r ? r : { fails: `empty guest: ${empty.fails}` };
        } else {
          cell = measure(tool, w, mode, empty.ms, options);
        }
        cells.set(`${name}:${w.name}`, cell);
      }
    }
  } finally {
    for (const tool of tools.values()) tool.close();
  }
  printResults(options.workloads, [...tools.keys()], cells);
  console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

function main(): number {
  const options = parseOptions(process.argv.slice(2));
  console.log(
    `emu_vs_peers: ${runtimeName()}; ${options.reps} timed runs per cell (median) of about ${options.targetMs} ms; ` +
      "start-up (the empty guest) subtracted",
  );
  const flavour = kvmFlavour();
  console.log(
    flavour === "kvm_pvm"
      ? "KVM here is kvm_pvm: CPL 0 guest code (all of these guests) is emulated by the kernel's instruction " +
        "emulator, so the KVM column is not hardware speed."
      : "KVM: the kernel's kvm module (hardware virtualization where the CPU offers it).",
  );
  for (const mode of options.modes) runMode(mode, options);
  return 0;
}

runMain("emu_vs_peers", main);
