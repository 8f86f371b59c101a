/**
 * The 64-bit siblings of the part-1 vCPU-state, exception and system
 * instruction tests: register, segment, MSR and FPU state round trips in
 * long mode; exceptions through the 64-bit IDT with their error codes, from
 * CPL 0 and from CPL 3 (the RSP0 and IST stack switches); and the system
 * instructions at CPL 0 that the kernel's emulator on kvm_pvm runs (MOV
 * CR/DR, LGDT/LIDT/SGDT/SIDT, LTR/STR, RDMSR/WRMSR, CPUID, RDTSC, INVLPG,
 * CLTS, RDPMC), plus the guest's own debug features (TF, DR7).
 *
 * Sibling map (part-1 test → test here):
 * - tests/api/vcpu_regs_test "getRegs/setRegs" → "long Vcpu.getRegs/setRegs ..."
 * - tests/api/vcpu_regs_test "getSregs/setSregs" → "long Vcpu.getSregs/setSregs ..."
 * - tests/api/vcpu_regs_test "getMsrs/setMsrs" → "long Vcpu.getMsrs/setMsrs: the long-mode MSRs ..." and "... non-canonical"
 * - tests/api/vcpu_regs_test "getFpu/setFpu" → "long Vcpu.getFpu/setFpu: XMM8-15 ..."
 * - tests/api/vcpu_regs_test "setCpuid2: the guest's cpuid" → "long CPUID at CPL 0 ..."
 * - tests/api/vcpu_regs_test "getDebugRegs/setDebugRegs", "DR0-DR3 hold 64-bit addresses" → "long MOV DR ..."
 * - tests/emu/exits_test "#DE through an IDT interrupt gate" → "long #DE ..."
 * - tests/emu/protected_test "#GP at CPL 3 switches to TSS.ss0:esp0 ...; IRET returns" → "long #GP at CPL 3 ... IRETQ"
 * - tests/emu/protected_test "#GP at CPL 3 and at CPL 0: the frame" → "long exceptions at CPL 0 and CPL 3: ..."
 * - tests/emu/protected_test "segment load: ..." (8 tests) → "long segment load: ..." (64-bit rules: null SS at
 *   CPL 0 is allowed, limits are not checked)
 * - tests/emu/system2_test "RDPMC at CPL 3/CPL 0" → "long RDPMC ..."
 * - tests/emu/system2_test "TF: a #DB trap after each instruction" → "long TF at CPL 0 ..."
 * - tests/emu/system2_test "TF at CPL 3" → "long TF at CPL 3 ..."
 * - tests/emu/system2_test "the guest's DR7 execution breakpoint" → "long DR7 execution breakpoint ..." (also on an
 *   upper-half address)
 * - tests/emu/system2_test "the guest's DR7 write breakpoint" → "long DR7 write breakpoint ..." (probed, as in part 1)
 * - tests/emu/protected_test "INT from CPL 3 through a DPL 3 gate" → "long INT from CPL 3 ..." (probed, as in part 1)
 * - tests/emu/protected_test "RETF to an outer level" → "long RETFQ from CPL 0 to CPL 3 ..." (probed, as in part 1)
 * - tests/emu/system2_test "KVM_SET_VCPU_EVENTS injects an exception" → "long KVM_SET_VCPU_EVENTS ..."
 * - tests/emu/system2_test "KVM_INTERRUPT while IF is clear" → "long KVM_INTERRUPT while IF is clear ..."
 * - tests/emu/protected_test "LAR, LSL, VERR, VERW, ARPL at CPL 0" → "long LAR, LSL, VERR, VERW at CPL 0 ..." (probed, as
 *   in part 1; ARPL is MOVSXD in 64-bit mode)
 * - the system instructions of emu_families/part 1 at CPL 0 → "long MOV CR ...", "long LGDT/LIDT/SGDT/SIDT ...",
 *   "long LTR/STR ...", "long STR r64 ...", "long SLDT r64, SMSW r64 ...", "long STR, SLDT, SMSW m16 ..."
 *   (probed), "long RDMSR/WRMSR ...", "long RDTSC ...", "long INVLPG ..." (in tests/emu/long/paging_test.ts),
 *   "long CLTS ...", "long privileged instructions at CPL 3 ..."
 *
 * No 64-bit subject, or covered elsewhere:
 * - tests/api/vcpu_regs_test "translate: the identity with paging off", "translate with 32-bit paging", "interrupt through
 *   the real-mode IVT": real mode and legacy paging only; the 4-level translate test is in tests/api/vcpu_regs_test itself
 *   and tests/emu/long/paging_test.ts; KVM_INTERRUPT in long mode is in tests/emu/long/mode_system_test.
 * - tests/api/vcpu_regs_test MP state, vCPU events round trip, LAPIC, XCRs, CPUID2 round trip, mxcsr: not mode-dependent.
 * - tests/emu/protected_test call gates, LAR/LSL/VERR/VERW at CPL 3:
 *   the kernel's emulator runs none of them at CPL 0, kvm_pvm runs CPL 3 code against the host's GDT, and the
 *   emulator has no 64-bit call gates yet (FF /3, /5 in 64-bit mode take code segments only); the 64-bit
 *   INT/IRETQ paths are in tests/emu/long/mode_system_test (IST, IRETQ to CPL 3 and compatibility mode).
 * - tests/emu/task_test (all): long mode has no hardware task switching.
 * - tests/emu/system2_test SYSENTER/SYSEXIT: in tests/emu/long/mode_system_test; the KVM_SET_GUEST_DEBUG watchpoints:
 *   tests/emu/long/exits_test.ts; INJECT_DB/INJECT_BP and the interrupt window: need
 *   the raw kvm_run fields (no facade API), and their delivery path is the one KVM_SET_VCPU_EVENTS takes here;
 *   16-bit protected mode: no 64-bit subject.
 * - tests/emu/system_test (all): ioctls of the system and VM descriptors, not of the CPU mode.
 * - SWAPGS, SYSCALL/SYSRET, FS/GS base MSRs, RDTSCP, IST and same-privilege delivery: tests/emu/long/mode_system_test.
 *
 * @module
 */
import assert from "node:assert/strict";
import { KvmError } from "../../../mod.ts";
import type { Kvm, Regs } from "../../../mod.ts";
import { backendTest } from "../../_support/harness.ts";
import { describe, featureTest, runTo, runToOut } from "../../_support/guests.ts";
import {
  probeGuestDataBreakpointsLong,
  probeIntFromCpl3Long,
  probeLarAtCpl0Long,
  probeRetfqToCpl3,
  probeRun,
  unlessOut,
} from "../../_support/probes.ts";
import { collect, descriptor, expectOut } from "../../_support/sys.ts";
import { bench64, put64, STUBS64 } from "../../_support/long64.ts";
import {
  enterLongMode,
  LM_CODE,
  LM_GDT,
  LM_IST1,
  LM_RSP0,
  LM_STACK,
  LM_TSS,
  type LongMachine,
  longMachine,
  setGate,
  view,
} from "../../_support/long_mode.ts";

