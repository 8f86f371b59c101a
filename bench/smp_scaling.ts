/**
 * smp_scaling: exits per second with 1 and with 2 vCPUs, each in its own
 * Worker (Vcpu.handoff / adoptVcpu) running an I/O-exit loop (`out`, `jmp`),
 * on each backend, printed with the 2-vCPU/1-vCPU ratio. On kvm the vCPUs run
 * in parallel on separate cores; on the emulator every vCPU executes on the
 * thread that owns the VM, so the ratio shows the cost of sharing it.
 *
 *   deno run --allow-ffi --allow-read bench/smp_scaling.ts [--seconds=S] [--backend=kvm|emu|both]
 *   bun bench/smp_scaling.ts [--seconds=S] [--backend=kvm|emu|both]
 *
 * @module
 */
import process from "node:process";
import { type BackendName, Kvm } from "../mod.ts";
import { startRealMode } from "./_guest.ts";

/** Real mode at 0x1000: `out 0xe9, al; jmp $-2`. */
const GUEST = [0xe6, 0xe9, 0xeb, 0xfc];

/** Runs `n` vCPUs in Workers for `seconds` and returns the total exits per second. */
async function measure(backend: BackendName, n: number, seconds: number): Promise<number> {
  using kvm = Kvm.open({ backend });
  using vm = kvm.createVm();
  const mem = vm.allocateMemory(0x10000);
  mem.bytes.set(GUEST, 0x1000);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem });
  const vcpus = Array.from({ length: n }, (_, i) => startRealMode(vm.createVcpu(i), 0x1000));
  const workers = vcpus.map(() => new Worker(new URL("./_smp_worker.ts", import.meta.url), { type: "module" }));
  try {
    const window = new Float64Array(new SharedArrayBuffer(16));
    const handoffs = vcpus.map((v) => v.handoff());
    const counts = Promise.all(workers.map((w, i) =>
      new Promise<number>((resolve, reject) => {
        w.onmessage = (e) => e.data.error ? reject(new Error(e.data.error)) : resolve(e.data.exits);
        w.postMessage({ handoff: handoffs[i], window: window.buffer });
      })
    ));
    // Workers take a while to start: the window opens once every one has adopted its vCPU.
    while (handoffs.some((h) => Atomics.load(new Int32Array(h.shared), 0) === 0)) {
      await new Promise((r) => setTimeout(r, 5));
    }
    window[1] = performance.timeOrigin + performance.now() + 100 + seconds * 1000;
    window[0] = window[1] - seconds * 1000;
    const total = (await counts).reduce((a, b) => a + b, 0);
    return total / seconds;
  } finally {
    for (const w of workers) w.terminate();
  }
}

async function main(): Promise<number> {
  const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
  const seconds = Number(args.seconds ?? 2);
  if (!(seconds > 0)) throw new RangeError(`--seconds: ${args.seconds} is not a positive number`);
  const which = args.backend ?? "both";
  const backends: BackendName[] = which === "both" ? ["kvm", "emu"] : [which as BackendName];
  const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined" ? "Bun" : "Deno";
  console.log(`smp_scaling: ${runtime}, I/O-exit loop per vCPU, ${seconds} s per measurement`);
  console.log("backend | 1 vCPU exits/s | 2 vCPUs exits/s | 2/1");
  for (const backend of backends) {
    try {
      Kvm.open({ backend }).close();
    } catch (e) {
      console.log(`${backend.padEnd(7)} | unavailable: ${(e as Error).message}`);
      continue;
    }
    const one = await measure(backend, 1, seconds);
    const two = await measure(backend, 2, seconds);
    console.log(
      `${backend.padEnd(7)} | ${one.toFixed(0).padStart(14)} | ${two.toFixed(0).padStart(15)} | ${
        (two / one).toFixed(2)
      }`,
    );
  }
  return 0;
}

process.exitCode = await main();
