/**
 * The VM descriptor: memory slots, dirty logs, vCPU creation, the
 * irqchip/PIT/TSS ioctls and the kvmclock's (pvclock.ts), like the VM half
 * of kvm_main.c and x86.c. An ioctl the table lacks gets ENOTTY, as
 * kvm_vm_ioctl's default.
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import * as R from "../abi/requests.ts";
import { kvmDirtyLog, kvmUserspaceMemoryRegion } from "../abi/structs.ts";
import type { AddressSpace } from "./address_space.ts";
import { EMU_MAX_VCPU_ID, EMU_MAX_VCPUS } from "./capabilities.ts";
import { ioctlTable, viewOf } from "./ioctl_table.ts";
import { MemSlots } from "./memslots.ts";
import { KvmClock } from "./pvclock.ts";
import type { Vendor } from "./vendor.ts";
import type { BlockCompilerMode } from "./x86/compiler_mode.ts";
import { EmuVcpu } from "./vcpu.ts";
import type { Irqchip } from "./irqchip/irqchip.ts";
import { irqfd } from "./irqchip/irqfd.ts";
import * as I from "./irqchip/vm_ioctls.ts";

/** What a VM asks of the descriptor table that made it (kernel.ts). */
export interface VmHost {
  /** KVM_CHECK_EXTENSION's answer. */
  checkExtension(cap: number): number;
  /** A descriptor for a new vCPU. */
  install(vcpu: EmuVcpu): number;
}

/** One emulated VM. */
export class EmuVm {
  readonly vendor: Vendor;
  readonly slots: MemSlots;
  readonly vcpus = new Map<number, EmuVcpu>();
  /** The in-kernel PIC, IOAPIC, local APICs and PIT (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2), or null. */
  irqchip: Irqchip | null = null;
  /** kvmclock: the VM's clock and its vCPUs' pvclock structures (KVM_GET_CLOCK, KVM_SET_CLOCK). */
  readonly kvmclock = new KvmClock();
  tssAddr = 0;
  identityMapAddr = 0;
  readonly host: VmHost;

  /** How its vCPUs run guest code (x86/jit/). */
  readonly blockCompiler: BlockCompilerMode;

  constructor(space: AddressSpace, vendor: Vendor, host: VmHost, blockCompiler: BlockCompilerMode = "on") {
    this.vendor = vendor;
    this.host = host;
    this.blockCompiler = blockCompiler;
    this.slots = new MemSlots(space);
  }

  /** KVM_CREATE_VCPU: the new vCPU's descriptor, or -errno. */
  createVcpu(id: number): number {
    if (id < 0 || id >= EMU_MAX_VCPU_ID) return -Errno.EINVAL;
    if (this.vcpus.size >= EMU_MAX_VCPUS) return -Errno.EINVAL;
    if (this.vcpus.has(id)) return -Errno.EEXIST;
    const v = new EmuVcpu(this, id);
    this.vcpus.set(id, v);
    this.kvmclock.attach(v.cpu, id);
    return this.host.install(v);
  }

  /** KVM_SET_TSS_ADDR: vmx refuses a TSS that would not fit below 4 GiB; svm ignores the address. */
  setTssAddr(addr: number): number {
    if (this.vendor.name === "intel" && addr > 0xffffd000) return -Errno.EINVAL;
    this.tssAddr = addr;
    return 0;
  }

  /** KVM_SET_IDENTITY_MAP_ADDR: before the first vCPU only. */
  setIdentityMapAddr(view: DataView): number {
    if (view.byteLength < 8) return -Errno.EFAULT;
    if (this.vcpus.size) return -Errno.EINVAL;
    this.identityMapAddr = Number(view.getBigUint64(0, true));
    return 0;
  }
}

/** KVM_SET_USER_MEMORY_REGION. */
function setUserMemoryRegion(vm: EmuVm, arg: Uint8Array): number {
  if (arg.byteLength < kvmUserspaceMemoryRegion.size) return -Errno.EFAULT;
  return vm.slots.set(kvmUserspaceMemoryRegion.fromBytes(arg));
}

/** KVM_GET_DIRTY_LOG. */
function getDirtyLog(vm: EmuVm, arg: Uint8Array): number {
  if (arg.byteLength < kvmDirtyLog.size) return -Errno.EFAULT;
  const d = kvmDirtyLog.fromBytes(arg);
  return vm.slots.getDirtyLog(d.slot, d.dirtyBitmap);
}

/** The VM ioctls the emulator implements. */
export const VM_IOCTLS = ioctlTable<EmuVm>([
  [R.KVM_CREATE_VCPU, (vm, _, id) => vm.createVcpu(id)],
  [R.KVM_CHECK_EXTENSION, (vm, _, cap) => vm.host.checkExtension(cap)],
  [R.KVM_SET_USER_MEMORY_REGION, setUserMemoryRegion],
  [R.KVM_GET_DIRTY_LOG, getDirtyLog],
  [R.KVM_SET_TSS_ADDR, (vm, _, addr) => vm.setTssAddr(addr >>> 0)],
  [R.KVM_SET_IDENTITY_MAP_ADDR, (vm, arg) => vm.setIdentityMapAddr(viewOf(arg))],
  [R.KVM_GET_CLOCK, (vm, arg) => vm.kvmclock.get(viewOf(arg))],
  [R.KVM_SET_CLOCK, (vm, arg) => vm.kvmclock.set(viewOf(arg))],
  [R.KVM_CREATE_IRQCHIP, (vm) => I.createIrqchip(vm)],
  [R.KVM_IRQ_LINE, (vm, arg) => I.irqLine(vm.irqchip, viewOf(arg), false)],
  [R.KVM_IRQ_LINE_STATUS, (vm, arg) => I.irqLine(vm.irqchip, viewOf(arg), true)],
  [R.KVM_GET_IRQCHIP, (vm, arg) => I.irqchipState(vm.irqchip, arg, false)],
  [R.KVM_SET_IRQCHIP, (vm, arg) => I.irqchipState(vm.irqchip, arg, true)],
  [R.KVM_SET_GSI_ROUTING, (vm, arg) => I.setGsiRouting(vm.irqchip, arg)],
  [R.KVM_SIGNAL_MSI, (vm, arg) => I.signalMsi(vm.irqchip, viewOf(arg))],
  [R.KVM_IRQFD, (vm, arg) => irqfd(vm.irqchip, viewOf(arg))],
  [R.KVM_CREATE_PIT2, (vm, arg) => I.createPit2(vm.irqchip, viewOf(arg))],
  [R.KVM_GET_PIT2, (vm, arg) => I.pitState(vm.irqchip, viewOf(arg), false)],
  [R.KVM_SET_PIT2, (vm, arg) => I.pitState(vm.irqchip, viewOf(arg), true)],
]);