const DR6_BS = 0xffff4ff0;
/** A second 64-bit TSS (available) at GDT 0x48, with its RSP0. */
const TSS2 = 0x3800, TSS2_RSP0 = 0xa000;

/**
 * Widens the GDT of {@linkcode longMachine}: 0x48 an available 64-bit TSS at TSS2 (16 bytes), 0x58 a data
 * segment that is not present, 0x60 a data segment with a 4 KiB byte-granular limit.
 */
function widenGdt(m: LongMachine): void {
  const v = view(m.mem);
  v.setBigUint64(LM_GDT + 0x48, descriptor(TSS2, 0x67, 9, { s: 0, db: 0 }), true);
  v.setBigUint64(LM_GDT + 0x50, 0n, true);
  v.setBigUint64(LM_GDT + 0x58, descriptor(0, 0xffff, 3, { present: 0 }), true);
  v.setBigUint64(LM_GDT + 0x60, descriptor(0, 0xfff, 3), true);
  v.setBigUint64(TSS2 + 4, BigInt(TSS2_RSP0), true);
  const sregs = m.vcpu.getSregs();
  sregs.gdt = { base: BigInt(LM_GDT), limit: 0x67 };
  m.vcpu.setSregs(sregs);
}

backendTest("long Vcpu.getRegs/setRegs: every 64-bit register round-trips, and a 64-bit guest sees them", (kvm) => {
  using m = longMachine(kvm);
  // add rax, rbx / out 0xe9, eax / shr rax, 32 / out 0xe9, eax / lea rax, [r8+r15] / out 0xe9, eax
  // shr rax, 32 / out 0xe9, eax / hlt
  put64(m, LM_CODE, "4801d8 e7e9 48c1e820 e7e9 4b8d0438 e7e9 48c1e820 e7e9 f4");
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  const names = Object.keys(m.vcpu.getRegs()) as (keyof Regs)[];
  const regs: Regs = { ...m.vcpu.getRegs() };
  names.forEach((n, i) => regs[n] = 0x0101_0101_0101_0101n * BigInt(i + 1));
  regs.rip = BigInt(LM_CODE);
  regs.rsp = BigInt(LM_STACK);
  regs.rflags = 0x8c3n;
  m.vcpu.setRegs(regs);
  assert.deepEqual(m.vcpu.getRegs(), regs);
  expectOut(m.vcpu, [0x03030303, 0x03030303, 0x19191919, 0x19191919]);
});

backendTest("long Vcpu.getSregs/setSregs: 64-bit segments, tables, CR2, CR8 and EFER round-trip", (kvm) => {
  using m = longMachine(kvm);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  const sregs = m.vcpu.getSregs();
  sregs.idt = { base: 0xffffff8000002000n, limit: 0xfff };
  sregs.gdt = { base: 0xffffff8000000500n, limit: 0x47 };
  sregs.cr2 = 0xffffff80dead_b000n;
  sregs.fs = { ...sregs.fs, base: 0x7fff_1234_5000n };
  sregs.gs = { ...sregs.gs, base: 0xffff_8000_0000_1000n };
  m.vcpu.setSregs(sregs);
  const back = m.vcpu.getSregs();
  assert.deepEqual(back, sregs);
  assert.deepEqual([back.cs.l, back.cs.db], [1, 0], "a 64-bit code segment");
  assert.equal(back.efer & 0x500n, 0x500n, "EFER.LME and LMA");
});

/** The long-mode MSRs: STAR, LSTAR, CSTAR, SFMASK, FS/GS base, KERNEL_GS_BASE, TSC_AUX. */
const LONG_MSRS = [
  { index: 0xc0000081, data: 0x0023_0010_0000_0000n },
  { index: 0xc0000082, data: 0xffff_8000_0012_3000n },
  { index: 0xc0000083, data: 0x0000_7fff_0000_1000n },
  { index: 0xc0000084, data: 0x4700n },
  { index: 0xc0000100, data: 0x0000_1234_5678_9000n },
  { index: 0xc0000101, data: 0xffff_ff80_0000_0000n },
  { index: 0xc0000102, data: 0xffff_8000_0000_2000n },
  { index: 0xc0000103, data: 0x55n },
];

backendTest("long Vcpu.getMsrs/setMsrs: the long-mode MSRs round-trip in order, with 64-bit values", (kvm) => {
  using m = longMachine(kvm);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  m.vcpu.setMsrs(LONG_MSRS);
  assert.deepEqual(m.vcpu.getMsrs(LONG_MSRS.map((e) => e.index)), LONG_MSRS);
  assert.equal(m.vcpu.getSregs().fs.base, 0x0000_1234_5678_9000n, "FS_BASE is the FS segment's base");
});

/** LSTAR and KERNEL_GS_BASE: MSRs that hold an address and must be canonical. */
const ADDRESS_MSRS = [0xc0000082, 0xc0000102];
/** Bit 47 set, bits 63:48 clear: not canonical with 48-bit linear addresses. */
const NON_CANONICAL = 0x0000_8000_0000_0000n;

/** Sets each of ADDRESS_MSRS to NON_CANONICAL through KVM_SET_MSRS; names those the host keeps. */
function probeHostMsrCanonicalCheck(kvm: Kvm): string | undefined {
  using m = longMachine(kvm);
  const kept: string[] = [];
  for (const index of ADDRESS_MSRS) {
    try {
      m.vcpu.setMsrs([{ index, data: NON_CANONICAL }]);
    } catch (e) {
      if (e instanceof KvmError) continue;
      throw e;
    }
    kept.push(`0x${index.toString(16)} (reads back 0x${m.vcpu.getMsrs([index])[0].data.toString(16)})`);
  }
  if (kept.length === 0) return undefined;
  return `KVM_SET_MSRS accepts the non-canonical 0x${NON_CANONICAL.toString(16)} in MSR ${kept.join(", ")}`;
}

featureTest(
  "long Vcpu.setMsrs: a non-canonical LSTAR or KERNEL_GS_BASE is refused, naming the index",
  probeHostMsrCanonicalCheck,
  (kvm) => {
    using m = longMachine(kvm);
    for (const index of ADDRESS_MSRS) {
      assert.throws(
        () => m.vcpu.setMsrs([{ index, data: NON_CANONICAL }]),
        (e: unknown) =>
          e instanceof KvmError && e.operation === "KVM_SET_MSRS" && e.message.includes(index.toString(16)),
      );
    }
  },
);

