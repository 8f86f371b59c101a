/**
 * What examples/long_mode.ts and examples/protected_mode.ts share: their
 * guests (long_mode.asm, protected_mode.asm) hash a buffer the host filled
 * and report the hash on a port, and both use the same guest-physical
 * layout, set up here.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import type { Regs } from "../mod.ts";
import { fillPseudoRandom } from "./_shared.ts";

/** The GDT: null, code (selector 0x08), data (selector 0x10). */
export const GDT_ADDR = 0x1000;
/** Where the guest's code is loaded (its `org`). */
export const CODE_ADDR = 0x8000;
/** The buffer the guest hashes, and its length. */
export const BUFFER_ADDR = 0x10000;
export const BUFFER_LENGTH = 4096;
/** The top of the guest's stack (unused by these guests, but valid). */
export const STACK_TOP = 0x80000;
/** The port the guest reports the hash on. */
export const RESULT_PORT = 0xe9;

/** A hash guest placed in memory. */
export interface HashGuest {
  /** The buffer the guest hashes (a view of guest memory). */
  buffer: Uint8Array;
  /** The registers it starts with: rip, rsp, and its arguments rsi = buffer address, rcx = its length. */
  regs: Pick<Regs, "rip" | "rsp" | "rsi" | "rcx" | "rflags">;
}

/**
 * Loads `image` (examples/<image>, read relative to this file so that it
 * works from any directory) at {@linkcode CODE_ADDR} and fills the buffer
 * at {@linkcode BUFFER_ADDR} with a fixed pseudo-random sequence.
 */
export function loadHashGuest(mem: Uint8Array, image: string): HashGuest {
  mem.set(readFileSync(new URL(`./${image}`, import.meta.url)), CODE_ADDR);
  const buffer = mem.subarray(BUFFER_ADDR, BUFFER_ADDR + BUFFER_LENGTH);
  fillPseudoRandom(buffer);
  const regs = {
    rip: BigInt(CODE_ADDR),
    rsp: BigInt(STACK_TOP),
    rsi: BigInt(BUFFER_ADDR),
    rcx: BigInt(BUFFER_LENGTH),
    rflags: 2n,
  };
  return { buffer, regs };
}
