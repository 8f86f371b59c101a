/**
 * The process's budget of distinct block source (emu/x86/jit/codegen.ts
 * limitSources; DENO_SOURCE_BUDGET under Deno, unlimited elsewhere): Deno's V8
 * keeps every distinct source a process compiles, so
 * beyond the budget blocks of new shapes are interpreted. A guest whose
 * blocks are refused still runs correctly; with room again, they compile.
 * And blocks that differ only in their addresses share one source
 * (emu/x86/jit/pool.ts).
 *
 * @module
 */
import assert from "node:assert/strict";
import { DENO_SOURCE_BUDGET, limitSources, sourceChars } from "../../../emu/x86/jit/codegen.ts";
import { load, machine, realMode } from "../../_support/guests.ts";
import { test } from "../../_support/harness.ts";
import { emuStats, openEmu } from "./_jit.ts";

/**
 * A real-mode loop that sums `n` down to 1 into AX (with a few rarer instructions, so that its blocks are a
 * shape of their own), then reports AX on port 0x10.
 */
function sumLoop(n: number): string[] {
  return [
    `b9 ${(n & 0xff).toString(16)} ${(n >> 8).toString(16)}`, // mov cx, n
    "31 c0", // xor ax, ax
    "87 da", // loop: xchg dx, bx
    "01 c8", // add ax, cx
    "f5", // cmc
    "87 da", // xchg dx, bx
    "49", // dec cx
    "75 f6", // jnz loop
    "e7 10", // out 0x10, ax
    "f4", // hlt
  ].map((s) => s.replace(/\b([0-9a-f])\b/g, "0$1"));
}

/** Runs the loop at `at` on a fresh eager-mode VM; returns AX at the port exit and the blocks compiled. */
function run(at: number, n: number): { ax: number; compiled: number } {
  using kvm = openEmu("eager");
  using m = machine(kvm);
  load(m.mem, at, sumLoop(n));
  realMode(m.vcpu, at);
  const exit = m.vcpu.run({ timeoutMs: 5000 });
  assert.equal(exit.reason, "io");
  return { ax: Number(m.vcpu.getRegs().rax & 0xffffn), compiled: emuStats(m.vm, m.mem).compiled };
}

test("block compiler: the default budget is DENO_SOURCE_BUDGET under Deno (its V8 keeps sources), none elsewhere", () => {
  const old = limitSources(0);
  limitSources(old);
  const deno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
  assert.equal(old, deno ? DENO_SOURCE_BUDGET : Infinity);
  // Room for two Linux boots (measured: about 47 Mi characters each under Deno).
  assert.ok(DENO_SOURCE_BUDGET >= 2 * 47 * 2 ** 20);
});

test("block compiler: past the process's budget of source, new shapes are interpreted and still run right", () => {
  const old = limitSources(sourceChars()); // no room for any new source
  let frozen;
  try {
    const before = sourceChars();
    frozen = run(0x1000, 1000);
    assert.equal(frozen.ax, (1000 * 1001 / 2) & 0xffff);
    assert.equal(sourceChars(), before);
  } finally {
    limitSources(old);
  }
  const r = run(0x1000, 1000);
  assert.equal(r.ax, (1000 * 1001 / 2) & 0xffff);
  // Only blocks of shapes compiled before (by other tests in this process) were made within the budget.
  assert.ok(
    r.compiled > frozen.compiled,
    `with room again, the loop's blocks compile: ${frozen.compiled} -> ${r.compiled}`,
  );
});

test("block compiler: the same code at another address shares its source", () => {
  const first = run(0x2000, 300);
  assert.equal(first.ax, (300 * 301 / 2) & 0xffff);
  const chars = sourceChars();
  const second = run(0x3456, 300);
  assert.equal(second.ax, (300 * 301 / 2) & 0xffff);
  assert.ok(second.compiled > 0);
  assert.equal(sourceChars(), chars, "the moved copy compiled new source");
});
