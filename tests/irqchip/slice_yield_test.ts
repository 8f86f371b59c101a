/**
 * The owner's scheduling of Worker vCPUs (emu/proxy.ts): the end of a slice
 * lets the event loop deliver a Worker's message, as each I/O exit of a
 * Worker vCPU reaches the devices' thread as one. Under Deno a chain of
 * setImmediate callbacks, each after 2 ms of work, held a message posted
 * meanwhile back for 9 to 13 of them (0 or 1 with a MessageChannel, which
 * internal/yield.ts uses under Deno for the proxy, the platform and the gdb
 * stub).
 */
import assert from "node:assert/strict";
import { yieldMacrotask } from "../../internal/yield.ts";
import { test } from "../_support/harness.ts";

/** The busy part of each slice (ms), as a vCPU's slice keeps the thread. */
const SLICE_MS = 2;
/** The slices a waiting message may take to be delivered. */
const MAX_SLICES = 4;

test("emu proxy: a Worker's message is delivered between vCPU slices that run back to back", async () => {
  const worker = new Worker(new URL("./_post_worker.ts", import.meta.url), { type: "module" });
  try {
    let ready: () => void = () => {};
    const started = new Promise<void>((resolve) => ready = resolve);
    let delivered = false;
    worker.onmessage = (e: MessageEvent) => e.data === "ready" ? ready() : delivered = true;
    await started;
    // The Worker posts while slices run back to back; they are counted from the moment it has posted.
    const flag = new Int32Array(new SharedArrayBuffer(4));
    worker.postMessage(flag.buffer);
    let slices = 0, total = 0;
    while (!delivered && slices < 200 && total < 5000) {
      const start = performance.now();
      while (performance.now() - start < SLICE_MS) { /* a slice of guest code */ }
      total++;
      if (Atomics.load(flag, 0)) slices++;
      await yieldMacrotask();
    }
    assert.ok(delivered, "the message never arrived");
    assert.ok(slices <= MAX_SLICES, `the message waited ${slices} slices`);
  } finally {
    worker.terminate();
  }
});
