/**
 * KVM_IRQFD into the in-kernel IOAPIC: an eventfd signal raises an
 * edge-triggered pin; with a resample eventfd a level-triggered pin stays
 * up until the guest's EOI, which lowers it and signals the resample
 * eventfd. Same guests and assertions on both backends (FFI is needed for
 * the eventfds on either).
 */
import assert from "node:assert/strict";
import { EventFd } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import * as irq from "./_irqchip.ts";

backendTest("irqfd: a signal raises an edge-triggered IOAPIC pin once", (kvm) => {
  using m = irq.ioapicMachine(kvm, 11, 0x3b); // pin 11: edge, vector 0x3b
  irq.handler32(m, 0, 0x3b, 0x3b);
  using fd = EventFd.create();
  m.vm.irqfd({ gsi: 11, eventFd: fd });
  irq.nextOut(m.vcpu, irq.READY);
  fd.signal();
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x3b);
  irq.quiet(m.vcpu);
  fd.signal();
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x3b);
  m.vm.irqfd({ gsi: 11, eventFd: fd, deassign: true });
  fd.signal();
  irq.quiet(m.vcpu);
});

irq.hostQuirkTest(
  "irqfd with resample: a level pin held until the EOI, which signals the resample eventfd",
  irq.probeIsrInService,
  (kvm) => {
    using m = irq.ioapicMachine(kvm, 10, 0x803a); // pin 10: level, vector 0x3a
    irq.handler32(m, 0, 0x3a, 0x3a);
    using fd = EventFd.create();
    using resample = EventFd.create();
    m.vm.irqfd({ gsi: 10, eventFd: fd, resample });
    irq.nextOut(m.vcpu, irq.READY);
    fd.signal();
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x3a);
    assert.equal(resample.read(), 0n, "not before the EOI");
    irq.quiet(m.vcpu); // the EOI lowered the line: no second interrupt
    assert.equal(resample.read(), 1n, "the EOI signalled the resample eventfd");
    fd.signal();
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x3a);
  },
);