backendTest("long RDMSR/WRMSR at CPL 0: the guest reads what the host set and writes what it reads", (kvm) => {
  // mov ecx, 0xc0000082 / rdmsr / out 0xe9, eax / mov eax, edx / out 0xe9, eax
  // mov ecx, 0xc0000102 / mov eax, 0x1000 / mov edx, 0xffffff80 / wrmsr / hlt
  using m = bench64(kvm, "b9820000c0 0f32 e7e9 89d0 e7e9 b9020100c0 b800100000 ba80ffffff 0f30 f4");
  m.vcpu.setMsrs([{ index: 0xc0000082, data: 0xffff_8000_0012_3000n }]);
  expectOut(m.vcpu, [0x00123000, 0xffff8000]);
  assert.equal(m.vcpu.getMsrs([0xc0000102])[0].data, 0xffff_ff80_0000_1000n);
});

// mov ecx, 0xc0000082 / xor eax, eax / mov edx, 0x8000 / wrmsr / hlt: LSTAR = 0x0000_8000_0000_0000
const WRMSR_NON_CANONICAL_LSTAR = "b9820000c0 31c0 ba00800000 0f30 f4";

/** One run of WRMSR_NON_CANONICAL_LSTAR at CPL 0: undefined when it reports #GP. */
function probeGuestMsrCanonicalCheck(kvm: Kvm): string | undefined {
  using m = bench64(kvm, WRMSR_NON_CANONICAL_LSTAR);
  const exit = m.vcpu.run({ timeoutMs: 5000 });
  if (exit.reason === "io" && exit.port === 0xe9 && exit.size === 4 && exit.data[0] === 13) return undefined;
  const lstar = m.vcpu.getMsrs([0xc0000082])[0].data;
  return `WRMSR of a non-canonical LSTAR at CPL 0 is no #GP: ${describe(exit)}, LSTAR reads 0x${lstar.toString(16)}`;
}

featureTest("long WRMSR at CPL 0: a non-canonical LSTAR is #GP(0)", probeGuestMsrCanonicalCheck, (kvm) => {
  using m = bench64(kvm, WRMSR_NON_CANONICAL_LSTAR);
  expectOut(m.vcpu, [13, 0, LM_CODE + 12, 8]);
  assert.equal(m.vcpu.getMsrs([0xc0000082])[0].data, 0n, "LSTAR is left alone");
});

backendTest("long RDMSR/WRMSR at CPL 0: an unknown MSR is #GP(0)", (kvm) => {
  // mov ecx, 0xdeadbeef / rdmsr / hlt
  using r = bench64(kvm, "b9efbeadde 0f32 f4");
  expectOut(r.vcpu, [13, 0, LM_CODE + 5, 8]);
  // mov ecx, 0xdeadbeef / xor eax, eax / xor edx, edx / wrmsr / hlt
  using w = bench64(kvm, "b9efbeadde 31c0 31d2 0f30 f4");
  expectOut(w.vcpu, [13, 0, LM_CODE + 9, 8]);
});

backendTest("long Vcpu.getFpu: XMM8-15 round-trip; what a 64-bit guest puts in XMM14 reaches KVM_GET_FPU", (kvm) => {
  // mov rdx, 0x1122334455667788 / movq xmm14, rdx / hlt (#GP at CPL 3, reported)
  using m = bench64(kvm, "48 ba 88 77 66 55 44 33 22 11 66 4c 0f 6e f2 f4", { cpl: 3, cr4: 0x600n }); // CR4.OSFXSR
  const fpu = m.vcpu.getFpu();
  for (let i = 8; i < 16; i++) fpu.xmm[i] = Uint8Array.from({ length: 16 }, (_, j) => 16 * i + j);
  m.vcpu.setFpu(fpu);
  assert.deepEqual(m.vcpu.getFpu().xmm, fpu.xmm);
  const { out, exit } = collect(m.vcpu);
  assert.deepEqual(out, [13, 0, LM_CODE + 15, 0x2b], describe(exit));
  const xmm = m.vcpu.getFpu().xmm;
  assert.deepEqual(
    [...xmm[14]],
    [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0, 0, 0, 0, 0, 0, 0, 0],
    "movq zeroes",
  );
});

/** A CPL 3 guest's MOVQ RBX, XMM15 after KVM_SET_FPU wrote XMM15. */
function probeSetFpuXmm(kvm: Kvm): string | undefined {
  // movq rbx, xmm15 / hlt (#GP at CPL 3, reported)
  using m = bench64(kvm, "66 4c 0f 7e fb f4", { cpl: 3, cr4: 0x600n });
  const fpu = m.vcpu.getFpu();
  fpu.xmm[15] = Uint8Array.from({ length: 16 }, (_, j) => 0xf0 + j);
  m.vcpu.setFpu(fpu);
  const run = probeRun(m.vcpu), rbx = m.vcpu.getRegs().rbx;
  if (rbx === 0xf7f6f5f4f3f2f1f0n) return undefined;
  return `a CPL 3 guest reads 0x${rbx.toString(16)} from the XMM15 that KVM_SET_FPU set to 0xf7f6f5f4f3f2f1f0 ` +
    `(then ${describe(run.exit)})`;
}

featureTest("long Vcpu.setFpu: a 64-bit guest reads the XMM15 that KVM_SET_FPU wrote", probeSetFpuXmm, (kvm) => {
  // movq rbx, xmm15 / movhlps xmm15, xmm15 / movq rcx, xmm15 / hlt (#GP at CPL 3, reported)
  using m = bench64(kvm, "66 4c 0f 7e fb 45 0f 12 ff 66 4c 0f 7e f9 f4", { cpl: 3, cr4: 0x600n });
  const fpu = m.vcpu.getFpu();
  fpu.xmm[15] = Uint8Array.from({ length: 16 }, (_, j) => 0xf0 + j);
  m.vcpu.setFpu(fpu);
  const { out, exit } = collect(m.vcpu);
  assert.deepEqual(out, [13, 0, LM_CODE + 14, 0x2b], describe(exit));
  const regs = m.vcpu.getRegs();
  assert.equal(regs.rbx, 0xf7f6f5f4f3f2f1f0n);
  assert.equal(regs.rcx, 0xfffefdfcfbfaf9f8n);
});

