/**
 * Saving disagreements: minimise, check that the small case still
 * disagrees, and write it to the corpus with the oracle's outcome, once per
 * kind of failure (family, the exception on each side, the fields that
 * differ), so that a run with many copies of one bug writes one file.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import type { Case } from "./case.ts";
import { compareOutcomes } from "./compare.ts";
import { caseToJson, CORPUS_FORMAT, type CorpusEntry, corpusName, outcomeToJson } from "./corpus.ts";
import { type CaseResult, runDifferential, shrinkDisagreement, type Sides } from "./differential.ts";
import { oracleMasks } from "./oracle.ts";
import { exceptionOf, type Outcome } from "./outcome.ts";

/** The kind of a disagreement: family, exception vectors (oracle/candidate), differing fields. */
export function failureKind(c: Case, r: CaseResult): string {
  const vec = (x: Outcome | undefined) => (x && exceptionOf(x)?.vector) ?? "-";
  const fields = [...new Set(r.comparison?.differences.map((d) => d.what.split(/[ .]/)[0]))].sort().join(",");
  return `${c.family} ${vec(r.expected)}/${vec(r.actual)} ${fields}`;
}

/** Writes minimised disagreements to a corpus directory, one per kind, at most `limit`. */
export class CorpusWriter {
  readonly #dir: string;
  readonly #limit: number;
  readonly #candidate: string;
  readonly #seen = new Set<string>();
  readonly #written = new Set<string>();

  constructor(dir: string, limit: number, candidate: string) {
    this.#dir = dir.endsWith("/") ? dir : `${dir}/`;
    this.#limit = limit;
    this.#candidate = candidate;
  }

  /** Files written so far. */
  get count(): number {
    return this.#written.size;
  }

  /** Minimises and saves `c` (whose result was `r`) unless its kind was seen; returns the file written, if any. */
  offer(sides: Sides, c: Case, r: CaseResult): { file: string; small: Case; result: CaseResult } | undefined {
    if (this.#written.size >= this.#limit) return undefined;
    const kind = failureKind(c, r);
    if (this.#seen.has(kind)) return undefined;
    this.#seen.add(kind);
    const small = shrinkDisagreement(sides, c, r).case;
    const again = runDifferential(sides, small);
    if (again.verdict !== "disagree" || !again.expected || !again.actual) return undefined;
    const smallKind = failureKind(small, again);
    if (this.#written.has(smallKind)) return undefined;
    this.#written.add(smallKind);
    const extra = oracleMasks(sides.limits, small, again.expected);
    const entry: CorpusEntry = {
      format: CORPUS_FORMAT,
      case: caseToJson(small),
      expected: outcomeToJson(small, again.expected),
      recordedOn: "kvm",
      masked: compareOutcomes(small, again.expected, again.actual, extra, { strictFlags: sides.strictFlags })
        .masked,
      extra: extra.map((x) => ({ rflags: `0x${x.rflags.toString(16)}`, why: x.why })),
      ...(sides.oracleVendor ? { vendor: sides.oracleVendor } : {}),
      ...(sides.strictFlags ? { strictFlags: true } : {}),
      open: { candidate: this.#candidate, differences: again.comparison?.differences ?? [] },
    };
    const file = this.#dir + corpusName(small);
    writeFileSync(file, JSON.stringify(entry, null, 2) + "\n");
    return { file, small, result: again };
  }
}
