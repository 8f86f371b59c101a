/**
 * EventFd, KVM_IOEVENTFD and KVM_IRQFD: a guest `out` to a registered port
 * signals the eventfd without exiting; signalling an irqfd raises an
 * in-kernel PIC line that the guest takes as an interrupt. The emulator
 * refuses both cleanly.
 */
import assert from "node:assert/strict";
import { EventFd, KvmError } from "../../mod.ts";
import { KVM_CAP_IOEVENTFD } from "../../abi/constants.ts";
import { backendTest, test } from "../_support/harness.ts";
import { CODE, describe, load, realMode, runToOut } from "../_support/guests.ts";
import { emuRefuses, irqMachine, ivt, kvmTest } from "./_vmm.ts";

test("EventFd counts signals, reads them once, and is closed once", () => {
  const e = EventFd.create({ initval: 2 });
  assert.equal(e.read(), 2n);
  assert.equal(e.read(), 0n, "a non-blocking read of a zero counter says 0n");
  e.signal();
  e.signal(5n);
  assert.equal(e.read(), 6n);
  assert.throws(() => e.signal(0), RangeError);
  assert.throws(() => e.signal(-1), RangeError);
  e.close();
  e.close();
  assert.throws(() => e.read(), (err) => err instanceof KvmError && err.code === "EBADF");
  using sem = EventFd.create({ initval: 3, semaphore: true });
  assert.equal(sem.read(), 1n);
  assert.equal(sem.read(), 1n);
});

// 0x1000: mov dx, 0x600 ; mov al, 5 ; out dx, al ; out dx, al ; mov al, 6 ; out dx, al ; out 0xe9, al ; hlt
const PORT_WRITER = [
  "ba 00 06", // mov dx, 0x600
  "b0 05", //    mov al, 5
  "ee", //       out dx, al
  "ee", //       out dx, al
  "b0 06", //    mov al, 6
  "ee", //       out dx, al
  "e6 e9", //    out 0xe9, al
  "f4", //       hlt
];

kvmTest("ioeventfd: a matching out signals the eventfd without exiting", { KVM_CAP_IOEVENTFD }, (kvm) => {
  using m = irqMachine(kvm);
  using doorbell = EventFd.create();
  load(m.mem, CODE, PORT_WRITER);
  m.vm.ioeventfd({ addr: 0x600, len: 1, pio: true, datamatch: 5, eventFd: doorbell });
  realMode(m.vcpu, CODE);
  // The two writes of 5 matched; the write of 6 does not match datamatch and exits as usual.
  assert.equal(runToOut(m.vcpu, 0x600), 6);
  assert.equal(runToOut(m.vcpu, 0xe9), 6);
  assert.equal(doorbell.read(), 2n, "the eventfd counted both matching writes");
  assert.equal(doorbell.read(), 0n);

  // Without datamatch every write matches; after deassign none does.
  m.vm.ioeventfd({ addr: 0x600, len: 1, pio: true, datamatch: 5, eventFd: doorbell, deassign: true });
  using any = EventFd.create();
  m.vm.ioeventfd({ addr: 0x600, len: 1, pio: true, eventFd: any });
  realMode(m.vcpu, CODE);
  assert.equal(runToOut(m.vcpu, 0xe9), 6, "no write to 0x600 exited");
  assert.equal(any.read(), 3n);
  m.vm.ioeventfd({ addr: 0x600, len: 1, pio: true, eventFd: any, deassign: true });
  realMode(m.vcpu, CODE);
  assert.equal(runToOut(m.vcpu, 0x600), 5, "after deassign the write exits again");
  assert.equal(doorbell.read() + any.read(), 0n);
});