backendTest("long CPUID at CPL 0: the guest's cpuid returns the leaves that were set", (kvm) => {
  const [brand0, brand1] = new Uint32Array(new TextEncoder().encode("kvmkit-long-cpu!").buffer);
  const entries = kvm.supportedCpuid().filter((e) => e.function !== 0x8000_0002);
  entries.push({ function: 0x8000_0002, index: 0, flags: 0, eax: brand0, ebx: brand1, ecx: 0, edx: 0 });
  // mov eax, 0x80000002 / cpuid / out 0xe9, eax / mov eax, ebx / out 0xe9, eax / hlt
  using m = bench64(kvm, "b802000080 0fa2 e7e9 89d8 e7e9 f4");
  m.vcpu.setCpuid2(entries);
  expectOut(m.vcpu, [brand0, brand1]);
});

// kvm_pvm keeps its own TSC (a host write of IA32_TIME_STAMP_COUNTER reads back unchanged), so the guest's
// RDTSC is compared with what KVM_GET_MSRS says just before the run.
backendTest("long RDTSC at CPL 0: EDX:EAX count on from IA32_TIME_STAMP_COUNTER, bits 63:32 cleared", (kvm) => {
  using m = bench64(kvm, "0f31 f4"); // rdtsc / hlt
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rax: -1n & 0xffff_ffff_ffff_ffffn, rdx: -1n & 0xffff_ffff_ffff_ffffn });
  m.vcpu.setMsrs([{ index: 0x10, data: 0x1_2345_6789n }]);
  const before = m.vcpu.getMsrs([0x10])[0].data;
  runTo(m.vcpu, "hlt");
  const regs = m.vcpu.getRegs();
  assert.ok(regs.rax <= 0xffffffffn && regs.rdx <= 0xffffffffn, "bits 63:32 of RAX and RDX are cleared");
  const tsc = (regs.rdx << 32n) | regs.rax;
  assert.ok(tsc >= before && tsc < before + 10n ** 12n, `tsc 0x${tsc.toString(16)}, before 0x${before.toString(16)}`);
});

backendTest("long MOV CR at CPL 0: CR0, CR3, CR4 read; CR4.PGE, CR2 and CR8 (the TPR) written and read", (kvm) => {
  // mov rax, cr0 / out / mov rax, cr3 / out / mov rax, cr4 / or rax, 0x80 / mov cr4, rax / mov rax, cr4 / out
  // mov rax, 0xffffff8000123456 / mov cr2, rax / mov rbx, cr2 / mov eax, 5 / mov cr8, rax / mov rcx, cr8 / hlt
  using m = bench64(
    kvm,
    "0f20c0 e7e9 0f20d8 e7e9 0f20e0 480d80000000 0f22e0 0f20e0 e7e9 48b85634120080ffffff 0f22d0 0f20d3 " +
      "b805000000 440f22c0 440f20c1 f4",
  );
  const sregs = m.vcpu.getSregs();
  expectOut(m.vcpu, [Number(sregs.cr0 & 0xffffffffn), 0x10000, Number(sregs.cr4 | 0x80n)]);
  const regs = m.vcpu.getRegs(), back = m.vcpu.getSregs();
  assert.equal(regs.rbx, 0xffffff8000123456n, "CR2 holds 64 bits");
  assert.equal(back.cr2, 0xffffff8000123456n);
  assert.equal(regs.rcx, 5n, "CR8");
  assert.equal(back.cr8, 5n);
  assert.equal(back.cr4 & 0x80n, 0x80n, "CR4.PGE");
});

backendTest("long MOV DR at CPL 0: DR0, DR3 and DR7 written by the guest, seen by KVM_GET_DEBUGREGS", (kvm) => {
  // mov eax, 0x12345678 / mov dr0, rax / mov eax, 0x7fff0000 / mov dr3, rax / mov eax, 0x441 / mov dr7, rax
  // mov rbx, dr0 / mov rcx, dr3 / mov rdx, dr7 / hlt
  using m = bench64(kvm, "b878563412 0f23c0 b80000ff7f 0f23d8 b841040000 0f23f8 0f21c3 0f21d9 0f21fa f4");
  runTo(m.vcpu, "hlt");
  const regs = m.vcpu.getRegs();
  assert.deepEqual([regs.rbx, regs.rcx, regs.rdx], [0x12345678n, 0x7fff0000n, 0x441n]);
  const dr = m.vcpu.getDebugRegs();
  assert.deepEqual([dr.db[0], dr.db[3], dr.dr7], [0x12345678n, 0x7fff0000n, 0x441n]);
});

backendTest("long MOV DR at CPL 0: an upper-half DR0 holds 64 bits", (kvm) => {
  // mov rax, 0xffffff8000004000 / mov dr0, rax / mov eax, 0x7fff0000 / mov dr3, rax / mov eax, 0x441 / mov dr7, rax
  // mov rbx, dr0 / mov rcx, dr3 / mov rdx, dr7 / hlt
  using m = bench64(kvm, "48b80040000080ffffff 0f23c0 b80000ff7f 0f23d8 b841040000 0f23f8 0f21c3 0f21d9 0f21fa f4");
  runTo(m.vcpu, "hlt");
  const regs = m.vcpu.getRegs();
  assert.deepEqual([regs.rbx, regs.rcx, regs.rdx], [0xffffff8000004000n, 0x7fff0000n, 0x441n]);
  const dr = m.vcpu.getDebugRegs();
  assert.deepEqual([dr.db[0], dr.db[3], dr.dr7], [0xffffff8000004000n, 0x7fff0000n, 0x441n]);
});

backendTest("long LGDT/LIDT/SGDT/SIDT at CPL 0: 10-byte operands with 64-bit bases", (kvm) => {
  // sgdt [0x8100] / sidt [0x8110] / lidt [0x8120] / ud2 / hlt
  using m = bench64(kvm, "0f01042500810000 0f010c2510810000 0f011c2520810000 0f0b f4");
  const v = view(m.mem);
  v.setUint16(0x8120, 0xfff, true);
  v.setBigUint64(0x8122, 0xffffff8000002000n, true); // the IDT through its upper-half alias
  // The #UD arrives through the new IDT base.
  expectOut(m.vcpu, [6, 0, LM_CODE + 24, 8]);
  assert.deepEqual([v.getUint16(0x8100, true), v.getBigUint64(0x8102, true)], [0x47, BigInt(LM_GDT)]);
  assert.deepEqual([v.getUint16(0x8110, true), v.getBigUint64(0x8112, true)], [0xfff, 0x2000n]);
  assert.deepEqual(m.vcpu.getSregs().idt, { base: 0xffffff8000002000n, limit: 0xfff });
});

backendTest("long STR r64: REX.W STR zero-extends the selector into RBX", (kvm) => {
  using m = bench64(kvm, "480f00cb f4"); // str rbx / hlt
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rbx: -1n & 0xffff_ffff_ffff_ffffn });
  runTo(m.vcpu, "hlt");
  assert.equal(m.vcpu.getRegs().rbx, 0x30n);
});

