/**
 * exit_roundtrip: the time of one I/O-exit round trip (KVM_RUN in, one
 * `out`, KVM_EXIT_IO back) through kvmkit, against the same loop written in
 * C (bench/exit_roundtrip.c) and measured in the same run.
 *
 * Run:
 *
 *   deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/exit_roundtrip.ts
 *   bun bench/exit_roundtrip.ts
 *
 * Options: --exits=N (round trips per repetition, default 20000),
 * --reps=N (timed repetitions, default 7; the median is reported),
 * --warmup=N (untimed round trips first, default 2000),
 * --cpl=0|3|both (the guest's privilege level, default both),
 * --backend=kvm|emu (kvmkit's backend, default kvm; the C reference always
 * uses /dev/kvm).
 *
 * Each repetition times kvmkit and then the C program (a fresh process that
 * warms up and times one repetition), alternately, so that a change in the
 * machine's load while the benchmark runs affects both sides alike. The C
 * program is compiled with `gcc -O2` into a temporary directory that is
 * removed afterwards. Needs /dev/kvm and gcc; without /dev/kvm there is
 * nothing to compare against and the benchmark says so and exits with 0.
 *
 * The guest, identical for kvmkit and C: 64-bit long mode entered directly
 * with KVM_SET_SREGS, identity-mapped with one 2 MiB user page, running
 *
 *   0x8000: EE      out dx, al      ; dx = 0xe9: one io exit
 *   0x8001: EB FD   jmp 0x8000      ; back to the out
 *
 * so every KVM_RUN returns exactly one exit.
 *
 * Choice of mode. On this project's machines /dev/kvm is kvm_pvm: CPL 3
 * code runs natively on the host CPU and CPL 0 code is emulated by the
 * kernel. The expectation was that CPL 3 would also give the cheaper exit.
 * Measured (C, 64-bit, `out` + `jmp`): about 8.5 us per exit at CPL 0 and
 * about 28 us at CPL 3 (32-bit protected mode without paging: about 8 us at
 * both CPLs, being emulated either way). Entering and leaving native
 * execution costs more than emulating two instructions, so CPL 3 is the
 * slower round trip here. Both are measured by default: CPL 0 (cs.dpl 0,
 * selectors 0x08/0x10) and CPL 3 (cs.dpl = ss.dpl = 3, selectors 0x1b/0x23
 * with RPL 3, rflags IOPL = 3 so that `out` is allowed at CPL 3). CPL 0, the
 * faster exit, shows kvmkit's own overhead most sharply.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { X86_CR0_AM } from "../constants.ts";
import { Kvm } from "../mod.ts";
import type { Vcpu } from "../mod.ts";
import { enterFlat, flatSegment, identityMap, LONG_MODE_CONTROL, runMain } from "../examples/_shared.ts";
import { median, printTable, runtimeName } from "./_report.ts";

/** Guest memory: 2 MiB at guest-physical 0. Everything below matches exit_roundtrip.c. */
const MEMORY_SIZE = 0x200000;
const GDT_ADDR = 0x1000;
const PML4_ADDR = 0x2000;
const PDPT_ADDR = 0x3000;
const PD_ADDR = 0x4000;
const CODE_ADDR = 0x8000;
const IO_PORT = 0xe9;
/** out dx, al ; jmp short back to the out. */
const GUEST = [0xee, 0xeb, 0xfd];

/** The benchmark's parameters. */
interface Options {
  exits: number;
  reps: number;
  warmup: number;
  cpls: Array<0 | 3>;
  backend: "kvm" | "emu";
}

/** Reads the command line; throws RangeError naming a bad argument. */
function parseOptions(args: readonly string[]): Options {
  const options: Options = {
    exits: 20_000,
    reps: 7,
    warmup: 2_000,
    cpls: [0, 3],
    backend: "kvm",
  };
  for (const arg of args) {
    const [key, value] = arg.split("=", 2);
    const count = Number(value);
    if (
      (key === "--exits" || key === "--reps" || key === "--warmup") &&
      Number.isSafeInteger(count) && count >= (key === "--warmup" ? 0 : 1)
    ) {
      options[key.slice(2) as "exits" | "reps" | "warmup"] = count;
    } else if (key === "--cpl" && value === "both") {
      options.cpls = [0, 3];
    } else if (key === "--cpl" && (value === "0" || value === "3")) {
      options.cpls = [value === "0" ? 0 : 3];
    } else if (key === "--backend" && (value === "kvm" || value === "emu")) {
      options.backend = value;
    } else {
      throw new RangeError(
        `unknown or bad argument "${arg}": expected --exits=N --reps=N ` +
          "--warmup=N --cpl=0|3|both --backend=kvm|emu",
      );
    }
  }
  return options;
}

/** Sets up the guest (memory as in exit_roundtrip.c) on `vcpu` at `cpl`. */
function setUpGuest(mem: Uint8Array, vcpu: Vcpu, cpl: 0 | 3): void {
  mem.set(GUEST, CODE_ADDR);
  // The GDT: null, code64 DPL 0, data DPL 0, code64 DPL 3, data DPL 3.
  const gdt = [
    flatSegment(0x08, "code64"),
    flatSegment(0x10, "data"),
    flatSegment(0x18 | 3, "code64", 3),
    flatSegment(0x20 | 3, "data", 3),
  ];
  enterFlat(mem, vcpu, {
    gdtAddr: GDT_ADDR,
    gdt,
    cs: gdt[cpl ? 2 : 0],
    data: gdt[cpl ? 3 : 1],
    ...LONG_MODE_CONTROL,
    cr0: LONG_MODE_CONTROL.cr0 | X86_CR0_AM,
    // Present, writable, user: one 2 MiB page mapping 0.
    cr3: identityMap(mem, { pml4: PML4_ADDR, pdpt: PDPT_ADDR, pd: PD_ADDR, size: MEMORY_SIZE, user: true }),
    regs: {
      rip: BigInt(CODE_ADDR),
      rdx: BigInt(IO_PORT),
      rsp: BigInt(MEMORY_SIZE - 0x1000),
      rflags: cpl ? 0x3002n : 0x2n, // IOPL 3 lets CPL 3 execute `out`
    },
  });
}

