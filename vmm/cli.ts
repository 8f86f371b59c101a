#!/usr/bin/env -S deno run --allow-ffi --allow-read --allow-env --allow-net
/**
 * The `kvmkit` command: boots a kernel or a flat binary on a PC built from
 * the platform module, with COM1 on the terminal.
 *
 *   kvmkit run --kernel FILE [--initrd FILE] [--append "..."] [--mem 256M] [--cpus N]
 *              [--backend auto|kvm|emu] [--trace exits|insns] [--debug-exit PORT]
 *              [--gdb [HOST:]PORT [--gdb-wait]]
 *   kvmkit run --flat FILE --mode real|protected|long --at ADDR [...]
 *
 * With --gdb the guest runs under the GDB stub (gdb/mod.ts), which listens on
 * 127.0.0.1 unless a host is given: the stub runs the vCPUs (all of them, one
 * gdb thread each, on this thread in slices) and hands every exit that is not
 * its own to the machine's devices, so the console, power-off and
 * isa-debug-exit work as without it; the guest's end is gdb's exit reply.
 *
 * Ctrl-A X quits (Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A H lists the keys). The
 * process exits with the guest's status: 0 after a power-off or reset,
 * (v << 1) | 1 after isa-debug-exit wrote v, 1 when the guest failed, 2 for a
 * bad command line. One status line goes to stderr at the end.
 *
 * Every option is one row of {@linkcode OPTIONS}: its name, argument, help
 * and parser; a new option is a new row.
 *
 * @module
 */
import { readFileSync, statSync, writeSync } from "node:fs";
import { isIP } from "node:net";
import process from "node:process";
import { type GdbServer, serveGdb } from "../gdb/mod.ts";
import type { VcpuExit } from "../mod.ts";
import type { CpuMode } from "./cpu.ts";
import { describeExit, Machine, type MachineOptions, type MachineResult } from "./machine.ts";
import type { BootFile } from "./loaders/types.ts";
import { parseSize } from "./ram.ts";

/** The parsed command line of `kvmkit run`. */
export interface RunArgs {
  /** --kernel: the kernel file (bzImage, ELF vmlinux with a PVH note, multiboot ELF). */
  kernel?: string;
  /** --initrd: initrd files, in order. */
  initrd: string[];
  /** --append: the kernel command line. */
  append: string;
  /** --mem: bytes of RAM. */
  mem: number;
  /** --cpus: number of vCPUs. */
  cpus: number;
  /** --backend: which kernel runs the VM. */
  backend: "auto" | "kvm" | "emu";
  /** --trace: what to print to stderr as it runs. */
  trace?: "exits" | "insns";
  /** --debug-exit: the isa-debug-exit port. */
  debugExit?: number;
  /** --flat: a flat binary to load instead of a kernel. */
  flat?: string;
  /** --mode: the CPU mode a flat binary starts in. */
  mode?: CpuMode;
  /** --at: the load and entry address of a flat binary. */
  at?: number;
  /** --reboot: start again when the guest resets (else the reset ends the run). */
  reboot: boolean;
  /** --timeout: seconds before the run is stopped. */
  timeout?: number;
  /** --gdb: where the GDB stub listens. */
  gdb?: { hostname: string; port: number };
  /** --gdb-wait: wait for gdb to attach before the guest runs. */
  gdbWait: boolean;
  /** --help: print the options. */
  help: boolean;
}

/** A command-line error: the message says what was wrong and what to do. */
export class UsageError extends Error {
  /** Makes the error; `message` names the flag. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** One option: `arg` names its value (none: a switch); `parse` stores it into the arguments. */
export interface OptionSpec {
  /** The flag without its dashes, e.g. "kernel". */
  name: string;
  /** Its value's name in the help, e.g. "FILE"; absent for a switch. */
  arg?: string;
  /** One line of help. */
  help: string;
  /** Stores `value` into `args`, or throws a UsageError naming the flag. */
  parse(args: RunArgs, value: string): void;
}

function choice<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${name}: "${value}" is not one of ${allowed.join(", ")}`);
}

function integer(name: string, value: string, min: number, max: number): number {
  const n = /^(0x[0-9a-f]+|\d+)$/i.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${name}: "${value}" is not an integer from ${min} to ${max} (decimal or 0x hex)`);
  }
  return n;
}

