/**
 * kick_latency: how long `vcpu.kick()` takes to end a run in another thread.
 * A spinning real-mode guest (`jmp $`) runs in a Worker (Vcpu.handoff /
 * adoptVcpu); the main thread kicks it N times, each after the previous kick
 * was answered, and the Worker stamps each return. Prints the latency
 * distribution against the target of 50 ms, per backend (on the emulator
 * the owning thread runs the vCPU in slices; see _proxy.ts).
 *
 *   deno run --allow-ffi --allow-read bench/kick_latency.ts [--kicks=N] [--backend=kvm|emu|both]
 *   bun bench/kick_latency.ts [--kicks=N] [--backend=kvm|emu|both]
 *
 * @module
 */
import process from "node:process";
import { type BackendName, Kvm } from "../mod.ts";
import { startRealMode } from "./_guest.ts";

const TARGET_MS = 50;

async function main(): Promise<number> {
  const arg = process.argv.slice(2).find((a) => a.startsWith("--kicks="));
  const count = arg ? Number(arg.slice(8)) : 200;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`--kicks: ${arg} is not a positive integer`);
  const which = process.argv.slice(2).find((a) => a.startsWith("--backend="))?.slice(10) ?? "both";
  for (const backend of (which === "both" ? ["kvm", "emu"] : [which]) as BackendName[]) {
    await measure(backend, count);
  }
  return 0;
}

async function measure(backend: BackendName, count: number): Promise<void> {
  let kvm: Kvm;
  try {
    kvm = Kvm.open({ backend });
  } catch (e) {
    console.log(`kick_latency: no ${backend} backend here (${(e as Error).message}); nothing to measure`);
    return;
  }
  using _kvm = kvm;
  using vm = kvm.createVm();
  const mem = vm.allocateMemory(0x10000);
  mem.bytes.set([0xeb, 0xfe], 0x1000); // jmp $
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem });
  const vcpu = startRealMode(vm.createVcpu(0), 0x1000);

  const shared = new SharedArrayBuffer(8 + 8 * count);
  const done = new Int32Array(shared, 0, 1);
  const returned = new Float64Array(shared, 8, count);
  const worker = new Worker(new URL("./_kick_worker.ts", import.meta.url), { type: "module" });
  const finished = new Promise<string>((resolve) => worker.onmessage = (e) => resolve(String(e.data)));
  const handoff = vcpu.handoff();
  worker.postMessage({ handoff, count, shared });
  const latency: number[] = [];
  try {
    // Kicks are timed from the Worker's adoption of the vCPU, not from its start-up.
    const adopter = new Int32Array(handoff.shared);
    while (Atomics.load(adopter, 0) === 0) await new Promise((r) => setTimeout(r, 5));
    for (let i = 0; i < count; i++) {
      await new Promise((r) => setTimeout(r, 2)); // let the guest spin
      const kickedAt = performance.timeOrigin + performance.now();
      vcpu.kick();
      while (Atomics.load(done, 0) <= i) await new Promise((r) => setTimeout(r, 1));
      latency.push(returned[i] - kickedAt);
    }
    const status = await finished;
    if (status !== "ok") throw new Error(status);
  } finally {
    worker.terminate();
    vcpu.close();
  }
  latency.sort((a, b) => a - b);
  const at = (q: number) => latency[Math.min(latency.length - 1, Math.floor(q * latency.length))].toFixed(3);
  const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined" ? "Bun" : "Deno";
  console.log(`kick_latency: ${runtime}, ${backend}, ${count} kicks of a spinning real-mode guest in a Worker (ms)`);
  console.log(`min ${at(0)} | median ${at(0.5)} | p99 ${at(0.99)} | max ${at(1)} | target ${TARGET_MS}`);
  console.log(`max/target: ${(latency[latency.length - 1] / TARGET_MS).toFixed(3)}`);
}

process.exitCode = await main();
