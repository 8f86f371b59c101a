/**
 * Guest time leaves out the host time the VM could not run at all
 * (emu/irqchip/clock.ts `steal`, measured per slice by emu/proxy.ts as host
 * time the process got no CPU in): while the owner's thread is held without
 * running, every emulated vCPU of it is stopped, as a paused VM's are. Here
 * the owner holds its thread for 150 ms in a Worker vCPU's OUT
 * (Atomics.wait: no CPU, as when the host runs another process instead),
 * and the guest then waits for 300 ms of its TSC: they take at least 375 ms
 * of host time (450 if the whole hold is left out; 300 if none of it is).
 * Emulator only: on KVM the adopter runs the vCPU and the owner never sees
 * its exits.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { backendTest } from "../_support/harness.ts";
import { CODE, load, machine, realMode } from "../_support/guests.ts";
import { le32, runInWorker } from "./_irqchip.ts";

/** How long the owner holds its thread in the guest's OUT (ms), and how much guest time the guest then waits. */
const HOLD_MS = 150, WAIT_MS = 300;

/**
 * The guest: TSC to 0x500, `out 0x80` (the owner holds its thread), then a loop on RDTSC until `ticks` of its TSC
 * have passed since, `out 0x81`, mark 0xe8 and halt.
 */
function guest(ticks: number): string[] {
  return [
    "0f 31", //            rdtsc
    "66 a3 00 05", //      mov [0x500], eax
    "e6 80", //            out 0x80, al
    "0f 31", //            wait: rdtsc
    "66 2b 06 00 05", //   sub eax, [0x500]
    `66 3d ${le32(ticks)}`, //     cmp eax, ticks
    "72 f1", //            jb wait
    "e6 81", //            out 0x81, al
    "b0 01", //            mov al, 1
    "e6 e8", //            out 0xe8, al: to the Worker
    "f4", //               hlt
  ];
}

backendTest(
  "steal: guest time leaves out the host time its owner's thread was held without running",
  async (kvm) => {
    using m = machine(kvm, { irqchip: true });
    const { mem, vcpu } = m;
    vcpu.setCpuid2(kvm.supportedCpuid());
    load(mem, CODE, guest(vcpu.getTscKhz() * WAIT_MS));
    realMode(vcpu, CODE);
    const cell = new Int32Array(new SharedArrayBuffer(4));
    let start = 0, end = 0, heldCpuMs = 0;
    const onExit = (exit: { reason: string; port?: number }) => {
      if (exit.reason !== "io") return false;
      if (exit.port === 0x80) {
        start = performance.now();
        // No CPU for HOLD_MS, as when the host runs another process on this thread's core. The meter counts the
        // process's CPU time: what its other threads (a runtime's compiler and collector, other tests' Workers) ran
        // meanwhile is not stolen.
        const cpu = process.cpuUsage();
        Atomics.wait(cell, 0, 0, HOLD_MS);
        const used = process.cpuUsage(cpu);
        heldCpuMs = (used.user + used.system) / 1000;
        return true;
      }
      if (exit.port !== 0x81) return false;
      end = performance.now();
      return true;
    };
    const r = await runInWorker({ handoff: vcpu.handoff({ onExit }), marks: 1, timeoutMs: 30_000 });
    assert.ok(r.ok, r.ok ? "" : r.error);
    assert.deepEqual(r.marks, [1], `stopped: ${r.stop}`);
    // Host time keeps the hold (and whatever else the host took); guest time does not, less what the process ran.
    const host = end - start, stolen = Math.max(0, HOLD_MS - heldCpuMs);
    assert.ok(
      host >= WAIT_MS + stolen / 2,
      `${WAIT_MS} ms of guest time took ${host.toFixed(1)} ms of host time (${
        heldCpuMs.toFixed(1)
      } ms of CPU in the hold)`,
    );
  },
  { only: ["emu"] },
);
