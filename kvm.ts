/**
 * Kvm: the system descriptor (/dev/kvm, or the emulator's equivalent) and
 * its ioctls (Documentation/virt/kvm/api.rst, section 4).
 *
 * @module
 */
import * as R from "./abi/requests.ts";
import * as S from "./abi/structs.ts";
import { KvmError } from "./errors.ts";
import { HANDLE, Handle } from "./_handle.ts";
import type { BackendName } from "./kernel.ts";
import { openBackend } from "./backend.ts";
import { check, int, z } from "./internal/validate.ts";
import { readCpuid } from "./internal/cpuid.ts";
import { Vm } from "./vm.ts";

/** Options of {@linkcode Kvm.open}. */
export interface KvmOptions {
  /** "auto" (default): the kernel's KVM when it can be opened, else the emulator. */
  backend?: "auto" | BackendName;
  /** Device path for the kvm backend. Default "/dev/kvm". */
  device?: string;
  /** CPU vendor the emulator presents (CPUID, MSRs, vendor quirks). Default: the host's vendor where known, else "intel". */
  vendor?: "intel" | "amd";
  /**
   * How the emulator runs guest code: "on" (default) compiles hot basic blocks into JavaScript functions, "off"
   * interprets every instruction, "eager" compiles every block on first use (for testing the compiler). The
   * default can also be set with the environment variable KVMKIT_BLOCK_COMPILER. Ignored by the kernel's KVM.
   */
  blockCompiler?: "on" | "off" | "eager";
}

const optionsSchema = z.strictObject({
  backend: z.enum(["auto", "kvm", "emu"]).optional(),
  device: z.string().min(1).optional(),
  vendor: z.enum(["intel", "amd"]).optional(),
  blockCompiler: z.enum(["on", "off", "eager"]).optional(),
}).optional();

/**
 * The KVM subsystem: the `/dev/kvm` handle on the kvm backend, or the
 * emulator's. Creates VMs.
 *
 * @example
 * ```ts
 * using kvm = Kvm.open();
 * console.log(kvm.backend, kvm.apiVersion());
 * using vm = kvm.createVm();
 * ```
 */
export class Kvm implements Disposable {
  /** The backend this handle runs on. */
  readonly backend: BackendName;
  /** Why "auto" did not pick "kvm" (e.g. "/dev/kvm: ENOENT", "no FFI permission"); undefined otherwise. */
  readonly fallbackReason: string | undefined;
  readonly #h: Handle;
  #mmapSize = 0;

  /** @internal Use {@linkcode Kvm.open}. */
  constructor(handle: Handle, backend: BackendName, fallbackReason: string | undefined) {
    this.#h = handle;
    this.backend = backend;
    this.fallbackReason = fallbackReason;
  }

  /** @internal The descriptor, for handing vCPUs to other threads. */
  get [HANDLE](): Handle {
    return this.#h;
  }

  /** Opens the KVM subsystem on the chosen backend. Throws KvmError when the backend cannot be opened. */
  static open(options?: KvmOptions): Kvm {
    const o = check(optionsSchema, options, "options") ?? {};
    const opened = openBackend(o.backend ?? "auto", o.device ?? "/dev/kvm", o.vendor, o.blockCompiler);
    const kvm = new Kvm(new Handle(opened.kernel, opened.fd, "kvm handle"), opened.backend, opened.fallbackReason);
    try {
      const version = kvm.apiVersion();
      if (version !== 12) throw new KvmError("KVM_GET_API_VERSION", 22, `API version ${version}, expected 12`);
      kvm.vcpuMmapSize();
    } catch (e) {
      kvm.close(); // what failed after the open leaves no descriptor behind
      throw e;
    }
    return kvm;
  }

  /** KVM_GET_API_VERSION: 12 on every KVM since Linux 2.6.22. */
  apiVersion(): number {
    return this.#h.ioctlValue("KVM_GET_API_VERSION", R.KVM_GET_API_VERSION, 0);
  }

  /** KVM_CHECK_EXTENSION: 0 when capability `cap` (a KVM_CAP_* number) is absent, else a positive number. */
  checkExtension(cap: number): number {
    this.#h.fd("KVM_CHECK_EXTENSION");
    const c = check(int(0, 0x7fff_ffff), cap, "cap");
    return this.#h.ioctlValue("KVM_CHECK_EXTENSION", R.KVM_CHECK_EXTENSION, c);
  }

  /** KVM_GET_VCPU_MMAP_SIZE: the size of each vCPU's shared kvm_run mapping. */
  vcpuMmapSize(): number {
    this.#h.fd("KVM_GET_VCPU_MMAP_SIZE");
    // Asked once: the size never changes.
    if (this.#mmapSize === 0) {
      this.#mmapSize = this.#h.ioctlValue("KVM_GET_VCPU_MMAP_SIZE", R.KVM_GET_VCPU_MMAP_SIZE, 0);
    }
    return this.#mmapSize;
  }

  /** KVM_GET_SUPPORTED_CPUID: every CPUID leaf the backend can present to a guest. */
  supportedCpuid(): S.CpuidEntry[] {
    return readCpuid(this.#h, "KVM_GET_SUPPORTED_CPUID", R.KVM_GET_SUPPORTED_CPUID);
  }

  /** KVM_GET_MSR_INDEX_LIST: the MSRs that getMsrs/setMsrs accept. */
  msrIndexList(): number[] {
    const head = S.kvmMsrList.size;
    const probe = new Uint8Array(head);
    try {
      this.#h.ioctl("KVM_GET_MSR_INDEX_LIST", R.KVM_GET_MSR_INDEX_LIST, probe);
    } catch (e) {
      if (!(e instanceof KvmError && e.code === "E2BIG")) throw e;
    }
    // The kernel answered E2BIG and wrote back how many indices there are.
    const n = new DataView(probe.buffer).getUint32(0, true);
    const buf = new Uint8Array(head + 4 * n);
    new DataView(buf.buffer).setUint32(0, n, true);
    this.#h.ioctl("KVM_GET_MSR_INDEX_LIST", R.KVM_GET_MSR_INDEX_LIST, buf);
    const view = new DataView(buf.buffer);
    const count = view.getUint32(0, true);
    return Array.from({ length: count }, (_, i) => view.getUint32(head + 4 * i, true));
  }

  /** KVM_CREATE_VM: a new virtual machine with its own descriptor. */
  createVm(): Vm {
    const fd = this.#h.ioctlValue("KVM_CREATE_VM", R.KVM_CREATE_VM, 0);
    // The VM keeps the kvm_run size: it creates vCPUs even after this handle closes.
    return new Vm(this, new Handle(this.#h.kernel, fd, "vm"), this.vcpuMmapSize());
  }

  /** Closes the handle. VMs already created stay usable until closed themselves. Idempotent. */
  close(): void {
    this.#h.close();
  }

  /** Closes the handle, for `using`: see {@linkcode Kvm.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