backendTest("long SLDT r64, SMSW r64, STR r9: REX.W zero-extends into the whole register", (kvm) => {
  // sldt rbx / smsw rcx / str r9 / smsw edx / str si (16 bits: the rest of RSI stays) / hlt
  using m = bench64(kvm, "480f00c3 480f01e1 490f00c9 0f01e2 660f00ce f4");
  const ones = 0xffff_ffff_ffff_ffffn;
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rbx: ones, rcx: ones, rdx: ones, rsi: ones, r9: ones });
  runTo(m.vcpu, "hlt");
  const regs = m.vcpu.getRegs(), cr0 = m.vcpu.getSregs().cr0;
  assert.deepEqual([regs.rbx, regs.rcx, regs.r9, regs.rdx, regs.rsi], [0n, cr0, 0x30n, cr0, 0xffff_ffff_ffff_0030n]);
});

// With REX.W and a memory operand kvm_pvm's kernel emulator (which runs STR/SLDT at CPL 0 and, through UMIP, at
// CPL 3) stores 8 bytes for STR and SLDT (em_store_sreg narrows only a 4-byte memory operand); the SDM and the APM
// fix the memory operand at 16 bits.
/** STR m16 with REX.W at CPL 0: the 8 bytes at the operand after it. */
function probeStoreSregRexW(kvm: Kvm): string | undefined {
  using m = bench64(kvm, "480f000c2500810000 f4"); // str [0x8100] (REX.W) / hlt
  view(m.mem).setBigUint64(0x8100, 0xffff_ffff_ffff_ffffn, true);
  const run = probeRun(m.vcpu), stored = view(m.mem).getBigUint64(0x8100, true);
  if (stored === 0xffff_ffff_ffff_0030n) return undefined;
  return `STR m16 with REX.W leaves 0x${stored.toString(16)} in the 8 bytes at its operand, not 0xffffffffffff0030 ` +
    `(then ${describe(run.exit)})`;
}

featureTest("long STR, SLDT, SMSW m16 with REX.W store 16 bits", probeStoreSregRexW, (kvm) => {
  // str [0x8100] / sldt [0x8108] / smsw [0x8110] (each with REX.W) / hlt
  using m = bench64(kvm, "480f000c2500810000 480f00042508810000 480f01242510810000 f4");
  const v = view(m.mem);
  for (const at of [0x8100, 0x8108, 0x8110]) v.setBigUint64(at, 0xffff_ffff_ffff_ffffn, true);
  runTo(m.vcpu, "hlt");
  const low = Number(m.vcpu.getSregs().cr0 & 0xffffn);
  assert.deepEqual(
    [v.getBigUint64(0x8100, true), v.getBigUint64(0x8108, true), v.getBigUint64(0x8110, true)],
    [0xffff_ffff_ffff_0030n, 0xffff_ffff_ffff_0000n, 0xffff_ffff_ffff_0000n | BigInt(low)],
  );
});

backendTest("long LTR/STR at CPL 0: LTR marks the 16-byte TSS descriptor busy; its RSP0 serves CPL 3", (kvm) => {
  // str eax / out 0xe9, eax / mov ax, 0x48 / ltr ax / str ebx / mov eax, ebx / out 0xe9, eax
  // mov eax, [0x54c] / out 0xe9, eax / hlt
  using m = bench64(kvm, "0f00c8 e7e9 66b84800 0f00d8 0f00cb 89d8 e7e9 8b04254c050000 e7e9 f4");
  widenGdt(m);
  const high = Number(view(m.mem).getUint32(LM_GDT + 0x4c, true) & ~0xf00);
  expectOut(m.vcpu, [0x30, 0x48, high | 0xb00]);
  const tr = m.vcpu.getSregs().tr;
  assert.deepEqual([tr.selector, tr.base, tr.limit, tr.type], [0x48, BigInt(TSS2), 0x67, 11]);
  // Now a CPL 3 exception switches to the new TSS's RSP0.
  put64(m, LM_CODE, "0f0b"); // ud2
  enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
  m.vcpu.setSregs({ ...m.vcpu.getSregs(), tr, gdt: { base: BigInt(LM_GDT), limit: 0x67 } });
  expectOut(m.vcpu, [6, 0, LM_CODE, 0x2b]);
  assert.equal(m.vcpu.getRegs().rsp, BigInt(TSS2_RSP0 - 40), "the frame is on the new TSS's RSP0 stack");
});

backendTest("long CLTS at CPL 0 clears CR0.TS that MOV CR0 set", (kvm) => {
  // mov rax, cr0 / or eax, 8 / mov cr0, rax / mov rbx, cr0 / clts / mov rcx, cr0 / hlt
  using m = bench64(kvm, "0f20c0 83c808 0f22c0 0f20c3 0f06 0f20c1 f4");
  runTo(m.vcpu, "hlt");
  const regs = m.vcpu.getRegs();
  assert.equal(regs.rbx & 8n, 8n, "TS set");
  assert.equal(regs.rcx & 8n, 0n, "TS cleared");
  assert.equal(m.vcpu.getSregs().cr0 & 8n, 0n);
});

backendTest("long RDPMC: #GP(0) at CPL 3 without CR4.PCE, and at CPL 0 without a virtual PMU", (kvm) => {
  for (const cpl of [3, 0] as const) {
    using m = bench64(kvm, "31c9 0f33 f4", { cpl }); // xor ecx, ecx / rdpmc / hlt
    expectOut(m.vcpu, [13, 0, LM_CODE + 2, cpl === 3 ? 0x2b : 8]);
  }
});

for (const cpl of [0, 3] as const) {
  backendTest(`long exceptions at CPL ${cpl}: #DE, #UD, #GP(0) with the frame on the right stack`, (kvm) => {
    const cs = cpl === 3 ? 0x2b : 8;
    const cases: Array<[string, string, number[]]> = [
      ["31c9 f7f1 f4", "#DE: xor ecx, ecx / div ecx", [0, 0, LM_CODE + 2, cs]],
      ["0f0b f4", "#UD: ud2", [6, 0, LM_CODE, cs]],
      ["48b80000000000000080 488b18 f4", "#GP: mov rax, 1 << 63 / mov rbx, [rax]", [13, 0, LM_CODE + 10, cs]],
    ];
    for (const [code, what, expected] of cases) {
      using m = bench64(kvm, code, { cpl });
      const { out, exit } = collect(m.vcpu);
      assert.deepEqual(out, expected, `${what}: ${describe(exit)}`);
      // The stub popped vector and error code: RSP points at the frame's RIP.
      const rsp = Number(m.vcpu.getRegs().rsp), v = view(m.mem);
      assert.equal(rsp, cpl === 3 ? LM_RSP0 - 40 : LM_STACK - 40, `${what}: the frame's stack`);
      assert.equal(v.getBigUint64(rsp + 24, true), BigInt(LM_STACK), `${what}: the old RSP`);
      assert.equal(v.getBigUint64(rsp + 32, true), cpl === 3 ? 0x23n : 0x10n, `${what}: the old SS`);
    }
  });
}

