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
 * at CPL 3 kvm_pvm runs x87 code natively: tests/emu/x87/long_test.ts runs
 * there on both backends.)
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { backendTest, backendUnavailable, skip } from "../../_support/harness.ts";
import { backendVendor } from "../../../diff/vendor.ts";
import {
  load,
  longMode,
  type Machine,
  machine,
  pageTables64,
  protectedMode,
  SEL_CODE3,
  SEL_DATA3,
} from "../../_support/guests.ts";
import { Kvm } from "../../../mod.ts";

/** Why the kvm variants are skipped. */
const KVM_SKIP = "kvm_pvm here raises #UD for x87 instructions in 32-bit guests, even at CPL 3";

/** A CPU vendor whose x87 pointer rules a test's expectations follow. */
export type Vendor = "intel" | "amd";
const VENDORS: readonly Vendor[] = ["amd", "intel"];

/**
 * Registers an x87 guest test on the emulator, once per personality ("`name` (amd) [emu]", "(intel)"), and
 * prints why the kvm variant is skipped. The x87 records FOP, FDP, FCS and FDS by the vendor's rules (see
 * {@linkcode run64}), so `fn` is told which personality it runs on.
 */
export function x87Test(name: string, fn: (kvm: Kvm, vendor: Vendor) => void): void {
  skip(`${name} [kvm]`, KVM_SKIP);
  for (const vendor of VENDORS) backendTest(`${name} (${vendor})`, (kvm) => fn(kvm, vendor), { only: ["emu"], vendor });
}

/** The vendor the kvm backend presents, or why a vendor-dependent test cannot run there. */
function kvmVendor(): Vendor | string {
  const why = backendUnavailable("kvm");
  if (why !== undefined) return why;
  using kvm = Kvm.open({ backend: "kvm" });
  return backendVendor(kvm) ?? "the host's CPUID names neither Intel nor AMD";
}

/**
 * Registers a 64-bit CPL 3 x87 test whose expectations depend on the vendor: on the kvm backend with the
 * vendor the host presents (kvm_pvm runs the program natively, so the host's x87 is the oracle), and on the
 * emulator once per personality, whatever the host.
 */
export function vendorTest(name: string, fn: (kvm: Kvm, vendor: Vendor) => void): void {
  const host = kvmVendor();
  if (host === "intel" || host === "amd") backendTest(name, (kvm) => fn(kvm, host), { only: ["kvm"] });
  else skip(`${name} [kvm]`, host);
  for (const vendor of VENDORS) backendTest(`${name} (${vendor})`, (kvm) => fn(kvm, vendor), { only: ["emu"], vendor });
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

/**
 * The x87 state KVM_GET_FPU reports after a 64-bit program: FSW, ST(0)-ST(7) as 20 hex digits each (memory
 * order), and on Intel FOP, FIP and FDP (an AMD part reports zeros: see {@linkcode run64}).
 */
export interface FpuAfter {
  fsw: number;
  st: readonly string[];
  intel: { fop: number; fip: bigint; fdp: bigint };
}

/** `n` physical registers that hold +0 (80 zero bits, as hex), for the start of FpuAfter.st. */
export function zeros80(n: number): string[] {
  return new Array<string>(n).fill("00".repeat(10));
}

/** An expected result: `n` bytes at an offset, as hex in memory order, the same for both vendors or per vendor. */
export type Expected = readonly [number, string | { readonly amd: string; readonly intel: string }];

/**
 * Runs a 4 KiB 64-bit program at 0x1000 at CPL 3 to its MMIO exit, and checks the results and KVM_GET_FPU (FCW
 * 0x37f, empty tags), expecting `vendor`'s x87 pointers:
 *
 * - AMD: every non-control instruction records FOP, FIP and FDP (a register form keeps FDP), but FXSAVE, XSAVE
 *   and so KVM's save at every exit store them only while an unmasked exception is pending (ES): zeros otherwise.
 * - Intel (recorded on a Sapphire Rapids host, CPUID.(EAX=7,ECX=0):EBX[6] FDP_EXCPTN_ONLY and EBX[13], FCS/FDS
 *   deprecated): FIP by every non-control instruction, FOP only by one that incurs an unmasked exception, FDP
 *   only by one with a memory operand that does; FCS and FDS are stored as zeros; nothing is lost at an exit.
 *   A native 64-bit process on that host reads the same values as the kvm_pvm guest.
 */
export function run64(
  kvm: Kvm,
  code: readonly number[],
  expected: readonly Expected[],
  fpu: FpuAfter,
  vendor: Vendor,
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
  for (const [at, both] of expected) {
    const want = typeof both === "string" ? both : both[vendor];
    equal(hex(m.mem.bytes.subarray(RESULTS + at, RESULTS + at + want.length / 2)), want, `results + ${at} (${vendor})`);
  }
  const f = m.vcpu.getFpu();
  const pointers = vendor === "intel" ? [fpu.intel.fop, fpu.intel.fip, fpu.intel.fdp] : [0, 0n, 0n];
  deepEqual([f.fcw, f.fsw, f.ftwx, f.lastOpcode, f.lastIp, f.lastDp], [0x37f, fpu.fsw, 0, ...pointers], "KVM_GET_FPU");
  deepEqual(f.fpr.map((r) => hex(r.subarray(0, 10))), fpu.st);
}
