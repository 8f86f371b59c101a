/**
 * Long mode system features on both backends: SYSCALL/SYSRET, SYSENTER/
 * SYSEXIT, IST stacks and delivery at the same privilege, IRETQ into 64-bit
 * and compatibility mode, FS/GS bases, SWAPGS, RDTSCP, INS/OUTS, LFS/LGS,
 * KVM_INTERRUPT, the opcodes removed from 64-bit mode, and the guest's own
 * way into long mode. Where the host's KVM cannot serve as the oracle (on
 * kvm_pvm: SYSRETQ, RDTSCP at CPL 3, WRMSR EFER.LME outside long mode), the
 * test's probe says what it did and the kvm variant is skipped with that.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../../../mod.ts";
import { backendTest, test } from "../../_support/harness.ts";
import { describe, featureTest } from "../../_support/guests.ts";
import {
  bytes,
  enterLongMode,
  enterProtectedMode,
  fillData,
  FRAME_RIP,
  FRAME_RSP,
  LM_CODE,
  LM_DATA,
  LM_IST1,
  LM_RSP0,
  LM_STACK,
  type LongMachine,
  longMachine,
  runToReport,
  setGate,
  view,
} from "../../_support/long_mode.ts";

/** Kernel at LSTAR: mov r12, rcx / mov r13, r11 / mov r14, rsp / or r15, 1 / then `tail`. */
function syscallMachine(kvm: Kvm, tail: string): LongMachine {
  const m = longMachine(kvm);
  m.mem.bytes.set(bytes("49 89 cc 4d 89 dd 49 89 e6 49 83 cf 01 " + tail), 0x3300);
  // User: mov r15d, 0x10 / syscall / add r15, 2 / hlt
  m.mem.bytes.set(bytes("41 bf 10 00 00 00 0f 05 49 83 c7 02 f4"), LM_CODE);
  enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
  m.vcpu.setMsrs([
    { index: 0xc0000081, data: (0x18n << 48n) | (0x08n << 32n) },
    { index: 0xc0000082, data: 0x3300n },
    { index: 0xc0000084, data: 0x200n },
  ]);
  return m;
}

backendTest("long mode SYSCALL: RCX and R11 carry RIP and RFLAGS, SFMASK clears IF", (kvm) => {
  using m = syscallMachine(kvm, "e6 e9 f4"); // out 0xe9, al / hlt
  runToReport(m);
  const regs = m.vcpu.getRegs();
  assert.equal(regs.r12, BigInt(LM_CODE + 8), "rcx: the return RIP");
  assert.equal(regs.r13 & 0xfffn, 0x202n, "r11: the user's rflags");
  assert.equal(regs.r14, BigInt(LM_STACK), "rsp unchanged");
  assert.equal(regs.rflags & 0x200n, 0n, "IF cleared by SFMASK");
});

/** CS after SYSCALL, as KVM_GET_SREGS reports it at the kernel's `out` (kvm_pvm runs guest kernel mode in a user segment). */
function probeSyscallCs(kvm: Kvm): string | undefined {
  using m = syscallMachine(kvm, "e6 e9 f4"); // out 0xe9, al / hlt
  const exit = m.vcpu.run({ timeoutMs: 3000 }), cs = m.vcpu.getSregs().cs;
  if (exit.reason === "io" && cs.selector === 0x08) return undefined;
  return `after SYSCALL (${describe(exit)}) KVM_GET_SREGS reports CS 0x${cs.selector.toString(16)}, not STAR's 0x08`;
}

featureTest("long mode SYSCALL: CS and SS from STAR, a 64-bit CS", probeSyscallCs, (kvm) => {
  using m = syscallMachine(kvm, "e6 e9 f4"); // out 0xe9, al / hlt
  runToReport(m);
  const sregs = m.vcpu.getSregs();
  assert.equal(sregs.cs.selector, 0x08);
  assert.equal(sregs.cs.l, 1);
  assert.equal(sregs.ss.selector, 0x10);
});

