/**
 * Replays the regression corpus (tests/corpus/*.json, minimised cases found
 * by `deno task diff`) on every available backend and checks each outcome
 * against the one kvm gave when the case was recorded, masking only the
 * flags the encoding table says are undefined. An entry whose candidate
 * still disagrees carries `open`; it is skipped on that backend, with the
 * difference as the reason, until the fix lands and `open` is removed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { compareOutcomes } from "../diff/compare.ts";
import { caseFromJson, outcomeFromJson, parseEntry } from "../diff/corpus.ts";
import { invalidReason } from "../diff/effects.ts";
import { Runner } from "../diff/runner.ts";
import { BACKENDS, backendTest, skip, test } from "./_harness.ts";

const dir = fileURLToPath(new URL("./corpus/", import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();

test("diff corpus: every file parses and holds a valid case", () => {
  for (const f of files) {
    const e = parseEntry(readFileSync(dir + f, "utf8"), f);
    const c = caseFromJson(e.case);
    assert.equal(invalidReason(c), undefined, f);
    assert.equal(e.recordedOn, "kvm", f);
  }
});

for (const f of files) {
  const entry = parseEntry(readFileSync(dir + f, "utf8"), f);
  const open = entry.open;
  const on = BACKENDS.filter((b) => {
    if (open?.candidate !== b) return true;
    const d = open.differences[0];
    skip(`diff corpus ${f} [${b}]`, `open disagreement: ${d ? `${d.what}: kvm ${d.expected}, ${b} ${d.actual}` : "?"}`);
    return false;
  });
  backendTest(`diff corpus ${f}`, (kvm) => {
    const c = caseFromJson(entry.case);
    using runner = new Runner(kvm);
    const extra = (entry.extra ?? []).map((x) => ({ rflags: BigInt(x.rflags), why: x.why }));
    const r = compareOutcomes(c, outcomeFromJson(c, entry.expected), runner.run(c), extra);
    assert.ok(
      r.agree,
      `${f}: ${r.differences.map((d) => `${d.what}: expected ${d.expected}, got ${d.actual}`).join("; ")}`,
    );
  }, { only: on });
}
