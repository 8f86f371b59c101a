/**
 * Lifetimes under misuse (issue 14): memory cannot be freed while a vCPU
 * that may run on it lives in another thread; arguments are read before the
 * descriptor is taken; a kvm_run or guest memory buffer the caller
 * transferred away neither breaks close()/free() nor leaves a dangling view;
 * closed objects answer KvmError EBADF whatever the arguments.
 *
 * @module
 */
import assert from "node:assert/strict";
import { adoptVcpu, KvmError } from "../../mod.ts";
import { MSR_IA32_SYSENTER_CS } from "../../abi/constants.ts";
import { backendTest } from "../_support/harness.ts";
import { CODE, load, machine, realMode, runTo } from "../_support/guests.ts";
import { kvmTest, MSR_EXIT_CAPS, msrExits } from "../vmm/_vmm.ts";
import { startWorker } from "./_start_worker.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function isCode(code: string) {
  return (e: unknown) => e instanceof KvmError && e.code === code;
}

/** Real mode: spin until the byte at 0x3000 is non-zero, then hlt. */
const SPIN = [
  "a0 00 30", // .wait: mov al, [0x3000]
  "84 c0", //          test al, al
  "74 f9", //          je .wait
  "f4", //             hlt
];

backendTest("GuestMemory.free: EBUSY while a vCPU of the closed VM still runs in a Worker, then frees", async (kvm) => {
  const m = machine(kvm);
  load(m.mem, CODE, SPIN);
  realMode(m.vcpu, CODE);
  const { worker, report } = startWorker({ mode: "hlt", handoff: m.vcpu.handoff() });
  try {
    await sleep(100); // the Worker adopts the vCPU and spins
    m.vm.close();
    assert.throws(() => m.mem.free(), (e: unknown) => {
      assert.ok(e instanceof KvmError && e.code === "EBUSY", String(e));
      assert.match(e.message, /vCPU 0 of the closed VM \d+ \(held by another thread\)/);
      return true;
    });
    assert.ok(m.mem.bytes.length > 0, "still mapped");
    m.mem.bytes[0x3000] = 1; // the guest reaches its hlt; the Worker closes the vCPU
    const r = await report;
    assert.ok(r.ok, r.ok ? "" : r.error);
    assert.deepEqual(r.reasons, ["hlt"]);
    m.mem.free();
    assert.equal(m.mem.bytes.length, 0, "freed: the view is detached");
  } finally {
    worker.terminate();
    if (m.mem.bytes.length > 0) m.mem.bytes[0x3000] = 1;
  }
});

backendTest("Vcpu.run: options are read before the descriptor; a getter that closes the vCPU gets EBADF", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, ["f4"]);
  realMode(m.vcpu, CODE);
  let other: ReturnType<typeof m.vm.createVcpu> | undefined;
  const options = {
    get timeoutMs() {
      m.vcpu.close();
      other = m.vm.createVcpu(1); // may reuse the closed descriptor's number
      return 1000;
    },
  };
  assert.throws(() => m.vcpu.run(options), isCode("EBADF"));
  assert.ok(other, "the getter ran");
  // The new vCPU was not run by that call: it is still at its reset state.
  assert.equal(other.getRegs().rip, 0xfff0n);
});

backendTest("closed objects: EBADF before any argument is looked at", (kvm) => {
  using m = machine(kvm);
  m.vcpu.close();
  assert.throws(() => m.vcpu.setXsave(null as unknown as Uint8Array), isCode("EBADF"));
  assert.throws(() => m.vcpu.run({ timeoutMs: -5 }), isCode("EBADF"));
  assert.throws(() => m.vcpu.setRegs(null as never), isCode("EBADF"));
});

backendTest("a transferred kvm_run: run() says so, close() and free() still work, nothing dangles", (kvm) => {
  const m = machine(kvm);
  load(m.mem, CODE, ["b0 41", "e6 e9", "f4"]); // mov al, 0x41 / out 0xe9, al / hlt
  realMode(m.vcpu, CODE);
  const exit = m.vcpu.run();
  assert.equal(exit.reason, "io");
  if (exit.reason !== "io") return;
  const moved = (exit.data.buffer as ArrayBuffer).transfer();
  assert.throws(() => m.vcpu.run(), (e: unknown) => e instanceof KvmError && /transferred away/.test(e.message));
  m.vm.close();
  assert.throws(() => m.vcpu.getRegs(), isCode("EBADF"));
  m.mem.free();
  new Uint8Array(moved)[0] = 1; // still valid memory: the pages it moved to stay mapped
});

backendTest("a transferred guest memory buffer: close() and free() succeed, the moved buffer stays usable", (kvm) => {
  const m = machine(kvm);
  m.mem.bytes[5] = 7;
  const moved = (m.mem.bytes.buffer as ArrayBuffer).transfer();
  m.vm.close();
  m.mem.free();
  m.mem.free(); // idempotent
  const view = new Uint8Array(moved);
  assert.equal(view[5], 7);
  view[5] = 9;
  assert.equal(view[5], 9);
});

kvmTest("a kept MsrExit after close: KvmError EBADF, not a TypeError", MSR_EXIT_CAPS, (kvm) => {
  using m = machine(kvm);
  msrExits(m, ["66 b9 74 01 00 00", "0f 32", "f4"]); // mov ecx, 0x174 / rdmsr / hlt
  const exit = runTo(m.vcpu, "x86_rdmsr");
  assert.equal(exit.index, MSR_IA32_SYSENTER_CS);
  m.vcpu.close();
  for (const use of [() => exit.index, () => exit.data, () => (exit.data = 1n), () => (exit.error = 1)]) {
    assert.throws(use, isCode("EBADF"));
  }
});

backendTest("GuestMemory.free in many slots: the EBUSY message stays short", (kvm) => {
  using vm = kvm.createVm();
  const mem = vm.allocateMemory(0x1000);
  for (let slot = 0; slot < 64; slot++) {
    vm.setUserMemoryRegion({ slot, guestPhysAddr: slot * 0x1000, memory: mem });
  }
  assert.throws(() => mem.free(), (e: unknown) => {
    assert.ok(e instanceof KvmError && e.code === "EBUSY");
    assert.ok(e.message.length < 300, e.message);
    assert.match(e.message, /and 60 more/);
    return true;
  });
  vm.close();
  mem.free();
});

backendTest(
  "adoptVcpu on the handing thread: works on kvm, refused on the emulator (no deadlock), and a Worker can still adopt it",
  async (kvm, backend) => {
    using m = machine(kvm);
    load(m.mem, CODE, ["f4"]);
    realMode(m.vcpu, CODE);
    const handoff = m.vcpu.handoff();
    if (backend === "emu") {
      assert.throws(() => adoptVcpu(handoff), (e: unknown) => e instanceof KvmError && e.code === "EDEADLK");
      const { worker, report } = startWorker({ mode: "hlt", handoff });
      try {
        const r = await report;
        assert.ok(r.ok, r.ok ? "" : r.error);
        assert.deepEqual(r.reasons, ["hlt"]);
      } finally {
        worker.terminate();
      }
    } else {
      using vcpu = adoptVcpu(handoff);
      assert.equal(vcpu.getRegs().rip, BigInt(CODE));
      assert.equal(vcpu.run({ timeoutMs: 5000 }).reason, "hlt");
    }
  },
);