/** SYSCALL from CPL 3 and SYSRETQ back: the #GP of the user's `hlt` has its frame at RIP LM_CODE + 12, CS 0x2b. */
function probeSysret(kvm: Kvm): string | undefined {
  using m = syscallMachine(kvm, "48 0f 07"); // o64 sysret
  const exit = m.vcpu.run({ timeoutMs: 3000 }), v = view(m.mem);
  const rip = v.getBigUint64(FRAME_RIP, true), cs = v.getBigUint64(FRAME_RIP + 8, true);
  if (exit.reason === "io" && rip === BigInt(LM_CODE + 12) && cs === 0x2bn) return undefined;
  return `SYSRETQ does not return to CPL 3 at RCX: ${describe(exit)}, the reported frame has RIP 0x${
    rip.toString(16)
  }, CS 0x${cs.toString(16)}`;
}

featureTest("long mode SYSCALL/SYSRET round trip: SYSRETQ returns to 64-bit CPL 3 code at RCX", probeSysret, (kvm) => {
  using m = syscallMachine(kvm, "48 0f 07"); // o64 sysret
  runToReport(m);
  const regs = m.vcpu.getRegs(), v = view(m.mem);
  assert.equal(regs.r12, BigInt(LM_CODE + 8), "rcx: the return RIP");
  assert.equal(regs.r13 & 0xfffn, 0x202n, "r11: the user's rflags");
  assert.equal(regs.r14, BigInt(LM_STACK), "rsp unchanged");
  assert.equal(regs.r15, 0x13n);
  assert.equal(v.getBigUint64(FRAME_RIP + 8, true), 0x2bn, "back in the 64-bit user code segment");
  assert.equal(v.getBigUint64(FRAME_RIP, true), BigInt(LM_CODE + 12));
});

backendTest("long mode IST: an IDT gate with IST 1 switches to TSS.IST1, a plain gate to RSP0", (kvm) => {
  for (const ist of [1, 0]) {
    using m = longMachine(kvm);
    // Handler: mov rbx, rsp / out 0xe9, al / hlt
    m.mem.bytes.set(bytes("48 89 e3 e6 e9 f4"), 0x3200);
    setGate(m.mem, 3, 0x3200n, { ist, dpl: 3 });
    m.mem.bytes.set(bytes("cc f4"), LM_CODE); // int3 / hlt
    enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
    runToReport(m);
    const top = ist ? LM_IST1 : LM_RSP0;
    assert.equal(m.vcpu.getRegs().rbx, BigInt(top - 40), `ist ${ist}: the frame is on its stack`);
    const v = view(m.mem);
    assert.equal(v.getBigUint64(top - 40, true), BigInt(LM_CODE + 1), "RIP after int3");
    assert.equal(v.getBigUint64(top - 16, true), BigInt(LM_STACK), "the user's RSP");
    assert.equal(v.getBigUint64(top - 8, true), 0x23n, "the user's SS");
  }
});

backendTest("long mode IRETQ from CPL 0 to compatibility mode: 32-bit code, then #GP back into 64-bit mode", (kvm) => {
  using m = longMachine(kvm);
  // push 0x23 / push 0x7000 / push 0x202 / push 0x1b / push 0x5000 / iretq
  m.mem.bytes.set(bytes("6a 23 68 00 70 00 00 68 02 02 00 00 6a 1b 68 00 50 00 00 48 cf"), LM_CODE);
  // bits 32: mov eax, 0x12345678 / add eax, ebx / push eax / pop ecx / mov edx, esp / hlt
  m.mem.bytes.set(bytes("b8 78 56 34 12 01 d8 50 59 89 e2 f4"), 0x5000);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rbx: 0x1111111100000001n });
  runToReport(m);
  const regs = m.vcpu.getRegs(), v = view(m.mem);
  assert.equal(regs.rax, 0x12345679n, "a 32-bit result zero-extends in compatibility mode too");
  assert.equal(regs.rcx, 0x12345679n);
  assert.equal(regs.rdx, 0x7000n);
  assert.equal(v.getBigUint64(FRAME_RIP, true), 0x500bn);
  assert.equal(v.getBigUint64(FRAME_RIP + 8, true), 0x1bn, "the frame holds the 32-bit code segment");
  assert.equal(v.getBigUint64(FRAME_RSP, true), 0x7000n);
});

