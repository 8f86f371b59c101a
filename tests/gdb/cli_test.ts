/**
 * The kvmkit command under real gdb: `kvmkit run --kernel gdb_vmm.elf
 * --gdb HOST:PORT --gdb-wait` as a child process (of this runtime, Deno or
 * Bun), and Debian's gdb in batch mode against it: stopped at the first
 * instruction, break at a function by name, continue, step, the guest's
 * console output seen while it is stopped, continue to its isa-debug-exit,
 * whose status is both gdb's exit code and the command's. Also: every vCPU of
 * `--cpus 2` is a gdb thread, the listener is on loopback when no host is
 * given, a power-off ends the session with status 0, and bad `--gdb` values
 * are usage errors (status 2).
 *
 * The guest (tests/guests/gdb_vmm.c, a multiboot kernel) runs in 32-bit
 * protected mode at CPL 0. Where a backend cannot stop it there (probed with
 * the same machine), the steps that need it are skipped, each saying why.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import process from "node:process";
import { type BackendName, Kvm } from "../../mod.ts";
import { probeSoftwareBreakpoints } from "../../gdb/mod.ts";
import { Machine } from "../../vmm/machine.ts";
import { BACKENDS, backendUnavailable, skip, test } from "../_support/harness.ts";
import { bootSectorArgs } from "../vmm/_vmm.ts";
import { checkSteps, GDB_MISSING, type GdbRun, type GdbStep, runGdb, stepsFor } from "./_gdb.ts";

const GUEST = new URL("../guests/gdb_vmm.elf", import.meta.url).pathname;
const SMP_GUEST = new URL("../guests/vmm_smp.bin", import.meta.url).pathname;
const CLI = new URL("../../vmm/cli.ts", import.meta.url).pathname;
/** The guest's entry (_start): `mov $stack_top, %esp` (5 bytes), then `call main`. */
const ENTRY = new DataView(readFileSync(GUEST).buffer).getUint32(24, true);
const CALL_MAIN = ENTRY + 5;

declare const Bun: unknown;
/** This runtime running the kvmkit command. */
const RUNTIME = typeof Bun !== "undefined"
  ? [process.execPath, CLI]
  : [process.execPath, "run", "--allow-ffi", "--allow-read", "--allow-env", "--allow-net", CLI];

type Feature = "breakpoints" | "singlestep";

/** Runs the guest's machine on `backend` with `debug` set; whether the first exit is a debug exit at `call main`. */
function probe(backend: BackendName, feature: Feature): string | undefined {
  using kvm = Kvm.open({ backend });
  using machine = Machine.create({ kvm, kernel: { name: GUEST, data: new Uint8Array(readFileSync(GUEST)) } });
  const vcpu = machine.vcpus[0];
  const software = feature === "breakpoints" && probeSoftwareBreakpoints(kvm) === undefined;
  if (software) machine.ram.write(CALL_MAIN, new Uint8Array([0xcc]), "int3");
  vcpu.setGuestDebug(
    feature === "singlestep"
      ? { singlestep: true }
      : software
      ? { softwareBreakpoints: true }
      : { hardwareBreakpoints: [{ address: CALL_MAIN }] },
  );
  const exit = vcpu.run({ timeoutMs: 3000 });
  if (exit.reason === "debug" && exit.pc === BigInt(CALL_MAIN)) return undefined;
  const what = feature === "singlestep" ? "single-stepping" : `${software ? "an int3" : "a hardware"} breakpoint`;
  return `${what} in 32-bit protected mode at CPL 0 is not reported: ${
    JSON.stringify(exit, (_, v) => typeof v === "bigint" ? `0x${v.toString(16)}` : v)
  }`;
}

/** What `backend` lacks of the features, with the probes' findings. */
function lacking(backend: BackendName): Map<Feature, string> {
  const out = new Map<Feature, string>();
  for (const f of ["breakpoints", "singlestep"] as const) {
    const why = probe(backend, f);
    if (why !== undefined) out.set(f, why);
  }
  return out;
}

/** A free TCP port on loopback (closed again: the command binds it next). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  assert.ok(typeof address === "object" && address);
  return address.port;
}

/** A running `kvmkit run`: its output so far, and its status when it ends. */
interface Cli {
  child: ChildProcess;
  /** The file its stdout (the guest's console) goes to. */
  console: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the address the stub listens on, from its stderr line. */
  listening: Promise<{ host: string; port: number }>;
  status: Promise<number | null>;
}

/**
 * Starts `kvmkit run args`; `listening` waits for the stub's line (and, with --gdb-wait, the line saying it waits).
 * Its stdout goes to a file, not a pipe: what the guest printed before it stopped is in the file when gdb hears of the
 * stop (the command writes the console synchronously before it answers gdb), whereas bytes in a pipe reach this
 * process whenever its event loop reads them, before or after gdb's own output.
 */
