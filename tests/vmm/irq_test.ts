/**
 * KVM_SET_GSI_ROUTING and KVM_SIGNAL_MSI: an MSI reaches the guest's local
 * APIC directly, or through a GSI routed to it and an irqfd; on the kernel's
 * KVM where it has the capabilities, and on the emulator's irqchip.
 */
import assert from "node:assert/strict";
import { EventFd, type GsiRoute, type Kvm } from "../../mod.ts";
import { KVM_CAP_IRQ_ROUTING, KVM_CAP_IRQFD, KVM_CAP_SIGNAL_MSI } from "../../abi/constants.ts";
import { backendTest } from "../_support/harness.ts";
import { CODE, describe, load, type Machine, machine, realMode, runToOut } from "../_support/guests.ts";
import { irqMachine, ivt, kvmTest } from "./_vmm.ts";

/** `fn` on the kernel's KVM where it has `caps`, and on the emulator, whose irqchip has them all. */
function irqTest(name: string, caps: Record<string, number>, fn: (kvm: Kvm) => void): void {
  kvmTest(name, caps, fn);
  backendTest(name, fn, { only: ["emu"] });
}

/** The MSI address of local APIC 0, physical destination mode. */
const MSI_APIC0 = 0xfee00000;

// 0x1000: report ready, then wait for interrupts.
const IDLE_GUEST = [
  "e6 e9", // out 0xe9, al   ; ready
  "fb", //    sti
  "f4", //    idle: hlt
  "eb fd", // jmp idle
];

/** Software-enables vCPU 0's local APIC (SVR bit 8, spurious vector 0xff), so that it accepts fixed interrupts. */
function enableLapic(m: Machine): void {
  const lapic = m.vcpu.getLapic();
  new DataView(lapic.buffer).setUint32(0xf0, 0x1ff, true); // APIC_SPIV
  m.vcpu.setLapic(lapic);
}

/** Loads IDLE_GUEST and a handler for `vector` at 0x1100 that does `out 0xe8, <mark>`; runs to "ready". */
function waitForInterrupt(m: Machine, vector: number, mark: number): void {
  load(m.mem, CODE, IDLE_GUEST);
  load(m.mem, 0x1100, [
    `b0 ${mark.toString(16)}`, // mov al, mark
    "e6 e8", //                   out 0xe8, al
    "f4", //                      hlt
  ]);
  ivt(m, vector, 0x1100);
  realMode(m.vcpu, CODE);
  runToOut(m.vcpu, 0xe9);
}

/** Runs until the handler's `out 0xe8`, within 5 s; returns the mark. */
function interruptTaken(m: Machine): number {
  const exit = m.vcpu.run({ timeoutMs: 5000 });
  assert.ok(exit.reason === "io" && exit.port === 0xe8, `the handler should run, got ${describe(exit)}`);
  return exit.data[0];
}

irqTest("signalMsi: an MSI to APIC 0 runs the guest's handler", { KVM_CAP_SIGNAL_MSI }, (kvm) => {
  using m = irqMachine(kvm);
  enableLapic(m);
  waitForInterrupt(m, 0x30, 0x42);
  const delivered = m.vm.signalMsi({ addressLo: MSI_APIC0, data: 0x30 });
  assert.ok(delivered > 0, `KVM_SIGNAL_MSI said ${delivered}`);
  assert.equal(interruptTaken(m), 0x42);
});

irqTest(
  "setGsiRouting: a GSI routed to an MSI, raised through an irqfd",
  { KVM_CAP_IRQ_ROUTING, KVM_CAP_IRQFD },
  (kvm) => {
    using m = irqMachine(kvm);
    enableLapic(m);
    m.vm.setGsiRouting([
      { gsi: 3, type: "irqchip", irqchip: 0, pin: 3 },
      { gsi: 3, type: "irqchip", irqchip: 2, pin: 3 },
      { gsi: 40, type: "msi", addressLo: MSI_APIC0, data: 0x31 },
    ]);
    using msi = EventFd.create();
    m.vm.irqfd({ gsi: 40, eventFd: msi });
    waitForInterrupt(m, 0x31, 0x43);
    msi.signal();
    assert.equal(interruptTaken(m), 0x43);
  },
);

backendTest("setGsiRouting and signalMsi validate before any ioctl", (kvm) => {
  using m = machine(kvm);
  const bad = (routes: unknown) => () => m.vm.setGsiRouting(routes as GsiRoute[]);
  assert.throws(bad([{ gsi: 1, type: "irqchip", irqchip: 0, pin: 9 }]), /routes\.0: pin 9 of a PIC/);
  assert.throws(bad([{ gsi: 4096, type: "msi", addressLo: 0, data: 0 }]), RangeError);
  assert.throws(bad([{ gsi: 1, type: "bogus" }]), TypeError);
  assert.throws(bad([{ gsi: 1, type: "msi", addressLo: 0, data: 0, extra: 1 }]), TypeError);
  assert.throws(() => m.vm.signalMsi({ addressLo: -1, data: 0 }), /msi\.addressLo/);
});
