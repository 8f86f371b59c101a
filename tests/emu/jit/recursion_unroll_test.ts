/**
 * A block follows a CALL rel into code it holds already (emu/x86/jit/block.ts scanBlock: a recursion's call sites
 * are unrolled a few times), and a Jcc of a block that ends at a CALL or RET whose target is a few instructions up to
 * a RET goes on in a copy of them (addTails: the recursion's leaf), leaving through that RET by an exit of its own.
 * The unrolled copies and the tails run as the guest's code does: bench/guests/fib.asm's recursion on a 32-bit and a
 * 64-bit stack (its result, its registers and what the blocks count as run), and a leaf whose caller reads the CF of
 * the Jcc that went to it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { collect, hex } from "../../_support/sys.ts";
import { describeExit, emuCpu, emuStats, guest, openEmu } from "./_jit.ts";

/**
 * mov ecx, 12 / call fib / out 0xe9, eax / hlt; fib: cmp ecx, 2 / jb .leaf / push rcx / dec ecx / call fib / pop rcx
 * / push rax / sub ecx, 2 / call fib / pop rsi / add eax, esi / ret; .leaf: mov eax, ecx / ret.
 */
const FIB: Record<32 | 64, string> = {
  32: "b90c000000 e803000000 e7e9 f4 83f902 7215 51 49 e8f4ffffff 59 50 83e902 e8eaffffff 5e 01f0 c3 89c8 c3",
  // dec ecx is ff c9 (0x40-0x4f are REX prefixes in 64-bit mode)
  64: "b90c000000 e803000000 e7e9 f4 83f902 7216 51 ffc9 e8f3ffffff 59 50 83e902 e8e9ffffff 5e 01f0 c3 89c8 c3",
};

/** The instructions fib(n) runs: a leaf 4, else 12 and its two calls'. */
function fibInsns(n: number): number {
  return n < 2 ? 4 : 12 + fibInsns(n - 1) + fibInsns(n - 2);
}

/** The program's instructions: mov, call, fib(12), out, hlt. */
const ALL = 2 + fibInsns(12) + 2;

for (const bits of [32, 64] as const) {
  for (const mode of ["on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: a block unrolls a recursive CALL and runs it as the guest does`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, bits, hex(FIB[bits]));
      const { out, exit } = collect(g.vcpu);
      assert.equal(exit.reason, "hlt", describeExit(exit));
      assert.deepEqual(out, [144]);
      const regs = g.vcpu.getRegs();
      // The last call returned fib(12) = fib(11) + fib(10), its ECX fib's first argument minus 2 after the POP.
      assert.equal(regs.rax, 144n);
      assert.equal(regs.rsi, 89n);
      // Some block holds fib's code more than once: the same decoded instruction at two places.
      const blocks = [...emuCpu(g.vm, g.mem).cpu.blocks.byAddress.values()];
      assert.ok(
        blocks.some((b) => new Set(b.insns.slice(0, b.length)).size < b.length),
        `no block unrolls the call: ${blocks.map((b) => b.insns.length).join(" ")}`,
      );
      // Some block holds the leaf: a tail, whose RET leaves through a side exit once the block is compiled (in mode
      // "on" a new block runs in the first tier, threaded.ts, until it has run a few times).
      const tail = (b: (typeof blocks)[number]) => b.insns.length > b.length && (mode === "on" || b.indirect < 64);
      assert.ok(blocks.some(tail), "no block holds fib's leaf");
      const stats = emuStats(g.vm, g.mem);
      // No more than the program's instructions ran in blocks (eager: all but HLT, which no block holds).
      if (mode === "eager") assert.equal(stats.insns, ALL - 1, JSON.stringify(stats));
      else assert.ok(stats.insns <= ALL, `${stats.insns} instructions counted in blocks of ${ALL}`);
    });
  }
}

/**
 * mov ecx, 3 / xor edx, edx / call f / mov eax, edx / out 0xe9, eax / hlt; f: cmp ecx, 2 / jb .t / dec ecx / call f /
 * adc edx, 0 / ret; .t: mov eax, ecx / ret. The leaf returns with CF set by its CMP (DEC keeps CF), which the ADC after
 * the call reads: EDX = 1 (the second ADC adds the first's CF, 0).
 */
const CARRY: Record<32 | 64, string> = {
  32: "b903000000 31d2 e805000000 89d0 e7e9 f4 83f902 720a 49 e8f5ffffff 83d200 c3 89c8 c3",
  64: "b903000000 31d2 e805000000 89d0 e7e9 f4 83f902 720b ffc9 e8f4ffffff 83d200 c3 89c8 c3",
};

for (const bits of [32, 64] as const) {
  for (const mode of ["off", "on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: a recursion's leaf in a block returns with the flags of its Jcc`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, bits, hex(CARRY[bits]));
      const { out, exit } = collect(g.vcpu);
      assert.equal(exit.reason, "hlt", describeExit(exit));
      assert.deepEqual(out, [1]);
      // mov, xor, call; f(3) and f(2): cmp, jb, dec, call, then adc, ret; f(1): cmp, jb, mov, ret; mov, out (not HLT).
      if (mode === "eager") assert.equal(emuStats(g.vm, g.mem).insns, 3 + 2 * 6 + 4 + 2, "instructions in blocks");
    });
  }
}
