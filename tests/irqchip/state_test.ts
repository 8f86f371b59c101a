/**
 * The irqchip's state ioctls against a running guest: KVM_GET_IRQCHIP and
 * KVM_SET_IRQCHIP for a PIC and the IOAPIC, KVM_GET_PIT2 and
 * KVM_SET_PIT2, and KVM_IRQ_LINE_STATUS's delivered / coalesced / masked
 * answers. Same guests and assertions on both backends.
 */
import assert from "node:assert/strict";
import * as C from "../../abi/constants.ts";
import { backendTest } from "../_support/harness.ts";
import * as irq from "./_irqchip.ts";

/** kvm_pic_state offsets. */
const PIC_IRR = 1, PIC_IMR = 2, PIC_IRQ_BASE = 5, PIC_ELCR = 14;
/** kvm_ioapic_state: the redirection table's offset. */
const IOAPIC_REDIRTBL = 24;
/** kvm_pit_channel_state: channel 2's offset in kvm_pit_state2, and offsets in a channel. */
const CH2 = 2 * 24, CH_COUNT = 0, CH_READ_STATE = 9, CH_WRITE_STATE = 10, CH_RW_MODE = 12, CH_MODE = 13;

backendTest("KVM_GET/SET_IRQCHIP: a PIC's state as the guest programmed it, and an IMR the guest then reads", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start(m, [...irq.picInit(0x30, 0xfa, 0xff), ...irq.outb(0x4d0, 0x20), "e6 e9", ...irq.report(0x21), "f4"]);
  irq.nextOut(m.vcpu, irq.READY);
  const pic = m.vm.getIrqchip(0);
  assert.equal(pic.length, 512);
  assert.equal(pic[PIC_IRQ_BASE], 0x30);
  assert.equal(pic[PIC_IMR], 0xfa);
  assert.equal(pic[PIC_ELCR], 0x20);
  pic[PIC_IMR] = 0xdf;
  m.vm.setIrqchip(0, pic);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0xdf);
  assert.equal(m.vm.getIrqchip(0)[PIC_IMR], 0xdf);
  assert.throws(() => m.vm.getIrqchip(3), RangeError);
  assert.throws(() => m.vm.setIrqchip(0, new Uint8Array(16)), RangeError);
});

backendTest("KVM_GET/SET_IRQCHIP: the IOAPIC's redirection table, read and written by the host", (kvm) => {
  using m = irq.ioapicMachine(kvm, 7, 0x8037); // pin 7: level, vector 0x37
  irq.handler32(m, 0, 0x33, 0x33);
  irq.nextOut(m.vcpu, irq.READY);
  const io = m.vm.getIrqchip(2);
  const v = new DataView(io.buffer, io.byteOffset);
  assert.equal(v.getBigUint64(0, true), 0xfec00000n, "base address");
  assert.equal(v.getUint32(IOAPIC_REDIRTBL + 8 * 7, true), 0x8037, "pin 7 as the guest wrote it");
  assert.equal(v.getUint32(IOAPIC_REDIRTBL + 8 * 3, true), 0x10000, "pin 3 masked since reset");
  v.setUint32(IOAPIC_REDIRTBL + 8 * 3, 0x33, true); // pin 3: edge, vector 0x33, APIC 0
  m.vm.setIrqchip(2, io);
  m.vm.irqLine(3, 1);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x33);
});