/** A host name (RFC 1123 labels) as --gdb takes it. */
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Parses --gdb's `[HOST:]PORT` (an IPv6 host in brackets); the host defaults to 127.0.0.1. */
export function parseGdbAddress(value: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]*)\]:|([^:]*):)?([^:]*)$/.exec(value);
  if (!m) {
    throw new UsageError(`--gdb: "${value}" is not [HOST:]PORT (an IPv6 address goes in brackets: [::1]:1234)`);
  }
  const hostname = m[1] ?? m[2] ?? "127.0.0.1";
  if (m[1] !== undefined && isIP(hostname) !== 6) {
    throw new UsageError(`--gdb: "${hostname}" in "${value}" is not an IPv6 address (only those go in brackets)`);
  }
  if (m[1] === undefined && isIP(hostname) === 0 && !HOSTNAME.test(hostname)) {
    throw new UsageError(`--gdb: "${hostname}" in "${value}" is not a host name or IP address`);
  }
  const port = /^\d{1,5}$/.test(m[3]) ? Number(m[3]) : NaN;
  if (!(port <= 0xffff)) {
    throw new UsageError(`--gdb: "${m[3]}" in "${value}" is not a port from 0 to 65535 (0: any free port)`);
  }
  return { hostname, port };
}

/** Every option of `kvmkit run`. */
export const OPTIONS: readonly OptionSpec[] = [
  {
    name: "--kernel",
    arg: "FILE",
    help: "a bzImage, a multiboot kernel or an ELF vmlinux with a PVH note",
    parse: (a, v) => (a.kernel = v),
  },
  {
    name: "--initrd",
    arg: "FILE",
    help: "an initrd (repeat, or separate with commas; multiboot: one module each)",
    parse: (a, v) => a.initrd.push(...v.split(",").filter((s) => s !== "")),
  },
  { name: "--append", arg: "ARGS", help: "the kernel command line", parse: (a, v) => (a.append = v) },
  {
    name: "--mem",
    arg: "SIZE",
    help: "guest RAM, e.g. 256M or 1G (a bare number is MiB; default 256M)",
    parse: (a, v) => {
      try {
        a.mem = parseSize(v);
      } catch (e) {
        throw new UsageError(`--mem: ${(e as Error).message}`);
      }
      if (a.mem < 2 ** 20 || a.mem % 4096) throw new UsageError(`--mem: ${v} is below 1M or not a multiple of 4K`);
    },
  },
  {
    name: "--cpus",
    arg: "N",
    help: "vCPUs (1-64, default 1)",
    parse: (a, v) => (a.cpus = integer("--cpus", v, 1, 64)),
  },
  {
    name: "--backend",
    arg: "auto|kvm|emu",
    help: "KVM, the emulator, or KVM when it opens (default)",
    parse: (a, v) => (a.backend = choice("--backend", v, ["auto", "kvm", "emu"] as const)),
  },
  {
    name: "--trace",
    arg: "exits|insns",
    help: "print every exit, or every instruction's address, on stderr",
    parse: (a, v) => (a.trace = choice("--trace", v, ["exits", "insns"] as const)),
  },
  {
    name: "--debug-exit",
    arg: "PORT",
    help: "an isa-debug-exit port: writing v exits with status (v << 1) | 1",
    parse: (a, v) => (a.debugExit = integer("--debug-exit", v, 0, 0xffff)),
  },
  { name: "--flat", arg: "FILE", help: "a flat binary instead of a kernel", parse: (a, v) => (a.flat = v) },
  {
    name: "--mode",
    arg: "real|protected|long",
    help: "the flat binary's CPU mode",
    parse: (a, v) => (a.mode = choice("--mode", v, ["real", "protected", "long"] as const)),
  },
  {
    name: "--at",
    arg: "ADDR",
    help: "where the flat binary goes and starts",
    parse: (a, v) => (a.at = integer("--at", v, 0, 2 ** 32 - 1)),
  },
  { name: "--reboot", help: "start again when the guest resets (default: exit)", parse: (a) => (a.reboot = true) },
  {
    name: "--timeout",
    arg: "SECONDS",
    help: "stop the guest after this long (exit status 124)",
    parse: (a, v) => (a.timeout = integer("--timeout", v, 1, 86400)),
  },
  {
    name: "--gdb",
    arg: "[HOST:]PORT",
    help: "serve gdb's remote protocol on HOST (default 127.0.0.1, this machine only) and PORT",
    parse: (a, v) => (a.gdb = parseGdbAddress(v)),
  },
  {
    name: "--gdb-wait",
    help: "with --gdb: stop before the first instruction until gdb continues",
    parse: (a) => (a.gdbWait = true),
  },
  { name: "--help", help: "this text", parse: (a) => (a.help = true) },
];

