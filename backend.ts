/**
 * Chooses and opens a backend for `Kvm.open`: the kernel's KVM through FFI
 * where the device opens and FFI is permitted, else the in-process emulator.
 *
 * @module
 */
import { KvmError } from "./errors.ts";
import type { BackendName, Kernel, VcpuTransfer } from "./kernel.ts";
import { LibcUnavailable, NO_FFI, threadLibc } from "./ffi/bind.ts";
import { cString, O_CLOEXEC } from "./ffi/libc.ts";
import { createFfiKernel } from "./ffi/kernel.ts";
import { Handle } from "./_handle.ts";
import { readCpuid } from "./internal/cpuid.ts";
import { KVM_GET_API_VERSION, KVM_GET_SUPPORTED_CPUID } from "./abi/requests.ts";
import { Errno } from "./abi/errno.ts";
import { createEmuKernel, type EmuKernelHandle } from "./emu/kernel.ts";
import { ProxyKernel } from "./emu/proxy.ts";
import type { BlockCompilerMode } from "./emu/x86/compiler_mode.ts";
import { readFileSync } from "node:fs";

/** What `Kvm.open` needs: a kernel, the system descriptor, and why "auto" did not pick kvm. */
export interface OpenedBackend {
  kernel: Kernel;
  fd: number;
  backend: BackendName;
  fallbackReason: string | undefined;
}

declare const Bun: unknown;

let ffiKernel: Kernel | undefined;

/** The FFI kernel of this thread, binding libc on first use; throws KvmError when FFI is unavailable. */
export function kvmKernel(): Kernel {
  if (ffiKernel) return ffiKernel;
  try {
    return ffiKernel = createFfiKernel(threadLibc());
  } catch (e) {
    if (e instanceof LibcUnavailable) throw new KvmError("dlopen", e.errno, e.message);
    throw e;
  }
}

/** Each backend's kernel on a thread that adopts one of its vCPUs. */
const ADOPTING_KERNELS: Record<BackendName, (t: VcpuTransfer) => Kernel> = {
  kvm: () => kvmKernel(),
  // The emulator's state stays in the handing thread: its vCPU is adopted through a mailbox that thread serves.
  emu: (t) => ProxyKernel.of(t),
};

/** The kernel through which this thread adopts a vCPU handed off on `backend` (`adoptVcpu`). */
export function adoptingKernel(backend: BackendName, t: VcpuTransfer): Kernel {
  return ADOPTING_KERNELS[backend](t);
}

/** A path as a message shows it: at most 100 characters, the middle elided. */
function clip(path: string): string {
  return path.length <= 100 ? path : `${path.slice(0, 60)}…(${path.length} characters)…${path.slice(-30)}`;
}

/** KVM_GET_API_VERSION's answer on every KVM since Linux 2.6.22. */
const KVM_API_VERSION = 12;

/**
 * Opens `device` on the kernel's KVM and checks it speaks KVM_GET_API_VERSION
 * 12; throws KvmError naming the device and errno. Whatever fails after the
 * open closes the descriptor: a device that is not KVM costs nothing.
 */
function openKvm(device: string): OpenedBackend {
  // A C string ends at the first NUL: "/dev/kvm\0junk" would open /dev/kvm.
  if (device.includes("\0")) {
    throw new KvmError("open", Errno.EINVAL, `${clip(JSON.stringify(device))} contains a NUL byte`);
  }
  const kernel = kvmKernel();
  const fd = kernel.open(device);
  if (fd < 0) throw new KvmError("open", -fd, clip(device));
  const version = kernel.ioctlValue(fd, KVM_GET_API_VERSION, 0);
  if (version !== KVM_API_VERSION) {
    kernel.close(fd);
    const name = clip(device);
    const why = version < 0 ? `${name} is not a KVM device` : `${name}: API version ${version}, expected 12`;
    throw new KvmError("KVM_GET_API_VERSION", version < 0 ? -version : Errno.EINVAL, why);
  }
  return { kernel, fd, backend: "kvm", fallbackReason: undefined };
}