/** A kvmkit guest ready to be timed; `close` releases it. */
interface KvmkitGuest {
  /** Runs `exits` round trips; returns the mean ns per round trip. */
  time(exits: number): number;
  close(): void;
}

/** Opens a VM on `backend` with the guest at `cpl`, ready to run. */
function openKvmkitGuest(backend: "kvm" | "emu", cpl: 0 | 3): KvmkitGuest {
  const kvm = Kvm.open({ backend });
  const vm = kvm.createVm();
  const memory = vm.allocateMemory(MEMORY_SIZE);
  const close = () => {
    vm.close(); // closes the vCPU too, before the memory is unmapped
    memory.free();
    kvm.close();
  };
  try {
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory });
    const vcpu = vm.createVcpu(0);
    setUpGuest(memory.bytes, vcpu, cpl);
    const time = (exits: number): number => {
      const t0 = performance.now();
      for (let i = 0; i < exits; i++) {
        // The same check as the C loop: every round trip is one io exit.
        const exit = vcpu.run();
        if (exit.reason !== "io") throw new Error(`exit ${exit.reason}`);
      }
      return (performance.now() - t0) * 1e6 / exits;
    };
    const check = vcpu.run();
    if (
      check.reason !== "io" || check.port !== IO_PORT ||
      check.direction !== "out" || check.size !== 1
    ) {
      throw new Error("the guest's exit was not `out 0xe9, al`");
    }
    return { time, close };
  } catch (e) {
    close();
    throw e;
  }
}

/** Compiles exit_roundtrip.c into `dir`; returns the executable's path. */
function buildReference(dir: string): string {
  const source = fileURLToPath(new URL("./exit_roundtrip.c", import.meta.url));
  const executable = join(dir, "exit_roundtrip_c");
  const cc = spawnSync("gcc", ["-O2", "-o", executable, source], {
    encoding: "utf8",
  });
  if (cc.error) throw new Error(`cannot run gcc: ${cc.error.message}`);
  if (cc.status !== 0) throw new Error(`gcc failed:\n${cc.stderr}`);
  return executable;
}

/** One C reference measurement: `exits` round trips after `warmup`; ns per round trip. */
function timeReference(
  executable: string,
  cpl: 0 | 3,
  exits: number,
  warmup: number,
): number {
  const args = [cpl, exits, 1, warmup].map(String);
  const run = spawnSync(executable, args, { encoding: "utf8" });
  if (run.error) throw run.error;
  if (run.status !== 0) {
    throw new Error(`exit_roundtrip_c failed (${run.status}):\n${run.stderr}`);
  }
  const match = /^median_ns_per_exit ([0-9.]+)$/m.exec(run.stdout);
  if (!match) throw new Error(`unexpected output:\n${run.stdout}`);
  return Number(match[1]);
}

/**
 * Measures kvmkit and C for the guest at `cpl`, alternating one repetition of
 * each so that a change in the machine's load affects both alike. Returns
 * the medians in ns per round trip.
 */
function measure(
  executable: string,
  options: Options,
  cpl: 0 | 3,
): { kvmkit: number; c: number } {
  const guest = openKvmkitGuest(options.backend, cpl);
  try {
    guest.time(Math.max(options.warmup, 1));
    const kvmkit: number[] = [];
    const c: number[] = [];
    for (let r = 0; r < options.reps; r++) {
      kvmkit.push(guest.time(options.exits));
      c.push(timeReference(executable, cpl, options.exits, options.warmup));
    }
    return { kvmkit: median(kvmkit), c: median(c) };
  } finally {
    guest.close();
  }
}

function main(): number {
  const options = parseOptions(process.argv.slice(2));
  const runtime = runtimeName();

  // Without /dev/kvm there is no reference to compare against.
  try {
    Kvm.open({ backend: "kvm" }).close();
  } catch (e) {
    console.log(
      `exit_roundtrip: skipped, /dev/kvm cannot be used here: ${String(e)}`,
    );
    return 0;
  }

  const dir = mkdtempSync(join(tmpdir(), "kvmkit-bench-"));
  const rows: string[][] = [];
  try {
    const executable = buildReference(dir);
    for (const cpl of options.cpls) {
      const { kvmkit: kvmkitNs, c: cNs } = measure(executable, options, cpl);
      rows.push([
        `64-bit, CPL ${cpl}`,
        kvmkitNs.toFixed(0),
        cNs.toFixed(0),
        (kvmkitNs / cNs).toFixed(2),
      ]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  console.log(
    `exit_roundtrip: ${runtime}, kvmkit backend ${options.backend}, ` +
      `${options.exits} exits x ${options.reps} reps (median), ` +
      `${options.warmup} warm-up`,
  );
  printTable(["guest", "kvmkit ns/exit", "C ns/exit", "kvmkit/C"], rows);
  return 0;
}

runMain("exit_roundtrip", main);
