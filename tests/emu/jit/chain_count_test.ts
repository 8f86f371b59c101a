/**
 * What a chain of blocks counts as run (emu/x86/jit/run.ts runChain, the
 * compiler's `insns` counter and the run loop's `cpu.work`): a block that
 * leaves through a side exit (a Jcc taken on the way) counts the
 * instructions up to that Jcc, not the whole block, so a long block that
 * leaves early does not count instructions it did not run.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { collect, hex } from "../../_support/sys.ts";
import { describeExit, emuStats, guest, openEmu } from "./_jit.ts";

/**
 * mov ecx, 2 / xor eax, eax / inc eax / B: dec ecx / jnz B / 16 x nop / out 0xe9, eax / hlt. The block at the start
 * leaves through its JNZ (B is behind it, so a side exit) after 5 instructions; the block at B runs DEC, JNZ (not
 * taken), the NOPs and the OUT: 19.
 */
const SIDE_EXIT: Record<32 | 64, string> = {
  32: `b902000000 31c0 40 49 75fd ${"90".repeat(16)} e7e9 f4`,
  // inc eax and dec ecx are ff c0 and ff c9 (0x40-0x4f are REX prefixes in 64-bit mode)
  64: `b902000000 31c0 ffc0 ffc9 75fc ${"90".repeat(16)} e7e9 f4`,
};

for (const bits of [32, 64] as const) {
  test(`block compiler eager, ${bits}-bit: a block left through a side exit counts the instructions it ran`, () => {
    using kvm = openEmu("eager");
    using g = guest(kvm, bits, hex(SIDE_EXIT[bits]));
    const { out, exit } = collect(g.vcpu);
    assert.equal(exit.reason, "hlt", describeExit(exit));
    assert.deepEqual(out, [1]);
    const stats = emuStats(g.vm, g.mem);
    assert.equal(stats.executed, 2, JSON.stringify(stats));
    assert.equal(stats.insns, 5 + 19, JSON.stringify(stats));
  });
}
