/**
 * Vcpu.handoff's `onExit`: on the emulator the handing thread completes the
 * exits it takes (a VMM's devices live there) and the adopter sees only the
 * others; a handler that throws ends the adopter's run with KvmError EIO. On
 * kvm the adopter runs KVM_RUN itself: the handler is never called.
 */
import assert from "node:assert/strict";
import type { Vcpu, VcpuExit, Vm } from "../../mod.ts";
import { realMode } from "../_support/guests.ts";
import { backendTest } from "../_support/harness.ts";
import { startWorker } from "./_start_worker.ts";

/** The guest's port whose I/O the handing thread completes, and one it leaves to the adopter. */
const DEVICE_PORT = 0xe9, OTHER_PORT = 0xea, IN_PORT = 0x60;

// 0x1000: mov al, 0x11 ; out 0xe9, al ; mov al, 0x22 ; out 0xe9, al
//         in al, 0x60 ; mov [0x2000], al
//         mov al, 0x33 ; out 0xea, al ; hlt
const GUEST = [
  ...[0xb0, 0x11, 0xe6, DEVICE_PORT],
  ...[0xb0, 0x22, 0xe6, DEVICE_PORT],
  ...[0xe4, IN_PORT, 0xa2, 0x00, 0x20],
  ...[0xb0, 0x33, 0xe6, OTHER_PORT],
  0xf4,
];

/** A real-mode vCPU running GUEST at 0x1000, in VM memory at 0; and that memory. */
function guestVcpu(vm: Vm): { vcpu: Vcpu; bytes: Uint8Array } {
  const mem = vm.allocateMemory(0x10000);
  mem.bytes.set(GUEST, 0x1000);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem });
  const vcpu = vm.createVcpu(0);
  realMode(vcpu, 0x1000);
  return { vcpu, bytes: mem.bytes };
}

backendTest("handoff onExit: the handing thread completes its ports' I/O, the adopter sees the rest", async (kvm) => {
  using vm = kvm.createVm();
  const { vcpu, bytes } = guestVcpu(vm);
  const written: number[] = [];
  const onExit = (exit: VcpuExit): boolean => {
    if (exit.reason !== "io") return false;
    if (exit.port === DEVICE_PORT && exit.direction === "out") written.push(exit.data[0]);
    else if (exit.port === IN_PORT && exit.direction === "in") exit.data[0] = 0x5a;
    else return false;
    return true;
  };
  const { worker, report } = startWorker({ mode: "hlt", handoff: vcpu.handoff({ onExit }) });
  try {
    const r = await report;
    if (kvm.backend === "emu") {
      assert.deepEqual(r, { ok: true, reasons: ["io", "hlt"] }, "the adopter saw only the out to 0xea and hlt");
      assert.deepEqual(written, [0x11, 0x22]);
      assert.equal(bytes[0x2000], 0x5a, "the in completed with the handler's data");
    } else {
      // The adopter runs KVM_RUN in the kernel: it sees every exit, and the handler none.
      assert.deepEqual(r, { ok: true, reasons: ["io", "io", "io", "io", "hlt"] });
      assert.deepEqual(written, []);
    }
  } finally {
    worker.terminate();
    vcpu.close();
  }
});

backendTest(
  "handoff onExit: a handler that throws ends the adopter's run with EIO and its message, nothing hangs",
  async (kvm) => {
    using vm = kvm.createVm();
    const { vcpu } = guestVcpu(vm);
    let calls = 0;
    const onExit = (): boolean => {
      calls++;
      throw new Error("the device is on fire");
    };
    const { worker, report } = startWorker({ mode: "hlt", handoff: vcpu.handoff({ onExit }) });
    try {
      const r = await report;
      assert.equal(r.ok, false);
      assert.match(r.ok ? "" : r.error, /KVM_RUN failed: EIO .*exit handler failed: the device is on fire/);
      assert.equal(calls, 1, "the failed exit was offered once");
    } finally {
      worker.terminate();
      vcpu.close();
    }
  },
  { only: ["emu"] }, // kvm never calls the handler: its adopter runs KVM_RUN in the kernel
);

backendTest("handoff onExit: a handler that is not a function is refused before the vCPU moves", (kvm) => {
  using vm = kvm.createVm();
  const { vcpu } = guestVcpu(vm);
  using _ = vcpu;
  assert.throws(
    () => vcpu.handoff({ onExit: 5 as unknown as () => boolean }),
    (e: unknown) => e instanceof TypeError && /options\.onExit: expected a function/.test(e.message),
  );
  assert.equal(vcpu.run().reason, "io", "the vCPU still runs here");
});
