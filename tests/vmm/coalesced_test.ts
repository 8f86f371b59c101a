/**
 * Coalesced MMIO and PIO: guest writes to a registered zone do not exit;
 * they queue in the VM's ring, which vcpu.drainCoalescedMmio() reads. The
 * emulator refuses the registration cleanly.
 */
import assert from "node:assert/strict";
import { KVM_CAP_COALESCED_MMIO, KVM_CAP_COALESCED_PIO } from "../../abi/constants.ts";
import { backendTest } from "../_support/harness.ts";
import { CODE, describe, load, machine, realMode, runTo, runToOut } from "../_support/guests.ts";
import { emuRefuses, kvmTest } from "./_vmm.ts";

// 0x1000: two MMIO writes to 0x20010 and 0x20020 (outside every slot), a port write to 0x610, then exit.
const WRITER = [
  "b8 00 20", //          mov ax, 0x2000
  "8e d8", //             mov ds, ax
  "c6 06 10 00 5a", //    mov byte [0x10], 0x5a      ; 0x20010
  "c7 06 20 00 34 12", // mov word [0x20], 0x1234    ; 0x20020
  "ba 10 06", //          mov dx, 0x610
  "b0 77", //             mov al, 0x77
  "ee", //                out dx, al
  "e6 e9", //             out 0xe9, al
  "f4", //                hlt
];

kvmTest(
  "coalesced MMIO and PIO: writes queue in the ring instead of exiting",
  { KVM_CAP_COALESCED_MMIO, KVM_CAP_COALESCED_PIO },
  (kvm) => {
    using m = machine(kvm);
    m.vm.registerCoalescedMmio({ addr: 0x20000, size: 0x1000 });
    m.vm.registerCoalescedMmio({ addr: 0x610, size: 4, pio: true });
    load(m.mem, CODE, WRITER);
    realMode(m.vcpu, CODE);
    assert.equal(runToOut(m.vcpu, 0xe9), 0x77, "the first exit is the out to 0xe9");
    const ring = m.vcpu.drainCoalescedMmio();
    assert.deepEqual(
      ring.map((e) => ({ ...e, data: [...e.data] })),
      [
        { physAddr: 0x20010n, len: 1, pio: 0, data: [0x5a] },
        { physAddr: 0x20020n, len: 2, pio: 0, data: [0x34, 0x12] },
        { physAddr: 0x610n, len: 1, pio: 1, data: [0x77] },
      ],
    );
    assert.deepEqual(m.vcpu.drainCoalescedMmio(), [], "draining took every entry");
    runTo(m.vcpu, "hlt");

    m.vm.unregisterCoalescedMmio({ addr: 0x20000, size: 0x1000 });
    realMode(m.vcpu, CODE);
    const exit = m.vcpu.run();
    assert.ok(exit.reason === "mmio" && exit.isWrite && exit.physAddr === 0x20010n, describe(exit));
  },
);

backendTest("coalesced zones validate before any ioctl", (kvm) => {
  using m = machine(kvm);
  assert.throws(() => m.vm.registerCoalescedMmio({ addr: 0xfff0, size: 0x20, pio: true }), /zone\.addr: port 0xfff0/);
  assert.throws(() => m.vm.registerCoalescedMmio({ addr: 0x20000, size: 0 }), RangeError);
  assert.throws(() => m.vm.unregisterCoalescedMmio({ addr: "0" as unknown as number, size: 1 }), TypeError);
  assert.deepEqual(m.vcpu.drainCoalescedMmio(), [], "nothing registered, nothing queued");
});

emuRefuses("registerCoalescedMmio", KVM_CAP_COALESCED_MMIO, (m) => {
  m.vm.registerCoalescedMmio({ addr: 0x20000, size: 0x1000 });
});

emuRefuses("registerCoalescedMmio (pio)", KVM_CAP_COALESCED_PIO, (m) => {
  m.vm.registerCoalescedMmio({ addr: 0x610, size: 4, pio: true });
});
