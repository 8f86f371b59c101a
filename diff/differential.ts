/**
 * One differential step: a case on the oracle and on the candidate, and the
 * verdict: agreement, disagreement (with the differences), or no oracle
 * (the oracle could not run the case; never counted as agreement).
 *
 * @module
 */
import type { Case } from "./case.ts";
import { compareOutcomes, type Comparison } from "./compare.ts";
import { invalidReason } from "./effects.ts";
import { envGap, oracleGap, type OracleLimits, oracleMasks } from "./oracle.ts";
import { minimize, type Minimized } from "./minimize.ts";
import { exceptionOf, type Outcome } from "./outcome.ts";
import type { Runner } from "./runner.ts";

/** The verdict on one case. */
export type Verdict = "agree" | "disagree" | "noOracle";

/** What running one case on both sides gave. */
export interface CaseResult {
  verdict: Verdict;
  /** The oracle's outcome (absent when the oracle could not run the case at all). */
  expected?: Outcome;
  actual?: Outcome;
  comparison?: Comparison;
  /** For "noOracle": why. */
  reason?: string;
}

/** The two sides of a differential run. */
export interface Sides {
  oracle: Runner;
  candidate: Runner;
  limits: OracleLimits;
  /** The oracle CPU's vendor, where known (corpus files record it). */
  oracleVendor?: "intel" | "amd";
  /** Compare the undefined flags too (CompareOptions.strictFlags): the candidate must reproduce the oracle's CPU. */
  strictFlags?: boolean;
}

/** Runs `c` on both sides and compares. A case the generator could not make valid is refused. */
export function runDifferential(sides: Sides, c: Case): CaseResult {
  const bad = invalidReason(c);
  if (bad) throw new RangeError(`case ${c.seed}/${c.index} is not valid: ${bad}`);
  const skip = envGap(sides.limits, c);
  if (skip) return { verdict: "noOracle", reason: skip };
  const expected = sides.oracle.run(c);
  const gap = oracleGap(sides.limits, c, expected);
  if (gap) return { verdict: "noOracle", expected, reason: gap };
  const actual = sides.candidate.run(c);
  const masks = oracleMasks(sides.limits, c, expected);
  const comparison = compareOutcomes(c, expected, actual, masks, { strictFlags: sides.strictFlags });
  return { verdict: comparison.agree ? "agree" : "disagree", expected, actual, comparison };
}

/**
 * Whether `r` is still the failure `first` was: a disagreement, with the
 * oracle raising the same exception (or none), sharing a differing field.
 */
export function sameFailure(first: CaseResult, r: CaseResult): boolean {
  if (r.verdict !== "disagree" || !r.expected || !first.expected) return false;
  if (exceptionOf(r.expected)?.vector !== exceptionOf(first.expected)?.vector) return false;
  const before = new Set(first.comparison?.differences.map((d) => d.what.split(" ")[0]));
  return (r.comparison?.differences ?? []).some((d) => before.has(d.what.split(" ")[0]));
}

/** Minimises a disagreeing case `c` (whose result was `first`) on `sides`. */
export function shrinkDisagreement(sides: Sides, c: Case, first: CaseResult): Minimized {
  return minimize(c, (x) => sameFailure(first, runDifferential(sides, x)));
}
