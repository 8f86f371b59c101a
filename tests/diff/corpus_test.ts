/**
 * Replays the regression corpus (tests/corpus/*.json, minimised cases found
 * by `deno task diff`) on every available backend and checks each outcome
 * against the one kvm gave when the case was recorded, masking only the
 * flags the encoding table says are undefined (all flags for an entry
 * recorded with --strict-flags). The emulator replays each entry with the
 * vendor personality of the CPU that recorded it; a kvm host of another
 * vendor does not replay it. An entry whose candidate still disagrees
 * carries `open`; it is skipped on that backend, with the difference as the
 * reason, until the fix lands and `open` is removed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { compareOutcomes } from "../../diff/compare.ts";
import { caseFromJson, outcomeFromJson, parseEntry } from "../../diff/corpus.ts";
import { invalidReason } from "../../diff/effects.ts";
import { Runner } from "../../diff/runner.ts";
import { backendVendor } from "../../diff/vendor.ts";
import { Kvm } from "../../mod.ts";
import { BACKENDS, backendTest, backendUnavailable, skip, test } from "../_support/harness.ts";

/** The vendor of this host's CPU as its KVM presents it, or why there is none; probed once. */
function hostVendor(): string {
  if (backendUnavailable("kvm") !== undefined) return "none";
  using kvm = Kvm.open({ backend: "kvm" });
  return backendVendor(kvm) ?? "neither";
}
const host = hostVendor();

const dir = fileURLToPath(new URL("../corpus/", import.meta.url));
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
  const vendor = entry.vendor ?? "amd";
  const on = BACKENDS.filter((b) => {
    if (open?.candidate === b) {
      const d = open.differences[0];
      skip(
        `diff corpus ${f} [${b}]`,
        `open disagreement: ${d ? `${d.what}: kvm ${d.expected}, ${b} ${d.actual}` : "?"}`,
      );
      return false;
    }
    if (b === "kvm" && host !== "none" && host !== vendor) {
      skip(`diff corpus ${f} [kvm]`, `recorded on an ${vendor} CPU, this host's KVM presents ${host}`);
      return false;
    }
    return true;
  });
  backendTest(`diff corpus ${f}`, (hostKvm, backend) => {
    using emuKvm = backend === "emu" ? Kvm.open({ backend: "emu", vendor }) : undefined;
    const c = caseFromJson(entry.case);
    using runner = new Runner(emuKvm ?? hostKvm);
    const extra = (entry.extra ?? []).map((x) => ({ rflags: BigInt(x.rflags), why: x.why }));
    const strictFlags = entry.strictFlags === true;
    const r = compareOutcomes(c, outcomeFromJson(c, entry.expected), runner.run(c), extra, { strictFlags });
    assert.ok(
      r.agree,
      `${f}: ${r.differences.map((d) => `${d.what}: expected ${d.expected}, got ${d.actual}`).join("; ")}`,
    );
  }, { only: on });
}
