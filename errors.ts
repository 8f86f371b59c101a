/**
 * KvmError: every failure of an operation that a backend refused.
 *
 * @module
 */
import { errnoName } from "./abi/errno.ts";

/**
 * Every failure of an operation the backend refused: the kernel's errno,
 * its name, and the ioctl (or libc call) that failed.
 *
 * @example
 * ```ts
 * try {
 *   vm.createVcpu(0);
 * } catch (e) {
 *   if (e instanceof KvmError && e.code === "EEXIST") console.log("id taken");
 * }
 * ```
 */
export class KvmError extends Error {
  /** The errno value, e.g. 22. */
  readonly errno: number;
  /** The errno name, e.g. "EINVAL". */
  readonly code: string;
  /** The operation that failed, e.g. "KVM_SET_USER_MEMORY_REGION". */
  readonly operation: string;

  /** An error for `operation` (an ioctl or libc call) that failed with `errno`; `detail` says what it was applied to. */
  constructor(operation: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    super(`${operation} failed: ${code} (errno ${errno})${detail ? `: ${detail}` : ""}`);
    this.name = "KvmError";
    this.errno = errno;
    this.code = code;
    this.operation = operation;
  }
}
