/**
 * The emulator backend: an in-process KVM behind the `Kernel` interface.
 * A descriptor table maps numbers to the system device, VMs and vCPUs;
 * ioctls are dispatched by descriptor kind as kvm_main.c does; mmap gives
 * anonymous memory or a vCPU's kvm_run page, all in the emulator's own
 * address space. The ioctls each kind implements are its table
 * (system.ts, vm.ts, vcpu_ioctls.ts); KVM_CHECK_EXTENSION answers from them.
 *
 * @example
 * ```ts
 * const k = createEmuKernel({ vendor: "intel" });
 * const sys = k.open("/dev/kvm");
 * const vm = k.ioctlValue(sys, KVM_CREATE_VM, 0);
 * ```
 *
 * @module
 */
import type { Kernel, Mapping } from "../kernel.ts";
import { Errno } from "../abi/errno.ts";
import { KvmError } from "../errors.ts";
import * as R from "../abi/requests.ts";
import { AddressSpace } from "./address_space.ts";
import { handoffEmulatedVcpu } from "./proxy.ts";
import { svm } from "./svm.ts";
import { capabilities } from "./capabilities.ts";
import { type IoctlTable, requestName } from "./ioctl_table.ts";
import { type EmuSystem, SYSTEM_IOCTLS } from "./system.ts";
import type { EmuVcpu } from "./vcpu.ts";
import { VCPU_IOCTLS } from "./vcpu_ioctls.ts";
import type { Vendor } from "./vendor.ts";
import { EmuVm, VM_IOCTLS } from "./vm.ts";
import { releaseCode } from "./x86/exec.ts";
import type { BlockCompilerMode } from "./x86/compiler_mode.ts";
import process from "node:process";
import { vmx } from "./vmx.ts";

/** Options of {@linkcode createEmuKernel}. */
export interface EmuKernelOptions {
  /** The CPU vendor the emulated processor presents. */
  vendor: "intel" | "amd";
}

type Descriptor =
  | { kind: "system"; system: SystemDevice }
  | { kind: "vm"; vm: EmuVm }
  | { kind: "vcpu"; vcpu: EmuVcpu };

/** A system descriptor's device: how the VMs it creates from now on run guest code (see BlockCompilerMode). */
type SystemDevice = EmuSystem & { blockCompiler: BlockCompilerMode };

/** KVM_CHECK_EXTENSION's answers, from the ioctls the three tables implement. */
const CAPS = capabilities((r) => SYSTEM_IOCTLS.has(r) || VM_IOCTLS.has(r) || VCPU_IOCTLS.has(r));

/** KVM_CHECK_EXTENSION: 0 for a capability the emulator lacks. */
function checkExtension(cap: number): number {
  return CAPS.get(cap) ?? 0;
}

/** The argument of a request given by value. */
const NO_ARG = new Uint8Array(0);

/** The requests whose argument is an integer, not a struct pointer. */
const VALUE_REQUESTS = new Set([
  R.KVM_GET_API_VERSION,
  R.KVM_CREATE_VM,
  R.KVM_CHECK_EXTENSION,
  R.KVM_GET_VCPU_MMAP_SIZE,
  R.KVM_CREATE_VCPU,
  R.KVM_SET_TSS_ADDR,
  R.KVM_CREATE_IRQCHIP,
  R.KVM_RUN,
]);

/** The emulator as a `Kernel`. */
class EmuKernel implements Kernel {
  readonly name = "emu" as const;
  readonly vendor: Vendor;
  readonly space = new AddressSpace();
  readonly #fds = new Map<number, Descriptor>();
  /**
   * The vCPU descriptor KVM_RUN or setRunAlarm last found (its number, or -1, and its vCPU): a VMM runs one vCPU over
   * and over, and an I/O exit's round trip makes both calls, each a map lookup and a check of the descriptor's kind.
   * Forgotten when that descriptor closes (a later one may get its number).
   */
  #lastFd = -1;
  #lastVcpu: EmuVcpu | undefined;
  /** The last KVM_RUN's alarm fired (the kernel's KVM raises its run signal then). */
  #runSignal = false;
  /** Why the last ioctl failed, where errno alone does not say (an ioctl the emulator does not implement). */
  #errorDetail: string | undefined;

  constructor(vendor: Vendor) {
    this.vendor = vendor;
  }

  #alloc(d: Descriptor): number {
    let fd = 3;
    while (this.#fds.has(fd)) fd++;
    this.#fds.set(fd, d);
    return fd;
  }

