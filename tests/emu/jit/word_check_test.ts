/**
 * A block's bytes are compared with its page once per KVM_RUN as 32-bit words (block.ts Block.words): a host write
 * to any byte of the block's range is seen, whatever the range's alignment, and one next to the range (in a word it
 * shares) is not taken for a write to the block, and the block runs on.
 *
 * @module
 */
import assert from "node:assert/strict";
import { HOT } from "../../../emu/x86/jit/cache.ts";
import { test } from "../../_support/harness.ts";
import { runToOut } from "../../_support/guests.ts";
import { hex } from "../../_support/sys.ts";
import { emuCpu, emuStats, guest, openEmu } from "./_jit.ts";

for (const bits of [32, 64] as const) {
  for (const mode of ["on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: a block's word check sees each byte of it and none beside it`, () => {
      for (let shift = 0; shift < 4; shift++) {
        using kvm = openEmu(mode);
        // shift x nop / mov eax, 1 / L: out 0xe9, eax / jmp M / 16 x nop / M: mov eax, 1 / jmp L
        const code = `${"90".repeat(shift)} b801000000 e7e9 eb10 ${"90".repeat(16)} b801000000 ebe5`;
        using g = guest(kvm, bits, hex(code));
        for (let i = 0; i < 4 * HOT; i++) assert.equal(runToOut(g.vcpu, 0xe9, 4), 1);
        const blocks = [...emuCpu(g.vm, g.mem).cpu.blocks.byAddress.values()].filter((b) => b.valid);
        assert.ok(blocks.length > 0, "the loop ran compiled");
        let checked = 0;
        for (const b of blocks) {
          if (!(b.words instanceof Uint32Array)) continue;
          checked++;
          const r = b.ranges, view = b.view;
          const inside = (i: number) => r.some((off, j) => j % 2 === 0 && i >= off && i < off + r[j + 1]);
          for (let j = 0; j < r.length; j += 2) {
            for (let i = Math.max(0, r[j] - 4); i < r[j] + r[j + 1] + 4; i++) {
              const old = view[i];
              view[i] = old ^ 0x5a;
              assert.equal(b.sameBytes(view, null), !inside(i), `shift ${shift}: byte ${i}, ranges ${r}`);
              view[i] = old;
              assert.ok(b.sameBytes(view, null), `shift ${shift}: byte ${i} restored`);
            }
          }
        }
        assert.ok(checked > 0, "some block compares words");
        // A write just past M's block (its JMP ends the guest's code) leaves it valid; one inside it is run.
        const m = g.at + shift + 5 + 2 + 2 + 16, before = { ...emuStats(g.vm, g.mem) };
        g.mem.bytes[m + 7] = 0xcc;
        assert.equal(runToOut(g.vcpu, 0xe9, 4), 1);
        assert.equal(emuStats(g.vm, g.mem).invalidated, before.invalidated, "a write beside the block drops nothing");
        g.mem.bytes[m + 4] = 2;
        assert.equal(runToOut(g.vcpu, 0xe9, 4), 0x02000001, "mov eax, 0x02000001 at M");
        assert.equal(runToOut(g.vcpu, 0xe9, 4), 0x02000001);
      }
    });
  }
}