function startCli(args: string[]): Cli {
  const dir = mkdtempSync(join(tmpdir(), "kvmkit-gdb-cli-"));
  const file = join(dir, "stdout");
  const fd = openSync(file, "w");
  const child = spawn(RUNTIME[0], [...RUNTIME.slice(1), "run", ...args], { stdio: ["pipe", fd, "pipe"] });
  closeSync(fd);
  let out: string | undefined, err = "";
  let found: (a: { host: string; port: number }) => void;
  const listening = new Promise<{ host: string; port: number }>((r) => found = r);
  child.stderr!.on("data", (d: Uint8Array) => {
    err += new TextDecoder().decode(d);
    const m = /gdb stub: listening on (\S+):(\d+)\n/.exec(err);
    if (m && (!args.includes("--gdb-wait") || err.includes("stopped before the first instruction"))) {
      found({ host: m[1], port: Number(m[2]) });
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const status = new Promise<number | null>((r) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      // The command has ended: its output is all in the file, which goes.
      out = readFileSync(file, "utf8");
      rmSync(dir, { recursive: true, force: true });
      r(code);
    })
  );
  void status.then(() => found({ host: "", port: 0 })); // ended before listening: the test fails on the address
  return {
    child,
    console: file,
    stdout: () => out ?? readFileSync(file, "utf8"),
    stderr: () => err,
    listening,
    status,
  };
}

/** One gdb step of these tests. */
type Step = GdbStep<Feature>;

/** What gdb echoes after the console it printed at the start of each step (runCliGdb). */
const CONSOLE_END = "@@console-end";

/**
 * Runs gdb with `steps` against `port` (symbols from `file`); returns each step's output and the command's stdout as
 * it was when the step began (the previous step done, the guest stopped). gdb prints that stdout itself (`shell cat`
 * of the file it goes to, before the step's commands), so it is the console at that point of the session whenever
 * this process gets to read gdb's output: in batch mode gdb goes on with the next steps meanwhile.
 */
async function runCliGdb(
  port: number,
  steps: Step[],
  cli: Cli,
  file: string | undefined,
  onStep?: (name: string) => void,
): Promise<GdbRun & { consoles: Map<string, string> }> {
  const shown = steps.map((s) => ({
    ...s,
    commands: [`shell cat ${cli.console}`, `echo ${CONSOLE_END}\\n`, ...s.commands],
  }));
  const run = await runGdb(port, shown, file, onStep && ((name) => onStep(name)));
  const consoles = new Map<string, string>(), outputs = new Map<string, string>();
  for (const [name, out] of run.outputs) {
    const at = out.indexOf(`${CONSOLE_END}\n`);
    assert.ok(at >= 0, `step "${name}": gdb did not print the console; it said:\n${out}`);
    consoles.set(name, out.slice(0, at));
    outputs.set(name, out.slice(at + CONSOLE_END.length + 1));
  }
  return { outputs, all: run.all, consoles };
}

/** The local address of the TCP socket listening on `port`, from /proc/net/tcp (and tcp6), e.g. "0100007F" for 127.0.0.1. */
function listenAddresses(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const found: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    // Through cat: Deno grants /proc/net only to --allow-all, and the suite runs with --allow-run.
    const text = spawnSync("cat", [file], { encoding: "utf8" }).stdout ?? "";
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 3 && f[3] === "0A" && f[1].endsWith(`:${hex}`)) found.push(f[1].split(":")[0]);
    }
  }
  return found;
}

