/**
 * EFLAGS.RF and compiled blocks (emu/x86/exec.ts run): RF only keeps an
 * instruction breakpoint from firing on the next instruction, and an IRET
 * from a fault handler returns with it set (the fault pushed it) to the
 * instruction that faulted. With nothing watched, that instruction starts a
 * compiled block like any other, and RF is clear after it, as the
 * interpreter leaves it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { collect, hex } from "../../_support/sys.ts";
import { describeExit, emuStats, guest, openEmu } from "./_jit.ts";

const RF = 0x10000n;

/**
 * mov ecx, 2 / xor eax, eax / inc eax / B: dec ecx / jnz B / 16 x nop / out 0xe9, eax / hlt: 5 instructions in the
 * first block (left through its JNZ), 19 in the block at B (chain_count_test.ts's program).
 */
const PROGRAM: Record<32 | 64, string> = {
  32: `b902000000 31c0 40 49 75fd ${"90".repeat(16)} e7e9 f4`,
  64: `b902000000 31c0 ffc0 ffc9 75fc ${"90".repeat(16)} e7e9 f4`,
};

for (const bits of [32, 64] as const) {
  test(`block compiler eager, ${bits}-bit: a run that starts with RF set runs its first instruction in a block`, () => {
    using kvm = openEmu("eager");
    using g = guest(kvm, bits, hex(PROGRAM[bits]));
    const regs = g.vcpu.getRegs();
    g.vcpu.setRegs({ ...regs, rflags: regs.rflags | RF });
    const { out, exit } = collect(g.vcpu);
    assert.equal(exit.reason, "hlt", describeExit(exit));
    assert.deepEqual(out, [1]);
    assert.equal(g.vcpu.getRegs().rflags & RF, 0n);
    const stats = emuStats(g.vm, g.mem);
    // The interpreter ran the first instruction when RF was set: 4 + 19, in the blocks after it.
    assert.equal(stats.insns, 5 + 19, JSON.stringify(stats));
  });
}
