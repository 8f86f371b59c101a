/**
 * A Worker that runs one vCPU of a {@linkcode Machine}: port I/O and MMIO
 * exits go to the machine's thread through the mailbox (the Worker waits for
 * the answer), any other exit ends the Worker's loop and is reported. On the
 * emulator the machine's thread completes I/O and MMIO exits itself
 * (Vcpu.handoff's `onExit`), so only the other exits reach this loop.
 *
 * @module
 */
import { adoptVcpu, KvmError, type Vcpu, type VcpuExit, type VcpuHandoff } from "../mod.ts";
import { WORKER_CTL, WorkerCtl } from "./_worker_protocol.ts";
import { describeExit } from "./machine.ts";

declare const self: { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void };

/**
 * KVM_RUN. An AP waiting for INIT/SIPI blocks in the kernel; when the SIPI
 * wakes it, KVM_RUN returns EAGAIN (as in the kernel's vcpu_run): run again.
 */
function run(vcpu: Vcpu): VcpuExit | undefined {
  try {
    return vcpu.run();
  } catch (e) {
    if (e instanceof KvmError && e.code === "EAGAIN") return undefined;
    throw e;
  }
}

self.onmessage = (e: MessageEvent) => {
  const { handoff, ctl: buffer } = e.data as { handoff: VcpuHandoff; ctl: SharedArrayBuffer };
  const ctl = new WorkerCtl(buffer);
  const w = ctl.words;
  let vcpu;
  try {
    vcpu = adoptVcpu(handoff);
  } catch (err) {
    self.postMessage({ t: "error", detail: err instanceof Error ? err.message : String(err) });
    self.postMessage({ t: "done" });
    return;
  }
  const request = () => {
    Atomics.store(w, WORKER_CTL.STATE, 1);
    self.postMessage({ t: "io" });
    Atomics.wait(w, WORKER_CTL.STATE, 1);
    Atomics.store(w, WORKER_CTL.STATE, 0);
  };
  try {
    while (!Atomics.load(w, WORKER_CTL.STOP)) {
      const exit = run(vcpu);
      if (exit === undefined || exit.reason === "intr") continue;
      if (exit.reason === "io") {
        const n = exit.size * exit.count;
        w[WORKER_CTL.KIND] = 0;
        w[WORKER_CTL.DIR] = exit.direction === "out" ? 1 : 0;
        w[WORKER_CTL.PORT] = exit.port;
        w[WORKER_CTL.SIZE] = exit.size;
        w[WORKER_CTL.COUNT] = exit.count;
        if (exit.direction === "out") ctl.data.set(exit.data.subarray(0, n));
        request();
        if (exit.direction === "in") exit.data.set(ctl.data.subarray(0, n));
      } else if (exit.reason === "mmio") {
        w[WORKER_CTL.KIND] = 1;
        w[WORKER_CTL.DIR] = exit.isWrite ? 1 : 0;
        w[WORKER_CTL.PORT] = Number(exit.physAddr & 0xffffffffn) | 0;
        w[WORKER_CTL.ADDR_HI] = Number(exit.physAddr >> 32n) | 0;
        w[WORKER_CTL.SIZE] = exit.len;
        w[WORKER_CTL.COUNT] = 1;
        if (exit.isWrite) ctl.data.set(exit.data.subarray(0, exit.len));
        request();
        if (!exit.isWrite) exit.data.set(ctl.data.subarray(0, exit.len));
      } else {
        self.postMessage({ t: "exit", exit: describeExit(exit) });
        break;
      }
    }
  } catch (err) {
    self.postMessage({ t: "error", detail: err instanceof Error ? err.message : String(err) });
  }
  vcpu.close();
  self.postMessage({ t: "done" });
};
