/**
 * Protected mode: call gates (to the same level, and a CALL from CPL 3 to
 * CPL 0 with the TSS stack switch and the copy of the gate's parameters,
 * back with RETF imm16 to the outer level), privilege checks of segment
 * loads and gates, exceptions and interrupts from CPL 3 with IRET back,
 * RETF to an outer level, LAR/LSL/VERR/VERW/ARPL. Each runs on KVM too;
 * where the host's KVM cannot run a feature (kvm_pvm runs CPL 3 natively,
 * where a call gate, INT n or LAR give the guest #UD, and its kernel's
 * instruction emulator, which runs CPL 0, has no call gates, LAR/LSL, or
 * IRET/RETF to an outer level), the probe named beside the test says so and
 * the KVM half is skipped with that finding.
 *
 * @module
 */
import type { Kvm } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import { benchTest, featureTest } from "../_support/guests.ts";
import {
  bench32,
  probeCallGates,
  probeIntFromCpl3,
  probeIretToCpl3,
  probeLarAtCpl0,
  probeRetfToCpl3,
  probeRun,
  unlessOut,
} from "../_support/probes.ts";
import { bench, descriptor, enter, expectOut, FREE_INDEX, gate, K_CODE, put, setGdt, setIdt } from "../_support/sys.ts";

const IOPL3 = 0x3000n;
// 0x1000 (CPL 3): push dword 0x11111111 / push dword 0x22222222 / call 0x43:0 (the gate, RPL 3)
//   mov eax, esp / out 0xe9, eax / mov eax, cs / out 0xe9, eax / mov eax, ss / out 0xe9, eax / hlt (#GP at CPL 3)
// 0x1100 (CPL 0): out cs, ss, esp, then the six dwords at [esp] ... [esp+20] / retf 8
benchTest("call gate from CPL 3 to CPL 0: stack switch, 2 parameters copied, RETF 8 back", probeCallGates, {
  0x1000: "681111111168222222229a00000000430089e0e7e98cc8e7e98cd0e7e9f4",
  0x1100: "8cc8e7e98cd0e7e989e0e7e98b0424e7e98b442404e7e98b442408e7e98b44240ce7e98b442410e7e98b442414e7e9ca0800",
}, (b) => {
  setGdt(b, FREE_INDEX, gate(0xc, K_CODE, 0x1100, 3, 2));
  enter(b, { cpl: 3, rflags: IOPL3 });
  expectOut(b.vcpu, [
    0x08, // cs at CPL 0
    0x10, // ss from TSS.ss0
    0x8000 - 24, // TSS.esp0 less old SS, old ESP, 2 parameters, CS, EIP
    0x1011, // return EIP
    0x1b, // return CS
    0x22222222, // parameter at the lowest address
    0x11111111,
    0x6000 - 8, // caller's ESP
    0x23, // caller's SS
    0x6000, // ESP after RETF 8 (parameters released on the caller's stack)
    0x1b,
    0x23,
    13,
    0,
    0x101d,
    0x1b, // hlt at CPL 3: #GP(0)
  ]);
});

// 0x1000 (CPL 0): mov eax, esp / out 0xe9, eax / call 0x40:0 (16-bit call gate) / mov eax, esp / out 0xe9, eax
//   jmp 0x48:0 (32-bit call gate)
// 0x1100: mov eax, esp / out 0xe9, eax / mov eax, [esp] / out 0xe9, eax / o16 retf
// 0x1200: mov eax, cs / out 0xe9, eax / hlt
benchTest("16-bit call gate pushes a 16-bit CS:IP; JMP through a 32-bit call gate", probeCallGates, {
  0x1000: "89e0e7e99a00000000400089e0e7e9ea000000004800",
  0x1100: "89e0e7e98b0424e7e966cb",
  0x1200: "8cc8e7e9f4",
}, (b) => {
  setGdt(b, FREE_INDEX, gate(4, K_CODE, 0x1100));
  setGdt(b, FREE_INDEX + 1, gate(0xc, K_CODE, 0x1200));
  enter(b);
  expectOut(b.vcpu, [0x7000, 0x6ffc, 0x8100b, 0x7000, 0x8]);
});

// 0x1000 (CPL 0): call 0x43:0
featureTest("call gate faults: DPL below CPL is #GP(gate), a gate not present is #NP(gate)", probeCallGates, (kvm) => {
  for (const [dpl, present, vector] of [[0, 1, 13], [3, 0, 11]]) {
    using b = bench(kvm);
    put(b, 0x1000, "9a00000000430090");
    setGdt(b, FREE_INDEX, gate(0xc, K_CODE, 0x1100, dpl, 0, present));
    enter(b, { cpl: 3 });
    expectOut(b.vcpu, [vector, 0x40, 0x1000, 0x1b]);
  }
});

