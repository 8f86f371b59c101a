/**
 * The local APIC timer on the host's clock: one-shot (with TMCCT counting
 * down), periodic, and TSC-deadline (IA32_TSC_DEADLINE at the rate
 * KVM_GET_TSC_KHZ reports), each measured from the host; and x2APIC mode's
 * MSRs (ID, self-IPI, EOI). Same guests and assertions on both backends.
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../mod.ts";
import { featureTest } from "../_support/guests.ts";
import { backendTest } from "../_support/harness.ts";
import * as irq from "./_irqchip.ts";

const TDCR = irq.LAPIC + 0x3e0, LVTT = irq.LAPIC + 0x320, TMICT = irq.LAPIC + 0x380, TMCCT = irq.LAPIC + 0x390;

/** `mov ecx, msr; wrmsr` with edx:eax already set. */
function wrmsr(msr: number): string[] {
  return [`b9 ${irq.le32(msr)}`, "0f 30"];
}

/** `mov ecx, msr; rdmsr; shr eax, shift; out 0xe8, al`. */
function reportMsr(msr: number, shift = 0): string[] {
  return [`b9 ${irq.le32(msr)}`, "0f 32", ...(shift ? [`c1 e8 ${shift.toString(16)}`] : []), "e6 e8"];
}

/** Gives the vCPU the CPUID the backend supports (the TSC-deadline timer and x2APIC bits among it). */
function supportedCpuid(kvm: Kvm, m: { vcpu: { setCpuid2(e: ReturnType<Kvm["supportedCpuid"]>): void } }): void {
  m.vcpu.setCpuid2(kvm.supportedCpuid());
}

/** Whether the backend's supported CPUID has CPUID.1:ECX bit `bit` (`what`). */
function cpuidBit(bit: number, what: string): (kvm: Kvm) => string | undefined {
  return (kvm) => {
    const leaf1 = kvm.supportedCpuid().find((e) => e.function === 1);
    return leaf1 && leaf1.ecx & (1 << bit) ? undefined : `no ${what} in KVM_GET_SUPPORTED_CPUID`;
  };
}

backendTest("LAPIC timer: without KVM_SET_CPUID2 LVTT keeps no timer mode bits", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start32(m, [...irq.LAPIC_ENABLE, ...irq.store32(LVTT, 0x20041), ...irq.report32(LVTT, 16), "f4"]);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0);
});

backendTest("LAPIC timer: one-shot fires once after TMICT ticks of the 1 GHz bus; TMCCT counts down", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start32(m, [
    ...irq.LAPIC_ENABLE,
    ...irq.store32(TDCR, 0xb), //     divide by 1
    ...irq.store32(LVTT, 0x40), //    one-shot, vector 0x40
    "e6 e9", //                   ready
    ...irq.store32(TMICT, 5_000_000), // 5 ms
    ...irq.report32(TMCCT, 16),
    ...irq.READY_THEN_IDLE.slice(1),
  ]);
  irq.handler32(m, 0, 0x40, 0x40);
  irq.nextOut(m.vcpu, irq.READY);
  const t0 = performance.now();
  const left = irq.nextOut(m.vcpu, irq.MARK);
  assert.ok(left >= 0x40 && left <= 0x4c, `TMCCT >> 16 = 0x${left.toString(16)} just after TMICT = 0x4c4b40`);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x40);
  const ms = performance.now() - t0;
  assert.ok(ms >= 4.5 && ms < 1000, `the 5 ms one-shot fired after ${ms.toFixed(2)} ms`);
  irq.quiet(m.vcpu, 30);
});

backendTest("LAPIC timer: periodic at 1 ms interrupts 20 times in about 20 ms", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  supportedCpuid(kvm, m); // the kernel lets LVTT's mode bits be set only once the vCPU has a CPUID
  irq.start32(m, [
    ...irq.LAPIC_ENABLE,
    ...irq.store32(TDCR, 0xb),
    ...irq.store32(LVTT, 0x20041), //  periodic, vector 0x41
    "e6 e9",
    ...irq.store32(TMICT, 1_000_000),
    ...irq.READY_THEN_IDLE.slice(1),
  ]);
  irq.handler32(m, 0, 0x41, 0x41);
  irq.nextOut(m.vcpu, irq.READY);
  assert.equal(new DataView(m.vcpu.getLapic().buffer).getUint32(0x320, true), 0x20041, "LVTT: periodic");
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x41);
  const ms = performance.now() - t0;
  assert.ok(ms >= 18 && ms < 3000, `20 periods of 1 ms took ${ms.toFixed(2)} ms`);
});

