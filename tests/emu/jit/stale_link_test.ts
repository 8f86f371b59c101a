/**
 * A block's link to a block the guest has since rewritten (emu/x86/jit/run.ts
 * runChain): the dispatcher follows a link only to a block checked in this
 * KVM_RUN, and a dropped block never is (cache.ts sets its `checked` to -1),
 * so the rewritten code is compiled again and runs, in the same KVM_RUN.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { collect } from "../../_support/sys.ts";
import { type Bits, describeExit, guest, le32, type Mode, openEmu } from "./_jit.ts";

/** Iterations of the loop; the sum it reports: 7 first, then the values it wrote (40 down to 2). */
const N = 40, SUM = 7 + (N * (N + 1)) / 2 - 1;

/**
 * At `at`: mov ecx, N / xor ebx, ebx / L: jmp B / back: add ebx, eax / mov [B + 1], cl / dec ecx / jnz L /
 * mov eax, ebx / out 0xe9, eax / hlt; and at B (`at` + 0x4000, another page): mov eax, 7 / jmp back. Each pass
 * rewrites B's immediate, so the block at L links to a block at B its next pass must not run; nothing leaves
 * KVM_RUN until the OUT.
 */
function program(bits: Bits, at: number): { code: number[]; b: number[]; bAt: number } {
  const bAt = at + 0x4000;
  const head = [0xb9, ...le32(N), 0x31, 0xdb];
  const l = at + head.length, back = l + 5;
  const store = bits === 32 ? [0x88, 0x0d, ...le32(bAt + 1)] : [0x88, 0x0c, 0x25, ...le32(bAt + 1)];
  const dec = bits === 32 ? [0x49] : [0xff, 0xc9];
  const body = [0x01, 0xc3, ...store, ...dec];
  const jnzAt = back + body.length;
  const code = [
    ...head,
    0xe9,
    ...le32((bAt - back) >>> 0),
    ...body,
    0x75,
    (l - (jnzAt + 2)) & 0xff,
    0x89,
    0xd8,
    0xe7,
    0xe9,
    0xf4,
  ];
  const b = [0xb8, ...le32(7), 0xe9, ...le32((back - (bAt + 10)) >>> 0)];
  return { code, b, bAt };
}

for (const bits of [32, 64] as const) {
  for (const mode of ["off", "on", "eager"] as Mode[]) {
    test(`block compiler ${mode}, ${bits}-bit: a link to a block the guest rewrote is not followed`, () => {
      using kvm = openEmu(mode);
      const at = bits === 32 ? 0x1000 : 0x4000;
      const { code, b, bAt } = program(bits, at);
      using g = guest(kvm, bits, code);
      assert.equal(g.at, at);
      g.mem.bytes.set(b, bAt);
      const { out, exit } = collect(g.vcpu);
      assert.equal(exit.reason, "hlt", describeExit(exit));
      assert.deepEqual(out, [SUM]);
    });
  }
}
