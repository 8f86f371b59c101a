/**
 * One macrotask's yield to the event loop, as cheap as the runtime allows:
 * the loops that run guest code on the calling thread (the emulator's vCPU
 * slices, the platform's run loop, the gdb stub) end each slice with it, so
 * that timers, I/O callbacks and Workers' messages run in between.
 *
 * Measured (200 yields after 10 ms of work each, idle time per yield):
 * Deno: `setTimeout(0)` 2.5 ms (nested timers are clamped), a MessageChannel
 * message 0.28 ms, `setImmediate` 0.04 ms; Bun: 1.3 ms, 0.04 ms, 0.01 ms.
 * Under Deno a chain of `setImmediate` callbacks, each after 2 ms of work,
 * held a Worker's message back for 65 ms (median; up to 226 ms), a
 * MessageChannel for 0.8 ms. So Deno yields through a MessageChannel and Bun
 * (and Node) through `setImmediate`.
 *
 * @module
 */
import { setImmediate } from "node:timers";

/** Resolves after one macrotask, once the event loop's pending work has had its turn. */
export function yieldMacrotask(): Promise<void> {
  if (!("Deno" in globalThis)) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      port2.close();
      resolve();
    };
    port2.postMessage(null);
  });
}
