/**
 * Exceptions through the 64-bit IDT with their error codes (sibling map in system_test.ts), from CPL 0 and CPL 3
 * (the RSP0 and IST stack switches), segment-load faults, #SS, #AC, #NP, #DF; the guest's debug features (TF,
 * DR7 execution and write breakpoints); KVM_SET_VCPU_EVENTS and KVM_INTERRUPT through 64-bit gates; INT from
 * CPL 3 and RETFQ to CPL 3.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../../mod.ts";
import { backendTest } from "../../_support/harness.ts";
import { describe, featureTest, runToOut } from "../../_support/guests.ts";
import {
  probeGuestDataBreakpointsLong,
  probeIntFromCpl3Long,
  probeRetfqToCpl3,
  probeRun,
  unlessOut,
} from "../../_support/probes.ts";
import { collect, expectOut } from "../../_support/sys.ts";
import { bench64, put64, STUBS64 } from "../../_support/long64.ts";
import { LM_CODE, LM_IST1, LM_RSP0, LM_STACK, type LongMachine, setGate, view } from "../../_support/long_mode.ts";
import { widenGdt } from "./_gdt.ts";

const DR6_BS = 0xffff4ff0;
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