backendTest("long mode IRETQ from CPL 0 to 64-bit CPL 3 code loads RSP, RFLAGS, CS and SS", (kvm) => {
  using m = longMachine(kvm);
  // push 0x23 / push 0x7000 / push 0x202 / push 0x2b / push 0x5100 / iretq
  m.mem.bytes.set(bytes("6a 23 68 00 70 00 00 68 02 02 00 00 6a 2b 68 00 51 00 00 48 cf"), LM_CODE);
  m.mem.bytes.set(bytes("49 89 e0 9c 41 59 f4"), 0x5100); // mov r8, rsp / pushfq / pop r9 / hlt
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  runToReport(m);
  const regs = m.vcpu.getRegs();
  assert.equal(regs.r8, 0x7000n);
  assert.equal(regs.r9, 0x202n);
  assert.equal(view(m.mem).getBigUint64(FRAME_RIP, true), 0x5106n);
});

backendTest("long mode FS/GS base MSRs are the segment bases that CPL 3 addressing adds", (kvm) => {
  using m = longMachine(kvm);
  fillData(m.mem);
  // mov rax, [fs:8] / mov rbx, [gs:0x10] / hlt
  m.mem.bytes.set(bytes("64 48 8b 04 25 08 00 00 00 65 48 8b 1c 25 10 00 00 00 f4"), LM_CODE);
  enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
  m.vcpu.setMsrs([{ index: 0xc0000100, data: 0x8000n }, { index: 0xc0000101, data: 0x8100n }]);
  const sregs = m.vcpu.getSregs();
  assert.equal(sregs.fs.base, 0x8000n);
  assert.equal(sregs.gs.base, 0x8100n);
  runToReport(m);
  const regs = m.vcpu.getRegs(), v = view(m.mem);
  assert.equal(regs.rax, v.getBigUint64(0x8008, true));
  assert.equal(regs.rbx, v.getBigUint64(0x8110, true));
});

backendTest("long mode SWAPGS exchanges GS.base and IA32_KERNEL_GS_BASE", (kvm) => {
  using m = longMachine(kvm);
  // swapgs / mov rax, [gs:0] / mov ecx, 0xc0000102 / rdmsr / out 0xe9, al / hlt
  m.mem.bytes.set(bytes("0f 01 f8 65 48 8b 04 25 00 00 00 00 b9 02 01 00 c0 0f 32 e6 e9 f4"), LM_CODE);
  view(m.mem).setBigUint64(0x8010, 0x1122334455667788n, true);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  m.vcpu.setMsrs([{ index: 0xc0000101, data: 0x1234n }, { index: 0xc0000102, data: 0x8010n }]);
  runToReport(m);
  const regs = m.vcpu.getRegs();
  assert.equal(regs.rax, 0x1234n, "rdmsr: the old GS base is now the kernel GS base");
  assert.equal(regs.rdx, 0n);
  assert.equal(m.vcpu.getSregs().gs.base, 0x8010n);
  assert.equal(m.vcpu.getMsrs([0xc0000102])[0].data, 0x1234n);
});

/** RDTSCP at CPL 3 after KVM_SET_MSRS set TSC_AUX to 0x55: ECX. */
function probeRdtscp(kvm: Kvm): string | undefined {
  using m = longMachine(kvm);
  m.mem.bytes.set(bytes("0f 01 f9 f4"), LM_CODE); // rdtscp / hlt
  enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
  m.vcpu.setMsrs([{ index: 0xc0000103, data: 0x55n }]);
  const exit = m.vcpu.run({ timeoutMs: 3000 }), rcx = m.vcpu.getRegs().rcx;
  if (rcx === 0x55n) return undefined;
  return `RDTSCP at CPL 3 reads ECX 0x${rcx.toString(16)}, not the TSC_AUX 0x55 that KVM_SET_MSRS set (${
    describe(exit)
  })`;
}

