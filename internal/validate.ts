/**
 * Argument validation at the API boundary, with zod. A bad argument throws a
 * `TypeError` (wrong type, unknown key) or a `RangeError` (a number out of
 * range, unaligned, too long) whose message names the parameter, before any
 * ioctl is issued.
 *
 * @module
 */
// A fully qualified specifier, so that Deno resolves it with no import map (a
// program importing mod.ts by path or URL). Bun and tsc map it to the
// installed zod through tsconfig.json's "paths"; the npm build writes "zod".
// deno-lint-ignore no-import-prefix -- the one dependency, named where Deno can resolve it without config
import { z } from "npm:zod@^4";

const U64_MAX = (1n << 64n) - 1n;

/** Issue codes that mean "the right type, but out of range". */
const RANGE_CODES = new Set(["too_small", "too_big", "not_multiple_of"]);

/** Parses `value` with `schema`, or throws a TypeError/RangeError naming `name`. */
export function check<T>(schema: z.ZodType<T>, value: unknown, name: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = [name, ...issue.path.map(String)].join(".");
  const isRange = RANGE_CODES.has(issue.code) ||
    (issue.code === "custom" && (issue.params as { range?: boolean } | undefined)?.range === true);
  const message = `${where}: ${issue.message}`;
  throw isRange ? new RangeError(message) : new TypeError(message);
}

/** An integer in [min, max]. */
export function int(min: number, max: number): z.ZodNumber {
  return z.number().int().min(min).max(max);
}

/** A `__u8` .. `__u32` member. */
export const u8 = int(0, 0xff);
export const u16 = int(0, 0xffff);
export const u32 = int(0, 0xffff_ffff);

/** A `__u64` member: a bigint in [0, 2^64). */
export const u64 = z.bigint().min(0n).max(U64_MAX);

const BIG_ADDRESS = "above Number.MAX_SAFE_INTEGER: pass a bigint for values from 2^53";

/** An address or other 64-bit quantity given as `number | bigint`, returned as a bigint. */
export const address = z.union([
  z.number().min(0).max(Number.MAX_SAFE_INTEGER, { error: BIG_ADDRESS }).int(),
  z.bigint().min(0n).max(U64_MAX),
]).transform((v) => BigInt(v));

/** A 0/1 flag given as a number or a boolean, returned as 0 or 1. */
export const bit = z.union([z.boolean(), z.literal(0), z.literal(1)]).transform((v) => (v ? 1 : 0));

/** A refinement that fails with a RangeError-kind issue. */
export function rangeCheck<T>(ok: (v: T) => boolean, message: (v: T) => string) {
  return (v: T, ctx: z.RefinementCtx) => {
    if (!ok(v)) ctx.addIssue({ code: "custom", message: message(v), params: { range: true } });
  };
}

/** Formats a number or bigint in hex for messages. */
export function hex(v: number | bigint): string {
  return `0x${v.toString(16)}`;
}

export { z };
