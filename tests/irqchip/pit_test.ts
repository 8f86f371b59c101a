/**
 * The in-kernel 8254 (KVM_CREATE_PIT2) driven by real-mode guests: channel
 * 0 ticking IRQ 0 through the PIC, counted against the host's clock; the
 * counter latch and the read-back status; channel 2 gated and read through
 * port 0x61, which KVM_PIT_SPEAKER_DUMMY leaves to userspace. Same guests
 * and assertions on both backends.
 */
import assert from "node:assert/strict";
import { KVM_PIT_SPEAKER_DUMMY } from "../../abi/constants.ts";
import { backendTest } from "../_support/harness.ts";
import { describe, view } from "../_support/guests.ts";
import * as irq from "./_irqchip.ts";

/** Where the tick handler counts. */
const TICKS = 0x3000;

backendTest("PIT: channel 0 in mode 2 at 1 kHz ticks IRQ 0 twenty times in about 20 ms", (kvm) => {
  using m = irq.irqchipMachine(kvm, { pit: 0 });
  irq.start(m, [
    ...irq.picInit(0x20, 0xfe, 0xff),
    ...irq.outb(0x43, 0x34), // channel 0, LSB then MSB, mode 2
    ...irq.outb(0x40, 0xa9), // 1193 = 1 ms
    ...irq.outb(0x40, 0x04),
    "fb", //             sti
    "f4", //             wait: hlt
    "83 3e 00 30 14", // cmp word [0x3000], 20
    "72 f8", //          jb wait
    "e6 e9", //          out 0xe9, al
    "f4",
  ]);
  irq.handler(m, 0, 0x20, 0, [0x20], ["ff 06 00 30"]); // inc word [0x3000]
  // The handler's mark goes to port 0xe8 too: count those exits as ticks seen by the host.
  const t0 = performance.now();
  let marks = 0;
  for (;;) {
    const e = m.vcpu.run({ timeoutMs: 5000 });
    assert.equal(e.reason, "io", describe(e));
    if (e.reason === "io" && e.port === irq.MARK) marks++;
    else break;
  }
  const ms = performance.now() - t0;
  // Ticks missed while the host handled an exit are reinjected one per EOI, so a backlog may drain before the guest's
  // compare: 20 or more, but never more than the periods that passed.
  const ticks = view(m.mem).getUint16(TICKS, true);
  assert.equal(marks, ticks, "the host saw each tick's handler");
  assert.ok(ticks >= 20 && ticks <= Math.ceil(ms) + 1, `${ticks} ticks of 1 ms in ${ms.toFixed(1)} ms`);
  assert.ok(ms >= 19 && ms < 3000, `20 ticks of 1 ms took ${ms.toFixed(1)} ms`);
});

backendTest("PIT: counter latch, read-back status, BCD and mode bits", (kvm) => {
  using m = irq.irqchipMachine(kvm, { pit: 0 });
  irq.start(m, [
    ...irq.outb(0x43, 0x34), // channel 0, LSB/MSB, mode 2, binary
    ...irq.outb(0x40, 0xff),
    ...irq.outb(0x40, 0xff),
    ...irq.outb(0x43, 0x00), // latch channel 0
    ...irq.report(0x40),
    ...irq.report(0x40),
    ...irq.outb(0x43, 0xe2), // read-back: status of channel 0 only
    ...irq.report(0x40),
    ...irq.outb(0x43, 0x31), // channel 0, LSB/MSB, mode 0, BCD
    ...irq.outb(0x40, 0x00),
    ...irq.outb(0x40, 0x50),
    ...irq.outb(0x43, 0xe2),
    ...irq.report(0x40),
    "f4",
  ]);
  const lo = irq.nextOut(m.vcpu, irq.MARK), hi = irq.nextOut(m.vcpu, irq.MARK);
  const count = hi * 256 + lo;
  assert.ok(count > 0xf000 && count <= 0xffff, `latched count 0x${count.toString(16)}`);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK) & 0x7f, 0x34, "status: LSB/MSB, mode 2, binary");
  assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x31, "status: OUT low, LSB/MSB, mode 0, BCD");
});

backendTest("PIT: with KVM_PIT_SPEAKER_DUMMY, channel 2 gated by port 0x61 and its OUT read back there", (kvm) => {
  using m = irq.irqchipMachine(kvm, { pit: KVM_PIT_SPEAKER_DUMMY });
  irq.start(m, [
    ...irq.outb(0x61, 0x00), // gate off
    ...irq.outb(0x43, 0xb0), // channel 2, LSB/MSB, mode 0
    ...irq.outb(0x42, 0xa9),
    ...irq.outb(0x42, 0x04),
    ...irq.report(0x61),
    ...irq.outb(0x61, 0x01), // gate on
    "e4 61", //             wait: in al, 0x61
    "a8 20", //             test al, 0x20 (OUT2)
    "74 fa", //             jz wait
    "e6 e8",
    ...irq.outb(0x61, 0x03), // speaker data on
    ...irq.report(0x61),
    "f4",
  ]);
  assert.equal(irq.nextOut(m.vcpu, irq.MARK) & 0x23, 0x00, "gate off, OUT2 low, speaker off");
  assert.equal(irq.nextOut(m.vcpu, irq.MARK) & 0x23, 0x21, "gate on, OUT2 high at terminal count");
  assert.equal(irq.nextOut(m.vcpu, irq.MARK) & 0x03, 0x03, "speaker data on");
});

backendTest("PIT: without KVM_PIT_SPEAKER_DUMMY port 0x61 is userspace's", (kvm) => {
  using m = irq.irqchipMachine(kvm, { pit: 0 });
  irq.start(m, [...irq.report(0x61), "f4"]);
  const e = m.vcpu.run({ timeoutMs: 5000 });
  assert.ok(e.reason === "io" && e.direction === "in" && e.port === 0x61, describe(e));
});

backendTest("PIT: after the guest moves IRQ 0 from the PIC to the IOAPIC, ticks go on through the IOAPIC", (kvm) => {
  using m = irq.irqchipMachine(kvm, { pit: 0 });
  irq.start32(m, [
    ...irq.picInit(0x20, 0xfe, 0xff), // IRQ0 unmasked at the PIC, IF = 0
    ...irq.outb(0x43, 0x34),
    ...irq.outb(0x40, 0xa9), //            1 ms
    ...irq.outb(0x40, 0x04),
    "e6 e9", //                        ready: the host lets a tick reach the PIC, unacknowledged
    ...irq.ioapicRoute(0, 0x30), //        the OS switches to the IOAPIC: pin 0, edge, vector 0x30
    ...irq.READY_THEN_IDLE.slice(1),
  ]);
  irq.handler32(m, 0, 0x30, 0x30);
  irq.nextOut(m.vcpu, irq.READY);
  const until = performance.now() + 5;
  while (performance.now() < until) { /* a few periods pass */ }
  for (let i = 0; i < 5; i++) assert.equal(irq.nextOut(m.vcpu, irq.MARK), 0x30);
});