featureTest(
  "LAPIC timer: TSC-deadline mode fires when the TSC passes IA32_TSC_DEADLINE, which then reads 0",
  cpuidBit(24, "TSC-deadline timer"),
  (kvm) => {
    using m = irq.irqchipMachine(kvm);
    supportedCpuid(kvm, m);
    const ticks = m.vcpu.getTscKhz() * 5; // 5 ms
    irq.start32(m, [
      ...irq.LAPIC_ENABLE,
      ...irq.store32(LVTT, 0x40042), //  TSC-deadline, vector 0x42
      "e6 e9",
      "0f 31", //                    rdtsc
      `05 ${irq.le32(ticks)}`, //        add eax, ticks
      "83 d2 00", //                 adc edx, 0
      ...wrmsr(0x6e0),
      ...irq.READY_THEN_IDLE.slice(1),
    ]);
    irq.handler32(m, 0, 0x42, 0x42, [`b9 ${irq.le32(0x6e0)}`, "0f 32", "09 d0", "e6 e8"]); // report IA32_TSC_DEADLINE | high
    irq.nextOut(m.vcpu, irq.READY);
    const t0 = performance.now();
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0, "IA32_TSC_DEADLINE after it fired");
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x42);
    const ms = performance.now() - t0;
    assert.ok(ms >= 4.5 && ms < 1000, `the 5 ms deadline fired after ${ms.toFixed(2)} ms`);
  },
);

featureTest(
  "x2APIC: enabled through IA32_APIC_BASE; ID and version MSRs, self-IPI MSR, IRR and EOI MSRs",
  cpuidBit(21, "x2APIC"),
  (kvm) => {
    using m = irq.irqchipMachine(kvm);
    supportedCpuid(kvm, m);
    irq.start32(m, [
      ...irq.LAPIC_ENABLE,
      "b9 1b 00 00 00", //  mov ecx, IA32_APIC_BASE
      "0f 32", //           rdmsr
      "0d 00 04 00 00", //  or eax, EXTD
      "0f 30", //           wrmsr
      ...reportMsr(0x802), // ID
      ...reportMsr(0x803), // version
      "31 d2", //           xor edx, edx
      "b8 56 00 00 00", //  mov eax, 0x56
      ...wrmsr(0x83f), //   SELF IPI
      ...reportMsr(0x822, 16), // IRR bits 0x50-0x57
      ...irq.READY_THEN_IDLE.slice(1),
    ]);
    irq.handler32(m, 0, 0x56, 0x56, ["31 c0", "31 d2", ...wrmsr(0x80b)], false); // EOI through the MSR
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0, "x2APIC ID");
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x14, "version");
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x40, "IRR bit 0x56");
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x56);
    irq.quiet(m.vcpu, 30);
  },
);

backendTest("TSC: the guest's TSC advances at KVM_GET_TSC_KHZ's rate of host time", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  if (kvm.backend === "emu") m.vcpu.setTscKhz(2_500_000); // any rate: the emulator has KVM_CAP_TSC_CONTROL
  const khz = m.vcpu.getTscKhz();
  // rdtsc; out 0xe8 (eax); mov eax, edx; out 0xe8 (high) ... twice, the host waiting between.
  const read = ["0f 31", "e7 e8", "89 d0", "e7 e8"];
  irq.start32(m, [...read, ...read, "f4"]);
  const tsc = () => {
    const lo = m.vcpu.run({ timeoutMs: 5000 });
    assert.ok(lo.reason === "io" && lo.size === 4);
    const l = new DataView(lo.data.buffer, lo.data.byteOffset).getUint32(0, true);
    const hi = m.vcpu.run({ timeoutMs: 5000 });
    assert.ok(hi.reason === "io" && hi.size === 4);
    return BigInt(new DataView(hi.data.buffer, hi.data.byteOffset).getUint32(0, true)) * 2n ** 32n + BigInt(l);
  };
  // The window is measured between the two reads, long enough that a read's own latency (a first run on the
  // emulator compiles its block; a loaded machine) is small beside it.
  const a = tsc(), t0 = performance.now();
  const until = t0 + 200;
  while (performance.now() < until) { /* 200 ms of host time */ }
  const t1 = performance.now(), b = tsc(), ms = t1 - t0;
  const rate = Number(b - a) / ms; // ticks per ms = kHz
  assert.ok(rate > khz * 0.8 && rate < khz * 1.25, `TSC ran at ${rate.toFixed(0)} kHz, KVM_GET_TSC_KHZ says ${khz}`);
});

backendTest("KVM_GET/SET_LAPIC: a running one-shot timer survives the round trip and fires", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start32(m, [
    ...irq.LAPIC_ENABLE,
    ...irq.store32(TDCR, 0xb),
    ...irq.store32(LVTT, 0x43),
    ...irq.store32(TMICT, 20_000_000), // 20 ms
    "e6 e9",
    ...irq.READY_THEN_IDLE.slice(1),
  ]);
  irq.handler32(m, 0, 0x43, 0x43);
  irq.nextOut(m.vcpu, irq.READY);
  const page = m.vcpu.getLapic();
  const left = new DataView(page.buffer, page.byteOffset).getUint32(0x390, true);
  assert.ok(left > 0 && left <= 20_000_000, `TMCCT ${left}`);
  m.vcpu.setLapic(page);
  const t0 = performance.now();
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x43);
  const ms = performance.now() - t0;
  assert.ok(ms < left / 1e6 + 500, `fired ${ms.toFixed(1)} ms after the round trip, with ${left / 1e6} ms left`);
  irq.quiet(m.vcpu, 40);
});