/** The help text. */
export function usage(): string {
  const rows = OPTIONS.map((o) => [`  ${o.name}${o.arg ? ` ${o.arg}` : ""}`, o.help]);
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  return [
    "usage: kvmkit run --kernel FILE [--initrd FILE] [--append ARGS] [options]",
    "       kvmkit run --flat FILE --mode real|protected|long --at ADDR [options]",
    "",
    ...rows.map(([a, b]) => a.padEnd(width) + b),
    "",
    "On the console: Ctrl-A X quits, Ctrl-A Ctrl-A sends Ctrl-A.",
  ].join("\n");
}

/** Parses the arguments after `run`. Throws UsageError. */
export function parseRunArgs(argv: readonly string[]): RunArgs {
  const args: RunArgs = {
    initrd: [],
    append: "",
    mem: 256 * 2 ** 20,
    cpus: 1,
    backend: "auto",
    reboot: false,
    gdbWait: false,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    const eq = word.indexOf("=");
    const name = word.startsWith("--") && eq > 0 ? word.slice(0, eq) : word;
    const spec = OPTIONS.find((o) => o.name === name);
    if (!spec) {
      throw new UsageError(
        word.startsWith("-") ? `unknown option ${name}` : `unexpected argument "${word}" (options start with --)`,
      );
    }
    let value = "";
    if (spec.arg) {
      if (eq > 0 && word.startsWith("--")) value = word.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i];
      else throw new UsageError(`${name} needs a value: ${name} ${spec.arg}`);
    } else if (eq > 0) {
      throw new UsageError(`${name} takes no value`);
    }
    spec.parse(args, value);
  }
  if (args.help) return args;
  if (args.kernel && args.flat) throw new UsageError("give --kernel or --flat, not both");
  if (!args.kernel && !args.flat) throw new UsageError("nothing to run: give --kernel FILE or --flat FILE");
  if (args.flat) {
    if (!args.mode) throw new UsageError("--flat needs --mode real|protected|long");
    if (args.at === undefined) throw new UsageError("--flat needs --at ADDR");
    if (args.initrd.length || args.append) throw new UsageError("--initrd and --append are for --kernel, not --flat");
  } else if (args.mode || args.at !== undefined) {
    throw new UsageError("--mode and --at are for --flat");
  }
  if (args.trace === "insns" && args.cpus > 1) throw new UsageError("--trace insns needs --cpus 1");
  if (args.gdbWait && !args.gdb) throw new UsageError("--gdb-wait needs --gdb [HOST:]PORT");
  if (args.gdb && args.trace === "insns") {
    throw new UsageError("--trace insns single-steps the guest, which gdb does under --gdb: give one of them");
  }
  if (args.gdb && args.reboot) throw new UsageError("--reboot is not available with --gdb (a reset ends the session)");
  return args;
}

