/**
 * The multiply templates: IMUL r64, r/m64 [, imm] and MUL/IMUL r/m32 and r/m64 into rDX:rAX, whose code
 * templates64.ts writes; here the operand (a register or a memory source) and the flags kept from before.
 *
 * @module
 */
import type { Insn } from "../insn.ts";
import { eagerOf } from "./eager.ts";
import { loadInto, offset, segmentOf } from "./operands.ts";
import { imul64Code, mulAccCode } from "./templates64.ts";
import { producerOf } from "./templates_flags.ts";
import { at, halves, pure, type Site, type Template } from "./templates_site.ts";

/** IMUL r64, r/m64 [, imm] (templates64.ts), of a register or a memory source it only reads. */
export function imul64(d: Insn, site: Site): Template | undefined {
  if (producerOf(d) === null) return undefined;
  const mem = d.mod !== 3;
  const load = mem ? `${loadInto(segmentOf(d), offset(d, site.next)!, 8, 8, at(site))} ` : "";
  return pure(imul64Code(d, site.amd, keptFlags(site), load, mem ? ["MV", "MH"] : halves(d.rm)));
}

/** The flags before a multiply at `site` (eager.ts eagerOf), or null when no one sees the multiply's (flagsDead). */
function keptFlags(site: Site): string | null {
  return site.flagsDead ? null : eagerOf(site.producer);
}

/** MUL or IMUL r/m32 or r/m64 into rDX:rAX (templates64.ts), of a register or a memory source it only reads. */
export function mulAcc(d: Insn, site: Site): Template | undefined {
  if (producerOf(d) === null) return undefined;
  const mem = d.mod !== 3;
  const load = mem ? `${loadInto(segmentOf(d), offset(d, site.next)!, d.size, d.mode, at(site))} ` : "";
  return pure(mulAccCode(d, site.amd, keptFlags(site), load, mem ? ["MV", "MH"] : halves(d.rm)));
}
