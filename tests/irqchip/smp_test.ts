/**
 * Two vCPUs in Workers: the boot vCPU starts the other one with
 * INIT-SIPI-SIPI through its x2APIC's ICR, the started AP sends the BSP an
 * IPI, and the BSP's handler answers with one to the AP. Same program on
 * both backends (on the emulator, both Workers' vCPUs run in slices on the
 * owner's thread, and a halted one waits without holding it).
 */
import assert from "node:assert/strict";
import { KVM_MP_STATE_HALTED, KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_UNINITIALIZED } from "../../abi/constants.ts";
import { backendTest } from "../_support/harness.ts";
import { CODE, describe, load, machine, realMode } from "../_support/guests.ts";
import { runInWorker } from "./_irqchip.ts";
import { x2apicEnable } from "./_irqchip.ts";

/** Where the AP starts: SIPI vector 3, so CS = 0x300, IP = 0. */
const AP_START = 0x3000;

const BSP = [
  ...x2apicEnable("66 "),
  "66 b9 30 08 00 00", // mov ecx, ICR
  "66 ba 01 00 00 00", // mov edx, 1 (APIC 1)
  "66 b8 00 45 00 00", // mov eax, 0x4500 (INIT, assert)
  "0f 30", //             wrmsr
  "66 b8 03 46 00 00", // mov eax, 0x4603 (SIPI, vector 3)
  "0f 30", //             wrmsr
  "0f 30", //             wrmsr (the second SIPI)
  "fb", //                sti
  "f4", //                idle: hlt
  "eb fd", //             jmp idle
];
// The BSP's handler of vector 0x60: EOI, IPI 0x61 to APIC 1, mark 0xb0.
const BSP_HANDLER = [
  "66 b9 0b 08 00 00", // mov ecx, EOI
  "66 31 c0", //          xor eax, eax
  "66 31 d2", //          xor edx, edx
  "0f 30", //             wrmsr
  "66 b9 30 08 00 00", // mov ecx, ICR
  "66 ba 01 00 00 00", // mov edx, 1
  "66 b8 61 00 00 00", // mov eax, 0x61
  "0f 30", //             wrmsr
  "b0 b0", //             mov al, 0xb0
  "e6 e8", //             out 0xe8, al
  "cf", //                iret
];
const AP = [
  ...x2apicEnable("66 "),
  "b0 a0", //             mov al, 0xa0
  "e6 e8", //             out 0xe8, al (alive)
  "66 b9 30 08 00 00", // mov ecx, ICR
  "66 31 d2", //          xor edx, edx (APIC 0)
  "66 b8 60 00 00 00", // mov eax, 0x60
  "0f 30", //             wrmsr
  "fb", //                sti
  "f4", //                idle: hlt
  "eb fd", //             jmp idle
];
// The AP's handler of vector 0x61: mark 0xa1, EOI.
const AP_HANDLER = [
  "b0 a1", //             mov al, 0xa1
  "e6 e8", //             out 0xe8, al
  "66 b9 0b 08 00 00", // mov ecx, EOI
  "66 31 c0", //          xor eax, eax
  "66 31 d2", //          xor edx, edx
  "0f 30", //             wrmsr
  "cf", //                iret
];

