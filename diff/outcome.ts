/**
 * The outcome of running a case on one backend: the exits it made, the
 * final registers, segment state and cr2, and the bytes of every memory
 * location the case could touch (its data area and the top of the ring-0
 * stack, where exception frames land).
 *
 * @module
 */
import { ERROR_PORT, VECTOR_PORT } from "./layout.ts";

/** One exit, reduced to what both backends must agree on. */
export interface ExitRecord {
  reason: string;
  /** io: the port, access size, direction and the value written (little-endian). */
  port?: number;
  size?: number;
  direction?: "in" | "out";
  value?: number;
  /** Anything else worth printing (mmio address, internal-error suberror). */
  detail?: string;
}

/** A segment register, reduced: selector, base, limit and the attribute bits packed as in the descriptor (type|S|DPL|P at 0-7, AVL|L|D/B|G at 12-15, unusable at 16). */
export interface SegState {
  selector: number;
  base: bigint;
  limit: number;
  attrs: number;
}

/** The segment registers an outcome records. */
export const SEGS = ["cs", "ds", "es", "fs", "gs", "ss"] as const;

/** What one backend did with one case. */
export interface Outcome {
  /** Set when the backend could not give an answer (no oracle): why. */
  noOracle?: string;
  exits: ExitRecord[];
  /** rax..r15 by encoding number, then rip (16) and rflags (17). */
  regs: bigint[];
  segs: Record<(typeof SEGS)[number], SegState>;
  cr2: bigint;
  /** The data area, then the watched top of the ring-0 stack. */
  memory: Uint8Array;
}

/** The exception a handler reported in `o`'s exits, if any. */
export function exceptionOf(o: Outcome): { vector: number; errorCode?: number } | undefined {
  const v = o.exits.find((e) => e.reason === "io" && e.port === VECTOR_PORT);
  if (!v) return undefined;
  const err = o.exits.find((e) => e.reason === "io" && e.port === ERROR_PORT);
  return err ? { vector: v.value ?? -1, errorCode: err.value } : { vector: v.value ?? -1 };
}

/** Index of rip and rflags in Outcome.regs. */
export const RIP = 16;
export const RFLAGS = 17;
