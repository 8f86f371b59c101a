/**
 * VM lifecycles on the emulator for tests/emu/stress_test.ts and the
 * benchmark: each creates a VM with 64 KiB of memory, loads a random
 * real-mode guest (256 bytes from a seeded generator), runs it a few times
 * with a short timeout, closes the VM and frees the memory. The memory in use
 * is measured after a full collection, which needs `gc()` (Deno with
 * `--v8-flags=--expose-gc`) or Bun's `Bun.gc(true)`; run as a program, this
 * module does `count` lifecycles and prints what it measured as JSON:
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc tests/_support/lifecycle.ts 300 eager
 * ```
 *
 * @module
 */
import { readdirSync } from "node:fs";
import { Kvm } from "../../mod.ts";
import type { Vcpu } from "../../mod.ts";

/** The block compiler's modes. */
export type CompilerMode = "off" | "on" | "eager";

/** Memory after a collection, in MiB, and the process's open descriptors. */
export interface MemorySample {
  rss: number;
  heap: number;
  /** Entries of /proc/self/fd, or -1 where there is no /proc. */
  fds: number;
}

/** What a series of lifecycles measured. */
export interface LifecycleReport {
  count: number;
  mode: CompilerMode;
  /** After a warm-up of `count / 4` lifecycles. */
  before: MemorySample;
  /** After all of them. */
  after: MemorySample;
  seconds: number;
}

declare const Bun: { gc(force: boolean): void } | undefined;

/** A full collection, or false when this runtime offers none to a program. */
export function collect(): boolean {
  if (typeof Bun !== "undefined") {
    Bun.gc(true);
    return true;
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return false;
  gc();
  return true;
}

/** Open descriptors of this process (/proc/self/fd), or -1 where there is no /proc. */
export function descriptors(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return -1;
  }
}

/** The resident set and the JS heap in use, in MiB, and the open descriptors. */
export function memory(): MemorySample {
  const m = (globalThis as { process?: { memoryUsage(): { rss: number; heapUsed: number } } }).process!
    .memoryUsage();
  return { rss: Math.round(m.rss / 2 ** 20), heap: Math.round(m.heapUsed / 2 ** 20), fds: descriptors() };
}

/** A seeded xorshift32 byte generator. */
export function bytes(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x & 0xff;
  };
}

/** The 64 KiB real-mode address space of a guest: CS base 0, code at 0x1000. */
export const GUEST_CODE = 0x1000;

/**
 * Creates a VM on `kvm` with 64 KiB of memory, `code` at GUEST_CODE and one real-mode vCPU starting there, calls
 * `body` with the vCPU, then closes the VM and frees its memory whatever `body` did.
 */
export function withRealModeGuest(kvm: Kvm, code: ArrayLike<number>, body: (vcpu: Vcpu) => void): void {
  const vm = kvm.createVm();
  const mem = vm.allocateMemory(0x10000);
  try {
    mem.bytes.set(code, GUEST_CODE);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem });
    const vcpu = vm.createVcpu(0);
    const s = vcpu.getSregs();
    s.cs.base = 0n;
    s.cs.selector = 0;
    vcpu.setSregs(s);
    vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(GUEST_CODE), rflags: 2n });
    body(vcpu);
  } finally {
    vm.close();
    mem.free();
  }
}

/** 256 bytes from `next`. */
export function randomCode(next: () => number): Uint8Array {
  return Uint8Array.from({ length: 256 }, next);
}

/** Loads 256 random bytes at 0x1000 of a new real-mode VM on `kvm` and runs it `runs` times for `timeoutMs` each. */
export function randomGuest(kvm: Kvm, next: () => number, runs: number, timeoutMs: number): void {
  withRealModeGuest(kvm, randomCode(next), (vcpu) => {
    for (let k = 0; k < runs; k++) {
      const e = vcpu.run({ timeoutMs });
      if (e.reason === "shutdown" || e.reason === "internal_error" || e.reason === "fail_entry") break;
    }
  });
}

/** `count` lifecycles of random guests in compiler mode `mode`, with memory measured after collections. */
export function lifecycles(count: number, mode: CompilerMode, seed = 14): LifecycleReport {
  const next = bytes(seed);
  const t0 = performance.now();
  const one = () => {
    using kvm = Kvm.open({ backend: "emu", blockCompiler: mode });
    randomGuest(kvm, next, 3, 1);
  };
  const warm = Math.floor(count / 4);
  for (let i = 0; i < warm; i++) one();
  collect();
  const before = memory();
  for (let i = warm; i < count; i++) one();
  collect();
  return { count, mode, before, after: memory(), seconds: (performance.now() - t0) / 1000 };
}

if (import.meta.main) {
  const args = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
    (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);
  if (!collect()) throw new Error("no gc(): run with --v8-flags=--expose-gc");
  console.log(JSON.stringify(lifecycles(Number(args[0] ?? 300), (args[1] ?? "eager") as CompilerMode)));
}
