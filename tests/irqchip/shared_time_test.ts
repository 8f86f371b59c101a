/**
 * Guest time runs at the share of the owner's thread one vCPU gets: two
 * Worker vCPUs that both spin take turns on that thread, each waiting while
 * the other runs its slice, so guest time leaves out the waits (emu/proxy.ts
 * counts a slice's CPU time times the other runnable vCPUs over all of them
 * as stolen, irqchip/clock.ts), as each vCPU of a real VM runs on a CPU of
 * its own while the clock runs. Otherwise a guest's timer ticks come after
 * half the progress they would on one vCPU, and its CPUs spend the rest in
 * tick work (issue #16). Here both vCPUs wait WAIT_MS of their TSC: the
 * waits the proxy counted come to about half the CPU time the process got
 * meanwhile, and the host time they took is well over WAIT_MS. Emulator only: on KVM each
 * Worker runs its own vCPU.
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/harness.ts";
import { CODE, load, machine, realMode } from "../_support/guests.ts";
import { sharedMs } from "../../emu/proxy.ts";
import { debt } from "../../emu/irqchip/clock.ts";
import { le16, le32, runInWorker } from "./_irqchip.ts";
import process from "node:process";

/** The process's CPU time (ms). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** How much guest time each vCPU waits (ms). */
const WAIT_MS = 300;

/** Where the host says go, once both vCPUs are running. */
const GO = 0x600;

/**
 * Mark 0 on port 0xe8 (running), a loop until [GO] is set, RDTSC into [at], a loop on RDTSC until `ticks` of the
 * TSC have passed, mark 1, HLT.
 */
function guest(at: number, ticks: number): string[] {
  return [
    "b0 00", //                   mov al, 0
    "e6 e8", //                   out 0xe8, al: running
    `80 3e ${le16(GO)} 00`, //   go: cmp byte [GO], 0
    "74 f9", //                   je go
    "0f 31", //                   rdtsc
    `66 a3 ${le16(at)}`, //      mov [at], eax
    "0f 31", //                   wait: rdtsc
    `66 2b 06 ${le16(at)}`, //   sub eax, [at]
    `66 3d ${le32(ticks)}`, //   cmp eax, ticks
    "72 f1", //                   jb wait
    "b0 01", //                   mov al, 1
    "e6 e8", //                   out 0xe8, al: to the Worker
    "f4", //                      hlt
  ];
}

backendTest(
  "shared time: two spinning Worker vCPUs see guest time at the share of the thread each gets",
  async (kvm) => {
    using m = machine(kvm, { irqchip: true });
    const { mem, vm, vcpu } = m;
    const ap = vm.createVcpu(1);
    const ticks = vcpu.getTscKhz() * WAIT_MS;
    for (const [i, v] of [vcpu, ap].entries()) {
      v.setCpuid2(kvm.supportedCpuid());
      load(mem, CODE + 0x100 * i, guest(0x500 + 4 * i, ticks));
      realMode(v, CODE + 0x100 * i);
      v.setMpState(0); // KVM_MP_STATE_RUNNABLE: the AP runs without INIT/SIPI
    }
    // Both vCPUs spin from the moment both Workers run them (a Worker may take seconds to start).
    const progress = [0, 1].map(() => new SharedArrayBuffer(4));
    const done = Promise.all(
      [vcpu, ap].map((v, i) =>
        runInWorker({ handoff: v.handoff(), marks: 2, timeoutMs: 120_000, progress: progress[i] })
      ),
    );
    while (!progress.every((p) => Atomics.load(new Int32Array(p), 0) >= 1)) await new Promise((r) => setTimeout(r, 5));
    const before = sharedMs(), start = performance.now(), cpuBefore = cpuMs();
    mem.bytes[GO] = 1;
    const reports = await done;
    const host = performance.now() - start, shared = sharedMs() - before, cpu = cpuMs() - cpuBefore;
    for (const r of reports) {
      assert.ok(r.ok, r.ok ? "" : r.error);
      assert.deepEqual(r.marks, [0, 1], `stopped: ${r.stop}`);
    }
    // Each waited for the other about half the CPU time the process got while they both spun (the rest went to the
    // runtime's own threads and the Workers' start and end), so guest time ran at about half of host time.
    assert.ok(
      shared >= 0.3 * cpu,
      `the vCPUs waited ${shared.toFixed(1)} ms for each other, the process ran ${cpu.toFixed(1)} ms in ${
        host.toFixed(1)
      }`,
    );
    assert.ok(host >= 1.4 * WAIT_MS, `${WAIT_MS} ms of guest time took ${host.toFixed(1)} ms of host time`);
    while (debt() > 0) await new Promise((r) => setTimeout(r, Math.max(1, Math.ceil(debt() / 0.75))));
  },
  { only: ["emu"] },
);
