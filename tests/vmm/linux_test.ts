/**
 * Boots Debian's Linux 6.1 (built by tools/linux_guest.sh into
 * build/linux-guest/) with a busybox initramfs whose /init prints a marker
 * and powers off: through the PVH entry and the bzImage boot protocol, with
 * one and two vCPUs, and with a shell typed into through COM1. On the
 * emulator every boot is skipped (registered as skipped, saying why) while the guest
 * files are missing or the emulator cannot run startup_64 (a probe guest
 * checks). On KVM the
 * boot is bounded: this host's kvm_pvm emulates guest CPL 0 at about 2 MIPS,
 * so the test reports how far it got unless the marker arrives.
 *
 * An emulated boot takes one to two minutes, so the emulator's boots run in
 * one block-compiler mode only, the default "on" (KVMKIT_BLOCK_COMPILER unset
 * or "on"); the suite's runs in the other modes register them as skipped,
 * saying so. Their command line adds `cryptomgr.notests`: the kernel's crypto
 * self-tests alone take about 50 s of the emulator's time (what they exercise,
 * plain instructions, the emulator's own tests cover).
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest, skip } from "../_support/harness.ts";
import { bootLinux, emulatorCannotBootLinux, guestMissing, MARKER } from "./_vmm_linux.ts";
import { Kvm } from "../../mod.ts";
import { defaultBlockCompiler } from "../../emu/kernel.ts";

const CMDLINE = "console=ttyS0 panic=-1 quiet";
const EMU_CMDLINE = `${CMDLINE} cryptomgr.notests`;
// The run's bound, a guard against a hung guest, not a speed target (bench/linux_boot.ts measures speed), below the
// test's own limit under Bun (EMU_TEST_LIMIT; Deno has none). Measured on this shared 2-core machine (compiler "on",
// host load average 2-6) at bdc8753: the 1-vCPU PVH boot takes about 26 s to the marker (Deno); the 2-vCPU one 51-114 s
// to the marker under Deno and 59-125 s under Bun (below); TCG needs about 5 s.
const EMU_TIMEOUT = 600_000;
const EMU_TEST_LIMIT = 630_000;

/** What is typed into the busybox shell of /init (`kvmkit.shell`) once it is there, and the exit after its answer. */
const SHELL_SCRIPT: [string, string][] = [
  ["KVMKIT-SHELL", "echo cpus=$(grep -c ^processor /proc/cpuinfo) answer=$((6*7))\n"],
  ["answer=42", "exit\n"],
];

const missing = guestMissing();

/** Why the emulator cannot boot the guest here, probed once at registration (files missing, or startup_64 fails). */
async function emulatorWhy(): Promise<string | undefined> {
  if (missing) return missing;
  const mode = defaultBlockCompiler();
  if (mode !== "on") {
    return `a Linux boot takes minutes on the emulator: it runs with the block compiler "on" only (this run: "${mode}")`;
  }
  using kvm = Kvm.open({ backend: "emu" });
  return await emulatorCannotBootLinux(kvm);
}
const emuWhy = await emulatorWhy();

/** A boot test on the emulator, skipped (not passed) with the probe's finding when it cannot run. */
function emuBootTest(name: string, fn: (kvm: Kvm) => Promise<void>): void {
  if (emuWhy !== undefined) skip(`${name} [emu]`, emuWhy);
  else backendTest(name, fn, { only: ["emu"], timeoutMs: EMU_TEST_LIMIT });
}

/** A bounded boot test on KVM, skipped with the reason when the guest files are missing. */
function kvmBootTest(name: string, fn: (kvm: Kvm) => Promise<void>): void {
  if (missing !== undefined) skip(`${name} [kvm]`, missing);
  else backendTest(name, fn, { only: ["kvm"] });
}

emuBootTest(
  "vmm linux: PVH vmlinux to the marker, a shell typed into through COM1, ACPI power-off, 1 vCPU",
  async (kvm) => {
    const boot = await bootLinux(kvm, {
      kernel: "vmlinux",
      cmdline: `${EMU_CMDLINE} kvmkit.shell`,
      timeoutMs: EMU_TIMEOUT,
      script: SHELL_SCRIPT,
    });
    console.log(
      `PVH: marker after ${boot.marker?.toFixed(2)} s, ${boot.result.reason} after ${boot.end.toFixed(2)} s`,
    );
    assert.match(boot.console, /KVMKIT-MARKER cpus=1/, boot.console.slice(-2000));
    // The shell's answer, computed by the guest from what was typed (the echo of the typed line has no "=42").
    assert.match(boot.console, /cpus=1 answer=42/, boot.console.slice(-2000));
    assert.deepEqual([boot.result.reason, boot.result.detail], ["poweroff", "ACPI S5"]);
  },
);

