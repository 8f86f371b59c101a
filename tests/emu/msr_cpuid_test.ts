/**
 * The MSRs a backend's CPUID implies (SDM vol. 4, the architectural MSRs and
 * the CPUID bits that introduce them): a guest given the supported CPUID
 * (KVM_SET_CPUID2) reads each of them with RDMSR at CPL 0 without #GP, and
 * KVM_GET_MSR_INDEX_LIST lists those the kernel saves and restores
 * (msrs_to_save). An MSR whose feature the CPUID does not advertise is not
 * checked. TSC_AUX also refuses bits 63:32.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { CpuidEntry, Kvm } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import { bench64 } from "../_support/long64.ts";
import { probeRun } from "../_support/probes.ts";
import { bench, describe, enter, expectOut, put } from "../_support/sys.ts";

type Regs = "eax" | "ebx" | "ecx" | "edx";

/** One architectural MSR: the CPUID bit that implies it, and whether the kernel lists it for save/restore. */
interface Implied {
  index: number;
  name: string;
  /** [leaf, subleaf, register, bit]; absent: every x86-64 CPU KVM runs has it. */
  cpuid?: [number, number, Regs, number];
  listed?: boolean;
}

const LM: [number, number, Regs, number] = [0x80000001, 0, "edx", 29];
const MSRS: readonly Implied[] = [
  { index: 0x10, name: "IA32_TIME_STAMP_COUNTER", cpuid: [1, 0, "edx", 4], listed: true },
  { index: 0x1b, name: "IA32_APIC_BASE", cpuid: [1, 0, "edx", 9] },
  { index: 0x174, name: "IA32_SYSENTER_CS", cpuid: [1, 0, "edx", 11], listed: true },
  { index: 0x175, name: "IA32_SYSENTER_ESP", cpuid: [1, 0, "edx", 11], listed: true },
  { index: 0x176, name: "IA32_SYSENTER_EIP", cpuid: [1, 0, "edx", 11], listed: true },
  { index: 0x1a0, name: "IA32_MISC_ENABLE", listed: true },
  { index: 0x179, name: "IA32_MCG_CAP", cpuid: [1, 0, "edx", 14] },
  { index: 0x17a, name: "IA32_MCG_STATUS", cpuid: [1, 0, "edx", 14] },
  { index: 0xfe, name: "IA32_MTRRCAP", cpuid: [1, 0, "edx", 12] },
  { index: 0x2ff, name: "IA32_MTRR_DEF_TYPE", cpuid: [1, 0, "edx", 12] },
  { index: 0x200, name: "IA32_MTRR_PHYSBASE0", cpuid: [1, 0, "edx", 12] },
  { index: 0x250, name: "IA32_MTRR_FIX64K_00000", cpuid: [1, 0, "edx", 12] },
  { index: 0x277, name: "IA32_PAT", cpuid: [1, 0, "edx", 16], listed: true },
  { index: 0x6e0, name: "IA32_TSC_DEADLINE", cpuid: [1, 0, "ecx", 24] },
  { index: 0xda0, name: "IA32_XSS", cpuid: [0xd, 1, "eax", 3], listed: true },
  { index: 0xc0000080, name: "IA32_EFER", cpuid: LM },
  { index: 0xc0000081, name: "IA32_STAR", cpuid: [0x80000001, 0, "edx", 11], listed: true },
  { index: 0xc0000082, name: "IA32_LSTAR", cpuid: LM, listed: true },
  { index: 0xc0000083, name: "IA32_CSTAR", cpuid: LM, listed: true },
  { index: 0xc0000084, name: "IA32_FMASK", cpuid: LM, listed: true },
  { index: 0xc0000100, name: "IA32_FS_BASE", cpuid: LM },
  { index: 0xc0000101, name: "IA32_GS_BASE", cpuid: LM },
  { index: 0xc0000102, name: "IA32_KERNEL_GS_BASE", cpuid: LM, listed: true },
  { index: 0xc0000103, name: "IA32_TSC_AUX", cpuid: [0x80000001, 0, "edx", 27], listed: true },
];

function has(cpuid: readonly CpuidEntry[], [fn, index, reg, bit]: [number, number, Regs, number]): boolean {
  const e = cpuid.find((x) => x.function === fn && (!(x.flags & 1) || x.index === index));
  return e !== undefined && ((e[reg] >>> bit) & 1) === 1;
}

function le32(n: number): string {
  return [0, 8, 16, 24].map((s) => ((n >>> s) & 0xff).toString(16).padStart(2, "0")).join("");
}

