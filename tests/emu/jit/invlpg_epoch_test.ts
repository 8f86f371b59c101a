/**
 * INVLPG and the TLB's epoch, which the fetch cache's code pages and the
 * compiled blocks' links are valid in: an INVLPG of a page outside every
 * region (memory.ts LARGEST_PAGE) that code was fetched from in this epoch
 * keeps the epoch, so the links hold (Linux's early boot invalidates
 * fixmap pages tens of thousands of times); one in such a region starts a
 * new epoch, and a code page mapped elsewhere and invalidated runs its new
 * code.
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

// Three reports, with INVLPG [0x40000000] (a page of the next 1 GiB, where no code ran) between the first two and
// INVLPG [0x8000] (a data page of the code's region) between the last two.
const INVLPGS = [
  "b801000000 e7e9", // mov eax, 1 / out 0xe9, eax
  "0f013c2500000040", // invlpg [0x40000000]
  "b802000000 e7e9",
  "0f013c2500800000", // invlpg [0x8000]
  "b803000000 e7e9 f4",
].join(" ");

for (const mode of MODES) {
  test(`INVLPG [emu, ${mode}]: far from the code the epoch stays, in its region it moves on`, () => {
    using kvm = openEmu(mode);
    using m = bench64(kvm, INVLPGS);
    const mem = emuCpu(m.vm, m.mem).cpu.mem;
    const epochs: number[] = [];
    for (let exit = m.vcpu.run(); exit.reason === "io"; exit = m.vcpu.run()) epochs.push(mem.epoch);
    assert.equal(epochs.length, 3);
    assert.equal(epochs[1], epochs[0], "INVLPG outside the code's region changed the epoch");
    assert.notEqual(epochs[2], epochs[1], "INVLPG in the code's region kept the epoch");
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
}
