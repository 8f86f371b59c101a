/**
 * Scratch memory for ioctls whose struct holds a user pointer (dirty
 * bitmaps, MSR filter bitmaps): an anonymous mapping made by the backend
 * itself, so that the address is valid in the backend's address space (the
 * process's for kvm, the emulator's own for emu).
 *
 * @module
 */
import { PAGE_SIZE } from "../abi/constants.ts";
import { KvmError } from "../errors.ts";
import { type Kernel, type Mapping, unmap } from "../kernel.ts";

/**
 * Maps at least `size` zeroed bytes, runs `fn` with the mapping, then
 * detaches every view of it and unmaps it, whatever `fn` did.
 */
export function withScratch<T>(kernel: Kernel, size: number, what: string, fn: (m: Mapping) => T): T {
  const m = kernel.mmap(-1, Math.max(PAGE_SIZE, Math.ceil(size / PAGE_SIZE) * PAGE_SIZE));
  if (typeof m === "number") throw new KvmError("mmap", -m, what);
  try {
    return fn(m);
  } finally {
    unmap(kernel, m);
  }
}