/** mov ecx, `index` / rdmsr / out 0xe9, eax / hlt at CPL 0: undefined when it read, else what happened. */
function rdmsr(kvm: Kvm, cpuid: CpuidEntry[], index: number): string | undefined {
  using m = bench64(kvm, `b9${le32(index)} 0f32 e7e9 f4`);
  m.vcpu.setCpuid2(cpuid);
  const run = probeRun(m.vcpu);
  if (run.exit.reason === "hlt" && run.out.length === 1) return undefined;
  return run.out[0] === 13 ? "#GP" : `[${run.out.map((x) => x.toString(16))}] ${describe(run.exit)}`;
}

backendTest("every MSR the CPUID implies reads without #GP, and the saved ones are in the MSR index list", (kvm) => {
  const cpuid = kvm.supportedCpuid(), list = new Set(kvm.msrIndexList());
  const problems: string[] = [];
  let checked = 0;
  for (const msr of MSRS) {
    if (msr.cpuid && !has(cpuid, msr.cpuid)) continue;
    checked++;
    const what = rdmsr(kvm, cpuid, msr.index);
    if (what) problems.push(`RDMSR ${msr.name} (0x${msr.index.toString(16)}): ${what}`);
    if (msr.listed && !list.has(msr.index)) problems.push(`${msr.name} is not in KVM_GET_MSR_INDEX_LIST`);
  }
  assert.ok(checked >= 10, `only ${checked} MSRs implied`);
  assert.deepEqual(problems, []);
});

backendTest("IA32_TSC_AUX: bits 63:32 are reserved (WRMSR #GP); bits 31:0 read back through RDTSCP", (kvm) => {
  const cpuid = kvm.supportedCpuid();
  if (!has(cpuid, [0x80000001, 0, "edx", 27])) return; // no RDTSCP, no TSC_AUX: nothing to check
  // mov ecx, 0xc0000103 / mov eax, 0x1234 / mov edx, `high` / wrmsr / rdtscp / mov eax, ecx / out 0xe9, eax / hlt
  const run = (high: number) => {
    using m = bench64(kvm, `b9030100c0 b834120000 ba${le32(high)} 0f30 0f01f9 89c8 e7e9 f4`);
    m.vcpu.setCpuid2(cpuid);
    return probeRun(m.vcpu).out;
  };
  assert.deepEqual(run(0), [0x1234], "TSC_AUX = 0x1234");
  assert.deepEqual(run(1), [13, 0, 0x400f, 0x08], "TSC_AUX with bit 32 set");
});

backendTest("RDTSCP in 32-bit protected mode: ECX = TSC_AUX (0F 01 /7 with mod 3 is not INVLPG's #UD there)", (kvm) => {
  const cpuid = kvm.supportedCpuid();
  if (!has(cpuid, [0x80000001, 0, "edx", 27])) return; // no RDTSCP: nothing to check
  // mov ecx, 0xc0000103 / mov eax, 0x1234 / xor edx, edx / wrmsr / rdtscp / mov eax, ecx / out 0xe9, eax / hlt
  using b = bench(kvm);
  put(b, 0x1000, "b9030100c0 b834120000 31d2 0f30 0f01f9 89c8 e7e9 f4".replaceAll(" ", ""));
  b.vcpu.setCpuid2(cpuid);
  enter(b);
  expectOut(b.vcpu, [0x1234]);
});

/** mov eax, `fn` / xor ecx, ecx / cpuid / out 0xe9, eax / mov eax, edx / out 0xe9, eax / hlt: the guest's EAX, EDX. */
function guestCpuid(kvm: Kvm, cpuid: CpuidEntry[], fn: number): number[] {
  using m = bench64(kvm, `b8${le32(fn)} 31c9 0fa2 e7e9 89d0 e7e9 f4`);
  m.vcpu.setCpuid2(cpuid);
  return probeRun(m.vcpu).out;
}

backendTest("CPUID.6 advertises ARAT (KVM's do_cpuid_func always does), and a guest given it reads it", (kvm) => {
  const cpuid = kvm.supportedCpuid();
  assert.ok(has(cpuid, [6, 0, "eax", 2]), "KVM_GET_SUPPORTED_CPUID: leaf 6 EAX bit 2");
  assert.equal((guestCpuid(kvm, cpuid, 6)[0] >>> 2) & 1, 1, "the guest's CPUID.6:EAX bit 2");
});

for (const vendor of ["intel", "amd"] as const) {
  backendTest(
    `the emulator's TSC is invariant (CPUID.80000007h:EDX bit 8), as its rate follows host time (${vendor})`,
    (kvm) => {
      const cpuid = kvm.supportedCpuid();
      assert.ok(has(cpuid, [0x80000007, 0, "edx", 8]), "KVM_GET_SUPPORTED_CPUID: leaf 0x80000007 EDX bit 8");
      assert.equal((guestCpuid(kvm, cpuid, 0x80000007)[1] >>> 8) & 1, 1, "the guest's CPUID.80000007h:EDX bit 8");
    },
    { only: ["emu"], vendor },
  );
}
