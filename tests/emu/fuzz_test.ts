/**
 * Random guest code on the emulator: for a bounded time per mode (real
 * mode, 16-bit and 32-bit protected mode at CPL 0, 32-bit protected mode at
 * CPL 3), seeded random bytes become the guest's code and registers, and
 * every outcome must be an exit from the VcpuExit union: no JavaScript
 * exception escapes `run()`, and no run outlives its timeout by more than a
 * moment. The seed of a failing case is in the assertion message, so a
 * failure can be replayed.
 *
 * Only the emulator runs this: it is the emulator's robustness under test,
 * and random CPL 0 code on kvm_pvm goes through the kernel's emulator at a
 * few MIPS, too slow for a bounded test.
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/harness.ts";
import {
  type Bench,
  bench,
  CODE,
  describe,
  descriptor,
  enter,
  enterReal,
  FREE_INDEX,
  gate,
  setGdt,
  setIdt,
  STUBS,
} from "../_support/sys.ts";
import type { VcpuExit } from "../../mod.ts";

/** Time spent per mode. */
const BUDGET_MS = 1500;
/** Exits followed per case before the next case. */
const EXITS_PER_CASE = 6;
/** The run timeout, and how late a run may return. */
const RUN_TIMEOUT_MS = 20, LATE_MS = 1000;
/** Bytes of random code. */
const CODE_BYTES = 256;

const REASONS: ReadonlySet<VcpuExit["reason"]> = new Set([
  "io",
  "mmio",
  "hlt",
  "shutdown",
  "debug",
  "intr",
  "irq_window_open",
  "fail_entry",
  "internal_error",
  "system_event",
  "hypercall",
  "unknown",
]);

/** xorshift32: small, fast and reproducible. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

type Mode = "real" | "pm16" | "pm32" | "pm32-cpl3";

/** Puts one random case into the bench: state for `mode`, random code at CODE, random registers. */
function setup(b: Bench, mode: Mode, next: () => number): void {
  b.mem.bytes.fill(0);
  if (mode === "real") {
    // Every vector of the IVT leads to a hlt at 0:0xf00.
    b.mem.bytes[0xf00] = 0xf4;
    for (let v = 0; v < 256; v++) b.view.setUint32(4 * v, 0xf00, true);
    enterReal(b, CODE);
  } else {
    enter(b, {
      bits16: mode === "pm16",
      cpl: mode === "pm32-cpl3" ? 3 : 0,
      rflags: 0x3000n,
      idtLimit: 0x40 * 8 - 1,
    });
    // Random descriptors after the standard ones (selectors 0x40-0x78) and random gates for
    // vectors 0x20-0x3f, so that far transfers, task switches and LAR & co. meet garbage.
    for (let i = FREE_INDEX; i < 16; i++) setGdt(b, i, randomDescriptor(next));
    for (let v = 0x20; v < 0x40; v++) setIdt(b, v, randomDescriptor(next));
    if (mode === "pm16") {
      // The reporting stubs are 32-bit code: reach them through a 32-bit code segment (0x40).
      setGdt(b, FREE_INDEX, descriptor(0, 0xffffffff, 0xb, { g: 1 }));
      for (let v = 0; v < 32; v++) setIdt(b, v, gate(0xe, 0x40, STUBS + 16 * v));
    }
  }
  const code = b.mem.bytes.subarray(CODE, CODE + CODE_BYTES);
  for (let i = 0; i < code.length; i += 4) {
    const r = next();
    code[i] = r;
    code[i + 1] = r >>> 8;
    code[i + 2] = r >>> 16;
    code[i + 3] = r >>> 24;
  }
  // Some cases start with plausible prefixes and two-byte opcodes, to reach deeper into the tables;
  // others with a far CALL/JMP, an INT or a LAR/LSL/VERR on one of the random descriptors.
  const sel = 0x40 + 8 * (next() & 7) + (next() & 3);
  switch (next() % 8) {
    case 0:
    case 1:
      code.set([next() & 1 ? 0x9a : 0xea, 0, 0x10, 0, 0, sel, 0]);
      break;
    case 2:
      code.set([0xcd, 0x20 + (next() & 31)]);
      break;
    case 3:
      code.set([0xbb, sel, 0, 0, 0, 0x0f, [2, 3, 0][next() % 3], next() & 1 ? 0xc3 : 0xe3]);
      break;
    default:
      if (next() & 1) code[0] = [0x0f, 0x66, 0x67, 0xf3, 0xf2, 0x26, 0xf0, 0x0f][next() & 7];
  }
  const regs = b.vcpu.getRegs();
  const small = () => BigInt(next() & 0xffff);
  b.vcpu.setRegs({
    ...regs,
    rax: BigInt(next()),
    rbx: small(),
    rcx: BigInt(next() & 0xff),
    rdx: BigInt(next()),
    rsi: small(),
    rdi: small(),
    rbp: small(),
  });
}