featureTest("long mode RDTSCP reads TSC_AUX into ECX and the TSC into EDX:EAX", probeRdtscp, (kvm) => {
  using m = longMachine(kvm);
  m.mem.bytes.set(bytes("0f 01 f9 f4"), LM_CODE); // rdtscp / hlt
  enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
  m.vcpu.setMsrs([{ index: 0xc0000103, data: 0x55n }, { index: 0x10, data: 0x123456789n }]);
  runToReport(m);
  const regs = m.vcpu.getRegs();
  assert.equal(regs.rcx, 0x55n);
  const tsc = (regs.rdx << 32n) | regs.rax;
  assert.ok(tsc >= 0x123456789n && tsc < 0x123456789n + 10n ** 12n, `tsc 0x${tsc.toString(16)}`);
});

backendTest("long mode REP OUTSB exits once per byte; REP INSW takes both words in one exit (RSI/RDI/RCX)", (kvm) => {
  using m = longMachine(kvm);
  fillData(m.mem);
  // mov esi, 0x8000 / mov ecx, 3 / mov dx, 0xe9 / rep outsb /
  // mov edi, 0x8100 / mov ecx, 2 / mov dx, 0x60 / rep insw / out 0xe9, al / hlt
  const code =
    "be 00 80 00 00 b9 03 00 00 00 66 ba e9 00 f3 6e bf 00 81 00 00 b9 02 00 00 00 66 ba 60 00 f3 66 6d e6 e9 f4";
  m.mem.bytes.set(bytes(code), LM_CODE);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  const sent: number[] = [];
  for (let i = 0; i < 3; i++) {
    const e = m.vcpu.run();
    assert.ok(e.reason === "io" && e.direction === "out" && e.port === 0xe9 && e.count === 1, JSON.stringify(e.reason));
    sent.push(e.data[0]);
  }
  assert.deepEqual(sent, [...m.mem.bytes.subarray(LM_DATA, LM_DATA + 3)]);
  const e = m.vcpu.run();
  assert.ok(e.reason === "io" && e.direction === "in" && e.port === 0x60 && e.size === 2, JSON.stringify(e.reason));
  assert.equal(e.count, 2);
  e.data.set([0x11, 0x22, 0x33, 0x44]);
  runToReport(m);
  assert.deepEqual([...m.mem.bytes.subarray(0x8100, 0x8104)], [0x11, 0x22, 0x33, 0x44]);
  const regs = m.vcpu.getRegs();
  assert.equal(regs.rsi, 0x8003n);
  assert.equal(regs.rdi, 0x8104n);
  assert.equal(regs.rcx, 0n);
});

/** WRMSR EFER.LME by 32-bit protected-mode code at CPL 0, paging off: kept, and the guest runs on to its `out`. */
function probeGuestSetsLme(kvm: Kvm): string | undefined {
  using m = longMachine(kvm);
  // mov ecx, 0xc0000080 / rdmsr / or eax, 0x100 / wrmsr / out 0xe9, al / hlt
  m.mem.bytes.set(bytes("b9 80 00 00 c0 0f 32 0d 00 01 00 00 0f 30 e6 e9 f4"), LM_CODE);
  enterProtectedMode(m.vcpu, LM_CODE);
  const exit = m.vcpu.run({ timeoutMs: 3000 }), efer = m.vcpu.getSregs().efer;
  if (exit.reason === "io" && exit.port === 0xe9 && efer & 0x100n) return undefined;
  return `WRMSR EFER.LME outside long mode gives ${describe(exit)}, EFER 0x${efer.toString(16)}`;
}

