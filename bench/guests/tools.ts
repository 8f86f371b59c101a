/**
 * The tools the peer benchmark compares, behind one shape: kvmkit's
 * emulator, kvmkit on /dev/kvm, and QEMU's TCG. Each runs a workload image
 * with N iterations and returns the guest's output and the wall time, start-up
 * included.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { Kvm } from "../../mod.ts";
import { imagePath, readImage, runImage } from "./kvmkit_runner.ts";
import type { GuestResult, RunImageOptions } from "./kvmkit_runner.ts";
import { qemuVersion, runOnQemu } from "./qemu_runner.ts";
import { checksumText, workload } from "./workloads.ts";
import { INSTRUCTIONS_BEFORE_BOOTED } from "./host_boot.ts";
import type { GuestMode } from "./workloads.ts";

/** The tools' short names, as the table's columns. */
export type ToolName = "emu" | "kvm" | "tcg";

/** A tool that can run the images of one mode. */
export interface Tool {
  name: ToolName;
  /** How it starts the guest, when that is not from the reset vector. */
  note?: string;
  run(name: string, n: number): GuestResult;
  close(): void;
}

/** Either a tool or why it cannot run here. */
export type ToolOrReason = { tool: Tool } | { reason: string };

/** Where a kvmkit guest starts: the runner's entry options. */
export type Entry = Pick<RunImageOptions, "entry" | "paging">;

/** The entries tried in order on /dev/kvm, and how each is described. */
const ENTRIES: ReadonlyArray<{ entry: Entry; note?: string; modes: readonly GuestMode[] }> = [
  { entry: { entry: "reset" }, modes: [32, 64] },
  { entry: { entry: "booted" }, note: "the host sets up the boot stub's state (sregs)", modes: [32, 64] },
  {
    entry: { entry: "booted", paging: false },
    note: "the host sets up the boot stub's state, with paging off (kvm_pvm runs no 32-bit paging)",
    modes: [32],
  },
];

/** Images read once. */
const images = new Map<string, Uint8Array>();
function image(name: string, mode: GuestMode): Uint8Array {
  const key = `${name}_${mode}`;
  let bytes = images.get(key);
  if (!bytes) images.set(key, bytes = readImage(name, mode));
  return bytes;
}

/** How {@linkcode kvmkitEntry} starts guests on a backend. */
export interface EntryChoice {
  entry: Entry;
  /** Why it is not the reset vector. */
  note?: string;
  /** Instructions of the boot stub the host did instead of the guest. */
  skipped: number;
}

/**
 * How kvmkit on `kvm` starts `mode` guests. The emulator starts every guest
 * from the reset vector. On /dev/kvm the first entry whose empty guest
 * reports the right checksum is kept: the reset vector, else a host-side
 * boot with paging, else (32-bit) without; when none works, the reset
 * vector, so that each workload shows its own failure.
 */
export function kvmkitEntry(kvm: Kvm, mode: GuestMode, timeoutMs = 60_000): EntryChoice {
  const reset: EntryChoice = { entry: { entry: "reset" }, skipped: 0 };
  if (kvm.backend === "emu") return reset;
  const expected = checksumText(workload("empty").checksum(1));
  for (const { entry, note, modes } of ENTRIES) {
    if (!modes.includes(mode)) continue;
    const probe = runImage(kvm, { image: image("empty", mode), n: 1, mode, timeoutMs, ...entry });
    if (probe.ok && probe.output === expected) {
      return { entry, note, skipped: entry.entry === "booted" ? INSTRUCTIONS_BEFORE_BOOTED[mode] : 0 };
    }
  }
  return reset;
}

/** Opens kvmkit on `backend` for `mode`, starting guests as {@linkcode kvmkitEntry} chooses. */
export function openKvmkit(backend: "emu" | "kvm", mode: GuestMode, timeoutMs: number): ToolOrReason {
  let kvm: Kvm;
  try {
    kvm = Kvm.open({ backend });
  } catch (e) {
    return { reason: e instanceof Error ? e.message : String(e) };
  }
  const { entry, note } = kvmkitEntry(kvm, mode, timeoutMs);
  return {
    tool: {
      name: backend,
      note,
      run: (name, n) =>
        runImage(kvm, { image: image(name, mode), n, mode, timeoutMs, irqchip: workload(name).irqchip, ...entry }),
      close: () => kvm.close(),
    },
  };
}

/** Opens QEMU TCG for `mode`, or says why it cannot run. */
export function openQemu(mode: GuestMode, timeoutMs: number): ToolOrReason {
  const { version, reason } = qemuVersion();
  if (version === undefined) return { reason: reason ?? "not installed" };
  const run = (name: string, n: number) => runOnQemu(imagePath(name, mode), n, timeoutMs);
  return { tool: { name: "tcg", note: version, run, close: () => {} } };
}

/** What /dev/kvm is on this host: "kvm_pvm" when that module is loaded, else "kvm". */
export function kvmFlavour(): string {
  const module = "/sys/module/kvm_pvm";
  let loaded: boolean;
  try {
    loaded = existsSync(module);
  } catch {
    // Deno reads /sys only with --allow-all; `test` needs only --allow-run.
    loaded = spawnSync("test", ["-d", module]).status === 0;
  }
  return loaded ? "kvm_pvm" : "kvm";
}