backendTest("KVM_GET/SET_PIT2: the channels as the guest programmed them, and a count set by the host", (kvm) => {
  using m = irq.irqchipMachine(kvm, { pit: 0 });
  irq.start(m, [
    ...irq.outb(0x43, 0x34), // channel 0, LSB/MSB, mode 2
    ...irq.outb(0x40, 0x34),
    ...irq.outb(0x40, 0x12),
    "e6 e9",
    ...irq.outb(0x43, 0x80), // latch channel 2
    ...irq.report(0x42),
    ...irq.report(0x42),
    "f4",
  ]);
  irq.nextOut(m.vcpu, irq.READY);
  const pit = m.vm.getPit2();
  assert.equal(pit.length, 112);
  const v = new DataView(pit.buffer, pit.byteOffset);
  assert.equal(v.getUint32(CH_COUNT, true), 0x1234);
  assert.equal(pit[CH_RW_MODE], 3);
  assert.equal(pit[CH_MODE], 2);
  // Channel 2: mode 0, LSB then MSB, count 0xffff (55 ms).
  v.setUint32(CH2 + CH_COUNT, 0xffff, true);
  pit[CH2 + CH_MODE] = 0;
  pit[CH2 + CH_RW_MODE] = 3;
  pit[CH2 + CH_READ_STATE] = 3; // LSB then MSB
  pit[CH2 + CH_WRITE_STATE] = 3;
  m.vm.setPit2(pit.slice());
  const lo = irq.nextOut(m.vcpu, irq.MARK), hi = irq.nextOut(m.vcpu, irq.MARK);
  const count = hi * 256 + lo;
  assert.ok(count < 0xffff && count > 0xc000, `channel 2 counts down from 0xffff: 0x${count.toString(16)}`);
  assert.equal(new DataView(m.vm.getPit2().buffer).getUint32(CH2 + CH_COUNT, true), 0xffff);
});

backendTest("KVM_IRQ_LINE_STATUS: delivered, coalesced while still pending, masked", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start(m, [...irq.picInit(0x20, 0xdf, 0xff), "e6 e9", "f4"]); // IRQ5 unmasked, IF = 0
  irq.nextOut(m.vcpu, irq.READY);
  assert.equal(m.vm.irqLineStatus(5, 1), 1, "taken by the PIC");
  m.vm.irqLineStatus(5, 0);
  assert.equal(m.vm.irqLineStatus(5, 1), 0, "IRR still holds the first");
  m.vm.irqLineStatus(5, 0);
  assert.ok(m.vm.irqLineStatus(6, 1) < 0, "masked at the PIC and the IOAPIC");
  assert.equal(new Uint8Array(m.vm.getIrqchip(0))[PIC_IRR] & 0x60, 0x60, "IRR: IRQ5 and (masked) IRQ6");
});

backendTest("checkExtension: the irqchip's capabilities, on the system and the VM descriptor", (kvm) => {
  using vm = kvm.createVm();
  const caps = {
    KVM_CAP_IRQCHIP: C.KVM_CAP_IRQCHIP,
    KVM_CAP_PIT2: C.KVM_CAP_PIT2,
    KVM_CAP_PIT_STATE2: C.KVM_CAP_PIT_STATE2,
    KVM_CAP_IRQ_INJECT_STATUS: C.KVM_CAP_IRQ_INJECT_STATUS,
    KVM_CAP_SIGNAL_MSI: C.KVM_CAP_SIGNAL_MSI,
    KVM_CAP_IRQFD: C.KVM_CAP_IRQFD,
    KVM_CAP_IRQFD_RESAMPLE: C.KVM_CAP_IRQFD_RESAMPLE,
    KVM_CAP_GET_TSC_KHZ: C.KVM_CAP_GET_TSC_KHZ,
    KVM_CAP_TSC_DEADLINE_TIMER: C.KVM_CAP_TSC_DEADLINE_TIMER,
    KVM_CAP_MP_STATE: C.KVM_CAP_MP_STATE,
  };
  for (const [name, cap] of Object.entries(caps)) {
    assert.ok(kvm.checkExtension(cap) > 0, `${name} on the system descriptor`);
    assert.ok(vm.checkExtension(cap) > 0, `${name} on the VM descriptor`);
  }
  assert.equal(vm.checkExtension(C.KVM_CAP_IRQ_ROUTING), C.KVM_MAX_IRQ_ROUTES, "KVM_CAP_IRQ_ROUTING: the most routes");
});