kvmTest("ioeventfd on MMIO: a guest store to the address signals without exiting", { KVM_CAP_IOEVENTFD }, (kvm) => {
  using m = irqMachine(kvm);
  using doorbell = EventFd.create();
  m.vm.ioeventfd({ addr: 0x20000, len: 2, eventFd: doorbell });
  load(m.mem, CODE, [
    "b8 00 20", //          mov ax, 0x2000
    "8e d8", //             mov ds, ax
    "c7 06 00 00 34 12", // mov word [0], 0x1234   ; 0x20000: the doorbell
    "c7 06 04 00 34 12", // mov word [4], 0x1234   ; 0x20004: ordinary MMIO
    "f4", //                hlt
  ]);
  realMode(m.vcpu, CODE);
  const exit = m.vcpu.run();
  assert.ok(exit.reason === "mmio" && exit.physAddr === 0x20004n, `only the second store exits: ${describe(exit)}`);
  assert.equal(doorbell.read(), 1n);
});

kvmTest("ioeventfd validates before any ioctl", { KVM_CAP_IOEVENTFD }, (kvm) => {
  using m = irqMachine(kvm);
  using e = EventFd.create();
  assert.throws(() => m.vm.ioeventfd({ addr: 0x600, len: 3 as 1, pio: true, eventFd: e }), /options\.len/);
  assert.throws(() => m.vm.ioeventfd({ addr: 0x10000, len: 1, pio: true, eventFd: e }), RangeError);
  assert.throws(() => m.vm.ioeventfd({ addr: 0x600, len: 1, eventFd: 3 as unknown as EventFd }), TypeError);
  const closed = EventFd.create();
  closed.close();
  assert.throws(
    () => m.vm.ioeventfd({ addr: 0x600, len: 1, pio: true, eventFd: closed }),
    (err) => err instanceof KvmError && err.code === "EBADF",
  );
});

// 0x1000: program the master PIC (vectors 8-15, only IRQ3 unmasked), report ready, then sti; hlt forever.
const PIC_GUEST = [
  "b0 11", // mov al, 0x11   ; ICW1: edge triggered, cascade, ICW4 follows
  "e6 20", // out 0x20, al
  "b0 08", // mov al, 0x08   ; ICW2: IRQ0-7 -> vectors 8-15
  "e6 21", // out 0x21, al
  "b0 04", // mov al, 0x04   ; ICW3: a slave on IRQ2
  "e6 21", // out 0x21, al
  "b0 01", // mov al, 0x01   ; ICW4: 8086 mode
  "e6 21", // out 0x21, al
  "b0 f7", // mov al, 0xf7   ; OCW1: mask all but IRQ3
  "e6 21", // out 0x21, al
  "e6 e9", // out 0xe9, al   ; ready
  "fb", //    sti
  "f4", //    idle: hlt
  "eb fd", // jmp idle
];
// 0x1100, the handler: mov al, 0x42 ; out 0xe8, al ; hlt
const HANDLER = ["b0 42", "e6 e8", "f4"];

// The emulator has irqfd too (emu/irqchip/irqfd.ts): the same test on both backends.
backendTest("irqfd: a signal raises the PIC line and the guest takes the interrupt", (kvm) => {
  using m = irqMachine(kvm);
  using line3 = EventFd.create();
  m.vm.irqfd({ gsi: 3, eventFd: line3 });
  load(m.mem, CODE, PIC_GUEST);
  load(m.mem, 0x1100, HANDLER);
  ivt(m, 0x0b, 0x1100); // IRQ3 -> vector 0x0b
  realMode(m.vcpu, CODE);
  assert.equal(runToOut(m.vcpu, 0xe9), 0xf7);
  // Halted in the kernel (in-kernel irqchip): nothing happens until the line rises.
  const idle = m.vcpu.run({ timeoutMs: 100 });
  assert.equal(idle.reason, "intr", `the guest should idle, got ${describe(idle)}`);
  line3.signal();
  const exit = m.vcpu.run({ timeoutMs: 5000 });
  assert.equal(exit.reason, "io", `IRQ3 should reach the handler, got ${describe(exit)}`);
  assert.equal(exit.reason === "io" && exit.port, 0xe8);
  m.vm.irqfd({ gsi: 3, eventFd: line3, deassign: true });
  assert.throws(() => m.vm.irqfd({ gsi: -1, eventFd: line3 }), RangeError);
});

emuRefuses("ioeventfd", KVM_CAP_IOEVENTFD, (m) => {
  using e = EventFd.create();
  m.vm.ioeventfd({ addr: 0x600, len: 1, pio: true, eventFd: e });
});