backendTest(
  "SMP: the BSP starts the AP with INIT-SIPI-SIPI, and they exchange IPIs, each vCPU in a Worker",
  async (kvm) => {
    using m = machine(kvm, { irqchip: true });
    const { vm, mem, vcpu: bsp } = m, ap = vm.createVcpu(1);
    const cpuid = kvm.supportedCpuid();
    bsp.setCpuid2(cpuid);
    ap.setCpuid2(cpuid);
    assert.equal(ap.getMpState(), KVM_MP_STATE_UNINITIALIZED, "an AP waits for INIT and SIPI");
    load(mem, CODE, BSP);
    load(mem, 0x1100, BSP_HANDLER);
    load(mem, 0x1200, AP_HANDLER);
    load(mem, AP_START, AP);
    const ivt = new DataView(mem.bytes.buffer, mem.bytes.byteOffset);
    ivt.setUint32(0x60 * 4, 0x1100, true);
    ivt.setUint32(0x61 * 4, 0x1200, true);
    realMode(bsp, CODE);
    const [b, a] = await Promise.all([
      runInWorker({ handoff: bsp.handoff(), marks: 1, timeoutMs: 20_000 }),
      runInWorker({ handoff: ap.handoff(), marks: 2, timeoutMs: 20_000 }),
    ]);
    assert.ok(b.ok, b.ok ? "" : b.error);
    assert.ok(a.ok, a.ok ? "" : a.error);
    assert.deepEqual(b.marks, [0xb0], `BSP stopped: ${b.stop}`);
    assert.deepEqual(a.marks, [0xa0, 0xa1], `AP stopped: ${a.stop}`);
    assert.ok(a.eagain >= 1, "KVM_RUN said EAGAIN when INIT took the AP out of its uninitialized state");
  },
);

backendTest("SMP: kick() ends the run of a vCPU halted in a Worker", async (kvm) => {
  using m = machine(kvm, { irqchip: true });
  const { mem, vcpu } = m;
  load(mem, CODE, ["b0 01", "e6 e8", "fb", "f4", "eb fd"]); // mark, then sti; hlt forever
  realMode(vcpu, CODE);
  const progress = new SharedArrayBuffer(4);
  const report = runInWorker({ handoff: vcpu.handoff(), marks: 2, timeoutMs: 20_000, stopOnIntr: true, progress });
  // Once the guest's mark is out it halts: give it 100 ms of that, then kick.
  while (Atomics.load(new Int32Array(progress), 0) < 1) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  vcpu.kick();
  const r = await report;
  const ms = performance.now() - t0;
  assert.ok(r.ok, r.ok ? "" : r.error);
  assert.deepEqual(r.marks, [1]);
  assert.equal(r.stop, "intr");
  assert.ok(ms < 2000, `the kick took ${ms.toFixed(1)} ms`);
});

backendTest(
  "KVM_SET_MP_STATE: an AP made runnable by the host runs; a vCPU set halted waits for an interrupt",
  (kvm) => {
    using m = machine(kvm, { irqchip: true });
    const { vm, mem, vcpu: bsp } = m, ap = vm.createVcpu(1);
    load(mem, CODE, ["b0 01", "e6 e9", "f4"]);
    assert.equal(bsp.getMpState(), KVM_MP_STATE_RUNNABLE);
    assert.equal(ap.getMpState(), KVM_MP_STATE_UNINITIALIZED);
    ap.setMpState(KVM_MP_STATE_RUNNABLE);
    realMode(ap, CODE);
    let e = ap.run({ timeoutMs: 5000 });
    assert.ok(e.reason === "io" && e.port === 0xe9, describe(e));
    // The BSP, halted by the host with IF = 1, sleeps until the MSI.
    load(mem, 0x1100, ["b0 42", "e6 e9", "f4"]);
    new DataView(mem.bytes.buffer, mem.bytes.byteOffset).setUint32(0x30 * 4, 0x1100, true);
    const lapic = bsp.getLapic();
    new DataView(lapic.buffer, lapic.byteOffset).setUint32(0xf0, 0x1ff, true);
    bsp.setLapic(lapic);
    realMode(bsp, CODE + 4, 1n << 9n); // at the hlt, IF = 1
    bsp.setMpState(KVM_MP_STATE_HALTED);
    assert.equal(bsp.run({ timeoutMs: 50 }).reason, "intr");
    assert.equal(bsp.getMpState(), KVM_MP_STATE_HALTED);
    vm.signalMsi({ addressLo: 0xfee00000, data: 0x30 });
    e = bsp.run({ timeoutMs: 5000 });
    assert.ok(e.reason === "io" && e.port === 0xe9 && e.data[0] === 0x42, describe(e));
    assert.equal(bsp.getMpState(), KVM_MP_STATE_RUNNABLE);
  },
);
