/**
 * The 64-bit siblings of the part-1 vCPU-state, exception and system
 * instruction tests: register, segment, MSR and FPU state round trips in
 * long mode; exceptions through the 64-bit IDT with their error codes, from
 * CPL 0 and from CPL 3 (the RSP0 and IST stack switches); and the system
 * instructions at CPL 0 that the kernel's emulator on kvm_pvm runs (MOV
 * CR/DR, LGDT/LIDT/SGDT/SIDT, LTR/STR, RDMSR/WRMSR, CPUID, RDTSC, INVLPG,
 * CLTS, RDPMC), plus the guest's own debug features (TF, DR7).
 *
 * Here the system instructions; the state round trips are in state_test.ts and the exceptions and debug
 * features in exceptions_test.ts, beside this file.
 *
 * Sibling map (part-1 test → test in tests/emu/long/{state,system,exceptions}_test.ts):
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
 * - tests/emu/system_debug_test "RDPMC at CPL 3/CPL 0" → "long RDPMC ..."
 * - tests/emu/system_debug_test "TF: a #DB trap after each instruction" → "long TF at CPL 0 ..."
 * - tests/emu/system_debug_test "TF at CPL 3" → "long TF at CPL 3 ..."
 * - tests/emu/system_debug_test "the guest's DR7 execution breakpoint" → "long DR7 execution breakpoint ..." (also on an
 *   upper-half address)
 * - tests/emu/system_debug_test "the guest's DR7 write breakpoint" → "long DR7 write breakpoint ..." (probed, as in part 1)
 * - tests/emu/protected_test "INT from CPL 3 through a DPL 3 gate" → "long INT from CPL 3 ..." (probed, as in part 1)
 * - tests/emu/protected_test "RETF to an outer level" → "long RETFQ from CPL 0 to CPL 3 ..." (probed, as in part 1)
 * - tests/emu/system_debug_test "KVM_SET_VCPU_EVENTS injects an exception" → "long KVM_SET_VCPU_EVENTS ..."
 * - tests/emu/system_debug_test "KVM_INTERRUPT while IF is clear" → "long KVM_INTERRUPT while IF is clear ..."
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
 * - tests/emu/system_debug_test SYSENTER/SYSEXIT: in tests/emu/long/mode_system_test; the KVM_SET_GUEST_DEBUG watchpoints:
 *   tests/emu/long/exits_test.ts; INJECT_DB/INJECT_BP and the interrupt window: need
 *   the raw kvm_run fields (no facade API), and their delivery path is the one KVM_SET_VCPU_EVENTS takes here;
 *   16-bit protected mode: no 64-bit subject.
 * - tests/emu/ioctls_test (all): ioctls of the system and VM descriptors, not of the CPU mode.
 * - SWAPGS, SYSCALL/SYSRET, FS/GS base MSRs, RDTSCP, IST and same-privilege delivery: tests/emu/long/mode_system_test.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../../mod.ts";
import { backendTest } from "../../_support/harness.ts";
import { describe, featureTest, runTo } from "../../_support/guests.ts";
import { probeLarAtCpl0Long, probeRun } from "../../_support/probes.ts";
import { collect, expectOut } from "../../_support/sys.ts";
import { bench64, put64 } from "../../_support/long64.ts";
import { enterLongMode, LM_CODE, LM_GDT, LM_TSS, view } from "../../_support/long_mode.ts";
import { TSS2, TSS2_RSP0, widenGdt } from "./_gdt.ts";

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

// mov eax, 0x12345678 (or mov rax, 0xffffff8000004000) / mov dr0, rax / mov eax, 0x7fff0000 / mov dr3, rax
// mov eax, 0x441 / mov dr7, rax / mov rbx, dr0 / mov rcx, dr3 / mov rdx, dr7 / hlt
const movDrCases = [
  ["DR0, DR3 and DR7 written by the guest, seen by KVM_GET_DEBUGREGS", "b878563412", 0x12345678n],
  ["an upper-half DR0 holds 64 bits", "48b80040000080ffffff", 0xffffff8000004000n],
] as const;
for (const [what, setRax, dr0] of movDrCases) {
  backendTest(`long MOV DR at CPL 0: ${what}`, (kvm) => {
    using m = bench64(kvm, `${setRax} 0f23c0 b80000ff7f 0f23d8 b841040000 0f23f8 0f21c3 0f21d9 0f21fa f4`);
    runTo(m.vcpu, "hlt");
    const regs = m.vcpu.getRegs();
    assert.deepEqual([regs.rbx, regs.rcx, regs.rdx], [dr0, 0x7fff0000n, 0x441n]);
    const dr = m.vcpu.getDebugRegs();
    assert.deepEqual([dr.db[0], dr.db[3], dr.dr7], [dr0, 0x7fff0000n, 0x441n]);
  });
}

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
