/**
 * Boots Debian's Linux 6.1 (built by tools/linux_guest.sh into
 * build/linux-guest/) with a busybox initramfs whose /init prints a marker
 * and powers off: through the PVH entry and the bzImage boot protocol, with
 * one and two vCPUs, and with a shell typed into through COM1. On the
 * emulator the 2-vCPU boot is opt-in (KVMKIT_SMP_BOOT=1; see below why), and
 * every boot is skipped (registered as skipped, saying why) while the guest
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
import process from "node:process";
import { backendTest, skip } from "../_support/harness.ts";
import { bootLinux, emulatorCannotBootLinux, guestMissing, MARKER } from "./_vmm_linux.ts";
import { Kvm } from "../../mod.ts";
import { defaultBlockCompiler } from "../../emu/kernel.ts";

const CMDLINE = "console=ttyS0 panic=-1 quiet";
const EMU_CMDLINE = `${CMDLINE} cryptomgr.notests`;
// The run's bound, a guard against a hung guest, not a speed target (bench/linux_boot.ts measures speed), below the
// test's own limit under Bun (EMU_TEST_LIMIT; Deno has none). Measured on a 2-core machine (Deno, compiler "on"): PVH
// to power-off 125-228 s with 1 vCPU; with 2 vCPUs the marker after 164 s, 267 s and over 270 s in three runs of the
// suite (the guest's soft-lockup watchdog fired once, at 187 s); TCG needs about 5 s.
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
      `PVH: marker after ${boot.marker?.toFixed(2)} s, ${boot.result.reason} after ${boot.result.seconds.toFixed(2)} s`,
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

declare const Bun: unknown;
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
    `2 vCPUs: marker after ${boot.marker?.toFixed(2)} s, ${boot.result.reason} after ${
      boot.result.seconds.toFixed(2)
    } s`,
  );
  assert.match(boot.console, /KVMKIT-MARKER cpus=2/, boot.console.slice(-2000));
  // The shell's answer, computed by the guest from what was typed (the echo of the typed line has no "=42").
  assert.match(boot.console, /cpus=2 answer=42/, boot.console.slice(-2000));
  assert.deepEqual([boot.result.reason, boot.result.detail], ["poweroff", "ACPI S5"]);
}

// Opt-in (KVMKIT_SMP_BOOT=1) until issue #16's SMP livelock is fixed. Both vCPUs run on the emulator's one thread, so
// each gets at most half of the host's time while the guest's timers follow host time. Seen on this 2-core machine
// (Deno): in 2 of 5 verbose boots both vCPUs spent the rest of a 400 s run in timer-interrupt code
// (pvclock_clocksource_read, scheduler_tick, hrtimer_interrupt) from the switch to high-resolution timers on; two
// runs of this test had no marker within 270 s, one had PID 1 blocked for 120 s at 272 s and no marker within 600 s;
// with pause-loop exiting and the channel yield (emu/proxy.ts) one run passed (marker 356 s, power-off 393 s). Under
// Bun the boot had not reached /init within 270 s. The SMP mechanisms themselves (INIT/SIPI, IPIs, Workers, pause-
// loop exits, slice yields) are tested in tests/irqchip/.
// Since the owner's thread completes the I/O exits itself (Vcpu.handoff's onExit), under a host load average of 8-15
// (other benchmarks on the 2 cores) per-vCPU counters showed why host time is the problem: the process got 27 % of a
// core (135 CPU s in 497 s), a vCPU's 2 ms slice took 17 ms of host time, and from the LAPIC timer's firing to the
// guest's next TSC-deadline write (its timer interrupt) passed 20-30 ms on average, up to 1.1 s, against a 4 ms
// tick. A verbose 2-vCPU boot soft-locked in stop_machine (the switch to kvm-clock) and had no marker after 497 s; a
// 1-vCPU boot soft-locked too (at guest time 619 s). Leaving the time a slice overran its alarm (the thread was
// preempted: 63-74 % of the run) out of the guest's clocks cut the interrupt to 2-5 ms in a prototype, but guest time
// then advanced at a quarter of host time and no boot reached the marker within 900 s under that load either.
// Measured again at 5e9af4d (Deno, verbose, PVH, 2 vCPUs, this machine shared by other helpers' benchmarks): at a load
// average of 3.5-5.8 the marker came after 288 s and the power-off after 300 s, with 227 s of CPU; at 5.4-7.4 the
// marker after 471 s, power-off after 501 s, 308 s of CPU: the boot costs a third more CPU when the host takes time.
// Per-vCPU counters (10 s windows in the SMP part, load 4.4): each vCPU ran 4.5-4.8 s of them in 1,600-1,750 slices
// (1.2-1.7 s of it past the slices' 2 ms end: the host's preemption), took 1,400-1,850 LAPIC timer interrupts (fired
// 1.2-1.8 ms after their deadline, taken 0.7-1.0 ms after firing, at worst 137 ms), and RIP samples at the run loop's
// alarm checks, named with the kernel's kallsyms, were mostly tick work (timekeeping_advance 5-8 %,
// pvclock_clocksource_read 3-6 %, sched_clock_cpu, update_load_avg, scheduler_tick, hrtimer_interrupt, 2-4 % each);
// at load 7 the slices overran by 7.5 s in 9.1 s. Guest time that leaves out what the host took (steal: a slice's host
// time less the process's CPU time in it) must reach RDTSC, which reads host time (emu/x86/msr.ts readTsc, not this
// test's area): moving the TSC back through its offset after a slice runs it backwards (the guest had read it within
// the slice); a prototype that did so spent the time after /init in its timer interrupts (no marker after 530 s). One
// whose guest time pays what was stolen back by running slower (at least a quarter of host time, never backwards),
// with RDTSC reading it too (a local change to msr.ts), booted at a load of 4.5-7.4 to the marker after 468 s and to
// power-off after 489 s with 278 s of CPU (176 s stolen; guest time 265 s at power-off), against 471 s, 501 s and
// 308 s: the tick work shrinks, but a 2-vCPU boot still needs about a core for 230-280 s, more than a test gets here.
// Under Bun (5e9af4d, quiet, load 4.3-6) there was no marker within 540 s (375 s of CPU): at guest time 302 s the
// kernel reported PID 1, still in its initcalls, blocked for more than 120 s.
// Since 7c0ebca guest time leaves out stolen time, with RDTSC, kvmclock, the LAPIC timer and the PIT on it (and the
// HPET, PM timer and RTC with /tmp/HD/platform_clock.patch to vmm/machine.ts). Deno, quiet, alternated with 4627ac9:
// the marker after 181 s and 179 s, power-off after 187 s and 183 s, 132 and 165 s of CPU (34 and 18 s stolen; load
// 3.3-5.1), against 172 s and 226 s, 178 s and 246 s, 159 and 191 s of CPU (load 3.0-4.7). Under Bun, verbose, the
// marker came after 599 s (409 s of CPU, 141 s stolen, load 4.5-6.7); another run, sampling the vCPUs' RIPs, had none
// within 420 s, and the kernel reported PID 1 blocked for more than 121 s in init_blk_tracer, register_trace_event,
// down_write(trace_event_sem). Not a lost IPI or wake-up: that semaphore's writer is the tracing eval-map update
// (trace_event_eval_update, queued by trace_eval_init on a workqueue; the samples saw trace_event_update_all), a long
// CPU job, while both vCPUs' samples were mostly tick and scheduler work (pvclock_clocksource_read, update_load_avg,
// update_sd_lb_stats and load_balance, hrtimer_interrupt, rcu_sched_clock_irq). How long that phase lasts varies from
// run to run: from "Switched to clocksource kvm-clock" to "VFS: Disk quotas" took 213 s of guest time in the first
// Bun run, 1 s in the second, 54 s in a Deno run.
const SMP_BOOT = process.env.KVMKIT_SMP_BOOT === "1";
if (!SMP_BOOT && emuWhy === undefined) {
  skip(
    `${TWO_CPUS} [emu]`,
    "opt-in (KVMKIT_SMP_BOOT=1): a 2-vCPU boot on the emulator took 288-471 s to the marker on this shared 2-core " +
      "machine (Deno), more than a test may: guest time follows host time, so host load costs the guest tick work " +
      "(issue #16)",
  );
} else if (typeof Bun !== "undefined" && emuWhy === undefined) {
  skip(
    `${TWO_CPUS} [emu]`,
    "an SMP boot under Bun takes longer than a test may (the marker after 599 s at best, or none within 540 s)",
  );
} else emuBootTest(TWO_CPUS, twoCpusAndShell);

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
