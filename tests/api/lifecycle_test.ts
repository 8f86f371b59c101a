/**
 * Lifetimes: closed means closed (every method of a closed Kvm, Vm or Vcpu
 * throws KvmError EBADF), Vm.close closes its vCPUs, `using` disposes, and
 * GuestMemory.free detaches its view, is idempotent and is refused while a
 * slot uses the memory.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm, KvmError } from "../../mod.ts";
import type { Vcpu, Vm } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import { CODE, load, machine, realMode, runTo, runToOut } from "../_support/guests.ts";

function isEbadf(e: unknown): boolean {
  return e instanceof KvmError && e.code === "EBADF" && e.errno === 9;
}

/** Asserts that every call throws KvmError EBADF. */
function assertAllEbadf(calls: Record<string, () => unknown>): void {
  for (const [name, call] of Object.entries(calls)) {
    assert.throws(call, isEbadf, `${name} on a closed object`);
  }
}

backendTest("closed Kvm: every method throws KvmError EBADF; close is idempotent", (kvm, backend) => {
  const k = Kvm.open({ backend });
  k.close();
  k.close();
  k[Symbol.dispose]();
  assertAllEbadf({
    apiVersion: () => k.apiVersion(),
    checkExtension: () => k.checkExtension(0),
    supportedCpuid: () => k.supportedCpuid(),
    msrIndexList: () => k.msrIndexList(),
    createVm: () => k.createVm(),
  });
  assert.equal(kvm.apiVersion(), 12, "another Kvm is unaffected");
});

backendTest("closed Kvm: vcpuMmapSize throws KvmError EBADF too", (_, backend) => {
  const k = Kvm.open({ backend });
  k.close();
  assert.throws(() => k.vcpuMmapSize(), isEbadf);
});

backendTest("closed Vm: every method throws KvmError EBADF, even with valid arguments", (kvm) => {
  const vm = kvm.createVm();
  const mem = vm.allocateMemory(0x1000);
  vm.close();
  vm.close();
  assertAllEbadf({
    allocateMemory: () => vm.allocateMemory(0x1000),
    setUserMemoryRegion: () => vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem }),
    getDirtyLog: () => vm.getDirtyLog(0),
    createVcpu: () => vm.createVcpu(0),
    checkExtension: () => vm.checkExtension(0),
    createIrqchip: () => vm.createIrqchip(),
    irqLine: () => vm.irqLine(0, true),
    createPit2: () => vm.createPit2(),
    setTssAddr: () => vm.setTssAddr(0xfffb_d000),
    setIdentityMapAddr: () => vm.setIdentityMapAddr(0xfffb_c000),
  });
  mem.free();
});

/** Every method of `vcpu`, with arguments that an open vCPU would accept. */
function vcpuCalls(vcpu: Vcpu): Record<string, () => unknown> {
  const regs = vcpu.getRegs();
  const sregs = vcpu.getSregs();
  const fpu = vcpu.getFpu();
  const cpuid = vcpu.getCpuid2();
  const events = vcpu.getVcpuEvents();
  const debugRegs = vcpu.getDebugRegs();
  const xcrs = vcpu.getXcrs();
  return {
    run: () => vcpu.run(),
    runWithTimeout: () => vcpu.run({ timeoutMs: 10 }),
    getRegs: () => vcpu.getRegs(),
    setRegs: () => vcpu.setRegs(regs),
    getSregs: () => vcpu.getSregs(),
    setSregs: () => vcpu.setSregs(sregs),
    getMsrs: () => vcpu.getMsrs([0x174]),
    setMsrs: () => vcpu.setMsrs([{ index: 0x174, data: 0n }]),
    translate: () => vcpu.translate(0),
    interrupt: () => vcpu.interrupt(0x20),
    setGuestDebug: () => vcpu.setGuestDebug(null),
    getFpu: () => vcpu.getFpu(),
    setFpu: () => vcpu.setFpu(fpu),
    getCpuid2: () => vcpu.getCpuid2(),
    setCpuid2: () => vcpu.setCpuid2(cpuid),
    getMpState: () => vcpu.getMpState(),
    setMpState: () => vcpu.setMpState(0),
    getVcpuEvents: () => vcpu.getVcpuEvents(),
    setVcpuEvents: () => vcpu.setVcpuEvents(events),
    getDebugRegs: () => vcpu.getDebugRegs(),
    setDebugRegs: () => vcpu.setDebugRegs(debugRegs),
    getLapic: () => vcpu.getLapic(),
    setLapic: () => vcpu.setLapic(new Uint8Array(1024)),
    getXcrs: () => vcpu.getXcrs(),
    setXcrs: () => vcpu.setXcrs(xcrs),
  };
}