backendTest("long #GP at CPL 3: the frame on RSP0 holds RFLAGS with RF; IRETQ returns to CPL 3", (kvm) => {
  // CPL 3: mov eax, 0x12345678 / hlt / out 0xe9, al (allowed by the TSS I/O bitmap) / jmp $
  using m = bench64(kvm, "b878563412 f4 e6e9 ebfe", { cpl: 3 });
  // #GP handler: add rsp, 8 / add qword [rsp], 1 / iretq
  put64(m, 0x3400, "4883c408 4883042401 48cf");
  setGate(m.mem, 13, 0x3400n);
  assert.equal(runToOut(m.vcpu, 0xe9), 0x78);
  const v = view(m.mem), regs = m.vcpu.getRegs();
  assert.equal(regs.rip, BigInt(LM_CODE + 8), "back at CPL 3 after the hlt");
  assert.equal(regs.rsp, BigInt(LM_STACK));
  assert.equal(m.vcpu.getSregs().cs.selector, 0x2b);
  assert.equal(v.getBigUint64(LM_RSP0 - 48, true), 0n, "error code 0");
  assert.equal(v.getBigUint64(LM_RSP0 - 40, true), BigInt(LM_CODE + 6), "RIP, advanced by the handler");
  assert.equal(v.getBigUint64(LM_RSP0 - 24, true), 0x10202n, "RFLAGS: RF (a fault), IF");
});

/** Segment-register loads in 64-bit mode: [what, code, cpl, expected stream (vector, code, RIP, CS)]. */
const LOAD_FAULTS: Array<[string, string, 0 | 3, number[]]> = [
  // mov ax, 0x10 / mov ds, ax
  ["DPL 0 data into DS at CPL 3: #GP(sel)", "66b81000 8ed8 f4", 3, [13, 0x10, LM_CODE + 4, 0x2b]],
  // mov ax, 0x23 / mov ss, ax
  ["SS with RPL != CPL: #GP(sel)", "66b82300 8ed0 f4", 0, [13, 0x20, LM_CODE + 4, 8]],
  // mov ax, 0x58 / mov ds, ax
  ["DS not present: #NP(sel)", "66b85800 8ed8 f4", 0, [11, 0x58, LM_CODE + 4, 8]],
  // mov ax, 0x58 / mov ss, ax
  ["SS not present: #SS(sel)", "66b85800 8ed0 f4", 0, [12, 0x58, LM_CODE + 4, 8]],
  // mov ax, 0x108 / mov es, ax
  ["a selector beyond the GDT: #GP(sel)", "66b80801 8ec0 f4", 0, [13, 0x108, LM_CODE + 4, 8]],
  // mov ax, 0x08 / mov ds, ax / mov ebx, [0x4000] / mov ss, ax
  ["readable code into DS, but not into SS: #GP(sel)", "66b80800 8ed8 8b1c2500400000 8ed0 f4", 0, [
    13,
    8,
    LM_CODE + 13,
    8,
  ]],
  // xor eax, eax / mov ss, ax
  ["a null SS at CPL 3: #GP(0)", "31c0 8ed0 f4", 3, [13, 0, LM_CODE + 2, 0x2b]],
  // mov ax, 0x60 / mov ds, ax / mov eax, [0x8ffe] / out 0xe9, eax / hlt (DS's limit is 0xfff: not checked)
  ["a read past DS's limit does not fault in 64-bit mode", "66b86000 8ed8 8b0425fe8f0000 e7e9 f4", 0, [
    0x2a29,
  ]],
  // xor eax, eax / mov ss, ax / mov ebx, [0x8000] / push rbx / pop rcx / mov eax, ss / out 0xe9, eax / hlt
  ["a null SS at CPL 0 is allowed, and the stack works", "31c0 8ed0 8b1c2500800000 53 59 8cd0 e7e9 f4", 0, [0]],
];

for (const [what, code, cpl, expected] of LOAD_FAULTS) {
  backendTest(`long segment load: ${what}`, (kvm) => {
    using m = bench64(kvm, code, { cpl });
    widenGdt(m);
    view(m.mem).setUint32(0x8ffe, 0x2a29, true);
    expectOut(m.vcpu, expected);
  });
}

backendTest("long #SS(0) at CPL 0 from a non-canonical RSP is delivered on the IST1 stack", (kvm) => {
  // mov rsp, 0x800000000008 / push rax / hlt
  using m = bench64(kvm, "48bc0800000000800000 50 f4");
  setGate(m.mem, 12, BigInt(STUBS64 + 12 * 16), { ist: 1 });
  expectOut(m.vcpu, [12, 0, LM_CODE + 10, 8]);
  assert.equal(m.vcpu.getRegs().rsp, BigInt(LM_IST1 - 40));
  assert.equal(view(m.mem).getBigUint64(LM_IST1 - 16, true), 0x800000000008n, "the old RSP");
});

backendTest("long #AC(0) at CPL 3 with CR0.AM and RFLAGS.AC on a misaligned read", (kvm) => {
  // pushfq / or dword [rsp], 0x40000 / popfq / mov eax, [0x8001] / hlt
  using m = bench64(kvm, "9c 810c2400000400 9d 8b042501800000 f4", { cpl: 3 });
  const sregs = m.vcpu.getSregs();
  m.vcpu.setSregs({ ...sregs, cr0: sregs.cr0 | (1n << 18n) });
  expectOut(m.vcpu, [17, 0, LM_CODE + 9, 0x2b]);
});

/** Clears the P bit of the IDT gates of `vectors` (type 14 kept). */
function gatesNotPresent(m: LongMachine, vectors: readonly number[]): void {
  for (const n of vectors) view(m.mem).setUint8(0x2000 + 16 * n + 5, 0x0e);
}

/** A #UD whose IDT gate is not present: #NP(6 * 8 + IDT + EXT) through the #NP gate. */
function probeNotPresentGate(kvm: Kvm): string | undefined {
  using m = bench64(kvm, "0f0b f4"); // ud2
  gatesNotPresent(m, [6]);
  return unlessOut(probeRun(m.vcpu), [11, 6 * 8 + 3], "a not-present gate for #UD is not #NP");
}

