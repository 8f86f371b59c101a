/**
 * Vm: guest memory, memory slots (adding, deleting, dirty logging), vCPUs,
 * capabilities, and the VM-wide devices and addresses (irqchip, IRQ line,
 * PIT, TSS and identity-map addresses).
 *
 * @module
 */
import assert from "node:assert/strict";
import { KvmError } from "../../mod.ts";
import { KVM_CAP_NR_MEMSLOTS, KVM_CAP_USER_MEMORY } from "../../abi/constants.ts";
import { backendTest } from "../_support/harness.ts";
import { CODE, describe, load, machine, realMode, runTo, runToOut } from "../_support/guests.ts";

backendTest("Vm.allocateMemory: zero-filled, the size asked for, one view the guest shares", (kvm) => {
  using m = machine(kvm);
  const extra = m.vm.allocateMemory(0x3000);
  try {
    assert.equal(extra.size, 0x3000);
    assert.equal(extra.bytes.length, 0x3000);
    assert.ok(extra.bytes.every((b) => b === 0));
    assert.equal(m.mem.size, 0x10000);
  } finally {
    extra.free();
  }
  // Host writes are seen by the guest without a copy, and guest writes by the host.
  load(m.mem, CODE, [
    "a0 00 30", //       mov al, [0x3000]
    "e6 e9", //          out 0xe9, al
    "c6 06 01 30 5a", // mov byte [0x3001], 0x5a
    "f4", //             hlt
  ]);
  realMode(m.vcpu, CODE);
  m.mem.bytes[0x3000] = 0xa5;
  assert.equal(runToOut(m.vcpu, 0xe9), 0xa5);
  runTo(m.vcpu, "hlt");
  assert.equal(m.mem.bytes[0x3001], 0x5a);
});

backendTest("Vm.setUserMemoryRegion: a second slot, then deleting it (memory: null) makes its range mmio", (kvm) => {
  using m = machine(kvm);
  const high = m.vm.allocateMemory(0x2000);
  high.bytes[0x1010] = 0x3c;
  m.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x40000n, memory: high });
  load(m.mem, CODE, [
    "b8 00 41", // mov ax, 0x4100
    "8e d8", //    mov ds, ax          ; ds.base = 0x41000: slot 1, offset 0x1000
    "a0 10 00", // mov al, [0x10]
    "e6 e9", //    out 0xe9, al
    "a0 10 00", // mov al, [0x10]
    "f4", //       hlt
  ]);
  realMode(m.vcpu, CODE);
  assert.equal(runToOut(m.vcpu, 0xe9), 0x3c);
  m.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x40000n, memory: null });
  const exit = runTo(m.vcpu, "mmio");
  assert.deepEqual([exit.physAddr, exit.isWrite, exit.len], [0x41010n, false, 1], describe(exit));
  exit.data[0] = 0x7e;
  runTo(m.vcpu, "hlt");
  assert.equal(m.vcpu.getRegs().rax & 0xffn, 0x7en);
  high.free(); // no slot uses it any more
  assert.equal(high.bytes.length, 0);
});

backendTest("Vm.getDirtyLog: exactly the pages the guest wrote, then clear", (kvm) => {
  using m = machine(kvm);
  const logged = m.vm.allocateMemory(0x10000); // 16 pages: a 2-byte bitmap
  try {
    m.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x10000, memory: logged, flags: { logDirtyPages: true } });
    load(m.mem, CODE, [
      "b8 00 10", // mov ax, 0x1000
      "8e d8", //    mov ds, ax          ; ds.base = 0x10000: slot 1
      "a0 00 50", // mov al, [0x5000]    ; a read does not dirty page 5
      "a2 00 00", // mov [0x0000], al    ; page 0
      "a2 04 30", // mov [0x3004], al    ; page 3
      "a2 08 a0", // mov [0xa008], al    ; page 10
      "f4", //       hlt
    ]);
    realMode(m.vcpu, CODE);
    assert.deepEqual([...m.vm.getDirtyLog(1)], [0, 0], "nothing written yet");
    runTo(m.vcpu, "hlt");
    assert.deepEqual([...m.vm.getDirtyLog(1)], [0b0000_1001, 0b0000_0100], "pages 0, 3 and 10");
    assert.deepEqual([...m.vm.getDirtyLog(1)], [0, 0], "the first read cleared the log");
    // A slot without logging, and a slot that does not exist, are refused.
    assert.throws(() => m.vm.getDirtyLog(0), KvmError);
    assert.throws(() => m.vm.getDirtyLog(9), (e: unknown) => e instanceof KvmError && e.code === "ENOENT");
  } finally {
    m.vm.close();
    logged.free();
  }
});

backendTest("Vm.createVcpu: id and vm as given; several vCPUs per VM", (kvm) => {
  using vm = kvm.createVm();
  const a = vm.createVcpu(0);
  const b = vm.createVcpu(3);
  assert.deepEqual([a.id, b.id], [0, 3]);
  assert.equal(a.vm, vm);
  assert.equal(b.vm, vm);
  b.setRegs({ ...b.getRegs(), rbx: 7n });
  assert.equal(a.getRegs().rbx, 0n, "each vCPU has its own registers");
});

backendTest("Vm.checkExtension: on the VM descriptor", (kvm) => {
  using vm = kvm.createVm();
  assert.ok(vm.checkExtension(KVM_CAP_USER_MEMORY) > 0);
  assert.ok(vm.checkExtension(KVM_CAP_NR_MEMSLOTS) >= 2);
  assert.equal(vm.checkExtension(0x7fff_0000), 0);
});

backendTest("Vm.createIrqchip, irqLine and createPit2: once each; irqLine needs the irqchip", (kvm) => {
  using vm = kvm.createVm();
  assert.throws(() => vm.irqLine(4, true), KvmError, "no irqchip yet");
  assert.throws(() => vm.createPit2(), KvmError, "the PIT needs the irqchip");
  vm.createIrqchip();
  assert.throws(() => vm.createIrqchip(), (e: unknown) => e instanceof KvmError && e.code === "EEXIST");
  vm.irqLine(4, true);
  vm.irqLine(4, 0);
  vm.irqLine(4, 1);
  vm.irqLine(4, false);
  vm.createPit2();
  assert.throws(() => vm.createPit2(1), (e: unknown) => e instanceof KvmError && e.code === "EEXIST");
  const vcpu = vm.createVcpu(0);
  assert.equal(vcpu.getLapic().length, 1024);
});

backendTest("Vm.setTssAddr and setIdentityMapAddr: accepted before vCPUs, and the VM then runs a guest", (kvm) => {
  using vm = kvm.createVm();
  vm.setTssAddr(0xfffb_d000);
  vm.setIdentityMapAddr(0xfffb_c000n);
  const mem = vm.allocateMemory(0x10000);
  try {
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem });
    load(mem, CODE, [
      "b0 21", // mov al, 0x21
      "e6 e9", // out 0xe9, al
      "f4", //    hlt
    ]);
    const vcpu = vm.createVcpu(0);
    realMode(vcpu, CODE);
    assert.equal(runToOut(vcpu, 0xe9), 0x21);
    runTo(vcpu, "hlt");
  } finally {
    vm.close();
    mem.free();
  }
});