// The bzImage's XZ decompressor alone is about 4.5 G instructions (TCG: 3 s of its 5): on the emulator it takes
// about two minutes, and the kernel after it as long again, more than a test may take. This test follows the boot
// protocol to the kernel's banner (the decompressor done, the kernel entered); the PVH tests go on to power-off.
emuBootTest(
  "vmm linux: bzImage through the boot protocol, its XZ decompressor, to the kernel's banner",
  async (kvm) => {
    const boot = await bootLinux(kvm, {
      kernel: "bzImage",
      cmdline: "console=ttyS0 earlyprintk=serial panic=-1",
      timeoutMs: EMU_TIMEOUT,
      until: "Command line: console=ttyS0",
    });
    console.log(`bzImage: ${boot.result.detail} after ${boot.result.seconds.toFixed(2)} s`);
    assert.equal(boot.result.reason, "quit", `${boot.result.detail}\n${boot.console.slice(-2000)}`);
    assert.match(boot.console, /Linux version 6\.1\.\d+/);
  },
);

const TWO_CPUS =
  "vmm linux: 2 vCPUs (the AP started by INIT/SIPI), a busybox shell typed into through COM1, then power-off";
/** One boot with 2 vCPUs: the marker's CPU count, a line typed into the shell, its answer, and power-off. */
async function twoCpusAndShell(kvm: Kvm): Promise<void> {
  const boot = await bootLinux(kvm, {
    kernel: "vmlinux",
    cmdline: `${EMU_CMDLINE} kvmkit.shell`,
    cpus: 2,
    timeoutMs: EMU_TIMEOUT,
    script: SHELL_SCRIPT,
  });
  console.log(
    `2 vCPUs: marker after ${boot.marker?.toFixed(2)} s, ${boot.result.reason} after ${boot.end.toFixed(2)} s`,
  );
  assert.match(boot.console, /KVMKIT-MARKER cpus=2/, boot.console.slice(-2000));
  // The shell's answer, computed by the guest from what was typed (the echo of the typed line has no "=42").
  assert.match(boot.console, /cpus=2 answer=42/, boot.console.slice(-2000));
  assert.deepEqual([boot.result.reason, boot.result.detail], ["poweroff", "ACPI S5"]);
}

// Issue #16: both vCPUs run on the emulator's one thread (emu/proxy.ts slices), so each gets at most half of it.
// This boot was opt-in while it took 160-600 s to the marker on this shared 2-core machine (Deno; under Bun none
// within 540 s once, PID 1 blocked on trace_event_sem while both vCPUs did little but tick work): guest time ran at
// host time, so the host's load and the other vCPU's slices became tick work. Since guest time leaves out stolen
// time and runs at one vCPU's share of the thread (7c0ebca, 8a5d1fc) and the first tier compiles fewer blocks
// (a8cc315), it passes well within EMU_TIMEOUT. Measured at bdc8753 (quiet, compiler on, one boot at a time through
// the two-slot semaphore beside other helpers' benchmarks): the test alone, 3 runs under each runtime, marker /
// power-off: Deno 91/94 s, 114/117 s, 85/89 s (load 4.8-5.7), Bun 89/92 s, 125/128 s, 59/60 s (load 4.1-6.2); the
// test's boot from a script, Deno 51/52 s with 47 s of CPU (load 2.0-2.8), Bun 91/92 s with 73 s (load 3.0-4.7).
emuBootTest(TWO_CPUS, twoCpusAndShell);

kvmBootTest("vmm linux: bounded boot on KVM (this host's kvm_pvm emulates guest CPL 0 slowly)", async (kvm) => {
  const boot = await bootLinux(kvm, { kernel: "bzImage", cmdline: CMDLINE, timeoutMs: 20_000 });
  if (boot.marker === undefined) {
    // Not an error: the probe's answer. A guest failure (internal error, reset before the marker) still fails.
    assert.equal(boot.result.reason, "timeout", `${boot.result.detail}\n${boot.console.slice(-2000)}`);
    console.log(
      `kvm: no ${MARKER} within 20 s: ${boot.result.exits} exits, ${boot.console.length} bytes of console ` +
        `(the bzImage's decompressor runs at guest CPL 0, which kvm_pvm emulates)`,
    );
    return;
  }
  assert.match(boot.console, /KVMKIT-MARKER cpus=1/);
});

kvmBootTest("vmm linux: bounded PVH boot on KVM, reporting where it stops", async (kvm) => {
  const boot = await bootLinux(kvm, {
    kernel: "vmlinux",
    cmdline: "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1",
    timeoutMs: 60_000,
  });
  const last = boot.console.trim().split("\n").at(-1) ?? "";
  if (boot.marker === undefined) {
    // This host's kvm_pvm stops with an internal error on lock cmpxchg16b (the kernel's emulator lacks it), or runs
    // out of time; a triple fault or a power-off before the marker would be a failure of the platform.
    assert.ok(["timeout", "error"].includes(boot.result.reason), `${boot.result.detail}\n${last}`);
    assert.ok(boot.console.includes("Linux version"), "the kernel printed its banner through COM1");
    console.log(`kvm PVH: ${boot.result.detail} after ${boot.result.seconds.toFixed(1)} s; last line: ${last}`);
    return;
  }
  assert.match(boot.console, /KVMKIT-MARKER cpus=1/);
});
