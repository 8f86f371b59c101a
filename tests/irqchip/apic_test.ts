/**
 * The IOAPIC and the local APIC as a protected-mode OS drives them through
 * their MMIO registers: redirection entries for edge and level lines, remote
 * IRR until the EOI, the ID/version/arbitration registers, TPR and PPR
 * holding back an interrupt, self-IPIs by shorthand and by physical and
 * logical destination, an NMI IPI, and KVM_GET/SET_LAPIC. Same guests and
 * assertions on both backends.
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/harness.ts";
import { load } from "../_support/guests.ts";
import { buildLongMode, enterLongMode, LM_CODE, LM_MEMORY, LM_STACK, setGate } from "../_support/long_mode.ts";
import type { Kvm } from "../../mod.ts";
import * as irq from "./_irqchip.ts";

/** The MSI address of APIC 0, physical destination. */
const MSI_APIC0 = 0xfee00000;

backendTest("IOAPIC: an edge pin delivers its vector once per rising edge", (kvm) => {
  using m = irq.ioapicMachine(kvm, 4, 0x34); // pin 4: edge, fixed, vector 0x34
  irq.handler32(m, 0, 0x34, 0x34);
  irq.nextOut(m.vcpu, irq.READY);
  m.vm.irqLine(4, 1);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x34);
  irq.quiet(m.vcpu);
  m.vm.irqLine(4, 0);
  m.vm.irqLine(4, 1);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x34);
  m.vm.irqLine(4, 0);
  irq.quiet(m.vcpu);
});

irq.hostQuirkTest(
  "IOAPIC: a level pin holds remote IRR until the EOI, and interrupts again while still high",
  irq.probeIsrInService,
  (kvm) => {
    using m = irq.ioapicMachine(kvm, 9, 0x8039); // pin 9: level, vector 0x39
    // The handler reports remote IRR (bit 14 of the entry) before its EOI.
    irq.handler32(m, 1, 0x39, 0x39, [...irq.store32(irq.IOAPIC, 0x10 + 2 * 9), ...irq.report32(irq.IOAPIC + 0x10, 8)]);
    irq.nextOut(m.vcpu, irq.READY);
    m.vm.irqLine(9, 1);
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0xc0, "level, remote IRR set while the interrupt is in service");
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x39);
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0xc0, "still asserted after the EOI: delivered again");
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x39);
    m.vm.irqLine(9, 0);
    irq.quiet(m.vcpu);
  },
);

backendTest("IOAPIC: a masked pin stays quiet; ID, version and arbitration registers", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start32(m, [
    ...irq.ioapicRoute(5, 0x10035), // pin 5: masked
    ...irq.store32(irq.IOAPIC, 1),
    ...irq.report32(irq.IOAPIC + 0x10), // version
    ...irq.report32(irq.IOAPIC + 0x10, 16), // max redirection entry
    ...irq.ioapicWrite(0, 0x05000000), // ID 5
    ...irq.report32(irq.IOAPIC + 0x10, 24),
    ...irq.store32(irq.IOAPIC, 2),
    ...irq.report32(irq.IOAPIC + 0x10, 24), // arbitration ID
    ...irq.READY_THEN_IDLE,
  ]);
  irq.handler32(m, 0, 0x35, 0x35);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x11, "version");
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 23, "24 pins");
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 5, "ID");
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 5, "arbitration ID");
  irq.nextOut(m.vcpu, irq.READY);
  m.vm.irqLine(5, 1);
  irq.quiet(m.vcpu);
});

backendTest("LAPIC: TPR holds back an injected interrupt of a lower class until the guest lowers it", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start32(m, [...irq.LAPIC_ENABLE, ...irq.store32(irq.LAPIC + 0x80, 0x50), ...irq.READY_THEN_IDLE]); // TPR = 0x50
  irq.handler32(m, 0, 0x45, 0x45);
  irq.handler32(m, 1, 0x61, 0x61, irq.store32(irq.LAPIC + 0x80, 0)); // 0x61 lowers TPR
  irq.nextOut(m.vcpu, irq.READY);
  assert.ok(m.vm.signalMsi({ addressLo: MSI_APIC0, data: 0x45 }) > 0);
  irq.quiet(m.vcpu); // class 4 <= TPR class 5
  assert.ok(m.vm.signalMsi({ addressLo: MSI_APIC0, data: 0x61 }) > 0);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x61);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x45, "delivered once TPR allows it");
});

irq.hostQuirkTest(
  "LAPIC: TPR holds back a lower-class interrupt until a handler lowers it; PPR follows ISR",
  irq.probeIsrInService,
  (kvm) => {
    using m = irq.irqchipMachine(kvm);
    irq.start32(m, [...irq.LAPIC_ENABLE, ...irq.store32(irq.LAPIC + 0x80, 0x50), ...irq.READY_THEN_IDLE]); // TPR = 0x50
    irq.handler32(m, 0, 0x45, 0x45);
    // 0x61's handler reports PPR (0x61's class while it is in service), then lowers TPR.
    irq.handler32(m, 1, 0x61, 0x61, [...irq.report32(irq.LAPIC + 0xa0), ...irq.store32(irq.LAPIC + 0x80, 0)]);
    irq.nextOut(m.vcpu, irq.READY);
    assert.ok(m.vm.signalMsi({ addressLo: MSI_APIC0, data: 0x45 }) > 0);
    irq.quiet(m.vcpu); // class 4 <= TPR class 5
    assert.ok(m.vm.signalMsi({ addressLo: MSI_APIC0, data: 0x61 }) > 0);
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x60, "PPR");
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x61);
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x45, "delivered once TPR and PPR allow it");
  },
);

