/**
 * Unit tests of the differential harness (diff/): the PRNG and generator
 * (deterministic across runtimes, valid cases, lengths that a disassembler
 * agrees with), the flag rules and the compare's masking, the corpus
 * format, the minimiser, and the command line.
 *
 * @module
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "../../diff/args.ts";
import { type Case, END_BYTES, layoutCode } from "../../diff/case.ts";
import { compareOutcomes } from "../../diff/compare.ts";
import { caseFromJson, caseToJson, initialMemory, outcomeFromJson, outcomeToJson } from "../../diff/corpus.ts";
import { flagEffect, invalidReason } from "../../diff/effects.ts";
import type { Mode } from "../../diff/env.ts";
import { AF, CF, OF, PF, SF, STATUS, ZF } from "../../diff/flags.ts";
import { familiesFor, formsFor, generateCase } from "../../diff/generate.ts";
import { CODE, DATA_SIZE, DONE_PORT, RING0_STACK_WATCH, VECTOR_PORT } from "../../diff/layout.ts";
import { minimize } from "../../diff/minimize.ts";
import type { Outcome } from "../../diff/outcome.ts";
import { Prng } from "../../diff/prng.ts";
import { formById } from "../../diff/table.ts";
import { skip, test } from "../_support/harness.ts";

const MODES: readonly Mode[] = ["16", "32", "64"];

/** FNV-1a over a string: a fingerprint of generated cases. */
function fnv(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

test("diff: the PRNG gives the same stream on every runtime", () => {
  const r = new Prng(1, 0);
  assert.deepEqual([r.u32(), r.u32(), r.u32(), r.below(10), r.bits(64).toString(16)], [
    1395860014,
    2944538490,
    3655849088,
    1,
    "4b5e74a4dc6a7ac5",
  ]);
});

test("diff: the generator gives the same cases, byte for byte, on every runtime", () => {
  // Fingerprints recorded once; Deno (V8) and Bun (JavaScriptCore) must both reproduce them.
  const expected: Record<Mode, string> = { "16": "f98888c1", "32": "b8f327ad", "64": "7a663021" };
  for (const mode of MODES) {
    let all = "";
    for (let i = 0; i < 100; i++) all += JSON.stringify(caseToJson(generateCase(7, i, { mode })));
    assert.equal(fnv(all), expected[mode], `mode ${mode}`);
  }
});

test("diff: generated cases are valid, aimed, and use every form of the table", () => {
  for (const mode of MODES) {
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const c = generateCase(11, i, { mode });
      assert.equal(invalidReason(c), undefined, `mode ${mode} case ${i}`);
      assert.ok(c.groups.length >= 1, `mode ${mode} case ${i} has no instruction`);
      const code = layoutCode(c).code;
      assert.deepEqual([...code.subarray(code.length - 2)], [...END_BYTES]);
      for (const g of c.groups) seen.add(g.insns[g.insns.length - 1].form);
    }
    const missing = familiesFor(mode).flatMap((f) => formsFor(f, mode)).map((f) => f.id).filter((id) => !seen.has(id));
    assert.deepEqual(missing, [], `mode ${mode}: forms never generated`);
  }
});

