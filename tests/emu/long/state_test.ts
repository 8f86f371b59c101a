/**
 * The 64-bit vCPU state round trips (sibling map in system_test.ts): registers, segments, tables, CR2, CR8 and
 * EFER; the long-mode MSRs (and the canonical checks of KVM_SET_MSRS and WRMSR); XMM8-15 through KVM_GET_FPU and
 * KVM_SET_FPU.
 *
 * @module
 */
import assert from "node:assert/strict";
import { KvmError } from "../../../mod.ts";
import type { Kvm, Regs } from "../../../mod.ts";
import { backendTest } from "../../_support/harness.ts";
import { describe, featureTest } from "../../_support/guests.ts";
import { probeRun } from "../../_support/probes.ts";
import { collect, expectOut } from "../../_support/sys.ts";
import { bench64, put64 } from "../../_support/long64.ts";
import { enterLongMode, LM_CODE, LM_STACK, longMachine } from "../../_support/long_mode.ts";

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