backendTest("LAPIC: self-IPIs by shorthand, physical and logical destination, and an NMI IPI", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start32(m, [
    ...irq.LAPIC_ENABLE,
    ...irq.store32(irq.LAPIC + 0x300, 0x40052), //  ICR: self, fixed, 0x52
    ...irq.store32(irq.LAPIC + 0x310, 0), //        ICR2: APIC 0
    ...irq.store32(irq.LAPIC + 0x300, 0x53), //     physical, fixed, 0x53
    ...irq.store32(irq.LAPIC + 0xe0, 0xffffffff), // DFR flat
    ...irq.store32(irq.LAPIC + 0xd0, 0x01000000), // LDR: logical ID bit 0
    ...irq.store32(irq.LAPIC + 0x310, 0x01000000),
    ...irq.store32(irq.LAPIC + 0x300, 0x854), //    logical, fixed, 0x54
    ...irq.store32(irq.LAPIC + 0x310, 0x02000000),
    ...irq.store32(irq.LAPIC + 0x300, 0x855), //    logical to another bit: nobody
    ...irq.report32(irq.LAPIC + 0x220, 16), //      IRR bits 0x50-0x57 (IF = 0: all wait)
    ...irq.store32(irq.LAPIC + 0x300, 0x40400), //  self, NMI: taken at once
    "f4",
  ]);
  irq.handler32(m, 0, 0x52, 0x52);
  irq.handler32(m, 1, 0x53, 0x53);
  irq.handler32(m, 2, 0x54, 0x54);
  irq.handler32(m, 3, 0x55, 0x55);
  irq.handler32(m, 4, 2, 0x02, [], false);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x1c, "IRR: 0x52, 0x53, 0x54");
  // The NMI first; then, once its handler enables interrupts, the highest vector first.
  for (const v of [0x02, 0x54, 0x53, 0x52]) assert.equal(irq.nextOut(m.vcpu, irq.MARK), v);
  irq.quiet(m.vcpu);
});

backendTest("KVM_GET/SET_LAPIC: a pending vector shows in IRR, and a page without it takes it back", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start32(m, [...irq.LAPIC_ENABLE, ...irq.READY_THEN_IDLE]);
  irq.handler32(m, 0, 0x47, 0x47);
  irq.nextOut(m.vcpu, irq.READY); // the APIC is on, IF still 0
  assert.ok(m.vm.signalMsi({ addressLo: MSI_APIC0, data: 0x47 }) > 0);
  const page = m.vcpu.getLapic();
  const v = new DataView(page.buffer, page.byteOffset);
  assert.equal(v.getUint32(0xf0, true) & 0x1ff, 0x1ff, "SVR");
  assert.equal(v.getUint32(0x220, true), 1 << 7, "IRR bit 0x47");
  assert.equal(v.getUint32(0x20, true), 0, "APIC ID 0");
  v.setUint32(0x220, 0, true);
  v.setUint32(0x80, 0x20, true); // TPR
  m.vcpu.setLapic(page);
  const back = new DataView(m.vcpu.getLapic().buffer);
  assert.equal(back.getUint32(0x220, true), 0);
  assert.equal(back.getUint32(0x80, true), 0x20);
  assert.equal(m.vcpu.getSregs().cr8, 2n, "CR8 is TPR[7:4]");
  irq.quiet(m.vcpu);
  assert.ok(m.vm.signalMsi({ addressLo: MSI_APIC0, data: 0x47 }) > 0);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x47);
});

backendTest("LAPIC: IPIs by lowest priority, to all including self, to all but self, and by logical cluster", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start32(m, [
    ...irq.LAPIC_ENABLE,
    ...irq.store32(irq.LAPIC + 0xe0, 0xffffffff), // DFR flat
    ...irq.store32(irq.LAPIC + 0xd0, 0x01000000), // LDR: logical ID bit 0
    ...irq.store32(irq.LAPIC + 0x310, 0x01000000),
    ...irq.store32(irq.LAPIC + 0x300, 0x956), //    logical, lowest priority, 0x56
    ...irq.store32(irq.LAPIC + 0x300, 0x80057), //  all including self, fixed, 0x57
    ...irq.store32(irq.LAPIC + 0x300, 0xc0058), //  all excluding self: nobody here
    ...irq.store32(irq.LAPIC + 0xe0, 0x0fffffff), // DFR cluster
    ...irq.store32(irq.LAPIC + 0xd0, 0x21000000), // cluster 2, member bit 0
    ...irq.store32(irq.LAPIC + 0x310, 0x21000000),
    ...irq.store32(irq.LAPIC + 0x300, 0x859), //    logical, fixed, 0x59: cluster 2 bit 0
    ...irq.store32(irq.LAPIC + 0x310, 0x31000000),
    ...irq.store32(irq.LAPIC + 0x300, 0x85a), //    cluster 3: nobody
    ...irq.report32(irq.LAPIC + 0x220, 16), //      IRR bits 0x50-0x57
    ...irq.report32(irq.LAPIC + 0x220, 24), //      IRR bits 0x58-0x5f
    ...irq.READY_THEN_IDLE.slice(1),
  ]);
  for (const [slot, v] of [[0x56, 0x56], [0x57, 0x57], [0x58, 0x58], [0x59, 0x59], [0x5a, 0x5a]].entries()) {
    irq.handler32(m, slot, v[0], v[1]);
  }
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0xc0, "IRR: 0x56 and 0x57");
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x02, "IRR: 0x59 only");
  for (const v of [0x59, 0x57, 0x56]) assert.equal(irq.nextOut(m.vcpu, irq.MARK), v);
  irq.quiet(m.vcpu);
});

