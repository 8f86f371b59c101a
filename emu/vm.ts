/**
 * The VM descriptor: memory slots, dirty logs, vCPU creation, and the
 * irqchip/PIT/TSS ioctls (like the VM half of kvm_main.c and x86.c).
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import * as R from "../abi/requests.ts";
import { kvmDirtyLog, kvmUserspaceMemoryRegion } from "../abi/structs.ts";
import type { AddressSpace } from "./address_space.ts";
import { MemSlots } from "./memslots.ts";
import { checkExtension } from "./system.ts";
import type { Vendor } from "./vendor.ts";
import type { BlockCompilerMode } from "./x86/compiler_mode.ts";
import { EmuVcpu } from "./vcpu.ts";
import { Irqchip, KVM_IRQCHIP_SIZE } from "./irqchip/irqchip.ts";
import { PIT_STATE2_SIZE } from "./irqchip/pit.ts";
import { parseRoutes, SOURCE_USER } from "./irqchip/routing.ts";
import { irqfd } from "./irqchip/irqfd.ts";
import { KVM_PIT_SPEAKER_DUMMY } from "../abi/constants.ts";

/** KVM_MAX_VCPU_IDS (KVM_CAP_MAX_VCPU_ID). */
export const EMU_MAX_VCPU_ID = 4096;
/** KVM_MAX_VCPUS (KVM_CAP_MAX_VCPUS). */
export const EMU_MAX_VCPUS = 1024;

/** One emulated VM. */
export class EmuVm {
  readonly vendor: Vendor;
  readonly slots: MemSlots;
  readonly vcpus = new Map<number, EmuVcpu>();
  /** The in-kernel PIC, IOAPIC, local APICs and PIT (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2), or null. */
  irqchip: Irqchip | null = null;
  tssAddr = 0;
  identityMapAddr = 0;

  /** How its vCPUs run guest code (x86/jit/). */
  readonly blockCompiler: BlockCompilerMode;

  constructor(space: AddressSpace, vendor: Vendor, blockCompiler: BlockCompilerMode = "on") {
    this.vendor = vendor;
    this.blockCompiler = blockCompiler;
    this.slots = new MemSlots(space);
  }

  /** Dispatches a VM ioctl with a struct argument: the result, or -errno. */
  ioctl(request: number, arg: Uint8Array, value: number): number {
    const view = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
    switch (request) {
      case R.KVM_SET_USER_MEMORY_REGION:
        if (arg.byteLength < kvmUserspaceMemoryRegion.size) return -Errno.EFAULT;
        return this.slots.set(kvmUserspaceMemoryRegion.fromBytes(arg));
      case R.KVM_GET_DIRTY_LOG: {
        if (arg.byteLength < kvmDirtyLog.size) return -Errno.EFAULT;
        const d = kvmDirtyLog.fromBytes(arg);
        return this.slots.getDirtyLog(d.slot, d.dirtyBitmap);
      }
      case R.KVM_CHECK_EXTENSION:
        return checkExtension(value);
      case R.KVM_CREATE_IRQCHIP:
        if (this.irqchip) return -Errno.EEXIST;
        if (this.vcpus.size) return -Errno.EINVAL;
        this.irqchip = new Irqchip();
        return 0;
      case R.KVM_IRQ_LINE:
      case R.KVM_IRQ_LINE_STATUS: {
        if (!this.irqchip) return -Errno.ENXIO;
        if (arg.byteLength < 8) return -Errno.EFAULT;
        const status = this.irqchip.setGsi(SOURCE_USER, view.getUint32(0, true), view.getUint32(4, true) ? 1 : 0);
        if (request === R.KVM_IRQ_LINE_STATUS) view.setInt32(0, status, true);
        return 0;
      }
      case R.KVM_GET_IRQCHIP:
      case R.KVM_SET_IRQCHIP:
        if (!this.irqchip) return -Errno.ENXIO;
        if (arg.byteLength < KVM_IRQCHIP_SIZE) return -Errno.EFAULT;
        return request === R.KVM_GET_IRQCHIP ? this.irqchip.get(arg) : this.irqchip.set(arg);
      case R.KVM_SET_GSI_ROUTING: {
        if (!this.irqchip) return -Errno.EINVAL;
        const routes = parseRoutes(arg);
        if (typeof routes === "number") return routes;
        this.irqchip.routes = routes;
        return 0;
      }
      case R.KVM_SIGNAL_MSI: {
        if (!this.irqchip) return -Errno.EINVAL;
        if (arg.byteLength < 32) return -Errno.EFAULT;
        if (view.getUint32(12, true) !== 0) return -Errno.EINVAL;
        return this.irqchip.signalMsi(view.getUint32(0, true), view.getUint32(8, true));
      }
      case R.KVM_IRQFD:
        return irqfd(this.irqchip, view);
      case R.KVM_CREATE_PIT2:
        if (arg.byteLength < 4) return -Errno.EFAULT;
        if (!this.irqchip) return -Errno.ENOENT;
        if (this.irqchip.pit) return -Errno.EEXIST;
        this.irqchip.createPit((view.getUint32(0, true) & KVM_PIT_SPEAKER_DUMMY) !== 0);
        return 0;
      case R.KVM_GET_PIT2:
      case R.KVM_SET_PIT2:
        if (!this.irqchip?.pit) return -Errno.ENXIO;
        if (arg.byteLength < PIT_STATE2_SIZE) return -Errno.EFAULT;
        if (request === R.KVM_GET_PIT2) this.irqchip.pit.save(view);
        else this.irqchip.pit.load(view);
        return 0;
      case R.KVM_SET_TSS_ADDR:
        // vmx refuses a TSS that would not fit below 4 GiB; svm ignores the address.
        if (this.vendor.name === "intel" && value >>> 0 > 0xffffd000) return -Errno.EINVAL;
        this.tssAddr = value >>> 0;
        return 0;
      case R.KVM_SET_IDENTITY_MAP_ADDR:
        if (arg.byteLength < 8) return -Errno.EFAULT;
        if (this.vcpus.size) return -Errno.EINVAL;
        this.identityMapAddr = Number(view.getBigUint64(0, true));
        return 0;
      default:
        return -Errno.ENOTTY;
    }
  }

  /** KVM_CREATE_VCPU: the new vCPU, or -errno. */
  createVcpu(id: number): EmuVcpu | number {
    if (id < 0 || id >= EMU_MAX_VCPU_ID) return -Errno.EINVAL;
    if (this.vcpus.size >= EMU_MAX_VCPUS) return -Errno.EINVAL;
    if (this.vcpus.has(id)) return -Errno.EEXIST;
    const v = new EmuVcpu(this, id);
    this.vcpus.set(id, v);
    return v;
  }
}
