/**
 * Chooses and opens a backend for `Kvm.open`: the kernel's KVM through FFI
 * where the device opens and FFI is permitted, else the in-process emulator.
 *
 * @module
 */
import { Errno } from "./abi/errno.ts";
import { KvmError } from "./errors.ts";
import type { BackendName, Kernel } from "./kernel.ts";
import { bindBunLibc } from "./ffi/bun.ts";
import { bindDenoLibc } from "./ffi/deno.ts";
import { createFfiKernel } from "./ffi/kernel.ts";
import type { Libc } from "./ffi/libc.ts";

/** What `Kvm.open` needs: a kernel, the system descriptor, and why "auto" did not pick kvm. */
export interface OpenedBackend {
  kernel: Kernel;
  fd: number;
  backend: BackendName;
  fallbackReason: string | undefined;
}

declare const Bun: unknown;

let libc: Libc | undefined;
let ffiKernel: Kernel | undefined;

/** The FFI kernel of this thread, binding libc on first use; throws KvmError when FFI is unavailable. */
function kvmKernel(): Kernel {
  if (ffiKernel) return ffiKernel;
  if (typeof Bun === "undefined") {
    if (typeof Deno === "undefined") {
      throw new KvmError("dlopen", Errno.ENOSYS, "no FFI: neither Deno nor Bun");
    }
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      throw new KvmError("dlopen", Errno.EPERM, "no FFI permission (run deno with --allow-ffi)");
    }
  }
  try {
    libc = typeof Bun === "undefined" ? bindDenoLibc() : bindBunLibc();
  } catch (e) {
    throw new KvmError("dlopen", Errno.ENOENT, `cannot load libc.so.6: ${(e as Error).message}`);
  }
  return ffiKernel = createFfiKernel(libc);
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

/** Opens the backend `Kvm.open` asked for. */
export function openBackend(
  backend: "auto" | BackendName,
  device: string,
  openEmu: (() => OpenedBackend) | undefined,
): OpenedBackend {
  if (backend === "kvm") return openKvm(device);
  if (backend === "emu") {
    if (!openEmu) throw new KvmError("open", Errno.ENODEV, "the emulator backend is not built yet");
    return openEmu();
  }
  try {
    return openKvm(device);
  } catch (e) {
    const reason = shortReason(e, device);
    if (!openEmu) {
      throw new KvmError(
        "open",
        e instanceof KvmError ? e.errno : Errno.ENODEV,
        `no backend: kvm is unusable (${reason}) and the emulator is not built yet`,
      );
    }
    return { ...openEmu(), fallbackReason: reason };
  }
}
