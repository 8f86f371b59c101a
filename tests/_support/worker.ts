/**
 * The Worker side of the thread tests: each job the test thread posts is answered with what the job's function
 * returned, or with the error it threw.
 *
 * @module
 */

/** What a Worker answers: `ok` with the job's result, or the error the job threw. */
export type JobReport<R extends object> = ({ ok: true } & R) | { ok: false; error: string };

/** Answers every job posted to this Worker (globalThis is its scope, `self`) with `run`'s result or error. */
export function answerJobs<J, R extends object>(run: (job: J) => R): void {
  const port = globalThis as unknown as {
    onmessage: (e: MessageEvent<J>) => void;
    postMessage(m: unknown): void;
  };
  port.onmessage = (e) => {
    let report: JobReport<R>;
    try {
      report = { ok: true, ...run(e.data) };
    } catch (err) {
      report = { ok: false, error: String(err) };
    }
    // After the job is done (and what it adopted closed): whoever waits for this report may free memory at once.
    port.postMessage(report);
  };
}