// 0x1000 (CPL 3): mov eax, 0x12345678 / int 0x30 / out 0xe9, eax / mov eax, cs / out 0xe9, eax
//   mov eax, ss / out 0xe9, eax / mov eax, esp / out 0xe9, eax / int 0x31 (a DPL 0 gate)
// 0x1100 (CPL 0): mov ebx, eax / out esp, then the five dwords at [esp] ... [esp+16]
//   mov eax, ebx / not eax / iret
benchTest("INT from CPL 3 through a DPL 3 gate switches to TSS.ss0:esp0; IRET returns to CPL 3", probeIntFromCpl3, {
  0x1000: "b878563412cd30e7e98cc8e7e98cd0e7e989e0e7e9cd31",
  0x1100: "89c389e0e7e98b0424e7e98b442404e7e98b442408e7e98b44240ce7e98b442410e7e989d8f7d0cf",
}, (b) => {
  enter(b, { cpl: 3, rflags: IOPL3, idtLimit: 0x40 * 8 - 1 });
  setIdt(b, 0x30, gate(0xe, K_CODE, 0x1100, 3));
  setIdt(b, 0x31, gate(0xe, K_CODE, 0x1100, 0));
  expectOut(b.vcpu, [
    0x8000 - 20, // TSS.esp0 less SS, ESP, EFLAGS, CS, EIP
    0x1007, // EIP after int 0x30
    0x1b,
    0x3002, // EFLAGS (IOPL 3)
    0x6000,
    0x23,
    0xedcba987, // back at CPL 3 with the handler's eax
    0x1b,
    0x23,
    0x6000,
    13,
    0x18a,
    0x1015,
    0x1b, // int 0x31: #GP(0x31 * 8 + 2), not delivered through the gate
  ]);
});

// 0x1000 (CPL 3): mov eax, 0x12345678 / hlt / out 0xe9, eax / mov eax, cs / out 0xe9, eax / mov eax, ss
//   out 0xe9, eax / mov eax, esp / out 0xe9, eax / hlt
// 0x1100 (CPL 0, the #GP handler): mov ebx, eax / out esp, then the six dwords at [esp] ... [esp+20]
//   inc dword [0x9000] / cmp dword [0x9000], 2 / je done / add dword [esp+4], 1 / add esp, 4
//   mov eax, ebx / not eax / iret / done: hlt
benchTest("#GP at CPL 3 switches to TSS.ss0:esp0, pushing EFLAGS with RF; IRET returns to CPL 3", probeIretToCpl3, {
  0x1000: "b878563412f4e7e98cc8e7e98cd0e7e989e0e7e9f4",
  0x1100: "89c389e0e7e98b0424e7e98b442404e7e98b442408e7e98b44240ce7e98b442410e7e98b442414e7e9ff0500900000833d00900000" +
    "02740d834424040183c40489d8f7d0cff4",
}, (b) => {
  enter(b, { cpl: 3, rflags: IOPL3 });
  setIdt(b, 13, gate(0xe, K_CODE, 0x1100));
  const frame = (eip: number) => [0x8000 - 24, 0, eip, 0x1b, 0x13002, 0x6000, 0x23];
  expectOut(b.vcpu, [...frame(0x1005), 0xedcba987, 0x1b, 0x23, 0x6000, ...frame(0x1014)]);
});

// The same guest, with the handler told to stop at the first fault ([0x9000] = 1), and at CPL 0.
backendTest("#GP at CPL 3 and at CPL 0: the frame the handler sees", (kvm) => {
  for (const cpl of [3, 0] as const) {
    using b = bench(kvm);
    put(b, 0x1000, cpl === 3 ? "b878563412f4" : "b87856341266b823008ed0");
    put(
      b,
      0x1100,
      "89c389e0e7e98b0424e7e98b442404e7e98b442408e7e98b44240ce7e98b442410e7e98b442414e7e9ff0500900000833d00900000" +
        "02740d834424040183c40489d8f7d0cff4",
    );
    b.view.setUint32(0x9000, 1, true);
    enter(b, { cpl, rflags: IOPL3 });
    setIdt(b, 13, gate(0xe, K_CODE, 0x1100));
    // CPL 0: mov ax, 0x23 / mov ss, ax is #GP(0x20); the frame has no SS:ESP, so [esp+16] and [esp+20] are
    // the words the stack held above it (zero).
    const frame = cpl === 3 ? [0x8000 - 24, 0, 0x1005, 0x1b, 0x13002, 0x6000, 0x23] : [
      0x7000 - 16,
      0x20,
      0x1009,
      0x08,
      0x13002,
      0,
      0,
    ];
    expectOut(b.vcpu, frame);
  }
});

