/**
 * The Worker of bench/kick_latency.ts: adopts the vCPU it is sent and runs
 * it `count` times, stamping the absolute time each run returns in
 * `times[i]` (at byte 8 of `shared`) and counting in `done[0]`.
 */
import { adoptVcpu, type VcpuHandoff } from "../mod.ts";

// In a Worker, globalThis is the worker scope (`self`).
const port = globalThis as unknown as {
  onmessage: (e: MessageEvent<{ handoff: VcpuHandoff; count: number; shared: SharedArrayBuffer }>) => void;
  postMessage(m: unknown): void;
};

port.onmessage = (e) => {
  const { handoff, count, shared } = e.data;
  const done = new Int32Array(shared, 0, 1);
  const times = new Float64Array(shared, 8, count);
  using vcpu = adoptVcpu(handoff);
  for (let i = 0; i < count; i++) {
    const reason = vcpu.run().reason;
    times[i] = performance.timeOrigin + performance.now();
    Atomics.add(done, 0, 1);
    if (reason !== "intr") {
      port.postMessage(`run ${i} returned ${reason}`);
      return;
    }
  }
  port.postMessage("ok");
};
