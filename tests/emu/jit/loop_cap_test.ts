/**
 * How long a compiled loop runs before it returns to the dispatcher (emu/x86/jit/codegen.ts LOOP_INSNS, loopsOf):
 * about the same number of instructions whatever the block holds after its loop. A block whose loop is 3 of its 12
 * instructions (a JNZ back to its entry, then the loop's exit path) runs up to 4096 / 3 iterations per call, not
 * 4096 / 12: memset_loop's block (a 4-instruction loop in 16 instructions) returned every 256 iterations.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { collect, hex } from "../../_support/sys.ts";
import { codeAt, describeExit, emuCpu, guest, openEmu } from "./_jit.ts";

/**
 * mov ecx, 1000 / xor eax, eax / L: add eax, ecx / dec ecx / jnz L / 8 x add ebx, 1 / out 0xe9, eax / hlt (the
 * program of loop_count_test): the block at L (7 bytes in) loops at its third instruction and holds 12.
 */
const MID_LOOP: Record<32 | 64, string> = {
  32: `b9e8030000 31c0 01c8 49 75fb ${"83c301".repeat(8)} e7e9 f4`,
  64: `b9e8030000 31c0 01c8 ffc9 75fa ${"83c301".repeat(8)} e7e9 f4`,
};
const LOOP_AT = 7, LOOP_LENGTH = 3, LOOP_INSNS = 4096;

for (const bits of [32, 64] as const) {
  test(`block compiler eager, ${bits}-bit: a loop shorter than its block runs about LOOP_INSNS instructions a call`, () => {
    using kvm = openEmu("eager");
    using g = guest(kvm, bits, hex(MID_LOOP[bits]));
    const { out, exit } = collect(g.vcpu);
    assert.equal(exit.reason, "hlt", describeExit(exit));
    assert.deepEqual(out, [500500]);
    const cpu = emuCpu(g.vm, g.mem).cpu;
    const at = codeAt(bits) + LOOP_AT;
    const block = [...cpu.blocks.byAddress.values()].find((b) => b.valid && b.eip === at);
    assert.ok(block, "the block at L was compiled");
    assert.equal(block.loop, LOOP_LENGTH);
    // A million iterations to go and a budget far beyond them: the block's own cap ends the call.
    cpu.r32[2] = 1_000_000;
    cpu.r32[3] = 0;
    cpu.eip = at;
    const iterations = block.fn(cpu, 1e9) >>> 6;
    assert.equal(iterations, Math.floor(LOOP_INSNS / LOOP_LENGTH), `${iterations} iterations`);
    assert.equal(cpu.r32[2], 1_000_000 - iterations);
  });
}