  open(_path: string): number {
    return this.#alloc({ kind: "system", system: this.#system(defaultBlockCompiler()) });
  }

  /** A system device (/dev/kvm opened once). */
  #system(blockCompiler: BlockCompilerMode): SystemDevice {
    const host = { checkExtension, install: (vcpu: EmuVcpu) => this.#alloc({ kind: "vcpu", vcpu }) };
    const system: SystemDevice = {
      vendor: this.vendor,
      blockCompiler,
      checkExtension,
      createVm: (type) => {
        if (type !== 0) return -Errno.EINVAL;
        return this.#alloc({ kind: "vm", vm: new EmuVm(this.space, this.vendor, host, system.blockCompiler) });
      },
    };
    return system;
  }

  /** Sets how the VMs created from system descriptor `fd` from now on run guest code (see BlockCompilerMode). */
  setBlockCompiler(fd: number, mode: BlockCompilerMode): number {
    const d = this.#fds.get(fd);
    if (d?.kind !== "system") return -Errno.EBADF;
    d.system.blockCompiler = mode;
    return 0;
  }

  close(fd: number): number {
    const d = this.#fds.get(fd);
    if (d === undefined) return -Errno.EBADF;
    this.#fds.delete(fd);
    if (fd === this.#lastFd) {
      this.#lastFd = -1;
      this.#lastVcpu = undefined;
    }
    // A closed vCPU never runs again: what it keeps of the guest's code goes now, not at the next full collection.
    if (d.kind === "vcpu") releaseCode(d.vcpu.cpu);
    return 0;
  }

  ioctl(fd: number, request: number, arg: Uint8Array): number {
    return this.#dispatch(fd, request >>> 0, arg, 0, false);
  }

  ioctlValue(fd: number, request: number, value: number): number {
    if (request === R.KVM_RUN) {
      // The hot request, once per exit: what #dispatch and the vCPU table do for it, without the tables' lookups.
      const vcpu = this.#vcpuAt(fd);
      if (vcpu !== undefined) {
        this.#errorDetail = undefined;
        const r = vcpu.kvmRun();
        this.#runSignal = r === -Errno.EINTR && vcpu.alarmFired;
        return r;
      }
    }
    return this.#dispatch(fd, request >>> 0, NO_ARG, value, true);
  }

