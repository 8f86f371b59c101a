/**
 * A Worker for the SMP irqchip test: adopts the vCPU it is sent and runs it
 * until its guest has written `marks` bytes to port 0xe8 (or a run times
 * out), retrying the EAGAIN with which KVM_RUN answers a vCPU that has just
 * left its uninitialized state (its INIT), as the kernel does.
 */
import { adoptVcpu, KvmError, type VcpuHandoff } from "../../mod.ts";
import { answerJobs, type JobReport } from "../_support/worker.ts";

/** What the test thread sends. */
export interface MarksJob {
  handoff: VcpuHandoff;
  marks: number;
  timeoutMs: number;
  /** Stop at the first "intr" (a kick) instead of running on. */
  stopOnIntr?: boolean;
  /** Where the worker counts the marks it has seen (Int32 0), for a test thread that waits for them. */
  progress?: SharedArrayBuffer;
}

/** What the worker answers: the marks in order, then the reason it stopped, and how many EAGAINs it saw. */
export type MarksReport = JobReport<{ marks: number[]; stop: string; eagain: number }>;

answerJobs(runJob);

function runJob(job: MarksJob): { marks: number[]; stop: string; eagain: number } {
  using vcpu = adoptVcpu(job.handoff);
  const marks: number[] = [];
  const deadline = performance.now() + job.timeoutMs;
  let eagain = 0;
  while (marks.length < job.marks) {
    const left = deadline - performance.now();
    if (left <= 0) return { marks, stop: "timeout", eagain };
    let exit;
    try {
      exit = vcpu.run({ timeoutMs: left });
    } catch (err) {
      if (err instanceof KvmError && err.code === "EAGAIN") {
        eagain++;
        continue;
      }
      throw err;
    }
    if (exit.reason === "io" && exit.direction === "out" && exit.port === 0xe8) {
      marks.push(exit.data[0]);
      if (job.progress) Atomics.store(new Int32Array(job.progress), 0, marks.length);
    } else if (exit.reason !== "intr" || job.stopOnIntr) return { marks, stop: exit.reason, eagain };
  }
  return { marks, stop: "done", eagain };
}