featureTest("long #NP: a not-present IDT gate for #UD is #NP(vector * 8 + IDT + EXT)", probeNotPresentGate, (kvm) => {
  using m = bench64(kvm, "0f0b f4"); // ud2
  gatesNotPresent(m, [6]);
  expectOut(m.vcpu, [11, 6 * 8 + 3, LM_CODE, 8]);
});

backendTest("long #DF: not-present gates for #UD and #NP are #DF(0)", (kvm) => {
  using m = bench64(kvm, "0f0b f4"); // ud2
  gatesNotPresent(m, [6, 11]);
  expectOut(m.vcpu, [8, 0, LM_CODE, 8]);
});

backendTest("long TF at CPL 3: the #DB trap reaches the CPL 0 handler with DR6.BS", (kvm) => {
  // pushfq / or dword [rsp], 0x100 / popfq / nop / nop / hlt
  using m = bench64(kvm, "9c 810c2400010000 9d 90 90 f4", { cpl: 3 });
  put64(m, 0x3400, "488b0424 e7e9 0f21f0 e7e9 f4"); // #DB: mov rax, [rsp] / out / mov rax, dr6 / out / hlt
  setGate(m.mem, 1, 0x3400n);
  expectOut(m.vcpu, [LM_CODE + 10, DR6_BS]);
});

backendTest("long TF at CPL 0: a #DB trap after each instruction that began with TF set", (kvm) => {
  // pushfq / or dword [rsp], 0x100 / popfq / mov eax, 1 / mov eax, 2 / pushfq / and dword [rsp], ~0x100 / popfq
  // mov eax, 3 / mov eax, 0x77 / out 0xe9, eax / hlt
  using m = bench64(
    kvm,
    "9c 810c2400010000 9d b801000000 b802000000 9c 812424fffeffff 9d b803000000 b877000000 e7e9 f4",
  );
  // #DB: push rax / mov rax, [rsp+8] / out / mov rax, dr6 / out / xor eax, eax / mov dr6, rax / pop rax / iretq
  put64(m, 0x3400, "50 488b442408 e7e9 0f21f0 e7e9 31c0 0f23f0 58 48cf");
  setGate(m.mem, 1, 0x3400n);
  const traps = [0x400e, 0x4013, 0x4014, 0x401b, 0x401c].flatMap((rip) => [rip, DR6_BS]);
  expectOut(m.vcpu, [...traps, 0x77]);
});

backendTest("long TF at CPL 0 on upper-half addresses: the #DB frame holds the whole RIP", (kvm) => {
  // mov rax, 0xffffff8000004040 / jmp rax
  using m = bench64(kvm, "48b84040000080ffffff ffe0");
  // pushfq / or dword [rsp], 0x100 / popfq / nop / pushfq / and dword [rsp], ~0x100 / popfq / mov eax, 0x77 / out / hlt
  put64(m, 0x4040, "9c 810c2400010000 9d 90 9c 812424fffeffff 9d b877000000 e7e9 f4");
  // #DB: push rax / mov rax, [rsp+8] / out / mov rax, [rsp+12] / out / pop rax / iretq
  put64(m, 0x3400, "50 488b442408 e7e9 488b44240c e7e9 58 48cf");
  setGate(m.mem, 1, 0x3400n);
  const traps = [0x404a, 0x404b, 0x4052, 0x4053].flatMap((rip) => [rip, 0xffffff80]);
  expectOut(m.vcpu, [...traps, 0x77]);
});

backendTest("long DR7 execution breakpoint at CPL 0: a #DB fault before the instruction", (kvm) => {
  // mov eax, 0x4012 / mov dr0, rax / mov eax, 1 / mov dr7, rax / nop / nop / mov eax, 0x77 / out / hlt
  using m = bench64(kvm, "b812400000 0f23c0 b801000000 0f23f8 90 90 b877000000 e7e9 f4");
  // #DB: push rax / mov rax, [rsp+8] / out / mov rax, dr6 / out / xor eax, eax / mov dr6, rax / mov dr7, rax
  // pop rax / iretq
  put64(m, 0x3400, "50 488b442408 e7e9 0f21f0 e7e9 31c0 0f23f0 0f23f8 58 48cf");
  setGate(m.mem, 1, 0x3400n);
  expectOut(m.vcpu, [0x4012, 0xffff0ff1, 0x77]);
});

backendTest("long DR7 execution breakpoint on an upper-half address at CPL 0: DR0 holds all 64 bits of RIP", (kvm) => {
  // mov rax, 0xffffff8000004042 / mov dr0, rax / mov eax, 1 / mov dr7, rax / mov rax, 0xffffff8000004040 / jmp rax
  using m = bench64(kvm, "48b84240000080ffffff 0f23c0 b801000000 0f23f8 48b84040000080ffffff ffe0");
  put64(m, 0x4040, "90 90 b877000000 e7e9 f4"); // nop / nop (the breakpoint) / mov eax, 0x77 / out 0xe9, eax / hlt
  // #DB: push rax / mov rax, [rsp+8] / out / mov rax, [rsp+12] / out / mov rax, [rsp+24] / out / mov rax, dr6 / out
  // xor eax, eax / mov dr6, rax / mov dr7, rax / pop rax / iretq
  put64(m, 0x3400, "50 488b442408 e7e9 488b44240c e7e9 488b442418 e7e9 0f21f0 e7e9 31c0 0f23f0 0f23f8 58 48cf");
  setGate(m.mem, 1, 0x3400n);
  // The pushed RIP (low, high half) and RFLAGS (RF clear), DR6.B0.
  expectOut(m.vcpu, [0x4042, 0xffffff80, 2, 0xffff0ff1, 0x77]);
});

backendTest("long KVM_SET_VCPU_EVENTS injects #GP with its error code through the 64-bit IDT", (kvm) => {
  using m = bench64(kvm, "90 f4"); // nop / hlt
  const events = m.vcpu.getVcpuEvents();
  events.exception = { injected: 1, nr: 13, hasErrorCode: 1, pending: 0, errorCode: 0x1234 };
  m.vcpu.setVcpuEvents(events);
  expectOut(m.vcpu, [13, 0x1234, LM_CODE, 8]);
  assert.equal(m.vcpu.getVcpuEvents().exception.injected, 0);
});

