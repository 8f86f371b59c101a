/**
 * KVM_CLEAR_DIRTY_LOG with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: getDirtyLog no
 * longer clears the log; clearDirtyLog does, and re-protects the pages so
 * that the next write dirties them again. The emulator refuses cleanly.
 */
import assert from "node:assert/strict";
import { KvmError, type Vm } from "../../mod.ts";
import { KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE } from "../../abi/constants.ts";
import { backendTest } from "../_support/harness.ts";
import { CODE, load, machine, realMode, runTo, runToOut } from "../_support/guests.ts";
import { emuRefuses, kvmTest } from "./_vmm.ts";

// 0x1000: dirty pages 2 and 5, exit, dirty page 5 again, hlt.
const WRITER = [
  "c6 06 00 20 01", // mov byte [0x2000], 1
  "c6 06 00 50 01", // mov byte [0x5000], 1
  "e6 e9", //          out 0xe9, al
  "c6 06 00 50 02", // mov byte [0x5000], 2
  "f4", //             hlt
];

/** The dirty pages of slot 0, as page numbers. */
function dirtyPages(vm: Vm): number[] {
  const log = vm.getDirtyLog(0);
  const pages: number[] = [];
  log.forEach((byte, i) => {
    for (let b = 0; b < 8; b++) if (byte & (1 << b)) pages.push(i * 8 + b);
  });
  return pages;
}

kvmTest("clearDirtyLog: manual protect keeps the log until it is cleared", {
  KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
}, (kvm) => {
  using vm = kvm.createVm();
  vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, { args: [KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE] });
  const mem = vm.allocateMemory(0x10000);
  try {
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem, flags: { logDirtyPages: true } });
    using vcpu = vm.createVcpu(0);
    load(mem, CODE, WRITER);
    realMode(vcpu, CODE);
    runToOut(vcpu, 0xe9);
    assert.deepEqual(dirtyPages(vm), [2, 5]);
    assert.deepEqual(dirtyPages(vm), [2, 5], "with manual protect, KVM_GET_DIRTY_LOG does not clear");
    // Clear page 2 only (bit 2 of a bitmap starting at page 0), then every page of the slot (16: to its end).
    vm.clearDirtyLog(0, 0, 16, new Uint8Array([0b100, 0]));
    assert.deepEqual(dirtyPages(vm), [5]);
    vm.clearDirtyLog(0, 0, 16);
    assert.deepEqual(dirtyPages(vm), []);
    runTo(vcpu, "hlt");
    assert.deepEqual(dirtyPages(vm), [5], "the cleared page was re-protected: the new write dirtied it");
  } finally {
    vm.close();
    mem.free();
  }
});

backendTest("clearDirtyLog follows the kernel's alignment rules before any ioctl", (kvm) => {
  using m = machine(kvm, 0x100000); // 256 pages
  assert.throws(() => m.vm.clearDirtyLog(0, 1, 64), /firstPage/);
  assert.throws(() => m.vm.clearDirtyLog(0, 0, 65), /numPages: 65 is neither a multiple of 64 nor reaches the end/);
  assert.throws(() => m.vm.clearDirtyLog(0, 192, 65), RangeError, "past the end of the slot");
  assert.throws(() => m.vm.clearDirtyLog(0, 0, 64, new Uint8Array(7)), /bitmap: 7 bytes/);
  assert.throws(() => m.vm.clearDirtyLog(0, 256, 64), RangeError);
  assert.throws(() => m.vm.clearDirtyLog(3, 0, 64), (e) => e instanceof KvmError && e.code === "ENOENT");
});

emuRefuses("enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)", KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, (m) => {
  m.vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, { args: [KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE] });
});

emuRefuses("clearDirtyLog", KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, (m) => {
  m.vm.clearDirtyLog(0, 0, 16);
});