function readFile(option: string, path: string): BootFile {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new UsageError(`${option} ${path}: not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as { code?: string }).code ?? (e as Error).name;
    throw new UsageError(
      `${option} ${path}: cannot read it (${code === "ENOENT" || code === "NotFound" ? "no such file" : code})`,
    );
  }
  if (size === 0) throw new UsageError(`${option} ${path}: empty file`);
  return { name: path, data: new Uint8Array(readFileSync(path)) };
}

/** The machine options for parsed arguments (reads the files). */
export function machineOptions(args: RunArgs): MachineOptions {
  const common = {
    backend: args.backend,
    memory: args.mem,
    cpus: args.cpus,
    trace: args.trace,
    debugExit: args.debugExit,
  };
  if (args.flat) {
    return { ...common, flat: { file: readFile("--flat", args.flat), mode: args.mode!, at: args.at! } };
  }
  return {
    ...common,
    kernel: readFile("--kernel", args.kernel!),
    initrds: args.initrd.map((p) => readFile("--initrd", p)),
    cmdline: args.append,
  };
}

/** The status line printed at the end. */
export function statusLine(m: Machine, r: MachineResult): string {
  const rate = r.seconds > 0 ? Math.round(r.exits / r.seconds) : 0;
  return `kvmkit: ${r.reason} (${r.detail}) after ${r.seconds.toFixed(2)} s; backend ${m.backend}, ` +
    `${m.cpus} vCPU${m.cpus > 1 ? "s" : ""}, ${r.exits} exits (${rate}/s); exit status ${r.exitCode}`;
}

/**
 * Connects the terminal to the machine's COM1: raw mode on a TTY, Ctrl-A X
 * calls `quit`. Returns the detach function.
 */
function attachConsole(machine: Machine, quit: () => void): () => void {
  const stdin = process.stdin;
  const tty = stdin.isTTY === true;
  if (tty) stdin.setRawMode(true);
  let escape = false;
  const onData = (chunk: Uint8Array | string) => {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    const pass: number[] = [];
    for (const b of bytes) {
      if (!tty) {
        pass.push(b);
        continue;
      }
      if (escape) {
        escape = false;
        if (b === 0x78 || b === 0x58) quit();
        else if (b === 0x01) pass.push(0x01);
        else if (b === 0x68 || b === 0x48) writeSync(2, "\r\nCtrl-A X: quit; Ctrl-A Ctrl-A: send Ctrl-A\r\n");
      } else if (b === 0x01) escape = true;
      else pass.push(b);
    }
    if (pass.length) machine.input(pass);
  };
  stdin.on("data", onData);
  stdin.resume();
  return () => {
    stdin.off("data", onData);
    if (tty) stdin.setRawMode(false);
    stdin.pause();
  };
}

/** Exits that stop the guest for gdb to look at, instead of ending the machine (a triple fault would be a reset). */
const SHOWN_TO_GDB = new Set<VcpuExit["reason"]>(["shutdown", "fail_entry", "internal_error", "unknown"]);

/** Under Deno without network permission for `hostname`: says so (node:net would throw from a callback instead). */
function denoNetDenied(hostname: string): string | undefined {
  type Permissions = { querySync(d: { name: "net"; host: string }): { state: string } };
  const deno = (globalThis as unknown as { Deno?: { permissions: Permissions } }).Deno;
  if (!deno || deno.permissions.querySync({ name: "net", host: hostname }).state === "granted") return undefined;
  return `Deno has no network permission for ${hostname}: run it with --allow-net (deno task kvmkit does)`;
}

/**
 * Runs `machine` under the GDB stub until the guest ends (power-off, reset,
 * isa-debug-exit: gdb gets W with the status), gdb kills it, the user quits
 * or the timeout strikes. Resolves with the result, or undefined when the
 * stub cannot listen (said on stderr).
 */
async function runUnderGdb(
  machine: Machine,
  args: RunArgs,
  err: (s: string) => void,
): Promise<MachineResult | undefined> {
  const start = performance.now();
  const { hostname, port } = args.gdb!;
  const denied = denoNetDenied(hostname);
  if (denied) {
    err(`kvmkit: --gdb: ${denied}`);
    return undefined;
  }
  // --timeout counts the guest's time: under --gdb-wait from gdb's first
  // continue or step, not from when the stub starts listening.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const startTimer = () => {
    if (timer !== undefined || !args.timeout) return;
    timer = setTimeout(() => end("timeout", 124, `timeout after ${args.timeout! * 1000} ms`), args.timeout * 1000);
  };
  let server: GdbServer;
  try {
    server = await serveGdb(machine.vm, machine.vcpus, {
      hostname,
      port,
      wait: args.gdbWait,
      log: (m) => err(`kvmkit: ${m}`),
      onResume: startTimer,
      onExit: (exit, vcpu) => {
        if (SHOWN_TO_GDB.has(exit.reason)) {
          err(`kvmkit: vCPU ${vcpu.id}: ${describeExit(exit)}: stopped for gdb`);
          return; // the stub stops with SIGSEGV (triple fault) or SIGILL
        }
        const stop = machine.serviceExit(exit, vcpu.id);
        return stop ? { exited: stop.code } : "resume";
      },
    });
  } catch (e) {
    const code = (e as { code?: string }).code ?? (e as Error).name;
    const hint = code === "EADDRINUSE" ? "; pick another port, or 0 for any free one" : "";
    err(`kvmkit: --gdb ${hostname}:${port}: cannot listen (${code}: ${(e as Error).message})${hint}`);
    return undefined;
  }
  const where = hostname.includes(":") ? `[${hostname}]:${server.port}` : `${hostname}:${server.port}`;
  if (args.gdbWait) err(`kvmkit: stopped before the first instruction: gdb -ex 'target remote ${where}'`);
  const end = (reason: "quit" | "timeout", code: number, detail: string) => {
    machine.stop(reason, code, detail);
    void server.exit(machine.stopped!.code);
  };
  const detach = attachConsole(machine, () => end("quit", 0, "Ctrl-A X"));
  if (!args.gdbWait) startTimer();
  let outcome;
  try {
    outcome = await server.done;
  } finally {
    clearTimeout(timer);
    detach();
  }
  if (outcome.reason !== "exited") machine.stop("quit", 0, `${outcome.reason} by gdb`);
  const stop = machine.stopped!;
  return {
    reason: stop.reason,
    exitCode: stop.code,
    detail: stop.detail,
    seconds: (performance.now() - start) / 1000,
    exits: machine.exits,
  };
}

/** Runs `kvmkit` with `argv` (without the runtime and script); returns the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const err = (s: string) => writeSync(2, s + "\n");
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "help") {
    err(usage());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] !== "run") {
    err(`kvmkit: unknown command "${argv[0]}" (the command is "run"; kvmkit --help lists the options)`);
    return 2;
  }
  let args: RunArgs;
  let options: MachineOptions;
  try {
    args = parseRunArgs(argv.slice(1));
    if (args.help) {
      err(usage());
      return 0;
    }
    options = machineOptions(args);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`kvmkit: ${e.message}\n(kvmkit --help lists the options)`);
      return 2;
    }
    throw e;
  }
  for (;;) {
    let machine: Machine;
    try {
      machine = Machine.create({ ...options, output: (b) => writeSync(1, b) });
    } catch (e) {
      err(`kvmkit: ${e instanceof Error ? e.message : String(e)}`);
      return 1;
    }
    let result: MachineResult;
    if (args.gdb) {
      const debugged = await runUnderGdb(machine, args, err);
      if (!debugged) {
        machine.close();
        return 1;
      }
      result = debugged;
    } else {
      const detach = attachConsole(machine, () => machine.stop("quit", 0, "Ctrl-A X"));
      try {
        result = await machine.run(args.timeout ? { timeoutMs: args.timeout * 1000 } : {});
      } finally {
        detach();
      }
    }
    if (result.reason === "reset" && args.reboot) {
      err(`kvmkit: ${result.detail}: restarting`);
      machine.close();
      continue;
    }
    err(statusLine(machine, result));
    machine.close();
    return result.exitCode;
  }
}

if (import.meta.main) {
  process.exit(await main(process.argv.slice(2)));
}
