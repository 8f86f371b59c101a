/**
 * The first tier of mode "on" (emu/x86/jit/threaded.ts): a new block runs
 * its instructions' semantic functions, one block run per pass, until it has
 * run `BlockCache.promote` times (cache.ts PROMOTE); then it is compiled
 * (run.ts promote), in the middle of a chain, and leaves through the compiled
 * code's exits from then on. Either way the guest sees what the interpreter
 * gives it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { PROMOTE } from "../../../emu/x86/jit/cache.ts";
import { test } from "../../_support/harness.ts";
import { collect, hex } from "../../_support/sys.ts";
import { type Bits, emuCpu, guest, openEmu } from "./_jit.ts";

/** mov ecx, n / xor eax, eax / L: add eax, ecx / sub ecx, 1 / jnz L / out 0xe9, eax / hlt. */
function sumLoop(n: number): number[] {
  const imm = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
  return [0xb9, ...imm, ...hex("31c0 01c8 83e901 75f9 e7e9 f4")];
}

/**
 * A loop of n passes with a Jcc over a CALL of a function in the same page (which the block follows), a side exit
 * three passes in four, an OUT every 64th pass in the middle of the chain, then EBX out and HLT:
 *
 *  0x00 mov ecx, n / xor eax, eax / xor ebx, ebx
 *  0x09 L: add eax, ecx / test cl, 3 / jnz S / add ebx, 7 / call F
 *  0x18 S: xor eax, ebx / test cl, 0x3f / jnz C / out 0xe9, eax
 *  0x21 C: sub ecx, 1 / jnz L / mov eax, ebx / out 0xe9, eax / hlt
 *  0x2b F: rol ebx, 3 / ret
 */
function branchy(n: number): number[] {
  const imm = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
  return [
    0xb9,
    ...imm,
    ...hex("31c0 31db"),
    ...hex("01c8 f6c103 7508 83c307 e813000000"),
    ...hex("31d8 f6c13f 7502 e7e9"),
    ...hex("83e901 75e3 89d8 e7e9 f4"),
    ...hex("c1c303 c3"),
  ];
}

/**
 * fib(15) by naive recursion (1,973 calls), as bench/guests/fib.asm, then EAX out and HLT:
 *
 *  0x00 mov ecx, 15 / call fib / out 0xe9, eax / hlt
 *  0x0d fib: cmp ecx, 2 / jb leaf / push rcx / dec ecx / call fib / pop rcx / push rax / sub ecx, 2 / call fib /
 *       pop rsi / add eax, esi / ret
 *  0x28 leaf: mov eax, ecx / ret
 */
const FIB = hex(
  "b90f000000 e803000000 e7e9 f4 83f902 7216 51 ffc9 e8f3ffffff 59 50 83e902 e8e9ffffff 5e 01f0 c3 89c8 c3",
);

/**
 * An outer loop of n passes around an inner loop of m, EAX out after each inner loop, then HLT:
 *
 *  0x00 mov esi, n / xor eax, eax
 *  0x07 L: mov ecx, m
 *  0x0c I: add eax, ecx / sub ecx, 1 / jnz I
 *  0x13 out 0xe9, eax / sub esi, 1 / jnz L / hlt
 *
 * Its blocks: at L (up to the JNZ back to L: a loop), at I (a loop) and at 0x15, where each pass goes on after its
 * OUT (SUB and JNZ L: not a loop).
 */
function nested(n: number, m: number): number[] {
  const imm = (x: number) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24];
  return [0xbe, ...imm(n), ...hex("31c0"), 0xb9, ...imm(m), ...hex("01c8 83e901 75f9 e7e9 83ee01 75ed f4")];
}

/** The first tier's promotion rule (BlockCache.promote, promoteAlways) for `outcome`; a number n is { n, n }. */
interface Rule {
  promote: number;
  always: number;
}

/** What the program writes to port 0xe9 and how it stops, with the compiler in `mode` and blocks promoted by `rule`. */
function outcome(bits: Bits, mode: "off" | "on", code: number[], rule?: number | Rule) {
  using kvm = openEmu(mode);
  using g = guest(kvm, bits, code);
  const blocks = emuCpu(g.vm, g.mem).cpu.blocks;
  const r = typeof rule === "number" ? { promote: rule, always: rule } : rule;
  if (r !== undefined) {
    blocks.promote = r.promote;
    blocks.promoteAlways = r.always;
  }
  const { out, exit } = collect(g.vcpu, 4096);
  const regs = g.vcpu.getRegs();
  return { out, exit: exit.reason, rip: regs.rip, rbx: regs.rbx, rcx: regs.rcx, stats: { ...blocks.stats } };
}

