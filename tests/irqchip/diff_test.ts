/**
 * The irqchip's state, byte for byte, on both backends: one guest programs
 * the 8259s, the IOAPIC, its local APIC and the PIT as an OS does; then
 * KVM_GET_IRQCHIP (both PICs, the IOAPIC), KVM_GET_LAPIC and KVM_GET_PIT2 of
 * the emulator must equal the kernel's, except where they hold a time (the
 * PIT's load times, the timer's current count) or the host KVM departs from
 * the hardware (probed). Runs where both backends can.
 */
import assert from "node:assert/strict";
import { type BackendName, Kvm } from "../../mod.ts";
import { backendUnavailable, skip, test } from "../_support/harness.ts";
import * as irq from "./_irqchip.ts";

interface Snapshot {
  pic0: Uint8Array;
  pic1: Uint8Array;
  ioapic: Uint8Array;
  lapic: Uint8Array;
  pit: Uint8Array;
}

/** Runs the guest on `backend` and takes the irqchip's state. */
function snapshot(backend: BackendName): Snapshot {
  using kvm = Kvm.open({ backend });
  using m = irq.irqchipMachine(kvm, { pit: 0 });
  m.vcpu.setCpuid2(kvm.supportedCpuid());
  irq.start32(m, [
    ...irq.picInit(0x20, 0xfb, 0xbf, 1),
    ...irq.outb(0x4d0, 0x20), //            ELCR: IRQ5 level
    ...irq.outb(0x20, 0xc3), //             OCW2: set priority, IRQ3 lowest
    ...irq.outb(0x20, 0x0b), //             OCW3: read ISR
    ...irq.outb(0x43, 0x34), //             PIT channel 0: mode 2
    ...irq.outb(0x40, 0x00),
    ...irq.outb(0x40, 0x80),
    ...irq.outb(0x43, 0xb6), //             channel 2: mode 3
    ...irq.outb(0x43, 0x52), //             channel 1: LSB only, mode 1
    ...irq.LAPIC_ENABLE,
    ...irq.store32(irq.LAPIC + 0x80, 0x20), //  TPR
    ...irq.store32(irq.LAPIC + 0xe0, 0x0fffffff), // DFR cluster
    ...irq.store32(irq.LAPIC + 0xd0, 0x12000000), // LDR
    ...irq.store32(irq.LAPIC + 0x350, 0x10700), // LVT0 masked
    ...irq.store32(irq.LAPIC + 0x360, 0x400), //  LVT1 NMI
    ...irq.store32(irq.LAPIC + 0x370, 0xfe), //   LVTERR
    ...irq.store32(irq.LAPIC + 0x3e0, 0x3), //    TDCR: divide by 16
    ...irq.store32(irq.LAPIC + 0x320, 0x20030), // LVTT periodic, vector 0x30
    ...irq.ioapicWrite(0x10 + 2 * 1, 0xa931), // pin 1: level, logical, low polarity, lowest priority
    ...irq.ioapicWrite(0x11 + 2 * 1, 0x03000000),
    ...irq.ioapicWrite(0x10 + 2 * 12, 0x3c),
    ...irq.ioapicWrite(0, 0x02000000), // ID 2
    ...irq.READY_THEN_IDLE,
  ]);
  irq.handler32(m, 0, 0x3c, 0x3c);
  irq.nextOut(m.vcpu, irq.READY);
  m.vm.irqLine(12, 1); // edge pin 12: delivered; the handler EOIs and idles
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x3c);
  m.vm.irqLine(12, 0);
  irq.quiet(m.vcpu, 20);
  m.vm.irqLine(7, 1); // IRQ7 is masked at the PIC: it waits in IRR
  return {
    pic0: m.vm.getIrqchip(0).slice(0, 16),
    pic1: m.vm.getIrqchip(1).slice(0, 16),
    ioapic: m.vm.getIrqchip(2).slice(0, 24 + 8 * 24),
    lapic: m.vcpu.getLapic(),
    pit: m.vm.getPit2(),
  };
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

const why = backendUnavailable("kvm") ?? backendUnavailable("emu");
if (why !== undefined) skip("irqchip state: byte for byte on both backends", why);
else {
  test("irqchip state: byte for byte on both backends", () => {
    const k = snapshot("kvm"), e = snapshot("emu");
    assert.equal(hex(e.pic0), hex(k.pic0), "master PIC (kvm_pic_state)");
    assert.equal(hex(e.pic1), hex(k.pic1), "slave PIC");
    assert.equal(hex(e.ioapic), hex(k.ioapic), "IOAPIC (kvm_ioapic_state)");
    // The PIT's channels without their load times (bytes 16-23 of each), and its flags.
    const pit = (p: Uint8Array) =>
      [0, 1, 2].map((c) => hex(p.subarray(24 * c, 24 * c + 16))).join(" | ") + " | " + hex(p.subarray(72));
    assert.equal(pit(e.pit), pit(k.pit), "PIT (kvm_pit_state2)");
    // The LAPIC page, register by register, except TMCCT (a time).
    const kv = new DataView(k.lapic.buffer), ev = new DataView(e.lapic.buffer);
    const diffs: string[] = [];
    for (let off = 0; off < 0x400; off += 0x10) {
      if (off === 0x390) continue;
      const a = kv.getUint32(off, true), b = ev.getUint32(off, true);
      if (a !== b) diffs.push(`0x${off.toString(16)}: kvm 0x${a.toString(16)}, emu 0x${b.toString(16)}`);
    }
    assert.deepEqual(diffs, [], "LAPIC registers (kvm_lapic_state)");
  });
}
