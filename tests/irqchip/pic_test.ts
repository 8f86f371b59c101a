/**
 * The in-kernel 8259 pair as a real-mode OS (`noapic nolapic`) drives it:
 * ICW1-4 and masks, KVM_IRQ_LINE on edge and (ELCR) level lines with EOI,
 * the cascade on IRQ2, priority rotation, poll mode, OCW3 register reads
 * and auto-EOI. Same guests and assertions on both backends.
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/harness.ts";
import { view } from "../_support/guests.ts";
import type { Kvm } from "../../mod.ts";
import * as irq from "./_irqchip.ts";

backendTest("PIC: an edge line interrupts once per rising edge; EOI lets the next through", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start(m, [...irq.picInit(0x20, 0xdf, 0xff), ...irq.READY_THEN_IDLE]); // IRQ5 unmasked
  irq.handler(m, 0, 0x25, 0x25, [0x20]);
  irq.nextOut(m.vcpu, irq.READY);
  m.vm.irqLine(5, 1);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x25);
  irq.quiet(m.vcpu); // still high, but an edge line asks once
  m.vm.irqLine(5, 0);
  m.vm.irqLine(5, 1);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x25);
  m.vm.irqLine(5, 0);
  irq.quiet(m.vcpu);
});

backendTest("PIC: a level line (ELCR) on the slave interrupts through IRQ2 until it drops", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start(m, [...irq.picInit(0x20, 0xfb, 0xfb), ...irq.outb(0x4d1, 0x04), ...irq.READY_THEN_IDLE]); // IRQ2, IRQ10 unmasked
  irq.handler(m, 0, 0x2a, 0x2a, [0xa0, 0x20]);
  irq.nextOut(m.vcpu, irq.READY);
  m.vm.irqLine(10, 1);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x2a);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x2a, "a level line still high interrupts again after the EOI");
  m.vm.irqLine(10, 0);
  irq.quiet(m.vcpu);
});

backendTest("PIC: a masked line waits in IRR until OCW1 unmasks it", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start(m, [
    ...irq.picInit(0x20, 0xff, 0xff),
    "e6 e9", // ready (IF = 0)
    ...irq.outb(0x20, 0x0a), // OCW3: read IRR
    ...irq.report(0x20),
    ...irq.outb(0x21, 0xf7), // unmask IRQ3
    ...irq.READY_THEN_IDLE,
  ]);
  irq.handler(m, 0, 0x23, 0x23, [0x20]);
  irq.nextOut(m.vcpu, irq.READY);
  m.vm.irqLine(3, 1);
  m.vm.irqLine(3, 0);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x08, "IRR holds IRQ3 while it is masked");
  irq.nextOut(m.vcpu, irq.READY);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x23);
});

backendTest("PIC: OCW2 set-priority rotation puts IRQ5 before IRQ3", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start(m, [
    ...irq.picInit(0x20, 0x00, 0xff),
    "e6 e9", // ready (IF = 0): both lines are raised now
    ...irq.outb(0x20, 0xc4), // OCW2: IRQ4 lowest, so IRQ5 highest
    ...irq.READY_THEN_IDLE,
  ]);
  irq.handler(m, 0, 0x23, 0x23, [0x20]);
  irq.handler(m, 1, 0x25, 0x25, [0x20]);
  irq.nextOut(m.vcpu, irq.READY);
  for (const irq of [3, 5]) {
    m.vm.irqLine(irq, 1);
    m.vm.irqLine(irq, 0);
  }
  irq.nextOut(m.vcpu, irq.READY);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x25);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x23);
});

backendTest("PIC: poll mode takes the request without an interrupt; OCW3 reads IRR and ISR", (kvm) => {
  using m = irq.irqchipMachine(kvm);
  irq.start(m, [
    ...irq.picInit(0x20, 0x00, 0xff),
    "e6 e9", // ready (IF = 0)
    ...irq.outb(0x20, 0x0c), // OCW3: poll
    ...irq.report(0x20),
    ...irq.outb(0x20, 0x0a), // IRR
    ...irq.report(0x20),
    ...irq.outb(0x20, 0x0b), // ISR
    ...irq.report(0x20),
    "f4",
  ]);
  irq.nextOut(m.vcpu, irq.READY);
  m.vm.irqLine(6, 1);
  m.vm.irqLine(6, 0);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x86, "poll: bit 7 and the IRQ");
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x00, "the poll consumed the request");
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x00, "and left nothing in service");
});

backendTest("PIC: auto-EOI leaves nothing in service; without it the handler runs with ISR set", (kvm) => {
  for (const icw4 of [3, 1]) {
    using m = irq.irqchipMachine(kvm);
    irq.start(m, [...irq.picInit(0x20, 0xdf, 0xff, icw4), ...irq.READY_THEN_IDLE]);
    irq.handler(m, 0, 0x25, 0x25, [], [...irq.outb(0x20, 0x0b), ...irq.report(0x20)]);
    irq.nextOut(m.vcpu, irq.READY);
    m.vm.irqLine(5, 1);
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), icw4 === 3 ? 0x00 : 0x20, `ISR in the handler with ICW4 ${icw4}`);
    assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x25);
  }
});

/** Real mode: IRQ5 raised while masked, then a loop whose last OUT unmasks it; the handler reports the increments. */
function unmaskInLoop(kvm: Kvm): number {
  using m = irq.irqchipMachine(kvm);
  irq.start(m, [
    ...irq.picInit(0x20, 0xff, 0xff),
    "e6 e9", //          ready: IRQ5 is raised while masked
    "fb", //             sti
    "b9 e8 03", //       mov cx, 1000
    "b0 ff", //          l1: mov al, 0xff
    "83 f9 01", //       cmp cx, 1
    "75 02", //          jne skip
    "b0 df", //          mov al, 0xdf (the last time round: unmask IRQ5)
    "e6 21", //          skip: out 0x21, al
    "ff 06 00 30", //    inc word [0x3000]
    "e2 ef", //          loop l1
    "f4",
  ]);
  irq.handler(m, 0, 0x25, 0x25, [], ["a1 00 30", "e6 e8", "88 e0", "e6 e8", "f4"]); // report [0x3000]
  irq.nextOut(m.vcpu, irq.READY);
  m.vm.irqLine(5, 1);
  m.vm.irqLine(5, 0);
  const lo = irq.nextOut(m.vcpu, irq.MARK);
  return irq.nextOut(m.vcpu, irq.MARK) * 256 + lo;
}

