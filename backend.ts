/**
 * Chooses and opens a backend for `Kvm.open`: the kernel's KVM through FFI
 * where the device opens and FFI is permitted, else the in-process emulator.
 *
 * @module
 */
import { KvmError } from "./errors.ts";
import type { BackendName, Kernel } from "./kernel.ts";
import { LibcUnavailable, threadLibc } from "./ffi/bind.ts";
import { createFfiKernel } from "./ffi/kernel.ts";
import { createEmuKernel } from "./emu/kernel.ts";
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

/** Opens `device` on the kernel's KVM; throws KvmError naming the device and errno. */
function openKvm(device: string): OpenedBackend {
  const kernel = kvmKernel();
  const fd = kernel.open(device);
  if (fd < 0) throw new KvmError("open", -fd, device);
  return { kernel, fd, backend: "kvm", fallbackReason: undefined };
}

/** The reason a KvmError from openKvm gives, in the short form of `Kvm.fallbackReason`. */
function shortReason(e: unknown, device: string): string {
  if (e instanceof KvmError) {
    if (e.operation === "open") return `${device}: ${e.code}`;
    if (e.code === "EPERM") return "no FFI permission";
    return e.message;
  }
  return String(e);
}

/** The host CPU's vendor from /proc/cpuinfo, where it can be read without asking for a permission. */
function hostVendor(): "intel" | "amd" | undefined {
  try {
    if (typeof Bun === "undefined" && typeof Deno !== "undefined") {
      const state = Deno.permissions.querySync({ name: "read", path: "/proc/cpuinfo" }).state;
      if (state !== "granted") return undefined;
    }
    const text = readFileSync("/proc/cpuinfo", "latin1");
    if (/^vendor_id\s*:\s*AuthenticAMD/m.test(text)) return "amd";
    if (/^vendor_id\s*:\s*GenuineIntel/m.test(text)) return "intel";
  } catch {
    // No /proc (not Linux) or no permission: the caller's default applies.
  }
  return undefined;
}

/** One emulator kernel per vendor, so that memory allocated by one Kvm serves VMs of another. */
const emuKernels = new Map<"intel" | "amd", Kernel>();

/** Opens the in-process emulator presenting `vendor`. */
function openEmu(vendor: "intel" | "amd" | undefined): OpenedBackend {
  const v = vendor ?? hostVendor() ?? "intel";
  let kernel = emuKernels.get(v);
  if (!kernel) emuKernels.set(v, kernel = createEmuKernel({ vendor: v }));
  const fd = kernel.open("/dev/kvm");
  if (fd < 0) throw new KvmError("open", -fd, "emulator");
  return { kernel, fd, backend: "emu", fallbackReason: undefined };
}

/** Opens the backend `Kvm.open` asked for: "auto" tries kvm, then falls back to the emulator. */
export function openBackend(
  backend: "auto" | BackendName,
  device: string,
  vendor: "intel" | "amd" | undefined,
): OpenedBackend {
  if (backend === "kvm") return openKvm(device);
  if (backend === "emu") return openEmu(vendor);
  try {
    return openKvm(device);
  } catch (e) {
    return { ...openEmu(vendor), fallbackReason: shortReason(e, device) };
  }
}