  #dispatch(fd: number, request: number, arg: Uint8Array, value: number, byValue: boolean): number {
    this.#errorDetail = undefined;
    const d = this.#fds.get(fd);
    if (!d) return -Errno.EBADF;
    // A struct request given an integer has no emulator memory behind it.
    if (byValue && (request >>> 16) & 0x3fff && !VALUE_REQUESTS.has(request)) return -Errno.EFAULT;
    switch (d.kind) {
      case "system":
        return this.#call(SYSTEM_IOCTLS, d.system, request, arg, value, Errno.EINVAL);
      case "vm":
        return this.#call(VM_IOCTLS, d.vm, request, arg, value, Errno.ENOTTY);
      case "vcpu": {
        // _IOR requests only read; anything else may change state a cached translation depends on.
        if (request !== R.KVM_RUN && request >>> 30 !== 2) d.vcpu.invalidate();
        const r = this.#call(VCPU_IOCTLS, d.vcpu, request, arg, value, Errno.EINVAL);
        // The alarm's EINTR is what the run signal is on the kernel's KVM.
        if (request === R.KVM_RUN) this.#runSignal = r === -Errno.EINTR && d.vcpu.alarmFired;
        return r;
      }
    }
  }

  /** Performs `request` from `table` on `target`; one the table lacks gets `errno`, the kernel's answer to it. */
  #call<T>(table: IoctlTable<T>, target: T, request: number, arg: Uint8Array, value: number, errno: number): number {
    const handler = table.get(request);
    if (handler) return handler(target, arg, value);
    this.#errorDetail = `the emulator does not implement ${requestName(request)}`;
    return -errno;
  }

  takeErrorDetail(): string | undefined {
    const r = this.#errorDetail;
    this.#errorDetail = undefined;
    return r;
  }

  mmap(fd: number, length: number): Mapping | number {
    if (!Number.isInteger(length) || length <= 0) return -Errno.EINVAL;
    if (fd === -1) return this.space.map(length) ?? -Errno.ENOMEM;
    const d = this.#fds.get(fd);
    if (!d) return -Errno.EBADF;
    if (d.kind !== "vcpu") return -Errno.ENODEV;
    // SAFETY: the mapping shares the vCPU's kvm_run buffer, as the kernel's shared page;
    // it is aliased, so unmapping it must not detach the vCPU's own page.
    return { ...this.space.map(length, d.vcpu.run.buffer)!, aliased: true };
  }

  munmap(mapping: Mapping): number {
    return this.space.unmap(mapping) ? 0 : -Errno.EINVAL;
  }

  setRunAlarm(vcpuFd: number, ms: number): void {
    const vcpu = this.#vcpuAt(vcpuFd);
    if (vcpu === undefined) return;
    vcpu.alarmMs = ms > 0 ? ms : 0;
    vcpu.alarmAt = 0;
  }

  /** The vCPU of descriptor `fd`, or undefined when `fd` is not a vCPU's; remembered for the next call (#lastFd). */
  #vcpuAt(fd: number): EmuVcpu | undefined {
    if (fd === this.#lastFd) return this.#lastVcpu;
    const d = this.#fds.get(fd);
    if (d === undefined || d.kind !== "vcpu") return undefined;
    this.#lastFd = fd;
    this.#lastVcpu = d.vcpu;
    return d.vcpu;
  }

  prepareVcpu(_vcpuFd: number): number {
    return 0;
  }

  /** Whether the last KVM_RUN ended with EINTR because its alarm fired; reading it clears it. */
  takeRunSignal(): boolean {
    const r = this.#runSignal;
    this.#runSignal = false;
    return r;
  }

  currentThread(): number {
    return 0;
  }

  kickThread(_tid: number): void {
    // The emulator runs on its caller's thread: kvm_run.immediate_exit, which
    // it reads on entry to KVM_RUN, is the whole kick.
  }

  handoffVcpu(vcpuFd: number, mmapSize: number, completeExit?: () => boolean): SharedArrayBuffer {
    // The vCPU's state stays in this thread's heap: this thread serves the adopter's ioctls from its event loop,
    // and completes the exits `completeExit` takes.
    return handoffEmulatedVcpu(this, vcpuFd, mmapSize, completeExit);
  }

  adoptVcpu(): Mapping {
    // Never reached: an emulated vCPU is adopted by a ProxyKernel over its mailbox (backend.ts adoptingKernel).
    throw new KvmError("adoptVcpu", Errno.EINVAL, "an emulated vCPU is adopted through its owner's mailbox");
  }

  yieldOnHalt(vcpuFd: number): void {
    const d = this.#fds.get(vcpuFd);
    if (d?.kind === "vcpu" && d.vcpu.irq !== null) d.vcpu.irq.yieldOnHalt = true;
  }

  vcpuIdle(vcpuFd: number, untilMs: number): Promise<void> | undefined {
    const d = this.#fds.get(vcpuFd);
    if (d?.kind !== "vcpu" || d.vcpu.irq === null || !d.vcpu.irq.blocked) return undefined;
    return d.vcpu.irq.idle(untilMs);
  }

  /** The vCPU behind a descriptor (for tests). */
  vcpuOf(fd: number): EmuVcpu | undefined {
    const d = this.#fds.get(fd);
    return d?.kind === "vcpu" ? d.vcpu : undefined;
  }
}

/** The emulator's kernel: a `Kernel`, and the emulator's own settings. */
export interface EmuKernelHandle extends Kernel {
  /** Sets the block compiler's mode of the VMs created from system descriptor `fd` from now on; 0 or -EBADF. */
  setBlockCompiler(fd: number, mode: BlockCompilerMode): number;
}

/**
 * The block compiler's mode when `Kvm.open` does not say: the environment variable KVMKIT_BLOCK_COMPILER
 * ("on", "off" or "eager") where it is set and readable, else "on".
 */
export function defaultBlockCompiler(): BlockCompilerMode {
  const v = readEnv("KVMKIT_BLOCK_COMPILER");
  return v === "off" || v === "eager" ? v : "on";
}

/** An environment variable, or undefined where it is unset or reading it is not permitted (never prompts). */
function readEnv(name: string): string | undefined {
  type Permissions = { querySync(d: { name: "env"; variable: string }): { state: string } };
  const deno = (globalThis as unknown as { Deno?: { permissions: Permissions } }).Deno;
  try {
    if (deno && deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") return undefined;
    return process.env[name];
  } catch {
    return undefined;
  }
}

/** Creates an in-process KVM presenting an Intel (`vmx`) or AMD (`svm`) CPU. */
export function createEmuKernel(options: EmuKernelOptions): EmuKernelHandle {
  return new EmuKernel(options.vendor === "amd" ? svm : vmx);
}