/** A descriptor with random fields, biased towards present system descriptors and the standard selectors. */
function randomDescriptor(next: () => number): bigint {
  const lo = next(), hi = next();
  const type = [4, 5, 9, 0xb, 0xc, 0xe, 0xf, 1, 2, 3, 0x1a, 0x13][next() % 12];
  const sel = [0x08, 0x10, 0x1b, 0x28, 0x40, 0x48, 0x50, 0x58][next() & 7];
  const access = type | (next() & 0x60) | (next() % 8 ? 0x80 : 0);
  const l = next() & 1 ? ((sel << 16) | 0x1000 + (lo & 0xff)) >>> 0 : lo;
  return BigInt(l) | (BigInt(((hi & 0xffff00ff) | (access << 8)) >>> 0) << 32n);
}

function fuzz(b: Bench, mode: Mode, seed: number): Map<string, number> {
  const counts = new Map<string, number>();
  const next = rng(seed);
  const end = performance.now() + BUDGET_MS;
  for (let n = 0; performance.now() < end; n++) {
    const caseSeed = next();
    const draw = rng(caseSeed);
    setup(b, mode, draw);
    for (let k = 0; k < EXITS_PER_CASE; k++) {
      const t0 = performance.now();
      let e: VcpuExit;
      try {
        e = b.vcpu.run({ timeoutMs: RUN_TIMEOUT_MS });
      } catch (err) {
        assert.fail(`${mode} case seed ${caseSeed}: run() threw ${err instanceof Error ? err.stack : err}`);
      }
      const took = performance.now() - t0;
      assert.ok(REASONS.has(e.reason), `${mode} case seed ${caseSeed}: ${describe(e)}`);
      assert.ok(took < RUN_TIMEOUT_MS + LATE_MS, `${mode} case seed ${caseSeed}: run() took ${took} ms`);
      counts.set(e.reason, (counts.get(e.reason) ?? 0) + 1);
      if (e.reason !== "io" && e.reason !== "mmio" && e.reason !== "debug" && e.reason !== "intr") break;
      if (e.reason === "io" && e.direction === "in") e.data.fill(next() & 0xff);
      if (e.reason === "mmio" && !e.isWrite) e.data.fill(next() & 0xff);
    }
    counts.set("cases", n + 1);
  }
  return counts;
}

for (
  const [mode, seed] of [["real", 0x5eed0001], ["pm16", 0x5eed0002], ["pm32", 0x5eed0003], [
    "pm32-cpl3",
    0x5eed0004,
  ]] as const
) {
  backendTest(`fuzz: random code in ${mode} ends every run in a VcpuExit`, (kvm) => {
    using b = bench(kvm);
    const counts = fuzz(b, mode, seed);
    console.log(`fuzz ${mode}: ${[...counts].map(([k, v]) => `${k} ${v}`).join(", ")}`);
    assert.ok((counts.get("cases") ?? 0) > 10, "the fuzzer ran");
    // Emulator only, on every host: the emulator's own robustness is under test, not a feature a KVM may lack.
  }, { only: ["emu"] });
}
