/**
 * A Worker for the thread tests: adopts the vCPU it is sent and runs it.
 * "hlt": runs until hlt and reports the exits it saw. "kick": runs `count`
 * times; after run i returns it stores the time in `times[i]` and counts it
 * in `done[0]` (the first 4 bytes of `shared`; the times follow at byte 8).
 */
import { adoptVcpu, type VcpuHandoff } from "../../mod.ts";
import { answerJobs, type JobReport } from "../_support/worker.ts";

/** What the test thread sends. */
export type WorkerJob =
  | { mode: "hlt"; handoff: VcpuHandoff }
  | { mode: "kick"; handoff: VcpuHandoff; count: number; shared: SharedArrayBuffer };

/** What the worker answers. */
export type WorkerReport = JobReport<{ reasons: string[] }>;

answerJobs((job: WorkerJob) => ({ reasons: runJob(job) }));

/** Adopts the job's vCPU, runs it as the job says, and closes it; returns the exits seen. */
function runJob(job: WorkerJob): string[] {
  const reasons: string[] = [];
  using vcpu = adoptVcpu(job.handoff);
  if (job.mode === "hlt") {
    for (let exit = vcpu.run({ timeoutMs: 30_000 }); exit.reason !== "hlt"; exit = vcpu.run({ timeoutMs: 30_000 })) {
      reasons.push(exit.reason);
      if (exit.reason !== "io" && exit.reason !== "mmio") break;
    }
    reasons.push("hlt");
  } else {
    const done = new Int32Array(job.shared, 0, 1);
    const times = new Float64Array(job.shared, 8, job.count);
    for (let i = 0; i < job.count; i++) {
      reasons.push(vcpu.run().reason);
      times[i] = performance.timeOrigin + performance.now();
      Atomics.add(done, 0, 1);
    }
  }
  return reasons;
}