const objdump = spawnSync("objdump", ["--version"]).status === 0;
const lengthTest = "diff: every generated instruction has the length a disassembler decodes (objdump)";
if (!objdump) {
  skip(lengthTest, "objdump (binutils) is not installed");
} else {
  test(lengthTest, () => {
    const dir = mkdtempSync(join(tmpdir(), "kvmkit-diff-"));
    try {
      for (const mode of MODES) {
        const bytes: number[] = [];
        const starts = new Map<number, string>();
        for (let i = 0; i < 400; i++) {
          const l = layoutCode(generateCase(5, i, { mode }));
          l.insns.forEach((insn, k) => {
            starts.set(bytes.length, insn.form);
            bytes.push(...l.code.subarray(l.starts[k], l.starts[k + 1]));
          });
        }
        const file = join(dir, `m${mode}.bin`);
        writeFileSync(file, Uint8Array.from(bytes));
        const arch = mode === "64" ? "i386:x86-64" : mode === "32" ? "i386" : "i8086";
        const r = spawnSync("objdump", ["-D", "-b", "binary", "-m", arch, "--insn-width=16", file], {
          maxBuffer: 1 << 28,
        });
        assert.equal(r.status, 0, String(r.stderr));
        const decoded = new Map<number, string>();
        for (const line of String(r.stdout).split("\n")) {
          const m = line.match(/^\s*([0-9a-f]+):\t[0-9a-f ]+\t(.*)$/);
          if (m) decoded.set(parseInt(m[1], 16), m[2]);
        }
        for (const [at, form] of starts) {
          const text = decoded.get(at);
          assert.ok(text !== undefined && !text.includes("(bad)"), `mode ${mode}: ${form} at ${at} decodes as ${text}`);
        }
        assert.equal(decoded.size, starts.size, `mode ${mode}: objdump found other instruction boundaries`);
      }
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
}

test("diff: flag rules follow the count (shift, rotate through carry, double shift)", () => {
  const shl = formById("shift.shl.c1/4");
  assert.deepEqual(flagEffect(shl, 32, 0), { reads: 0, writes: 0, undefined: 0 });
  assert.deepEqual(flagEffect(shl, 32, 1), { reads: 0, writes: SF | ZF | PF | CF | OF, undefined: AF });
  assert.deepEqual(flagEffect(shl, 32, 33), flagEffect(shl, 32, 1), "the count is masked to 5 bits");
  assert.deepEqual(flagEffect(shl, 32, 34), { reads: 0, writes: SF | ZF | PF | CF, undefined: AF | OF });
  assert.deepEqual(flagEffect(formById("shift.shl.c0/4"), 8, 9), {
    reads: 0,
    writes: SF | ZF | PF,
    undefined: AF | OF | CF,
  });
  const rcl8 = formById("shift.rcl.c0/2");
  assert.deepEqual(flagEffect(rcl8, 8, 9), { reads: CF, writes: 0, undefined: OF });
  assert.deepEqual(flagEffect(rcl8, 8, 10), { reads: CF, writes: CF, undefined: OF });
  assert.deepEqual(flagEffect(formById("shift.shld.0fa4"), 16, 17), { reads: 0, writes: 0, undefined: STATUS });
  assert.equal(flagEffect(shl, 32).undefined, OF | AF | CF, "an unknown count leaves the worst case undefined");
  assert.deepEqual(flagEffect(formById("alu.and.21"), 32), { reads: 0, writes: OF | SF | ZF | PF | CF, undefined: AF });
});

/** A 64-bit case of the given instructions (bytes, form id, size, count). */
function handCase(insns: { bytes: number[]; form: string; size: number; count?: number }[]): Case {
  const regs = Array.from({ length: 16 }, () => 0n);
  regs[4] = 0x31000n;
  return {
    env: { mode: "64", real: false, paging: true, seg: { es: 0, ss: 0, ds: 0, fs: 0, gs: 0 }, alignmentCheck: false },
    family: "alu",
    groups: insns.map((i) => ({ insns: [i] })),
    regs,
    rflags: 0n,
    memory: 0,
    seed: 0,
    index: 0,
  };
}

/** A plausible outcome of `c`: the done exit, zero registers, rflags `rflags`. */
function fakeOutcome(c: Case, rflags: bigint): Outcome {
  const seg = { selector: 0x7b, base: 0n, limit: 0xffffffff, attrs: 0xc0f3 };
  const regs = Array.from({ length: 18 }, () => 0n);
  regs[17] = rflags;
  return {
    exits: [{ reason: "io", direction: "out", port: DONE_PORT, size: 1, value: 0 }],
    regs,
    segs: { cs: seg, ds: seg, es: seg, fs: seg, gs: seg, ss: seg },
    cr2: 0n,
    memory: initialMemory(c),
  };
}

const SHL3 = { bytes: [0xc1, 0xe0, 0x03], form: "shift.shl.c1/4", size: 32, count: 3 };
const ADD = { bytes: [0x01, 0xd8], form: "alu.add.01", size: 32 };
const AND = { bytes: [0x21, 0xd8], form: "alu.and.21", size: 32 };
const DIV = { bytes: [0xf7, 0xf1], form: "muldiv.div.f7/6", size: 32 };

test("diff: compare masks exactly the flags left undefined, and says so", () => {
  const c = handCase([SHL3]);
  const base = fakeOutcome(c, 0x202n);
  const of = compareOutcomes(c, base, fakeOutcome(c, 0x202n | BigInt(OF | AF)));
  assert.ok(of.agree, JSON.stringify(of));
  assert.match(of.masked.join(), /OF, AF: undefined at the end of the case/);
  const cf = compareOutcomes(c, base, fakeOutcome(c, 0x202n | BigInt(CF)));
  assert.ok(!cf.agree);
  assert.deepEqual(cf.differences.map((d) => d.what), ["rflags"]);
  // A later ADD defines every flag again: nothing is masked.
  const c2 = handCase([SHL3, ADD]);
  const r2 = compareOutcomes(c2, fakeOutcome(c2, 0x202n), fakeOutcome(c2, 0x202n | BigInt(OF)));
  assert.ok(!r2.agree);
  assert.deepEqual(r2.masked, []);
  // AND leaves only AF undefined.
  const c3 = handCase([AND]);
  assert.ok(compareOutcomes(c3, fakeOutcome(c3, 2n), fakeOutcome(c3, 2n | BigInt(AF))).agree);
  assert.ok(!compareOutcomes(c3, fakeOutcome(c3, 2n), fakeOutcome(c3, 2n | BigInt(SF))).agree);
});

test("diff: with strictFlags, compare masks no undefined flag, in the register or in an exception frame", () => {
  const c = handCase([SHL3]);
  const r = compareOutcomes(c, fakeOutcome(c, 0x202n), fakeOutcome(c, 0x202n | BigInt(AF)), [], { strictFlags: true });
  assert.ok(!r.agree);
  assert.deepEqual(r.masked, []);
  assert.deepEqual(r.differences.map((d) => d.what), ["rflags"]);
  assert.ok(compareOutcomes(c, fakeOutcome(c, 0x202n), fakeOutcome(c, 0x202n), [], { strictFlags: true }).agree);
});

test("diff: compare masks the RFLAGS image of an exception frame up to the faulting instruction", () => {
  // shl (OF, AF undefined), then div faults: the frame's RIP is the div, its RFLAGS image masked for OF and AF.
  const c = handCase([SHL3, DIV]);
  const make = (frameFlags: number) => {
    const o = fakeOutcome(c, 2n);
    o.exits = [{ reason: "io", direction: "out", port: VECTOR_PORT, size: 4, value: 0 }, { reason: "hlt" }];
    const v = new DataView(o.memory.buffer);
    const top = DATA_SIZE + RING0_STACK_WATCH;
    v.setBigUint64(top - 40, BigInt(CODE + 3), true);
    v.setBigUint64(top - 24, BigInt(frameFlags), true);
    return o;
  };
  const r = compareOutcomes(c, make(0x10202), make(0x10202 | OF));
  assert.ok(r.agree, JSON.stringify(r));
  assert.match(r.masked.join(), /before instruction 1 \(muldiv.div.f7\/6\)/);
  assert.match(r.masked.join(), /exception frame/);
  const bad = compareOutcomes(c, make(0x10202), make(0x10202 | ZF));
  assert.ok(!bad.agree);
  assert.match(bad.differences[0].what, /^memory 0x5fe8/);
});

test("diff: cases and outcomes survive the corpus format", () => {
  for (const mode of MODES) {
    const c = generateCase(3, 1, { mode });
    assert.deepEqual(caseFromJson(JSON.parse(JSON.stringify(caseToJson(c)))), c);
    const o = fakeOutcome(c, 0x246n);
    o.memory[17] ^= 0xff;
    o.memory[DATA_SIZE + 5] = 7;
    const back = outcomeFromJson(c, JSON.parse(JSON.stringify(outcomeToJson(c, o))));
    assert.deepEqual(back, o);
  }
});

test("diff: the minimiser shrinks a synthetic disagreement to its cause", () => {
  // Case 1 of seed 3 in the alu family has 8 instructions; pretend the 4th one disagrees whenever rbx is not 0.
  const c = generateCase(3, 1, { mode: "64", families: ["alu"] });
  assert.equal(c.groups.length, 8);
  const culprit = "alu.sbb.83/3";
  const fails = (x: Case) => x.groups.some((g) => g.insns[g.insns.length - 1].form === culprit) && x.regs[3] !== 0n;
  assert.ok(fails(c));
  const m = minimize(c, fails);
  assert.equal(m.case.groups.length, 1);
  assert.equal(m.case.groups[0].insns.at(-1)?.form, culprit);
  assert.deepEqual(m.case.regs.map((r, i) => i !== 3 && i !== 4 && r !== 0n).filter(Boolean), []);
  assert.equal(m.case.rflags, 0n);
  assert.equal(m.case.memory, 0);
  assert.ok(fails(m.case));
  assert.ok(m.tried <= 200);
});

test("diff: the minimiser never proposes a case that reads an undefined flag", () => {
  // mul leaves SF, ZF, AF, PF undefined; cmp defines them again for the setz that follows.
  const c = handCase([
    { bytes: [0xf7, 0xe1], form: "muldiv.mul.f7/4", size: 32 },
    { bytes: [0x39, 0xc0], form: "setup.cmp.39", size: 32 },
    { bytes: [0x0f, 0x94, 0xc0], form: "cond.sete.0f94/0", size: 8 },
  ]);
  assert.equal(invalidReason(c), undefined);
  const seen: Case[] = [];
  minimize(c, (x) => {
    seen.push(x);
    return true;
  });
  assert.ok(seen.every((x) => invalidReason(x) === undefined));
  const forms = (x: Case) => x.groups.map((g) => g.insns[0].form.split(".")[1]).join(" ");
  assert.ok(!seen.some((x) => forms(x) === "mul sete"), seen.map(forms).join("; "));
  assert.ok(seen.some((x) => forms(x) === "mul cmp"));
});

test("diff: the command line is checked", () => {
  const o = parseArgs(["--mode", "32", "--cases", "5", "--seed=9", "--family", "alu,shift"]);
  assert.deepEqual([o.mode, o.cases, o.seed, o.families, o.candidate, o.save], [
    "32",
    5,
    9,
    ["alu", "shift"],
    "emu",
    10,
  ]);
  assert.throws(() => parseArgs(["--cases", "5"]), /--mode is required/);
  assert.throws(() => parseArgs(["--mode", "64", "--family", "bcd"]), /no instruction valid in mode 64/);
  assert.throws(() => parseArgs(["--mode", "64", "--cases", "-1"]), /--cases: expected an integer/);
  assert.throws(() => parseArgs(["--mode", "64", "--bogus"]), /unknown argument "--bogus"/);
  const s = parseArgs(["--mode", "64", "--strict-flags", "--vendor", "intel"]);
  assert.deepEqual([s.strictFlags, s.vendor, o.strictFlags, o.vendor], [true, "intel", false, undefined]);
  assert.throws(() => parseArgs(["--mode", "64", "--vendor", "via"]), /--vendor: expected intel or amd, got via/);
});