const HELLO = "gdb guest: hello\n";
const STEPS: Step[] = [
  {
    name: "stopped before the first instruction, nothing printed yet",
    needs: [],
    commands: ["print/x $eip", "info threads"],
    check: (out, console) => {
      assert.match(out, /_start \(\) at gdb_vmm_start\.S:\d+/);
      assert.match(out, new RegExp(`\\$\\d+ = 0x${ENTRY.toString(16)}\n`));
      assert.match(out, /\* 1 +Thread 1 \(vCPU 0\)/);
      assert.equal(console, "");
    },
  },
  {
    name: "break at a function by name and continue to it",
    needs: ["breakpoints"],
    commands: ["break square", "continue"],
    check: (out) => {
      assert.match(out, /Breakpoint 1 at 0x[0-9a-f]+: file gdb_vmm\.c, line \d+\./);
      assert.match(out, /Breakpoint 1, square \(x=0\) at gdb_vmm\.c:\d+/);
    },
  },
  {
    name: "the console output so far, a global and an argument",
    needs: ["breakpoints"],
    commands: ["print calls", "print x"],
    check: (out, console) => {
      assert.equal(console, HELLO, "the guest printed its greeting before the breakpoint, and no more");
      assert.match(out, /^\$\d+ = 0\n\$\d+ = 0\n$/);
    },
  },
  {
    name: "step over calls++ by lines and instructions",
    needs: ["breakpoints", "singlestep"],
    commands: ["next", "next", "print calls", "print/x $pc", "stepi", "print/x $pc"],
    check: (out) => {
      assert.match(out, /\d+\s+calls\+\+;\n/);
      assert.match(out, /\d+\s+return x \* x;\n/);
      assert.match(out, /\$\d+ = 1\n/);
      const pcs = [...out.matchAll(/\$\d+ = (0x[0-9a-f]+)\n/g)].map((m) => Number(m[1]));
      assert.equal(pcs.length, 2, out);
      assert.notEqual(pcs[1], pcs[0], "stepi moved");
    },
  },
  {
    name: "the next hit: the loop's second call",
    needs: ["breakpoints"],
    commands: ["continue", "delete"],
    check: (out) => assert.match(out, /Breakpoint 1, square \(x=1\) at gdb_vmm\.c:\d+/),
  },
  {
    name: "continue to the end: isa-debug-exit's status is gdb's exit code",
    needs: [],
    commands: ["continue"],
    check: (out) => assert.match(out, /\[Inferior 1 \(Remote target\) exited with code 013\]/), // 11 = (5 << 1) | 1
  },
];

/** A command that ended: its status, and the status line naming the guest's end. */
async function ended(cli: Cli, status: number, detail: RegExp, all: string): Promise<void> {
  const code = await cli.status;
  assert.equal(code, status, `the command's status; its stderr:\n${cli.stderr()}\ngdb said:\n${all}`);
  assert.match(cli.stderr(), detail);
}

/**
 * The backends the tests named `names` run on; on the others (not available here, or gdb missing) each is
 * registered as skipped.
 */
function gdbBackends(...names: string[]): BackendName[] {
  return BACKENDS.filter((backend) => {
    const unavailable = backendUnavailable(backend) ?? GDB_MISSING;
    if (unavailable) { for (const name of names) skip(`${name} [${backend}]`, unavailable); }
    return !unavailable;
  });
}

const REAL_GDB = "kvmkit --gdb: real gdb breaks, steps and continues the guest to its exit";
for (const backend of gdbBackends(REAL_GDB)) {
  const steps = stepsFor(REAL_GDB, backend, STEPS, lacking(backend));
  test(`${REAL_GDB} [${backend}]`, async () => {
    const port = await freePort();
    const cli = startCli(["--backend", backend, "--kernel", GUEST, "--debug-exit", "0xf4"].concat(
      ["--gdb", `127.0.0.1:${port}`, "--gdb-wait"],
    ));
    assert.deepEqual(await cli.listening, { host: "127.0.0.1", port }, cli.stderr());
    assert.match(
      cli.stderr(),
      new RegExp(`stopped before the first instruction: gdb -ex 'target remote 127\\.0\\.0\\.1:${port}'`),
    );
    const run = await runCliGdb(port, steps, cli, GUEST);
    checkSteps(steps, run, run.consoles);
    await ended(cli, 11, /kvmkit: debug-exit \(isa-debug-exit 11\) after [\d.]+ s; backend \w+, 1 vCPU/, run.all);
    assert.equal(cli.stdout(), `${HELLO}gdb guest: sum 285\n`);
  });
}

const SMP_STEPS: Step[] = [
  {
    name: "every vCPU is a thread; the AP waits for its SIPI",
    needs: [],
    commands: ["info threads", "thread 2", "print/x $eip"],
    check: (out) => {
      assert.match(out, /\* 1 +Thread 1 \(vCPU 0\) 0x00010000 in \?\? \(\)/);
      assert.match(out, /\n +2 +Thread 2 \(vCPU 1\)/);
      assert.match(out, /Switching to thread 2/);
      assert.match(out, /\$\d+ = 0xfff0\n/, "the AP at its reset vector, not started yet");
    },
  },
  {
    name: "continue: the BSP starts the AP, which reports in; the guest exits",
    needs: [],
    commands: ["continue"],
    check: (out) => assert.match(out, /\[Inferior 1 \(Remote target\) exited with code 043\]/), // 0x23
  },
];

const POWEROFF_STEPS: Step[] = [{
  name: "continue: an ACPI power-off is gdb's normal exit",
  needs: [],
  commands: ["continue"],
  check: (out) => assert.match(out, /\[Inferior 1 \(Remote target\) exited normally\]/),
}];

