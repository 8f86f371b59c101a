/**
 * Blocks that follow a JMP rel or CALL rel to its target in the same page
 * (emu/x86/jit/block.ts scanBlock): the block goes on at the target, so
 * it holds several ranges of its page.
 *
 * - A loop whose body jumps forward over padding and calls a function in
 *   the same page runs two blocks per iteration (the JMP and the CALL
 *   followed; the function's RET ends one), not four, and computes what the
 *   interpreter computes; the block at the loop's head holds three ranges.
 * - A write by the host between two runs into the second range of such a
 *   block is seen (the block's bytes are compared range by range).
 * - A JMP whose target is on the next page is not followed: it ends its
 *   block.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Block } from "../../../emu/x86/jit/block.ts";
import { test } from "../../_support/harness.ts";
import { runToOut } from "../../_support/guests.ts";
import { collect, hex, KSTACK } from "../../_support/sys.ts";
import { LM_STACK } from "../../_support/long_mode.ts";
import { codeAt, describeExit, emuCpu, emuStats, type Guest, guest, le32, openEmu } from "./_jit.ts";

/** The compiled block of `g` entered at `eip` (the low half of RIP), if any. */
function blockAt(g: Guest, eip: number): Block | undefined {
  return [...emuCpu(g.vm, g.mem).cpu.blocks.byAddress.values()].find((b) => b.valid && b.eip === eip);
}

/** Iterations of the loop of CALL_LOOP. */
const N = 200;

/**
 * mov ecx, N / xor eax, eax / L (7): jmp A / 16 x nop / A (25): add eax, ecx / call F / dec ecx / jnz L /
 * out 0xe9, eax / hlt / F: add eax, 3 / ret.
 */
const CALL_LOOP: Record<32 | 64, string> = {
  32: `b9${"c8000000"} 31c0 eb10 ${"90".repeat(16)} 01c8 e806000000 49 75e4 e7e9 f4 83c003 c3`,
  // dec ecx is ff c9 (0x49 is a REX prefix in 64-bit mode)
  64: `b9${"c8000000"} 31c0 eb10 ${"90".repeat(16)} 01c8 e807000000 ffc9 75e3 e7e9 f4 83c003 c3`,
};

for (const bits of [32, 64] as const) {
  for (const mode of ["off", "on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: a block follows a JMP and a CALL into its own page`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, bits, hex(CALL_LOOP[bits]));
      const { out, exit } = collect(g.vcpu);
      assert.equal(exit.reason, "hlt", describeExit(exit));
      assert.deepEqual(out, [(N * (N + 1)) / 2 + 3 * N]);
      assert.equal(g.vcpu.getRegs().rsp, BigInt(bits === 32 ? KSTACK : LM_STACK), "every CALL's push was popped");
      if (mode !== "eager") return;
      const stats = emuStats(g.vm, g.mem);
      // Per iteration: L's block (JMP, ADD, CALL, ADD, RET) and the block after the RET (DEC, JNZ).
      assert.ok(stats.executed <= 2 * N + 4, `two blocks per iteration: ${JSON.stringify(stats)}`);
      const head = blockAt(g, g.at + 7);
      assert.ok(head, "a block at L");
      assert.equal(head.insns.length, 5, head.insns.map((d) => d.jit).join(" "));
      assert.match(head.insns[4].jit, /^ret/);
      const page = g.at & 0xfff;
      assert.deepEqual(head.ranges, [page + 7, 2, page + 25, 7, page + (bits === 32 ? 38 : 39), 4]);
    });
  }
}

for (const bits of [32, 64] as const) {
  for (const mode of ["on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: the host's write to a followed JMP's target is seen`, () => {
      using kvm = openEmu(mode);
      // mov eax, 1 / L: out 0xe9, eax / jmp M / 16 x nop / M: mov eax, 1 / jmp L. Each run begins at the JMP after
      // the OUT, whose block follows it to M and M's JMP back to L: its second range holds M's MOV.
      using g = guest(kvm, bits, hex(`b801000000 e7e9 eb10 ${"90".repeat(16)} b801000000 ebe5`));
      const m = 5 + 2 + 2 + 16;
      for (let i = 0; i < 4 * 16; i++) assert.equal(runToOut(g.vcpu, 0xe9, 4), 1);
      const b = blockAt(g, g.at + 7);
      assert.ok(b && b.ranges.length >= 4, `the block at the JMP holds more than one range: ${b?.ranges}`);
      assert.equal(b.ranges[2], (g.at + m) & 0xfff, "its second range is M's");
      const before = { ...emuStats(g.vm, g.mem) };
      g.mem.bytes[g.at + m + 1] = 7;
      assert.equal(runToOut(g.vcpu, 0xe9, 4), 7, "mov eax, 7 at M");
      assert.equal(runToOut(g.vcpu, 0xe9, 4), 7);
      assert.ok(emuStats(g.vm, g.mem).invalidated > before.invalidated, "the rewritten block was dropped");
    });
  }
}

for (const bits of [32, 64] as const) {
  test(`block compiler eager, ${bits}-bit: a JMP to the next page ends its block`, () => {
    using kvm = openEmu("eager");
    // jmp T (near, to the next page) / ... / T: mov eax, 5 / out 0xe9, eax / hlt
    const at = codeAt(bits), t = ((at >> 12) + 1) << 12;
    const code = [0xe9, ...le32(t - (at + 5))];
    while (at + code.length < t) code.push(0x90);
    using g = guest(kvm, bits, [...code, ...hex("b805000000 e7e9 f4")]);
    const { out, exit } = collect(g.vcpu);
    assert.equal(exit.reason, "hlt", describeExit(exit));
    assert.deepEqual(out, [5]);
    const b = blockAt(g, g.at);
    assert.ok(b, "a block at the JMP");
    assert.equal(b.insns.length, 1, b.insns.map((d) => d.jit).join(" "));
    assert.deepEqual(b.ranges, [g.at & 0xfff, 5]);
  });
}
