/**
 * Starts _vcpu_worker.ts on a job (a handed-off vCPU to adopt and run) for the thread tests.
 *
 * @module
 */
import type { WorkerJob, WorkerReport } from "./_vcpu_worker.ts";

/** A Worker running `job`, and the report it posts back (or its error). */
export function startWorker(job: WorkerJob): { worker: Worker; report: Promise<WorkerReport> } {
  const worker = new Worker(new URL("./_vcpu_worker.ts", import.meta.url), { type: "module" });
  const report = new Promise<WorkerReport>((resolve) => {
    worker.onmessage = (e: MessageEvent<WorkerReport>) => resolve(e.data);
    worker.onerror = (e) => resolve({ ok: false, error: String(e.message ?? e) });
  });
  worker.postMessage(job);
  return { worker, report };
}
