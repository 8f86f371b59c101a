/**
 * The case generator: from a seed and a case index, a deterministic random
 * case in a given mode and family: its environment, one to eight groups of
 * instructions, and random initial registers, flags and memory.
 *
 * @module
 */
import type { Case, Group } from "./case.ts";
import type { Form } from "./encodings.ts";
import { type Env, type Mode, segmentBase } from "./env.ts";
import { AF, CF, DF, OF, PF, SF, ZF } from "./flags.ts";
import { buildGroup, type GenState } from "./group.ts";
import { DATA, STACK_HIGH, STACK_LOW } from "./layout.ts";
import { Prng } from "./prng.ts";
import { FAMILIES, FAMILY_NAMES } from "./table.ts";

/** What to generate. */
export interface GenerateOptions {
  mode: Mode;
  /** The families to draw from (one per case); default every family valid in the mode. */
  families?: readonly string[];
  /** The most family instructions in a case (default 8). */
  maxLength?: number;
}

/** The forms of `family` valid in `mode`. */
export function formsFor(family: string, mode: Mode): Form[] {
  const forms = FAMILIES[family];
  if (!forms) throw new RangeError(`family "${family}": unknown; expected one of ${FAMILY_NAMES.join(", ")}`);
  return forms.filter((f) => !f.modes || f.modes.includes(mode));
}

/** The families with at least one form valid in `mode`. */
export function familiesFor(mode: Mode): string[] {
  return FAMILY_NAMES.filter((f) => formsFor(f, mode).length > 0);
}

function randomEnv(rng: Prng, mode: Mode): Env {
  return {
    mode,
    real: mode === "16" && rng.chance(1, 2),
    paging: mode === "32" && rng.chance(1, 4),
    seg: { es: rng.below(4), ss: rng.below(4), ds: rng.below(4), fs: rng.below(4), gs: rng.below(4) },
    alignmentCheck: mode !== "16" && rng.chance(1, 16),
  };
}

/**
 * Case number `index` of the run seeded `seed`. The same arguments give the
 * same case, byte for byte, on every runtime.
 *
 * @example
 * ```ts
 * const c = generateCase(1, 0, { mode: "64", families: ["alu"] });
 * ```
 */
export function generateCase(seed: number, index: number, options: GenerateOptions): Case {
  const rng = new Prng(seed, index);
  const mode = options.mode;
  const env = randomEnv(rng, mode);
  const pool = options.families ?? familiesFor(mode);
  const family = rng.pick(pool);
  const forms = formsFor(family, mode);
  if (forms.length === 0) throw new RangeError(`family "${family}" has no form valid in mode ${mode}`);

  const regBits = mode === "64" ? 64 : 32;
  const regs = Array.from({ length: 16 }, (_, i) => (mode !== "64" && i >= 8 ? 0n : rng.value(regBits)));
  const sp = rng.range(STACK_LOW + 0x200, STACK_HIGH - 0x100) & ~(rng.chance(3, 4) ? 7 : 1);
  regs[4] = BigInt(DATA + sp - segmentBase(env, "ss"));

  let rflags = 0n;
  for (const bit of [CF, PF, AF, ZF, SF, OF]) if (rng.chance(1, 2)) rflags |= BigInt(bit);
  if (rng.chance(1, 4)) rflags |= BigInt(DF);

  const memory = rng.chance(1, 16) ? 0 : rng.u32() | 1;
  const st: GenState = { rng, env, sp, poison: 0 };
  const length = rng.range(1, options.maxLength ?? 8);
  const groups: Group[] = [];
  for (let tries = 0; groups.length < length && tries < length * 4; tries++) {
    const g = buildGroup(st, rng.weighted(forms.map((f) => [f, f.weight ?? 4] as const)));
    if (g) groups.push(g);
  }
  return { env, family, groups, regs, rflags, memory, seed, index };
}
