/**
 * What the examples share: the `--backend` switch, exit descriptions for
 * error messages, a fixed pseudo-random fill, and GDT descriptor encoding.
 *
 * @module
 */
import type { Segment, VcpuExit } from "../mod.ts";

/** Reads `--backend=kvm|emu|auto` from the command line (default "auto"). */
export function parseBackend(args: readonly string[]): "auto" | "kvm" | "emu" {
  let backend: "auto" | "kvm" | "emu" = "auto";
  for (const arg of args) {
    const value = arg.startsWith("--backend=") ? arg.slice(10) : undefined;
    if (value === "auto" || value === "kvm" || value === "emu") {
      backend = value;
    } else {
      throw new RangeError(
        `unknown argument "${arg}": expected --backend=kvm|emu|auto`,
      );
    }
  }
  return backend;
}

/** Describes an exit for an error message. */
export function describe(exit: VcpuExit): string {
  return JSON.stringify(
    exit,
    (_, v) => typeof v === "bigint" ? `0x${v.toString(16)}` : v,
  );
}

/** Fills `bytes` with a fixed pseudo-random sequence (xorshift32, seed 1). */
export function fillPseudoRandom(bytes: Uint8Array): void {
  let x = 1;
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bytes[i] = x & 0xff;
  }
}

/**
 * Encodes a segment register value as the 8-byte GDT descriptor that would
 * load it, so that the GDT and the registers set by KVM_SET_SREGS agree.
 * `limit` is the byte limit as KVM reports it (with g = 1, the low 12 bits
 * are ones and the descriptor holds limit >> 12).
 */
export function segmentDescriptor(seg: Segment): bigint {
  const limit = BigInt(seg.g ? seg.limit >>> 12 : seg.limit);
  const base = seg.base;
  const access = BigInt(
    seg.type | (seg.s << 4) | (seg.dpl << 5) | (seg.present << 7),
  );
  const flags = BigInt(seg.avl | (seg.l << 1) | (seg.db << 2) | (seg.g << 3));
  return (limit & 0xffffn) |
    ((base & 0xffffffn) << 16n) |
    (access << 40n) |
    (((limit >> 16n) & 0xfn) << 48n) |
    (flags << 52n) |
    (((base >> 24n) & 0xffn) << 56n);
}