/** Segment-register loads that fault, with the selector in the error code. */
const LOAD_FAULTS: Array<[string, string, 0 | 3, number[]]> = [
  // mov ax, 0x10 / mov ds, ax (DPL 0 data at CPL 3)
  ["DPL 0 data into DS at CPL 3: #GP(sel)", "66b810008ed8", 3, [13, 0x10, 0x1004, 0x1b]],
  // mov ax, 0x23 / mov ss, ax (RPL 3 at CPL 0)
  ["SS with RPL != CPL: #GP(sel)", "66b823008ed0", 0, [13, 0x20, 0x1004, 0x08]],
  // mov ax, 0x40 / mov ds, ax (not present)
  ["DS not present: #NP(sel)", "66b840008ed8", 0, [11, 0x40, 0x1004, 0x08]],
  // mov ax, 0x48 / mov ss, ax (not present)
  ["SS not present: #SS(sel)", "66b848008ed0", 0, [12, 0x48, 0x1004, 0x08]],
  // mov ax, 0x50 / mov ds, ax / mov eax, [0xffe] (limit 0xfff)
  ["a read past DS's limit: #GP(0)", "66b850008ed8a1fe0f0000", 0, [13, 0, 0x1006, 0x08]],
  // mov ax, 0x108 / mov es, ax (beyond the GDT limit)
  ["a selector beyond the GDT: #GP(sel)", "66b808018ec0", 0, [13, 0x108, 0x1004, 0x08]],
  // mov ax, 0x08 / mov ds, ax / mov ebx, [0x1000] / mov ss, ax (readable code: DS yes, SS no)
  ["readable code into DS, but not into SS: #GP(sel)", "66b808008ed88b1d001000008ed0", 0, [13, 8, 0x100c, 8]],
  // mov ax, 0x5b / mov ss, ax / push eax (ESP 0x6000 is past SS's limit 0xfff; the handler runs on TSS.esp0)
  ["a push past SS's limit: #SS(0)", "66b85b008ed050", 3, [12, 0, 0x1006, 0x1b]],
];

for (const [what, code, cpl, expected] of LOAD_FAULTS) {
  backendTest(`segment load: ${what}`, (kvm) => {
    using b = bench(kvm);
    put(b, 0x1000, code);
    setGdt(b, FREE_INDEX, descriptor(0, 0xffff, 3, { present: 0 }));
    setGdt(b, FREE_INDEX + 1, descriptor(0, 0xffff, 3, { present: 0 }));
    setGdt(b, FREE_INDEX + 2, descriptor(0, 0xfff, 3));
    setGdt(b, FREE_INDEX + 3, descriptor(0, 0xfff, 3, { dpl: 3 }));
    enter(b, { cpl });
    expectOut(b.vcpu, expected);
  });
}

// %macro R 0 = out 0xe9, eax / setz al / movzx eax, al / out 0xe9, eax      (the result, then ZF)
// %macro T 2 = mov eax, 0xdeadbeef / mov ebx, %2 / %1 eax, ebx / R
// T lar, 0x08 / T lsl, 0x08 / T lar, 0x50 / T lsl, 0x50 / T lar, 0x28 / T lsl, 0x28 / T lar, 0x40 / T lsl, 0x40
// T lar, 0x108 / T lar, 0 / mov eax, 0xdeadbeef / mov ebx, 0x50 / lar ax, bx / R
// mov eax, 0x08 / verr ax / R / mov eax, 0x08 / verw ax / R / mov eax, 0x13 / verw ax / R
// mov eax, 0x10 / mov ecx, 3 / arpl ax, cx / R / mov eax, 0x12 / mov ecx, 1 / arpl ax, cx / R / hlt
benchTest("LAR, LSL, VERR, VERW, ARPL at CPL 0", probeLarAtCpl0, {
  0x1000: "b8efbeaddebb080000000f02c3e7e90f94c00fb6c0e7e9b8efbeaddebb080000000f03c3e7e90f94c00fb6c0e7e9b8efbeaddebb" +
    "500000000f02c3e7e90f94c00fb6c0e7e9b8efbeaddebb500000000f03c3e7e90f94c00fb6c0e7e9b8efbeaddebb280000000f02" +
    "c3e7e90f94c00fb6c0e7e9b8efbeaddebb280000000f03c3e7e90f94c00fb6c0e7e9b8efbeaddebb400000000f02c3e7e90f94c0" +
    "0fb6c0e7e9b8efbeaddebb400000000f03c3e7e90f94c00fb6c0e7e9b8efbeaddebb080100000f02c3e7e90f94c00fb6c0e7e9b8" +
    "efbeaddebb000000000f02c3e7e90f94c00fb6c0e7e9b8efbeaddebb50000000660f02c3e7e90f94c00fb6c0e7e9b8080000000f" +
    "00e0e7e90f94c00fb6c0e7e9b8080000000f00e8e7e90f94c00fb6c0e7e9b8130000000f00e8e7e90f94c00fb6c0e7e9b8100000" +
    "00b90300000063c8e7e90f94c00fb6c0e7e9b812000000b90100000063c8e7e90f94c00fb6c0e7e9f4",
}, (b) => {
  setGdt(b, FREE_INDEX, gate(0xc, K_CODE, 0x1100, 3));
  setGdt(b, FREE_INDEX + 2, descriptor(0, 0xfff, 3));
  enter(b);
  const no = [0xdeadbeef, 0];
  expectOut(b.vcpu, [
    ...[0xcf9b00, 1, 0xffffffff, 1], // flat code: access rights, limit
    ...[0x409300, 1, 0xfff, 1], // byte-granular data
    ...[0x8b00, 1, 0x67, 1], // busy TSS
    ...[0xec00, 1, ...no], // call gate: LAR only
    ...no, // beyond the GDT
    ...no, // null
    ...[0xdead9300, 1], // 16-bit LAR
    ...[8, 1, 8, 0], // code: readable, not writable
    ...[0x13, 0], // DPL 0 data with RPL 3: not writable
    ...[0x13, 1, 0x12, 0], // ARPL raises RPL 0 to 3, leaves 2 over 1
  ]);
});

