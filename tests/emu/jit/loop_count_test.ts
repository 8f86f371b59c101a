/**
 * What a block that loops from its middle counts as run (emu/x86/jit/run.ts
 * runChain and codegen.ts loopLength, the compiler's `insns` counter and the run loop's
 * `cpu.work`): a block whose Jcc back to its entry is followed by more of
 * its instructions (the loop's exit path) runs the instructions up to that
 * Jcc per iteration, not its whole length.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { collect, hex } from "../../_support/sys.ts";
import { describeExit, emuStats, guest, openEmu } from "./_jit.ts";

/**
 * mov ecx, 1000 / xor eax, eax / L: add eax, ecx / dec ecx / jnz L / 8 x add ebx, 1 / out 0xe9, eax / hlt: 3012
 * instructions. Eager: the block at the start leaves through its JNZ (L is behind its entry: a side exit) after 5;
 * the block at L loops at its third instruction, 998 times back (3 each), and its last pass runs all 12: 3011 in
 * blocks, whatever the budgets split its iterations into.
 */
const MID_LOOP: Record<32 | 64, string> = {
  32: `b9e8030000 31c0 01c8 49 75fb ${"83c301".repeat(8)} e7e9 f4`,
  // dec ecx is ff c9 (0x40-0x4f are REX prefixes in 64-bit mode)
  64: `b9e8030000 31c0 01c8 ffc9 75fa ${"83c301".repeat(8)} e7e9 f4`,
};
const ALL = 2 + 3 * 1000 + 8 + 1 + 1;

for (const bits of [32, 64] as const) {
  for (const mode of ["on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: a loop back from a block's middle counts its own instructions`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, bits, hex(MID_LOOP[bits]));
      const { out, exit } = collect(g.vcpu);
      assert.equal(exit.reason, "hlt", describeExit(exit));
      assert.deepEqual(out, [500500]);
      const stats = emuStats(g.vm, g.mem);
      assert.ok(stats.executed > 0, JSON.stringify(stats));
      // "on" interprets the first iterations (until L is hot): no more than the program's instructions ran compiled.
      if (mode === "eager") assert.equal(stats.insns, 5 + 3 * 998 + 12, JSON.stringify(stats));
      else assert.ok(stats.insns <= ALL, `${stats.insns} instructions counted in blocks of ${ALL}`);
    });
  }
}
