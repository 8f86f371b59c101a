/**
 * Runs a benchmark image on `qemu-system-x86_64 -accel tcg`: the image is the
 * firmware (`-bios`, mapped at 0xf0000 and below 4 GiB, started from the
 * reset vector), the iteration count is written to 0x500 by a generic
 * loader, port 0xe9 is an isa-debugcon on stdout and port 0xf4 an
 * isa-debug-exit (writing 0 there ends QEMU with status 1).
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GUEST_RAM_SIZE, PARAMS_ADDR, PORT_DEBUG_EXIT, PORT_DEBUGCON } from "./workloads.ts";
import type { GuestResult } from "./kvmkit_runner.ts";

/** The QEMU binary looked up on PATH. */
export const QEMU = "qemu-system-x86_64";

/** QEMU's version line, or undefined with the reason when it cannot be run. */
export function qemuVersion(): { version?: string; reason?: string } {
  try {
    const r = spawnSync(QEMU, ["--version"], { encoding: "utf8" });
    if (r.error) return { reason: `${QEMU}: ${r.error.message}` };
    if (r.status !== 0) return { reason: `${QEMU} --version: status ${r.status}` };
    return { version: r.stdout.split("\n")[0].trim() };
  } catch (e) {
    return { reason: `${QEMU}: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** The command line that boots `imagePath` with `n` iterations. */
export function qemuArgs(imagePath: string, n: number): string[] {
  return [
    "-accel",
    "tcg",
    "-machine",
    "pc",
    "-m",
    `${GUEST_RAM_SIZE >>> 20}M`,
    "-nodefaults",
    "-display",
    "none",
    "-no-reboot",
    "-bios",
    imagePath,
    "-chardev",
    "stdio,id=dbg",
    "-device",
    `isa-debugcon,iobase=0x${PORT_DEBUGCON.toString(16)},chardev=dbg`,
    "-device",
    `isa-debug-exit,iobase=0x${PORT_DEBUG_EXIT.toString(16)},iosize=0x04`,
    "-device",
    `loader,addr=0x${PARAMS_ADDR.toString(16)},data=${n},data-len=4`,
  ];
}

/** Runs QEMU to the guest's exit; the time is the whole process's, start-up included. */
export function runOnQemu(imagePath: string, n: number, timeoutMs = 120_000): GuestResult {
  const t0 = performance.now();
  const r = spawnSync(QEMU, qemuArgs(imagePath, n), { encoding: "utf8", timeout: timeoutMs });
  const ms = performance.now() - t0;
  if (r.error) return { ok: false, failure: r.error.message };
  // isa-debug-exit: status (value << 1) | 1; the guest writes 0.
  if (r.status !== 1) return { ok: false, failure: `qemu status ${r.status}: ${r.stderr.trim().split("\n")[0] ?? ""}` };
  return { ok: true, output: r.stdout.trim(), ms, exits: 0 };
}

/**
 * Counts the guest's instructions on QEMU: one instruction per translation
 * block (`-singlestep`), every block execution logged (`-d exec,nochain`),
 * so the log has one "Trace" line per instruction and per `rep` iteration.
 * QEMU ends at the write to port 0xf4, before the final `hlt`, which is
 * added. Slow (a log line per instruction): for small iteration counts.
 */
export function countOnQemu(
  imagePath: string,
  n: number,
): { ok: true; instructions: number; output: string } | { ok: false; failure: string } {
  const dir = mkdtempSync(join(tmpdir(), "kvmkit-qemu-count-"));
  try {
    const log = join(dir, "exec.log");
    const args = ["-singlestep", "-d", "exec,nochain", "-D", log, ...qemuArgs(imagePath, n)];
    const r = spawnSync(QEMU, args, { encoding: "utf8", timeout: 600_000, maxBuffer: 1 << 20 });
    if (r.error) return { ok: false, failure: r.error.message };
    if (r.status !== 1) return { ok: false, failure: `qemu status ${r.status}: ${r.stderr.trim()}` };
    const text = readFileSync(log, "utf8");
    let lines = 0;
    for (let i = text.indexOf("Trace "); i >= 0; i = text.indexOf("Trace ", i + 6)) lines++;
    return { ok: true, instructions: lines + 1, output: r.stdout.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