/** The reason a KvmError from openKvm gives, in the short form of `Kvm.fallbackReason`. */
function shortReason(e: unknown, device: string): string {
  if (e instanceof KvmError) {
    if (e.operation === "open") return `${clip(device)}: ${e.code}`;
    if (e.code === "EPERM") return "no FFI permission";
    if (e.operation === "dlopen" && e.code === "ENOSYS") return NO_FFI;
    return e.message;
  }
  return String(e);
}

let hostVendorCache: "intel" | "amd" | undefined | null = null;

/**
 * The start of /proc/cpuinfo, or "" where it cannot be read without asking
 * for a permission: Bun reads it as a file; Deno wants --allow-all for it
 * even with --allow-read, so there libc reads it, where FFI is permitted.
 */
function cpuinfo(): string {
  try {
    if (typeof Bun !== "undefined") return readFileSync("/proc/cpuinfo", "latin1");
    if (typeof Deno === "undefined") return "";
    const libc = threadLibc(), fd = libc.open(cString("/proc/cpuinfo"), O_CLOEXEC);
    if (fd < 0) return "";
    try {
      const head = new Uint8Array(4096), n = libc.read(fd, head);
      return n > 0 ? new TextDecoder("latin1").decode(head.subarray(0, n)) : "";
    } finally {
      libc.close(fd);
    }
  } catch {
    return ""; // Not Linux, or no FFI: the caller's default applies.
  }
}

/**
 * The host CPU's vendor, where it can be learnt without asking for a
 * permission: from KVM_GET_SUPPORTED_CPUID's leaf 0 where FFI and the device
 * are usable, else from /proc/cpuinfo ({@linkcode cpuinfo}).
 */
function hostVendor(device: string): "intel" | "amd" | undefined {
  if (hostVendorCache !== null) return hostVendorCache;
  let text = "";
  try {
    const kernel = kvmKernel();
    const fd = kernel.open(device);
    if (fd >= 0) {
      const h = new Handle(kernel, fd, "kvm handle");
      try {
        const leaf0 = readCpuid(h, "KVM_GET_SUPPORTED_CPUID", KVM_GET_SUPPORTED_CPUID).find((e) => e.function === 0);
        if (leaf0) {
          text = [leaf0.ebx, leaf0.edx, leaf0.ecx].map((w) =>
            String.fromCharCode(w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24)
          ).join("");
        }
      } finally {
        h.close();
      }
    }
  } catch {
    // No FFI here: try /proc below.
  }
  if (!text) text = cpuinfo();
  hostVendorCache = text.includes("AuthenticAMD") ? "amd" : text.includes("GenuineIntel") ? "intel" : undefined;
  return hostVendorCache;
}

/** One emulator kernel per vendor, so that memory allocated by one Kvm serves VMs of another. */
const emuKernels = new Map<"intel" | "amd", EmuKernelHandle>();

/** Opens the in-process emulator presenting `vendor`. */
function openEmu(
  vendor: "intel" | "amd" | undefined,
  device: string,
  blockCompiler: BlockCompilerMode | undefined,
): OpenedBackend {
  const v = vendor ?? hostVendor(device) ?? "intel";
  let kernel = emuKernels.get(v);
  if (!kernel) emuKernels.set(v, kernel = createEmuKernel({ vendor: v }));
  const fd = kernel.open("/dev/kvm");
  if (fd < 0) throw new KvmError("open", -fd, "emulator");
  if (blockCompiler) kernel.setBlockCompiler(fd, blockCompiler);
  return { kernel, fd, backend: "emu", fallbackReason: undefined };
}

/** Opens the backend `Kvm.open` asked for: "auto" tries kvm, then falls back to the emulator. */
export function openBackend(
  backend: "auto" | BackendName,
  device: string,
  vendor: "intel" | "amd" | undefined,
  blockCompiler?: BlockCompilerMode,
): OpenedBackend {
  if (backend === "kvm") return openKvm(device);
  if (backend === "emu") return openEmu(vendor, device, blockCompiler);
  try {
    return openKvm(device);
  } catch (e) {
    return { ...openEmu(vendor, device, blockCompiler), fallbackReason: shortReason(e, device) };
  }
}
