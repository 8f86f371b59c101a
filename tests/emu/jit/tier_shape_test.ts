/**
 * The first tier's promotion rule across VMs (emu/x86/jit/threaded.ts
 * shapeRuns): a block that does not loop is compiled once blocks of its
 * shape have made `BlockCache.promoteAlways` first-tier runs in the process,
 * counted in every VM that ran the same code, so a guest that runs the block
 * fewer times than that in each new VM (a benchmark's repetitions, each in a
 * VM of its own) has it compiled in a later VM after `BlockCache.promote`
 * runs. The guest's results are the interpreter's either way.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { collect, hex } from "../../_support/sys.ts";
import { type Bits, emuCpu, guest, openEmu } from "./_jit.ts";

/**
 * An outer loop of n passes around an inner loop of m, EAX out after each inner loop, then HLT (tier_test's nested,
 * with ADD ESI, -1 for its SUB ESI, 1: the shapes are counted across the process, in which the test runner may have
 * run tier_test, so this test's blocks must be of its own shapes):
 *
 *  0x00 mov esi, n / xor eax, eax
 *  0x07 L: mov ecx, m
 *  0x0c I: add eax, ecx / sub ecx, 1 / jnz I
 *  0x13 out 0xe9, eax / add esi, -1 / jnz L / hlt
 *
 * The block at 0x15 (ADD and JNZ L, where each pass goes on after its OUT) does not loop; the two others do.
 */
function nested(n: number, m: number): number[] {
  const imm = (x: number) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24];
  return [0xbe, ...imm(n), ...hex("31c0"), 0xb9, ...imm(m), ...hex("01c8 83e901 75f9 e7e9 83c6ff 75ed f4")];
}

/** Runs `code` in a new VM with the compiler in `mode`, blocks promoted after 16 runs, or 64 when they do not loop. */
function outcome(bits: Bits, mode: "off" | "on", code: number[]) {
  using kvm = openEmu(mode);
  using g = guest(kvm, bits, code);
  const blocks = emuCpu(g.vm, g.mem).cpu.blocks;
  blocks.promote = 16;
  blocks.promoteAlways = 64;
  const { out, exit } = collect(g.vcpu, 4096);
  return { out, exit: exit.reason, rip: g.vcpu.getRegs().rip, stats: { ...blocks.stats } };
}

for (const bits of [32, 64] as const) {
  test(`block compiler on, ${bits}-bit: a block run fewer than promoteAlways times in each VM is compiled after promote runs once its shape has made promoteAlways runs in the process`, () => {
    const code = nested(60, 37 + bits);
    const off = outcome(bits, "off", code);
    assert.equal(off.out.length, 60);
    assert.equal(off.exit, "hlt");
    // The first VM: the block at 0x15 is made once its entry is hot (after 16 arrivals, cache.ts HOT) and runs 44
    // times in the first tier, fewer than 64; only the two loops are compiled.
    const first = outcome(bits, "on", code);
    assert.deepEqual([first.out, first.exit, first.rip], [off.out, off.exit, off.rip]);
    assert.equal(first.stats.promoted, 2, JSON.stringify(first.stats));
    // The second: its shape's runs reach 64 in the process (32 counted in the first VM, 16 at a time), so it is
    // compiled after 32 runs of its own.
    const second = outcome(bits, "on", code);
    assert.deepEqual([second.out, second.exit, second.rip], [off.out, off.exit, off.rip]);
    assert.equal(second.stats.promoted, 3, JSON.stringify(second.stats));
  });
}
