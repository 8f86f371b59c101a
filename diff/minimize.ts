/**
 * Shrinks a failing case: drops groups of instructions (in halves, then one
 * by one) and simplifies the initial state (registers to 0, flags to 0, the
 * data area to zeros, no alignment checks) while the failure
 * persists and the case stays valid (no read of an undefined flag, stack
 * assumptions intact).
 *
 * @module
 */
import type { Case } from "./case.ts";
import { invalidReason } from "./effects.ts";

/** Options of {@linkcode minimize}. */
export interface MinimizeOptions {
  /** The most candidate cases to try (each costs a run on both sides). Default 200. */
  budget?: number;
}

/** What minimising did. */
export interface Minimized {
  case: Case;
  /** Candidates tried, and how many were kept. */
  tried: number;
  kept: number;
}

/**
 * The smallest case derived from `c` for which `stillFails` holds. `c`
 * itself must fail; `stillFails` is only called on valid cases.
 *
 * @example
 * ```ts
 * const small = minimize(c, (x) => runDifferential(sides, x).verdict === "disagree").case;
 * ```
 */
export function minimize(c: Case, stillFails: (c: Case) => boolean, options: MinimizeOptions = {}): Minimized {
  const budget = options.budget ?? 200;
  let best = c, tried = 0, kept = 0;
  const attempt = (next: Case): boolean => {
    if (tried >= budget || invalidReason(next) !== undefined) return false;
    tried++;
    if (!stillFails(next)) return false;
    best = next;
    kept++;
    return true;
  };

  // Groups: remove chunks, halving the chunk size down to one group.
  for (let size = Math.max(1, best.groups.length >> 1); size >= 1; size >>= 1) {
    for (let start = best.groups.length - size; start >= 0; start -= 1) {
      if (start + size > best.groups.length) continue;
      const groups = best.groups.filter((_, i) => i < start || i >= start + size);
      attempt({ ...best, groups });
    }
  }

  // Initial state.
  for (let r = 0; r < best.regs.length; r++) {
    if (r === 4 || best.regs[r] === 0n) continue;
    const regs = best.regs.slice();
    regs[r] = 0n;
    attempt({ ...best, regs });
  }
  if (best.rflags !== 0n && !attempt({ ...best, rflags: 0n })) {
    for (let bit = 0n; bit < 12n; bit++) {
      if (best.rflags & (1n << bit)) attempt({ ...best, rflags: best.rflags & ~(1n << bit) });
    }
  }
  if (best.memory !== 0) attempt({ ...best, memory: 0 });
  // (Segment bases stay: the setup instructions aimed the memory operands through them.)
  if (best.env.alignmentCheck) attempt({ ...best, env: { ...best.env, alignmentCheck: false } });
  return { case: best, tried, kept };
}
