/**
 * The emulator's system and VM ioctls through the Kernel interface, with
 * the answers recorded from the kernel on this project's machines: unknown
 * requests (EINVAL on /dev/kvm and vCPUs, ENOTTY on VMs), E2BIG sizing of
 * KVM_GET_SUPPORTED_CPUID (nent kept) and KVM_GET_MSR_INDEX_LIST (nmsrs
 * written back), the checks of KVM_SET_USER_MEMORY_REGION, dirty logs,
 * KVM_CREATE_VCPU limits and the irqchip/PIT ordering rules.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { test } from "../_support/harness.ts";
import { createEmuKernel } from "../../emu/kernel.ts";
import { makeGuest, runOnce } from "../../emu/_testing.ts";
import * as R from "../../abi/requests.ts";
import { Errno } from "../../abi/errno.ts";
import { kvmCpuidEntry2, kvmUserspaceMemoryRegion } from "../../abi/structs.ts";
import type { Kernel } from "../../kernel.ts";

const { EINVAL, EEXIST, ENOENT, EFAULT, E2BIG, ENOTTY, ENXIO, EBADF } = Errno;

function region(k: Kernel, vm: number, slot: number, gpa: bigint, size: bigint, uaddr: bigint, flags = 0): number {
  return k.ioctl(
    vm,
    R.KVM_SET_USER_MEMORY_REGION,
    kvmUserspaceMemoryRegion.toBytes({ slot, flags, guestPhysAddr: gpa, memorySize: size, userspaceAddr: uaddr }),
  );
}

test("emu: system ioctls", () => {
  const k = createEmuKernel({ vendor: "amd" });
  const sys = k.open("/dev/kvm");
  equal(k.name, "emu");
  equal(k.ioctlValue(sys, R.KVM_GET_API_VERSION, 0), 12);
  equal(k.ioctlValue(sys, R.KVM_GET_VCPU_MMAP_SIZE, 0), 12288);
  equal(k.ioctlValue(sys, R.KVM_CHECK_EXTENSION, 81), 1); // KVM_CAP_READONLY_MEM
  equal(k.ioctlValue(sys, R.KVM_CHECK_EXTENSION, 10), 32764); // KVM_CAP_NR_MEMSLOTS
  equal(k.ioctlValue(sys, R.KVM_CHECK_EXTENSION, 9999), 0);
  equal(k.ioctlValue(sys, 0xae99, 0), -EINVAL);
  equal(k.ioctlValue(sys, R.KVM_CREATE_VM, 7), -EINVAL);
  // KVM_GET_SUPPORTED_CPUID: E2BIG leaves nent alone; success writes it.
  const small = new Uint8Array(8 + 40);
  new DataView(small.buffer).setUint32(0, 1, true);
  equal(k.ioctl(sys, R.KVM_GET_SUPPORTED_CPUID, small), -E2BIG);
  equal(new DataView(small.buffer).getUint32(0, true), 1);
  const big = new Uint8Array(8 + 40 * 64);
  new DataView(big.buffer).setUint32(0, 64, true);
  equal(k.ioctl(sys, R.KVM_GET_SUPPORTED_CPUID, big), 0);
  const n = new DataView(big.buffer).getUint32(0, true);
  const leaf0 = kvmCpuidEntry2.decode(new DataView(big.buffer), 8);
  const vendor = String.fromCharCode(
    ...[leaf0.ebx, leaf0.edx, leaf0.ecx].flatMap((w) => [w & 255, (w >> 8) & 255, (w >> 16) & 255, w >>> 24]),
  );
  equal(vendor, "AuthenticAMD");
  equal(n >= 2, true);
  // KVM_GET_MSR_INDEX_LIST: E2BIG with nmsrs written back.
  const ml = new Uint8Array(4 + 4 * 64);
  equal(k.ioctl(sys, R.KVM_GET_MSR_INDEX_LIST, ml), -E2BIG);
  const nmsrs = new DataView(ml.buffer).getUint32(0, true);
  equal(nmsrs > 0, true);
  equal(k.ioctl(sys, R.KVM_GET_MSR_INDEX_LIST, ml), 0);
  equal(k.close(sys), 0);
  equal(k.close(sys), -EBADF);
  equal(k.ioctlValue(sys, R.KVM_GET_API_VERSION, 0), -EBADF);
});

test("emu: KVM_SET_USER_MEMORY_REGION checks, as the kernel's", () => {
  const k = createEmuKernel({ vendor: "intel" });
  const vm = k.ioctlValue(k.open("/dev/kvm"), R.KVM_CREATE_VM, 0);
  const m = k.mmap(-1, 0x10000);
  if (typeof m === "number") throw new Error("mmap");
  const a = m.address;
  equal(region(k, vm, 0, 0x1000n, 0x2000n, a), 0);
  equal(region(k, vm, 1, 0x2000n, 0x2000n, a), -EEXIST); // overlaps slot 0
  equal(region(k, vm, 1, 0x1001n, 0x2000n, a), -EINVAL);
  equal(region(k, vm, 1, 0x8000n, 0x1001n, a), -EINVAL);
  equal(region(k, vm, 1, 0x8000n, 0x1000n, a + 1n), -EINVAL);
  equal(region(k, vm, 1, 0x8000n, 0x1000n, a, 4), -EINVAL); // unknown flag
  equal(region(k, vm, 32767, 0x8000n, 0x1000n, a), -EINVAL);
  equal(region(k, vm, 600, 0x8000n, 0x1000n, a), 0);
  equal(region(k, vm, 1, 0x9000n, 0n, a), -EINVAL); // deleting a slot that does not exist
  equal(region(k, vm, 0, 0n, 0n, a), 0); // delete
  equal(region(k, vm, 0, 0n, 0n, a), -EINVAL);
  equal(region(k, vm, 0, 0x1000n, 0x1000n, a), 0);
  equal(region(k, vm, 0, 0x3000n, 0x1000n, a), 0); // move
  equal(region(k, vm, 0, 0x3000n, 0x1000n, a, 2), -EINVAL); // read-only cannot change
  equal(region(k, vm, 0, 0x3000n, 0x2000n, a), -EINVAL); // nor the size
  equal(region(k, vm, 0, 0x3000n, 0x1000n, a, 1), 0); // dirty logging can
  const bm = k.mmap(-1, 4096);
  if (typeof bm === "number") throw new Error("mmap");
  const log = (slot: number, addr: bigint) => {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    v.setUint32(0, slot, true);
    v.setBigUint64(8, addr, true);
    return k.ioctl(vm, R.KVM_GET_DIRTY_LOG, b);
  };
  equal(log(0, bm.address), 0);
  equal(log(5, bm.address), -ENOENT);
  equal(log(600, bm.address), -ENOENT); // no dirty logging on that slot
  equal(log(0, 8n), -EFAULT);
  equal(k.ioctlValue(vm, 0xae99, 0), -ENOTTY);
});

test("emu: KVM_GET_DIRTY_LOG reports the pages the guest wrote, then clears", () => {
  // mov [0x5000], al / mov [0x7ffe], ax / hlt
  const g = makeGuest({ code: [0xa2, 0x00, 0x50, 0xa3, 0xfe, 0x7f, 0xf4] });
  equal(region(g.k, g.vm, 0, 0n, 0x10000n, g.memAddr, 1), 0);
  equal(runOnce(g).reason, 5);
  const bm = g.k.mmap(-1, 4096);
  if (typeof bm === "number") throw new Error("mmap");
  const b = new Uint8Array(16);
  new DataView(b.buffer).setBigUint64(8, bm.address, true);
  equal(g.k.ioctl(g.vm, R.KVM_GET_DIRTY_LOG, b), 0);
  deepEqual([...new Uint8Array(bm.buffer, 0, 8)], [0xa0, 0, 0, 0, 0, 0, 0, 0]); // pages 5 and 7, bits 5 and 7 of byte 0
  equal(g.k.ioctl(g.vm, R.KVM_GET_DIRTY_LOG, b), 0);
  deepEqual([...new Uint8Array(bm.buffer, 0, 2)], [0, 0]);
});

test("emu: vCPU creation and irqchip rules", () => {
  const k = createEmuKernel({ vendor: "intel" });
  const vm = k.ioctlValue(k.open("/dev/kvm"), R.KVM_CREATE_VM, 0);
  equal(k.ioctlValue(vm, R.KVM_CREATE_PIT2, 0), -EFAULT); // a struct request needs bytes
  equal(k.ioctl(vm, R.KVM_CREATE_PIT2, new Uint8Array(64)), -ENOENT); // no irqchip yet
  equal(k.ioctl(vm, R.KVM_IRQ_LINE, new Uint8Array(8)), -ENXIO);
  const v0 = k.ioctlValue(vm, R.KVM_CREATE_VCPU, 0);
  equal(v0 > 0, true);
  equal(k.ioctlValue(vm, R.KVM_CREATE_VCPU, 0), -EEXIST);
  equal(k.ioctlValue(vm, R.KVM_CREATE_VCPU, 4096), -EINVAL);
  equal(k.ioctlValue(vm, R.KVM_CREATE_VCPU, 4095) > 0, true);
  equal(k.ioctlValue(vm, R.KVM_CREATE_IRQCHIP, 0), -EINVAL); // vCPUs exist
  equal(k.ioctlValue(v0, 0xae99, 0), -EINVAL);
  const irq = new Uint8Array(4);
  irq[0] = 32;
  equal(k.ioctl(v0, R.KVM_INTERRUPT, irq), 0);
  const vm2 = k.ioctlValue(k.open("/dev/kvm"), R.KVM_CREATE_VM, 0);
  equal(k.ioctlValue(vm2, R.KVM_CREATE_IRQCHIP, 0), 0);
  equal(k.ioctlValue(vm2, R.KVM_CREATE_IRQCHIP, 0), -EEXIST);
  equal(k.ioctl(vm2, R.KVM_CREATE_PIT2, new Uint8Array(64)), 0);
  const v = k.ioctlValue(vm2, R.KVM_CREATE_VCPU, 0);
  equal(k.ioctl(v, R.KVM_INTERRUPT, irq), -ENXIO);
  equal(k.ioctlValue(vm2, R.KVM_SET_TSS_ADDR, 0xfffbd000), 0);
  const run = k.mmap(v, 12288);
  equal(typeof run === "number" ? run : run.buffer.byteLength, 12288);
  equal(k.mmap(vm2, 4096), -Errno.ENODEV);
});
