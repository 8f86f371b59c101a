/**
 * The Worker of bench/smp_scaling.ts: adopts the vCPU it is sent, then
 * counts I/O exits until an absolute deadline and reports the count.
 */
import { adoptVcpu, type VcpuHandoff } from "../mod.ts";

// In a Worker, globalThis is the worker scope (`self`).
const port = globalThis as unknown as {
  onmessage: (e: MessageEvent<{ handoff: VcpuHandoff; start: number; end: number }>) => void;
  postMessage(m: unknown): void;
};

port.onmessage = (e) => {
  const { handoff, start, end } = e.data;
  using vcpu = adoptVcpu(handoff);
  const clock = () => performance.timeOrigin + performance.now();
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