/** LAR at CPL 3: the access rights of the flat DPL 3 code segment (0x1b). */
function probeLarAtCpl3(kvm: Kvm): string | undefined {
  // mov ebx, 0x1b / lar eax, ebx / out 0xe9, eax / hlt
  using b = bench32(kvm, "bb1b000000 0f02c3 e7e9 f4", 3);
  return unlessOut(probeRun(b.vcpu), [0xcffb00], "LAR at CPL 3 does not answer 0xcffb00 for the flat user code");
}

// As above at CPL 3: T lar, 0x1b / T lar, 0x08 / T lar, 0x0b / T lsl, 0x23 / T lsl, 0x28
//   mov eax, 0x10 / verr ax / R / mov eax, 0x23 / verw ax / R / hlt (#GP)
benchTest("LAR, LSL, VERR, VERW at CPL 3: DPL 0 descriptors are invisible", probeLarAtCpl3, {
  0x1000: "b8efbeaddebb1b0000000f02c3e7e90f94c00fb6c0e7e9b8efbeaddebb080000000f02c3e7e90f94c00fb6c0e7e9b8efbeaddebb" +
    "0b0000000f02c3e7e90f94c00fb6c0e7e9b8efbeaddebb230000000f03c3e7e90f94c00fb6c0e7e9b8efbeaddebb280000000f03" +
    "c3e7e90f94c00fb6c0e7e9b8100000000f00e0e7e90f94c00fb6c0e7e9b8230000000f00e8e7e90f94c00fb6c0e7e9f4",
}, (b) => {
  enter(b, { cpl: 3, rflags: IOPL3 });
  const no = [0xdeadbeef, 0];
  expectOut(b.vcpu, [
    ...[0xcffb00, 1], // DPL 3 code
    ...no, // DPL 0 code
    ...no, // DPL 0 code, RPL 3
    ...[0xffffffff, 1], // DPL 3 data
    ...no, // the TSS (DPL 0)
    ...[0x10, 0], // DPL 0 data: not readable at CPL 3
    ...[0x23, 1],
    ...[13, 0, 0x1097, 0x1b],
  ]);
});

// 0x1000 (CPL 0): mov ax, 0x10 / mov ds, ax / mov ax, 0x23 / mov es, ax / mov ax, 0x08 / mov fs, ax
//   push dword 0x23 / push dword 0x5800 / push dword 0x1b / push dword 0x1100 / retf
// 0x1100 (CPL 3): out ds, es, fs, esp / mov eax, [0x9000] (#GP: DS is null)
benchTest("RETF to an outer level loads SS:ESP and nulls data segments the new level may not use", probeRetfToCpl3, {
  0x1000: "66b810008ed866b823008ec066b808008ee06a2368005800006a1b6800110000cb",
  0x1100: "8cd8e7e98cc0e7e98ce0e7e989e0e7e9a100900000",
}, (b) => {
  enter(b, { rflags: IOPL3 });
  expectOut(b.vcpu, [0, 0x23, 0, 0x5800, 13, 0, 0x1110, 0x1b]);
});
