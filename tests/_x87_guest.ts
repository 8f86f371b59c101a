/**
 * Helpers of the x87 guest tests: registration on the emulator only (with
 * the reason printed for kvm), running a flat 32-bit guest to its `out`,
 * running a 64-bit CPL 3 program to its MMIO exit and checking its
 * results, and hex dumps of guest memory.
 *
 * On this machine's kvm_pvm an x87 instruction in a 32-bit guest raises
 * #UD even at CPL 3 (probed with FLD1 and an IDT: vector 6), and CPL 0
 * code is emulated by the kernel without x87 support, so these guests run
 * on the emulator only; the host's x87 is the reference through the
 * recorded vectors and the sequences quoted in each test. (In 64-bit mode
 * at CPL 3 kvm_pvm runs x87 code natively: tests/emu_x87_long_test.ts runs
 * there on both backends.)
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { backendTest, skip } from "./_harness.ts";
import { load, longMode, type Machine, machine, pageTables64, protectedMode, SEL_CODE3, SEL_DATA3 } from "./_guests.ts";
import type { Kvm } from "../mod.ts";

/** Why the kvm variants are skipped. */
const KVM_SKIP = "kvm_pvm here raises #UD for x87 instructions in 32-bit guests, even at CPL 3";
const EMU = { only: ["emu"] as const };

/** Registers an x87 guest test on the emulator, and prints why the kvm variant is skipped. */
export function x87Test(name: string, fn: (kvm: Kvm) => void): void {
  skip(`${name} [kvm]`, KVM_SKIP);
  backendTest(name, fn, EMU);
}

/** Bytes as hex, in memory order. */
export function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** Loads `code` at 0x1000 in flat 32-bit protected mode at `cpl` and runs it to its `out`. */
export function run32(kvm: Kvm, code: readonly number[], cpl: 0 | 3 = 3, setup?: (m: Machine) => void): Machine {
  const m = machine(kvm);
  load(m.mem, 0x1000, code);
  protectedMode(m.vcpu, m.mem, 0x1000, cpl);
  setup?.(m);
  const exit = m.vcpu.run({ timeoutMs: 5000 });
  equal(exit.reason, "io", `exit ${exit.reason}`);
  return m;
}

/** `n` bytes of guest memory at `at`, as hex in memory order. */
export function bytes(m: Machine, at: number, n: number): string {
  return hex(m.mem.bytes.subarray(at, at + n));
}

/** Where the programs write their results, and the linear page they exit through. */
const RESULTS = 0x2000, MMIO_PAGE = 0x3000;

/** The x87 state KVM_GET_FPU reports after a 64-bit program: FSW, and ST(0)-ST(7) as 20 hex digits each (memory order). */
export interface FpuAfter {
  fsw: number;
  st: readonly string[];
}

/**
 * Runs a 4 KiB 64-bit program at 0x1000 at CPL 3 to its MMIO exit, and checks the results and KVM_GET_FPU (FCW
 * 0x37f, empty tags, and FOP, FIP and FDP zero: the AMD host drops them at the exit, ES being clear).
 */
export function run64(
  kvm: Kvm,
  code: readonly number[],
  expected: readonly (readonly [number, string])[],
  fpu: FpuAfter,
): void {
  using m: Machine = machine(kvm);
  load(m.mem, 0x1000, code);
  const pages = [0x1000, RESULTS, 0xe000].map((p) => ({ linear: p, physical: p, flags: 7 }));
  const cr3 = pageTables64(m.mem, 0x8000, [...pages, { linear: MMIO_PAGE, physical: 0x40000, flags: 7 }]);
  longMode(m.vcpu, m.mem, 0x1000, cr3);
  const s = m.vcpu.getSregs();
  s.cs = { ...s.cs, selector: SEL_CODE3, dpl: 3 };
  for (const k of ["ds", "es", "ss"] as const) s[k] = { ...s[k], selector: SEL_DATA3, dpl: 3 };
  m.vcpu.setSregs(s);
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rflags: 2n, rsp: 0xf000n });
  const exit = m.vcpu.run({ timeoutMs: 5000 });
  equal(exit.reason, "mmio");
  for (const [at, want] of expected) {
    equal(hex(m.mem.bytes.subarray(RESULTS + at, RESULTS + at + want.length / 2)), want, `results + ${at}`);
  }
  const f = m.vcpu.getFpu();
  deepEqual([f.fcw, f.fsw, f.ftwx, f.lastOpcode, f.lastIp, f.lastDp], [0x37f, fpu.fsw, 0, 0, 0n, 0n]);
  deepEqual(f.fpr.map((r) => hex(r.subarray(0, 10))), fpu.st);
}
