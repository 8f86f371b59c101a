/**
 * A Worker of tests/irqchip/slice_yield_test.ts: says it is ready; then, on
 * the parent's word, waits 20 ms, posts one message to it and raises a flag
 * in the SharedArrayBuffer it was given, so the parent knows the message is
 * on its way.
 *
 * @module
 */
declare const self: { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void };

self.onmessage = (e: MessageEvent) => {
  const flag = new Int32Array(e.data as SharedArrayBuffer);
  // While the parent's slices run.
  Atomics.wait(flag, 0, 0, 20);
  self.postMessage("io");
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
};
self.postMessage("ready");