/** Whether the interrupt a guest's OUT unmasks is taken before the next instruction. */
function probePreciseUnmask(kvm: Kvm): string | undefined {
  const n = unmaskInLoop(kvm);
  return n === 999 ? undefined : `the interrupt that an OUT to the PIC's IMR unmasked came ${n - 999} increments later`;
}

irq.hostQuirkTest(
  "PIC: an OUT that unmasks a pending line is followed by the interrupt at once, inside a hot loop",
  probePreciseUnmask,
  (kvm) => {
    // 999 increments ran before the unmasking OUT; the one after it must not have.
    assert.equal(unmaskInLoop(kvm), 999);
  },
);

backendTest("PIT: ticks reach a guest that spins without halting", (kvm) => {
  using m = irq.irqchipMachine(kvm, { pit: 0 });
  irq.start(m, [
    ...irq.picInit(0x20, 0xfe, 0xff),
    ...irq.outb(0x43, 0x34),
    ...irq.outb(0x40, 0xa9), // 1 ms
    ...irq.outb(0x40, 0x04),
    "fb", //             sti
    "ff 06 00 30", //    spin: inc word [0x3000]
    "eb fa", //          jmp spin
  ]);
  irq.handler(m, 0, 0x20, 0x20, [0x20]);
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x20);
  const ms = performance.now() - t0;
  assert.ok(ms >= 4, `5 ticks of 1 ms in ${ms.toFixed(2)} ms`);
  assert.ok(view(m.mem).getUint16(0x3000, true) > 0, "the guest ran between the ticks");
});
