/**
 * A block reached through a link in a new KVM_RUN is compared with memory
 * before it runs (run.ts next: a link is checked once per run, its bytes
 * compared in place): the host may have rewritten it between the runs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { HOT } from "../../../emu/x86/jit/cache.ts";
import { test } from "../../_support/harness.ts";
import { runToOut } from "../../_support/guests.ts";
import { hex } from "../../_support/sys.ts";
import { emuStats, guest, openEmu } from "./_jit.ts";

for (const bits of [32, 64] as const) {
  for (const mode of ["on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: a linked block the host rewrote between runs runs rewritten`, () => {
      using kvm = openEmu(mode);
      // mov eax, 1 / L: out 0xe9, eax / jmp M / 16 x nop / M: mov eax, 1 / jmp L. Each run begins at the JMP after the OUT,
      // whose block links to M's.
      using g = guest(kvm, bits, hex(`b801000000 e7e9 eb10 ${"90".repeat(16)} b801000000 ebe5`));
      const m = 5 + 2 + 2 + 16;
      for (let i = 0; i < 4 * HOT; i++) assert.equal(runToOut(g.vcpu, 0xe9, 4), 1);
      const before = { ...emuStats(g.vm, g.mem) };
      assert.ok(before.compiled > 0 && before.executed > 0, `the loop ran compiled: ${JSON.stringify(before)}`);
      g.mem.bytes[g.at + m + 1] = 7;
      assert.equal(runToOut(g.vcpu, 0xe9, 4), 7, "mov eax, 7 at M");
      assert.equal(runToOut(g.vcpu, 0xe9, 4), 7);
      assert.ok(emuStats(g.vm, g.mem).invalidated > before.invalidated, "the rewritten block was dropped");
    });
  }
}