backendTest("closed Vcpu: every method throws KvmError EBADF; the VM is unaffected", (kvm) => {
  using m = machine(kvm);
  const other = m.vm.createVcpu(1);
  const calls = vcpuCalls(other);
  other.close();
  other.close();
  assertAllEbadf(calls);
  load(m.mem, CODE, ["f4"]); // hlt
  realMode(m.vcpu, CODE);
  runTo(m.vcpu, "hlt");
});

backendTest("Vm.close closes its vCPUs", (kvm) => {
  const vm = kvm.createVm();
  const a = vm.createVcpu(0);
  const b = vm.createVcpu(1);
  const calls = { a: vcpuCalls(a), b: vcpuCalls(b) };
  vm.close();
  assertAllEbadf(calls.a);
  assertAllEbadf(calls.b);
});

backendTest("using: a Kvm, a Vm and a Vcpu declared with `using` are closed at the end of the block", (_, backend) => {
  let k: Kvm;
  let vm: Vm;
  let vcpu: Vcpu;
  {
    using k1 = Kvm.open({ backend });
    using vm1 = k1.createVm();
    using vcpu1 = vm1.createVcpu(0);
    [k, vm, vcpu] = [k1, vm1, vcpu1];
    assert.equal(vcpu.getMpState(), 0);
  }
  assert.throws(() => k.apiVersion(), isEbadf);
  assert.throws(() => vm.createVcpu(1), isEbadf);
  assert.throws(() => vcpu.getRegs(), isEbadf);
  {
    using k2 = Kvm.open({ backend });
    using vm2 = k2.createVm();
    vcpu = vm2.createVcpu(0);
  }
  assert.throws(() => vcpu.getRegs(), isEbadf, "disposing a Vm closes its vCPUs");
});

backendTest(
  "GuestMemory.free: detaches bytes (length 0), is idempotent, and is refused while a slot uses it",
  (kvm) => {
    using m = machine(kvm);
    const mem = m.vm.allocateMemory(0x2000);
    const early = mem.bytes;
    mem.bytes[0x10] = 0x42;
    m.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x20000, memory: mem });
    assert.throws(
      () => mem.free(),
      (e: unknown) => e instanceof KvmError && e.code === "EBUSY" && /slot 1/.test(e.message),
    );
    assert.equal(mem.bytes[0x10], 0x42, "the refused free left the memory mapped");
    // The guest still reads it.
    load(m.mem, CODE, [
      "b8 00 20", // mov ax, 0x2000
      "8e d8", //    mov ds, ax          ; ds.base = 0x20000: slot 1
      "a0 10 00", // mov al, [0x10]
      "e6 e9", //    out 0xe9, al
      "f4", //       hlt
    ]);
    realMode(m.vcpu, CODE);
    assert.equal(runToOut(m.vcpu, 0xe9), 0x42);
    runTo(m.vcpu, "hlt");
    m.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x20000, memory: null });
    mem.free();
    assert.equal(mem.bytes.length, 0);
    assert.equal(early.length, 0, "a view taken before free() is detached too");
    assert.equal(early[0x10], undefined);
    mem.free();
    assert.equal(mem.size, 0x2000);
    assert.throws(() => m.vm.setUserMemoryRegion({ slot: 2, guestPhysAddr: 0x30000, memory: mem }), KvmError);
  },
);

backendTest("GuestMemory.free: allowed once the VM that used it is closed", (kvm) => {
  const m = machine(kvm);
  m.vm.close();
  m.mem.free();
  assert.equal(m.mem.bytes.length, 0);
  m[Symbol.dispose](); // closing and freeing again are no-ops
});
