/**
 * The Worker of bench/smp_scaling.ts: adopts the vCPU it is sent, waits
 * for the measuring window (absolute start and end times that the main
 * thread writes into `window` once every worker has adopted), then counts
 * I/O exits until the end and reports the count.
 */
import { adoptVcpu, type VcpuHandoff } from "../mod.ts";

// In a Worker, globalThis is the worker scope (`self`).
const port = globalThis as unknown as {
  onmessage: (e: MessageEvent<{ handoff: VcpuHandoff; window: SharedArrayBuffer }>) => void;
  postMessage(m: unknown): void;
};

port.onmessage = (e) => {
  const { handoff } = e.data;
  const window = new Float64Array(e.data.window);
  using vcpu = adoptVcpu(handoff);
  const clock = () => performance.timeOrigin + performance.now();
  // The main thread opens the window once every worker has adopted its vCPU.
  while (window[0] === 0) { /* waiting for the window */ }
  const start = window[0], end = window[1];
  while (clock() < start) { /* every worker starts together */ }
  let exits = 0;
  while (clock() < end) {
    for (let i = 0; i < 256; i++) {
      const reason = vcpu.run().reason;
      if (reason !== "io") {
        port.postMessage({ error: `unexpected exit ${reason}` });
        return;
      }
    }
    exits += 256;
  }
  port.postMessage({ exits });
};