backendTest("LAPIC: the PIC reaches the CPU through LINT0 (ExtINT) only while LVT0 is unmasked", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start32(m, [
    ...irq.picInit(0x20, 0xdf, 0xff), //          IRQ5 unmasked at the PIC
    ...irq.LAPIC_ENABLE,
    ...irq.store32(irq.LAPIC + 0x350, 0x10700), //    LVT0 masked
    ...irq.READY_THEN_IDLE,
  ]);
  // The handler unmasks LVT0 to show that the second edge is taken; its EOI goes to the PIC.
  irq.handler32(m, 0, 0x25, 0x25, [], false);
  const at = 0x2000;
  load(m.mem, at, ["b0 25", "e6 e8", "b0 20", "e6 20", "83 c4 0c", "b8 00 1f 00 00", "ff e0"]);
  irq.nextOut(m.vcpu, irq.READY);
  m.vm.irqLine(5, 1);
  m.vm.irqLine(5, 0);
  irq.quiet(m.vcpu);
  const page = m.vcpu.getLapic();
  new DataView(page.buffer, page.byteOffset).setUint32(0x350, 0x700, true); // LVT0: ExtINT, unmasked
  m.vcpu.setLapic(page);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x25, "the request waiting in the PIC comes through");
});

/**
 * 64-bit, x2APIC: a self-IPI of class 4 under CR8 = 5 waits; `mov cr8, 0` lets it in before the next instruction.
 * Returns the marks: the handler's 0x45, and 0x99 from the instruction after the CR8 write if that ran first.
 */
function cr8Unblocks(kvm: Kvm): number[] {
  using vm = kvm.createVm();
  vm.createIrqchip();
  const mem = vm.allocateMemory(LM_MEMORY);
  try {
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem });
    const vcpu = vm.createVcpu(0);
    vcpu.setCpuid2(kvm.supportedCpuid());
    buildLongMode(mem);
    load(mem, LM_CODE, [
      ...irq.x2apicEnable(),
      "b8 05 00 00 00", // mov eax, 5
      "44 0f 22 c0", //   mov cr8, rax
      "b9 3f 08 00 00", // mov ecx, SELF_IPI
      "b8 45 00 00 00", // mov eax, 0x45
      "0f 30", //         wrmsr
      "fb", //            sti
      "e6 e9", //         out 0xe9, al (ready: 0x45 waits)
      "31 c0", //         xor eax, eax
      "44 0f 22 c0", //   mov cr8, rax
      "b0 99", //         mov al, 0x99
      "e6 e8", //         out 0xe8, al
      "f4",
    ]);
    const handler = LM_CODE + 0x100;
    load(mem, handler, ["b0 45", "e6 e8", "b9 0b 08 00 00", "31 c0", "31 d2", "0f 30", "f4"]); // mark, EOI, hlt
    setGate(mem, 0x45, BigInt(handler));
    enterLongMode(vcpu, BigInt(LM_CODE), { rsp: BigInt(LM_STACK) });
    irq.nextOut(vcpu, irq.READY);
    const marks = [irq.nextOut(vcpu, irq.MARK)];
    if (marks[0] !== 0x45) marks.push(irq.nextOut(vcpu, irq.MARK));
    return marks;
  } finally {
    vm.close();
    mem.free();
  }
}

irq.hostQuirkTest(
  "LAPIC: in 64-bit mode CR8 is the TPR; lowering it lets a held interrupt in before the next instruction",
  (kvm) => {
    const marks = cr8Unblocks(kvm);
    return marks[0] === 0x45
      ? undefined
      : `after mov cr8 the interrupt came late (marks ${marks.map((m) => m.toString(16))})`;
  },
  (kvm) => assert.deepEqual(cr8Unblocks(kvm), [0x45]),
);

backendTest("LAPIC: in 64-bit mode CR8 = 5 holds back a class-4 self-IPI, which comes once CR8 is lowered", (kvm) => {
  // cr8Unblocks asserts that the guest reached its ready OUT first: the interrupt waited while CR8 was 5.
  assert.ok(cr8Unblocks(kvm).includes(0x45));
});
