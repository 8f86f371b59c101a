/**
 * libc for the calling thread, bound once per thread (each Worker has its
 * own module instances) with the runtime's FFI.
 *
 * @module
 */
import { bindBunLibc } from "./bun.ts";
import { bindDenoLibc } from "./deno.ts";
import type { Libc } from "./libc.ts";

declare const Bun: unknown;

/** Why libc cannot be bound here, with the errno that best says it. */
export class LibcUnavailable extends Error {
  readonly errno: number;
  constructor(errno: number, message: string) {
    super(message);
    this.name = "LibcUnavailable";
    this.errno = errno;
  }
}

/** Why a runtime that is neither Deno nor Bun cannot reach the kernel's KVM. */
export const NO_FFI = "no FFI in this runtime (Node.js and browsers have none; the kvm backend needs Deno or Bun)";

let bound: Libc | undefined;

/** This thread's libc; throws LibcUnavailable (no FFI runtime: ENOSYS, no permission: EPERM, no libc: ENOENT). */
export function threadLibc(): Libc {
  if (bound) return bound;
  if (typeof Bun === "undefined") {
    if (typeof Deno === "undefined") throw new LibcUnavailable(38, NO_FFI);
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      throw new LibcUnavailable(1, "no FFI permission (run deno with --allow-ffi)");
    }
  }
  try {
    return bound = typeof Bun === "undefined" ? bindDenoLibc() : bindBunLibc();
  } catch (e) {
    throw new LibcUnavailable(2, `cannot load libc.so.6: ${(e as Error).message}`);
  }
}