featureTest(
  "long mode entered by the guest: CR4.PAE, CR3, EFER.LME, CR0.PG set LMA; a far jump enters 64-bit code",
  probeGuestSetsLme,
  (kvm) => {
    using m = longMachine(kvm);
    // bits 32: mov eax, cr4 / or eax, 0x20 / mov cr4, eax / mov eax, 0x10000 / mov cr3, eax /
    //   mov ecx, 0xc0000080 / rdmsr / or eax, 0x100 / wrmsr / mov eax, cr0 / or eax, 0x80000000 / mov cr0, eax /
    //   jmp 0x08:long64
    // bits 64: long64: mov rbx, 0x123456789 / mov ecx, 0xc0000080 / rdmsr / lea rsi, [rel long64] / out 0xe9, al / hlt
    const code = "0f 20 e0 83 c8 20 0f 22 e0 b8 00 00 01 00 0f 22 d8 b9 80 00 00 c0 0f 32 0d 00 01 00 00 0f 30 " +
      "0f 20 c0 0d 00 00 00 80 0f 22 c0 ea 31 40 00 00 08 00 " +
      "48 bb 89 67 45 23 01 00 00 00 b9 80 00 00 c0 0f 32 48 8d 35 e8 ff ff ff e6 e9 f4";
    m.mem.bytes.set(bytes(code), LM_CODE);
    enterProtectedMode(m.vcpu, LM_CODE);
    runToReport(m);
    const regs = m.vcpu.getRegs(), sregs = m.vcpu.getSregs();
    assert.equal(regs.rax & 0x500n, 0x500n, "EFER.LME and LMA, read by the guest");
    assert.equal(regs.rbx, 0x123456789n);
    assert.equal(regs.rsi, BigInt(LM_CODE + 0x31));
    assert.equal(sregs.efer & 0x500n, 0x500n);
    assert.equal(sregs.cs.selector, 0x08);
    assert.equal(sregs.cs.l, 1);
  },
);

backendTest("long mode LFS/LGS with 32- and 64-bit offsets, PUSH/POP FS and GS, MOV r64, Sreg (CPL 0)", (kvm) => {
  using m = longMachine(kvm);
  // mov dword [0x8100], 0x1234 / mov word [0x8104], 0x10 / lfs eax, [0x8100] / mov rbx, 0x1122334455667788 /
  // mov [0x8110], rbx / mov word [0x8118], 0x10 / lgs rcx, [0x8110] / mov rdx, -1 / mov rdx, fs /
  // push fs / pop rsi / push gs / pop fs / mov edi, gs / out 0xe9, al / hlt
  const code =
    "c7 04 25 00 81 00 00 34 12 00 00 66 c7 04 25 04 81 00 00 10 00 0f b4 04 25 00 81 00 00 48 bb 88 77 66 55 44 33 22 11 48 89 1c 25 10 81 00 00 66 c7 04 25 18 81 00 00 10 00 48 0f b5 0c 25 10 81 00 00 48 c7 c2 ff ff ff ff 8c e2 0f a0 5e 0f a8 0f a1 8c ef e6 e9 f4";
  m.mem.bytes.set(bytes(code), LM_CODE);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  runToReport(m);
  const regs = m.vcpu.getRegs(), sregs = m.vcpu.getSregs();
  assert.equal(regs.rax, 0x1234n);
  assert.equal(regs.rcx, 0x1122334455667788n);
  assert.equal(regs.rdx, 0x10n, "mov r64, Sreg zero-extends");
  assert.equal(regs.rsi, 0x10n);
  assert.equal(regs.rdi, 0x10n);
  assert.equal(regs.rsp, BigInt(LM_STACK));
  assert.equal(sregs.fs.selector, 0x10);
  assert.equal(sregs.gs.selector, 0x10);
});

backendTest("long mode delivery at the same privilege aligns RSP to 16 bytes and keeps SS", (kvm) => {
  using m = longMachine(kvm);
  m.mem.bytes.set(bytes("48 89 e3 e6 e9 f4"), 0x3200); // mov rbx, rsp / out 0xe9, al / hlt
  setGate(m.mem, 13, 0x3200n);
  // mov rax, 0x8000000000000000 / mov rbx, [rax]: #GP(0) at CPL 0
  m.mem.bytes.set(bytes("48 b8 00 00 00 00 00 00 00 80 48 8b 18 f4"), LM_CODE);
  enterLongMode(m.vcpu, BigInt(LM_CODE), { rsp: 0x7008n });
  runToReport(m);
  assert.equal(m.vcpu.getRegs().rbx, 0x7000n - 48n);
  const v = view(m.mem);
  assert.equal(v.getBigUint64(0x7000 - 16, true), 0x7008n, "the old RSP");
  assert.equal(v.getBigUint64(0x7000 - 8, true), 0x10n, "the old SS");
  assert.equal(v.getBigUint64(0x7000 - 40, true), BigInt(LM_CODE + 10), "RIP of the faulting load");
  assert.equal(v.getBigUint64(0x7000 - 48, true), 0n, "error code 0");
});

