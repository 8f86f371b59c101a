/**
 * Kvm: choosing and opening a backend, and the system ioctls (API version,
 * capabilities, vCPU mmap size, supported CPUID, MSR index list, createVm).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm, KvmError } from "../../mod.ts";
import {
  KVM_CAP_IRQCHIP,
  KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_SET_GUEST_DEBUG,
  KVM_CAP_USER_MEMORY,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_TSC,
  MSR_STAR,
} from "../../abi/constants.ts";
import { backendTest, backendUnavailable, skip, test } from "../_support/harness.ts";

const kvmMissing = backendUnavailable("kvm");
if (kvmMissing !== undefined) {
  skip("Kvm.open() picks kvm where /dev/kvm opens", kvmMissing);
} else {
  test("Kvm.open() picks kvm where /dev/kvm opens, with fallbackReason undefined", () => {
    using kvm = Kvm.open();
    assert.equal(kvm.backend, "kvm");
    assert.equal(kvm.fallbackReason, undefined);
  });
}

test("Kvm.open({ backend: 'kvm' }) on a missing device throws KvmError ENOENT naming the device", () => {
  assert.throws(
    () => Kvm.open({ backend: "kvm", device: "/nonexistent" }),
    (e: unknown) => e instanceof KvmError && e.code === "ENOENT" && e.errno === 2 && /\/nonexistent/.test(e.message),
  );
});

test("Kvm.open({ backend: 'auto' }) on a missing device falls back to emu and says why, or throws why", () => {
  let kvm: Kvm;
  try {
    kvm = Kvm.open({ backend: "auto", device: "/nonexistent" });
  } catch (e) {
    // Only acceptable where the emulator cannot run either; the reason names the device.
    assert.ok(e instanceof KvmError && /\/nonexistent/.test(e.message), String(e));
    assert.notEqual(backendUnavailable("emu"), undefined, "the emulator is available, so auto must fall back");
    return;
  }
  using _ = kvm;
  assert.equal(kvm.backend, "emu");
  assert.equal(kvm.fallbackReason, "/nonexistent: ENOENT");
});

backendTest("Kvm: apiVersion is 12, vcpuMmapSize covers kvm_run in whole pages", (kvm, backend) => {
  assert.equal(kvm.backend, backend);
  assert.equal(kvm.apiVersion(), 12);
  const size = kvm.vcpuMmapSize();
  assert.ok(size >= 4096 && size % 4096 === 0, `vcpuMmapSize ${size}`);
});

backendTest("Kvm.checkExtension: the raw integer, 0 for a capability nobody has", (kvm) => {
  assert.ok(kvm.checkExtension(KVM_CAP_USER_MEMORY) > 0);
  assert.ok(kvm.checkExtension(KVM_CAP_IRQCHIP) > 0);
  assert.ok(kvm.checkExtension(KVM_CAP_SET_GUEST_DEBUG) > 0);
  assert.ok(kvm.checkExtension(KVM_CAP_NR_MEMSLOTS) >= 2, "at least two slots");
  assert.equal(kvm.checkExtension(0x7fff_0000), 0);
});

backendTest("Kvm.supportedCpuid: leaf 0 names a vendor, and leaf 1 is there", (kvm) => {
  const leaves = kvm.supportedCpuid();
  assert.ok(leaves.length > 2, `${leaves.length} entries`);
  const leaf0 = leaves.find((e) => e.function === 0);
  assert.ok(leaf0, "leaf 0");
  assert.ok(leaf0.eax >= 1, "leaf 0 reports at least leaf 1");
  const vendor = new TextDecoder().decode(new Uint32Array([leaf0.ebx, leaf0.edx, leaf0.ecx]));
  assert.match(vendor, /^(GenuineIntel|AuthenticAMD)$/);
  assert.ok(leaves.some((e) => e.function === 1));
  for (const e of leaves) {
    for (const v of [e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx]) {
      assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff, JSON.stringify(e));
    }
  }
});

backendTest("Kvm.msrIndexList: the MSRs getMsrs accepts, including TSC, SYSENTER_CS and STAR", (kvm) => {
  const list = kvm.msrIndexList();
  for (const msr of [MSR_IA32_TSC, MSR_IA32_SYSENTER_CS, MSR_STAR]) {
    assert.ok(list.includes(msr), `0x${msr.toString(16)} in the list`);
  }
  assert.ok(list.every((i) => Number.isInteger(i) && i >= 0 && i <= 0xffff_ffff));
});

backendTest("Kvm.createVm: each VM belongs to its Kvm and is independent", (kvm) => {
  using a = kvm.createVm();
  using b = kvm.createVm();
  assert.equal(a.kvm, kvm);
  assert.equal(b.kvm, kvm);
  // The same vCPU id and slot number in two VMs do not collide.
  a.createVcpu(0);
  b.createVcpu(0);
  const ma = a.allocateMemory(0x1000);
  const mb = b.allocateMemory(0x1000);
  a.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: ma });
  b.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mb });
  a.close();
  b.close();
  ma.free();
  mb.free();
});

backendTest("Kvm.close is idempotent; VMs created before stay usable", (kvm) => {
  const vm = kvm.createVm();
  kvm.close();
  kvm.close();
  try {
    const vcpu = vm.createVcpu(0);
    assert.equal(vcpu.getRegs().rflags & 2n, 2n);
  } finally {
    vm.close();
  }
});

const emuMissing = backendUnavailable("emu");
if (emuMissing !== undefined) {
  skip("Kvm.open({ backend: 'emu', vendor }) presents that vendor", emuMissing);
} else {
  test("Kvm.open({ backend: 'emu', vendor }) presents that vendor in CPUID leaf 0", () => {
    for (const [vendor, name] of [["intel", "GenuineIntel"], ["amd", "AuthenticAMD"]] as const) {
      using kvm = Kvm.open({ backend: "emu", vendor });
      assert.equal(kvm.backend, "emu");
      assert.equal(kvm.fallbackReason, undefined);
      const leaf0 = kvm.supportedCpuid().find((e) => e.function === 0);
      assert.ok(leaf0);
      assert.equal(new TextDecoder().decode(new Uint32Array([leaf0.ebx, leaf0.edx, leaf0.ecx])), name);
    }
  });
}