backendTest(
  "long KVM_INTERRUPT while IF is clear: delivered once STI's shadow has passed, through a 64-bit gate",
  (kvm) => {
    // cli / mov eax, 1 / out 0xe9, eax / sti / mov eax, 2 / out 0xe9, eax / hlt
    using m = bench64(kvm, "fa b801000000 e7e9 fb b802000000 e7e9 f4");
    put64(m, 0x3400, "50 b820000000 e7e9 58 48cf"); // push rax / mov eax, 0x20 / out 0xe9, eax / pop rax / iretq
    setGate(m.mem, 0x20, 0x3400n);
    assert.equal(runToOut(m.vcpu, 0xe9, 4), 1);
    assert.equal(m.vcpu.getRegs().rflags & 0x200n, 0n, "IF clear");
    m.vcpu.interrupt(0x20);
    // The handler runs between `mov eax, 2` (in the STI shadow) and its `out`.
    expectOut(m.vcpu, [0x20, 2]);
  },
);

// At CPL 0 here; at CPL 3 kvm_pvm runs LAR natively against the host's GDT (LAR 0x2b answers 0xcff300, a host
// data segment).
featureTest(
  "long LAR, LSL, VERR, VERW at CPL 0 on 64-bit descriptors (L bit, 16-byte TSS)",
  probeLarAtCpl0Long,
  (kvm) => {
    // %macro R 0 = out 0xe9, eax / setz al / movzx eax, al / out 0xe9, eax        (the result, then ZF)
    // mov eax, 0xdeadbeef / mov ebx, 0x2b / lar eax, ebx / R / mov eax, 0xdeadbeef / mov ebx, 0x23 / lsl eax, ebx / R
    // mov eax, 0xdeadbeef / mov ebx, 0x30 / lar eax, ebx / R / mov eax, 0xdeadbeef / xor ebx, ebx / lar eax, ebx / R
    // mov eax, 0x10 / verr ax / setz al / movzx eax, al / out / mov eax, 0x08 / verw ax / setz al / movzx / out / hlt
    using m = bench64(
      kvm,
      "b8efbeaddebb2b0000000f02c3e7e90f94c00fb6c0e7e9b8efbeaddebb230000000f03c3e7e90f94c00fb6c0e7e9b8efbeaddebb3000" +
        "00000f02c3e7e90f94c00fb6c0e7e9b8efbeadde31db0f02c3e7e90f94c00fb6c0e7e9b8100000000f00e00f94c00fb6c0e7e9b808" +
        "0000000f00e80f94c00fb6c0e7e9f4",
    );
    expectOut(m.vcpu, [
      ...[0xaffb00, 1], // 64-bit user code: G and L, DPL 3
      ...[0xffffffff, 1], // flat user data
      ...[0x8b00, 1], // the busy 64-bit TSS
      ...[0xdeadbeef, 0], // null
      1, // kernel data: readable
      0, // code: not writable
    ]);
  },
);

featureTest(
  "long INT from CPL 3 through a DPL 3 gate switches to RSP0; IRETQ returns; a DPL 0 gate is #GP",
  probeIntFromCpl3Long,
  (kvm) => {
    // CPL 3: mov eax, 0x12345678 / int 0x30 / mov ebx, eax / int 0x31 / hlt
    using m = bench64(kvm, "b878563412 cd30 89c3 cd31 f4", { cpl: 3 });
    put64(m, 0x3400, "4889e3 f7d0 48cf"); // mov rbx, rsp / not eax / iretq
    setGate(m.mem, 0x30, 0x3400n, { dpl: 3 });
    setGate(m.mem, 0x31, 0x3400n, { dpl: 0 });
    expectOut(m.vcpu, [13, 0x31 * 8 + 2, LM_CODE + 9, 0x2b]);
    assert.equal(m.vcpu.getRegs().rbx, 0xedcba987n, "back at CPL 3 with the handler's eax");
    assert.equal(view(m.mem).getBigUint64(LM_RSP0 - 40, true), BigInt(LM_CODE + 9), "the #GP frame on RSP0");
  },
);

featureTest("long RETFQ from CPL 0 to CPL 3 loads SS:RSP from the stack", probeRetfqToCpl3, (kvm) => {
  // push 0x23 / push 0x5800 / push 0x2b / push 0x5100 / retfq
  using m = bench64(kvm, "6a23 6800580000 6a2b 6800510000 48cb");
  put64(m, 0x5100, "4989e0 418cd1 f4"); // CPL 3: mov r8, rsp / mov r9d, ss / hlt (#GP)
  expectOut(m.vcpu, [13, 0, 0x5106, 0x2b]);
  const regs = m.vcpu.getRegs();
  assert.deepEqual([regs.r8, regs.r9], [0x5800n, 0x23n]);
});

featureTest(
  "long DR7 write breakpoint at CPL 0: a #DB trap after each write into its range",
  probeGuestDataBreakpointsLong,
  (kvm) => {
    // mov eax, 0x8000 / mov dr0, rax / mov eax, 0xd0001 (L0, write, 4 bytes) / mov dr7, rax
    // mov dword [0x8000], 0x11 / mov ebx, [0x8000] / mov byte [0x8003], 0x22 / mov eax, 0x77 / out 0xe9, eax / hlt
    using m = bench64(
      kvm,
      "b800800000 0f23c0 b801000d00 0f23f8 c704250080000011000000 8b1c2500800000 " +
        "c6042503800000 22 b877000000 e7e9 f4",
    );
    // #DB: push rax / mov rax, [rsp+8] / out / mov rax, dr6 / out / xor eax, eax / mov dr6, rax / pop rax / iretq
    put64(m, 0x3400, "50 488b442408 e7e9 0f21f0 e7e9 31c0 0f23f0 58 48cf");
    setGate(m.mem, 1, 0x3400n);
    expectOut(m.vcpu, [0x401b, 0xffff0ff1, 0x402a, 0xffff0ff1, 0x77]);
  },
);

backendTest("long privileged instructions at CPL 3 are #GP(0)", (kvm) => {
  const cases: Array<[string, string]> = [
    ["0f20c0", "mov rax, cr0"],
    ["0f22d8", "mov cr3, rax"],
    ["0f21f8", "mov rax, dr7"],
    ["0f01142500810000", "lgdt [0x8100]"],
    ["0f30", "wrmsr"],
    ["0f32", "rdmsr"],
    ["0f013c2500600000", "invlpg [0x6000]"],
    ["0f06", "clts"],
    ["fa", "cli (IOPL 0)"],
    ["e4e9", "in al, 0xe9 (IOPL 0, no I/O bitmap)"],
    ["0f01f8", "swapgs"],
    ["f4", "hlt"],
  ];
  for (const [code, what] of cases) {
    using m = bench64(kvm, code, { cpl: 3 });
    view(m.mem).setUint16(LM_TSS + 0x66, 0x68, true); // no I/O bitmap within the TSS's limit
    const { out, exit } = collect(m.vcpu);
    assert.deepEqual(out, [13, 0, LM_CODE, 0x2b], `${what}: ${describe(exit)}`);
  }
});