const SMP_GDB = "kvmkit --gdb --cpus 2: one gdb thread per vCPU, listening on loopback by default";
const POWER_OFF = "kvmkit --gdb: a guest's power-off ends the session, status 0";
for (const backend of gdbBackends(SMP_GDB, POWER_OFF)) {
  test(`${SMP_GDB} [${backend}]`, async () => {
    const cli = startCli(
      ["--backend", backend, "--flat", SMP_GUEST, "--mode", "protected", "--at", "0x10000", "--cpus", "2"].concat(
        ["--debug-exit", "0xf4", "--gdb", "0", "--gdb-wait"],
      ),
    );
    const { host, port } = await cli.listening;
    assert.equal(host, "127.0.0.1", cli.stderr());
    assert.ok(port > 0, "port 0: the stub says which port it took");
    assert.deepEqual(listenAddresses(port), ["0100007F"], "one listening socket, on 127.0.0.1 only");
    const run = await runCliGdb(port, SMP_STEPS, cli, undefined);
    checkSteps(SMP_STEPS, run, run.consoles);
    await ended(cli, 0x23, /kvmkit: debug-exit \(isa-debug-exit 35\) after [\d.]+ s; backend \w+, 2 vCPUs/, run.all);
    assert.equal(cli.stdout(), "AP up\n");
  });
  test(`${POWER_OFF} [${backend}]`, async () => {
    const cli = startCli(["--backend", backend, "--kernel", GUEST, "--gdb", "0", "--gdb-wait"]);
    const { port } = await cli.listening;
    const run = await runCliGdb(port, POWEROFF_STEPS, cli, GUEST);
    checkSteps(POWEROFF_STEPS, run, run.consoles);
    await ended(cli, 0, /kvmkit: poweroff \(ACPI S5\) after/, run.all);
    assert.equal(cli.stdout(), `${HELLO}gdb guest: sum 285\n`);
  });
}

const ECHO = [...bootSectorArgs("vmm_echo.bin"), "--gdb", "0", "--gdb-wait"];
const CONTINUE: Step[] = [{ name: "continue", needs: [], commands: ["continue"], check: () => {} }];

const TYPED = "kvmkit --gdb: the terminal still types into COM1; --timeout ends the session with gdb's exit reply";
for (const backend of gdbBackends(TYPED)) {
  test(`${TYPED} [${backend}]`, async () => {
    // The guest sleeps in HLT until COM1 receives a line, echoes it upper-cased, and exits with its length.
    const typed = startCli(["--backend", backend, ...ECHO]);
    const { port } = await typed.listening;
    const run = await runCliGdb(port, CONTINUE, typed, undefined, () => {
      setTimeout(() => typed.child.stdin!.write("ab\n"), 300); // while gdb's continue runs
    });
    assert.match(run.all, /\[Inferior 1 \(Remote target\) exited with code 07\]/, run.all);
    await ended(typed, 7, /kvmkit: debug-exit \(isa-debug-exit 7\)/, run.all);
    assert.equal(typed.stdout(), ">AB\n");
    // No input: the guest sleeps on, gdb waits in continue, and the timeout ends both.
    const idle = startCli(["--backend", backend, ...ECHO, "--timeout", "1"]);
    const idleRun = await runCliGdb((await idle.listening).port, CONTINUE, idle, undefined);
    assert.match(idleRun.all, /\[Inferior 1 \(Remote target\) exited with code 0174\]/, idleRun.all); // 124
    await ended(idle, 124, /kvmkit: timeout \(timeout after 1000 ms\)/, idleRun.all);
  });
}

test("kvmkit --gdb: bad values are usage errors (status 2) naming what is wrong", () => {
  const cases: [string[], RegExp][] = [
    [["--gdb", "70000"], /--gdb: "70000" in "70000" is not a port from 0 to 65535/],
    [["--gdb", "localhost:"], /--gdb: "" in "localhost:" is not a port/],
    [["--gdb", "bad_host!:1234"], /--gdb: "bad_host!" in "bad_host!:1234" is not a host name or IP address/],
    [["--gdb", "::1:1234"], /an IPv6 address goes in brackets: \[::1\]:1234/],
    [["--gdb", "[10.0.0.1]:1234"], /"10\.0\.0\.1" in "\[10\.0\.0\.1\]:1234" is not an IPv6 address/],
    [["--gdb"], /--gdb needs a value: --gdb \[HOST:\]PORT/],
    [["--gdb-wait"], /--gdb-wait needs --gdb \[HOST:\]PORT/],
    [["--gdb", "1234", "--reboot"], /--reboot is not available with --gdb/],
    [["--gdb", "1234", "--trace", "insns"], /--trace insns single-steps the guest/],
  ];
  for (const [args, message] of cases) {
    // The option comes last so that a missing value is missing.
    const r = spawnSync(RUNTIME[0], [...RUNTIME.slice(1), "run", "--backend", "emu", "--kernel", GUEST, ...args], {
      encoding: "utf8",
      input: "",
      timeout: 60_000,
    });
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(" "));
    assert.equal(r.stdout, "", "nothing ran");
  }
});
