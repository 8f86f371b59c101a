/**
 * INVLPG and the TLB's epoch, which the fetch cache's code pages and the
 * compiled blocks' links are valid in: an INVLPG of a page that mapped no
 * code in this epoch keeps the epoch, so the links hold (Linux's early boot
 * invalidates fixmap pages tens of thousands of times; a page-fault handler
 * unmaps the data pages beside its code), whatever the size of the pages
 * (4 KiB, 2 MiB, 1 GiB: memory.ts codeTranslated); one anywhere in the page
 * that maps code starts a new epoch, and a code page mapped elsewhere and
 * invalidated runs its new code.
 *
 * @module
 */
import assert from "node:assert/strict";
import { bench64, put64 } from "../../_support/long64.ts";
import { probeRun } from "../../_support/probes.ts";
import { describe } from "../../_support/sys.ts";
import { test } from "../../_support/harness.ts";
import { emuCpu, type Mode, openEmu } from "./_jit.ts";

const MODES: readonly Mode[] = ["off", "eager", "on"];

/** Hex of a 32-bit little-endian immediate or displacement. */
function le32(value: number): string {
  return [0, 8, 16, 24].map((s) => ((value >>> s) & 0xff).toString(16).padStart(2, "0")).join("");
}

/** `mov eax, n / out 0xe9, eax`: a report, after which the test reads the epoch. */
const report = (n: number) => `b8${le32(n)} e7e9`;
/** `invlpg [at]` (a 32-bit absolute address). */
const invlpg = (at: number) => `0f013c25${le32(at)}`;

/**
 * Three reports from code at linear `code`, with `invlpg [keep]` between the first two and `invlpg [move]` between
 * the last two; the epochs at the reports. Below 2 MiB the bench maps 4 KiB pages, 2-4 MiB is one 2 MiB page, and
 * linear 1 GiB on one 1 GiB page onto physical 0.
 */
function epochsAround(mode: Mode, code: number, keep: number, move: number): number[] {
  using kvm = openEmu(mode);
  const program = [report(1), invlpg(keep), report(2), invlpg(move), report(3), "f4"].join(" ");
  // The bench starts at 0x4000 (a 4 KiB page) and jumps to `code` (mov eax, code / jmp rax), which lies at
  // physical code % 1 GiB.
  using m = bench64(kvm, code === 0x4000 ? program : `b8${le32(code)} ffe0`);
  if (code !== 0x4000) put64(m, code % 2 ** 30, program);
  // The 1 GiB page needs CPUID 80000001h EDX.Page1GB (else its PDPTE is a reserved-bit #PF).
  const ids = kvm.supportedCpuid();
  m.vcpu.setCpuid2(ids.map((x) => (x.function === 0x80000001 ? { ...x, edx: x.edx | (1 << 26) } : x)));
  const mem = emuCpu(m.vm, m.mem).cpu.mem;
  const epochs: number[] = [];
  let exit = m.vcpu.run();
  for (; exit.reason === "io"; exit = m.vcpu.run()) epochs.push(mem.epoch);
  assert.equal(exit.reason, "hlt", describe(exit));
  assert.equal(epochs.length, 3);
  return epochs;
}

for (const mode of MODES) {
  test(`INVLPG [emu, ${mode}]: beside 4 KiB code pages the epoch stays, in them it moves on`, () => {
    // 0x40000000: a 1 GiB page where no code ran; 0x8000: a data page of the code's 2 MiB and 1 GiB regions.
    const far = epochsAround(mode, 0x4000, 0x40000000, 0x4ff8);
    assert.equal(far[1], far[0], "INVLPG far from the code changed the epoch");
    assert.notEqual(far[2], far[1], "INVLPG in the code's page kept the epoch");
    const near = epochsAround(mode, 0x4000, 0x8000, 0x4000);
    assert.equal(near[1], near[0], "INVLPG of a data page beside the code changed the epoch");
    assert.notEqual(near[2], near[1], "INVLPG in the code's page kept the epoch");
  });

  test(`INVLPG [emu, ${mode}]: anywhere in a 2 MiB or 1 GiB page of code the epoch moves on`, () => {
    // Code at 0x2f0000 in the 2 MiB page: a 4 KiB page outside it keeps the epoch, the page's last 4 KiB moves it.
    const big = epochsAround(mode, 0x2f0000, 0x100000, 0x3ff000);
    assert.equal(big[1], big[0], "INVLPG outside the 2 MiB page changed the epoch");
    assert.notEqual(big[2], big[1], "INVLPG elsewhere in the 2 MiB page of the code kept the epoch");
    // Code at 1 GiB + 0x5000 in the 1 GiB page (the jump from 0x4000 fetched that 4 KiB page too).
    const huge = epochsAround(mode, 2 ** 30 + 0x5000, 0x8000, 2 ** 30 + 0x3fff0000);
    assert.equal(huge[1], huge[0], "INVLPG of a 4 KiB data page changed the epoch");
    assert.notEqual(huge[2], huge[1], "INVLPG elsewhere in the 1 GiB page of the code kept the epoch");
  });

  test(`INVLPG [emu, ${mode}]: a code page mapped to another frame runs the new code once invalidated`, () => {
    using kvm = openEmu(mode);
    // Calls 0x5000 twice, maps it to frame 0xa000 (its PTE), INVLPG [0x5000], calls it again.
    const call = "b800500000 ffd0"; // mov eax, 0x5000 / call rax
    using m = bench64(kvm, `${call} ${call} c7042528300100 23a00000 0f013c2500500000 ${call} f4`);
    put64(m, 0x5000, "b811000000 e7e9 c3"); // mov eax, 0x11 / out 0xe9, eax / ret
    put64(m, 0xa000, "b822000000 e7e9 c3");
    const run = probeRun(m.vcpu);
    assert.equal(run.exit.reason, "hlt", describe(run.exit));
    assert.deepEqual(run.out, [0x11, 0x11, 0x22]);
  });

  test(`INVLPG [emu, ${mode}]: a 2 MiB page of code remapped runs the new code once any of its addresses is invalidated`, () => {
    using kvm = openEmu(mode);
    // Calls 0x2f0000 (in the 2 MiB page at 2 MiB) twice, maps that page onto frame 0 (its PDE: P W U PS), INVLPG
    // [0x3ff000] (the page's last 4 KiB, not the code's), calls 0x2f0000 again: now physical 0xf0000.
    const call = `b8${le32(0x2f0000)} ffd0`;
    using m = bench64(kvm, `${call} ${call} c7042508200100 87000000 ${invlpg(0x3ff000)} ${call} f4`);
    put64(m, 0x2f0000, "b811000000 e7e9 c3");
    put64(m, 0xf0000, "b822000000 e7e9 c3");
    const run = probeRun(m.vcpu);
    assert.equal(run.exit.reason, "hlt", describe(run.exit));
    assert.deepEqual(run.out, [0x11, 0x11, 0x22]);
  });
}