backendTest("long mode KVM_INTERRUPT: an external interrupt reaches CPL 3 code through a 64-bit gate", (kvm) => {
  using m = longMachine(kvm);
  m.mem.bytes.set(bytes("48 89 e3 e6 e9 f4"), 0x3200); // mov rbx, rsp / out 0xe9, al / hlt
  setGate(m.mem, 0x20, 0x3200n);
  m.mem.bytes.set(bytes("eb fe"), LM_CODE); // jmp $
  enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
  m.vcpu.interrupt(0x20);
  runToReport(m);
  const v = view(m.mem);
  assert.equal(m.vcpu.getRegs().rbx, BigInt(LM_RSP0 - 40));
  assert.equal(v.getBigUint64(FRAME_RIP, true), BigInt(LM_CODE));
  assert.equal(v.getBigUint64(FRAME_RIP + 8, true), 0x2bn);
});

backendTest(
  "long mode removed opcodes are #UD at CPL 3: PUSH/POP ES CS SS DS, DAA DAS AAA AAS, PUSHA POPA, INTO, AAM AAD, SALC, far ptr",
  (kvm) => {
    const removed = [
      0x06,
      0x07,
      0x0e,
      0x16,
      0x17,
      0x1e,
      0x1f,
      0x27,
      0x2f,
      0x37,
      0x3f,
      0x60,
      0x61,
      0xce,
      0xd4,
      0xd5,
      0xd6,
    ];
    for (const op of [...removed, 0x9a, 0xea]) {
      using m = longMachine(kvm);
      m.mem.bytes.set(bytes("bb 06 00 00 00 e6 e9 f4"), 0x3180); // mov ebx, 6 / out 0xe9, al / hlt
      setGate(m.mem, 6, 0x3180n);
      m.mem.bytes.set([op, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf4], LM_CODE);
      enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
      runToReport(m);
      assert.equal(m.vcpu.getRegs().rbx, 6n, `opcode ${op.toString(16)}: #UD`);
      assert.equal(view(m.mem).getBigUint64(FRAME_RIP, true), BigInt(LM_CODE), `opcode ${op.toString(16)}: RIP`);
    }
  },
);

for (const vendor of ["intel", "amd"] as const) {
  test(`emu (${vendor}): SYSENTER/SYSEXIT in 64-bit mode ${vendor === "intel" ? "round trip" : "is #UD"}`, () => {
    using kvm = Kvm.open({ backend: "emu", vendor });
    using m = longMachine(kvm);
    // Kernel at SYSENTER_EIP: mov rbx, rsp / mov r12, rdx / mov r13, rcx / o64 sysexit
    m.mem.bytes.set(bytes("48 89 e3 49 89 d4 49 89 cd 48 0f 35"), 0x3300);
    m.mem.bytes.set(bytes("bb 06 00 00 00 e6 e9 f4"), 0x3180); // #UD: mov ebx, 6 / out 0xe9, al / hlt
    setGate(m.mem, 6, 0x3180n);
    // mov edx, 0x400c / mov ecx, 0x6f00 / sysenter / hlt
    m.mem.bytes.set(bytes("ba 0c 40 00 00 b9 00 6f 00 00 0f 34 f4"), LM_CODE);
    enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
    m.vcpu.setMsrs([{ index: 0x174, data: 0x08n }, { index: 0x175, data: 0x9000n }, { index: 0x176, data: 0x3300n }]);
    runToReport(m);
    const regs = m.vcpu.getRegs(), v = view(m.mem);
    if (vendor === "amd") {
      assert.equal(regs.rbx, 6n);
      assert.equal(v.getBigUint64(FRAME_RIP, true), BigInt(LM_CODE + 10));
      return;
    }
    assert.equal(regs.rbx, 0x9000n, "RSP from IA32_SYSENTER_ESP");
    assert.equal(v.getBigUint64(FRAME_RIP, true), BigInt(LM_CODE + 12), "SYSEXIT to RDX");
    assert.equal(v.getBigUint64(FRAME_RIP + 8, true), 0x2bn, "CS = SYSENTER_CS + 32, RPL 3");
    assert.equal(v.getBigUint64(FRAME_RSP, true), 0x6f00n, "RSP from RCX");
  });
}
