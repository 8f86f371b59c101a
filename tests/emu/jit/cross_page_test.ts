/**
 * An instruction that crosses a page boundary, run in a loop (emu/x86/exec.ts fetch keeps it decoded while both
 * pages' translations and code stay the same): a guest store into its bytes on the second page, and the host's
 * write there between two runs, are both seen at once, with the block compiler off, on and eager.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { collect, hex } from "../../_support/sys.ts";
import { codeAt, describeExit, guest, openEmu } from "./_jit.ts";

/** Where the loop's `add eax, imm32` starts: its opcode and two immediate bytes on one page, two on the next. */
const ADD_AT = 0x4ffd;

/**
 * mov ecx, 100 / xor eax, eax / jmp L / ... / L (ADD_AT): add eax, 0x01020304 / mov [0x5000], cl / dec ecx /
 * jnz L / out 0xe9, eax / hlt: each iteration stores ECX into the immediate's third byte, on the second page.
 */
function program(): number[] {
  const start = codeAt(64);
  const head = hex("b964000000 31c0 e9");
  const jmp = ADD_AT - (start + head.length + 4);
  const code = [...head, jmp & 0xff, (jmp >> 8) & 0xff, 0, 0];
  while (start + code.length < ADD_AT) code.push(0x90);
  return [...code, ...hex("0504030201 880c2500500000 ffc9 75f0 e7e9 f4")];
}

/** EAX after the loop when the immediate's top byte is `top` and its third byte starts as `third`. */
function expected(top: number, third: number): number {
  let eax = 0;
  for (let ecx = 100; ecx !== 0; ecx--) {
    eax = (eax + ((top << 24) | (third << 16) | 0x0304)) >>> 0;
    third = ecx & 0xff;
  }
  return eax;
}

for (const mode of ["off", "on", "eager"] as const) {
  test(`block compiler ${mode}, 64-bit: an instruction across a page boundary sees writes to its second page`, () => {
    using kvm = openEmu(mode);
    using g = guest(kvm, 64, program());
    let { out, exit } = collect(g.vcpu);
    assert.equal(exit.reason, "hlt", describeExit(exit));
    assert.deepEqual(out, [expected(0x01, 0x02)]);
    // The host rewrites the immediate's top byte (second page) between runs; the third is the last ECX stored.
    g.mem.bytes[ADD_AT + 4] = 0x7f;
    g.vcpu.setRegs({ ...g.vcpu.getRegs(), rip: BigInt(g.at) });
    ({ out, exit } = collect(g.vcpu));
    assert.equal(exit.reason, "hlt", describeExit(exit));
    assert.deepEqual(out, [expected(0x7f, 1)]);
  });
}