for (const bits of [32, 64] as const) {
  test(`block compiler on, ${bits}-bit: a block runs in the first tier, a run a pass, until it has run PROMOTE times`, () => {
    const few = outcome(bits, "on", sumLoop(PROMOTE / 2));
    assert.deepEqual(few.out, [(PROMOTE / 2) * (PROMOTE / 2 + 1) / 2]);
    assert.equal(few.exit, "hlt");
    // The loop's block ran once a pass after it became hot (HOT passes interpreted), and was not compiled.
    assert.ok(few.stats.executed >= PROMOTE / 2 - 32, JSON.stringify(few.stats));
    assert.equal(few.stats.promoted, 0, JSON.stringify(few.stats));
    const many = outcome(bits, "on", sumLoop(8 * PROMOTE));
    assert.deepEqual(many.out, [((8 * PROMOTE) * (8 * PROMOTE + 1) / 2) >>> 0]);
    // Compiled on its PROMOTE-th run, it then runs the rest of the passes inside its calls.
    assert.equal(many.stats.promoted, 1, JSON.stringify(many.stats));
    assert.ok(many.stats.executed < PROMOTE + 64, JSON.stringify(many.stats));
  });

  for (const promote of [2, 3, 7]) {
    test(`block compiler on, ${bits}-bit: a recursion whose blocks are promoted after ${promote} runs returns fib(15)`, () => {
      const off = outcome(bits, "off", FIB);
      assert.deepEqual([off.out, off.exit], [[610], "hlt"]);
      const on = outcome(bits, "on", FIB, promote);
      assert.deepEqual(on.out, off.out);
      assert.deepEqual([on.exit, on.rip, on.rbx, on.rcx], [off.exit, off.rip, off.rbx, off.rcx]);
      assert.ok(on.stats.promoted > 0, JSON.stringify(on.stats));
    });
  }

  for (const promote of [2, 3, 5, PROMOTE]) {
    test(`block compiler on, ${bits}-bit: blocks promoted after ${promote} runs, in mid-chain, give the interpreter's results`, () => {
      const code = branchy(3000);
      const off = outcome(bits, "off", code);
      assert.equal(off.exit, "hlt");
      assert.equal(off.out.length, Math.floor(3000 / 64) + 1, JSON.stringify(off.out.slice(0, 4)));
      const on = outcome(bits, "on", code, promote);
      assert.deepEqual(on.out, off.out);
      assert.deepEqual(
        [on.exit, on.rip, on.rbx, on.rcx],
        [off.exit, off.rip, off.rbx, off.rcx],
        JSON.stringify(on.stats),
      );
      if (promote < PROMOTE) assert.ok(on.stats.promoted > 0, JSON.stringify(on.stats));
      assert.ok(on.stats.executed > 0, JSON.stringify(on.stats));
    });
  }

  test(`block compiler on, ${bits}-bit: a first-tier block is compiled after promote runs when it loops or its shape was compiled before, else after promoteAlways`, () => {
    const rule = { promote: 16, always: 64 };
    for (const passes of [40, 100]) {
      const code = nested(passes, 100);
      const off = outcome(bits, "off", code);
      assert.equal(off.out.length, passes);
      assert.equal(off.exit, "hlt");
      const on = outcome(bits, "on", code, rule);
      assert.deepEqual([on.out, on.exit, on.rip], [off.out, off.exit, off.rip]);
      // The two loops are compiled after 16 runs; the block at 0x15 after 64.
      assert.equal(on.stats.promoted, passes < rule.always ? 2 : 3, JSON.stringify(on.stats));
    }
    // The block at 0x15 was compiled in the run of 100 passes: in a new VM, one of its shape is after 16 runs.
    const again = outcome(bits, "on", nested(40, 100), rule);
    assert.equal(again.stats.promoted, 3, JSON.stringify(again.stats));
  });
}
