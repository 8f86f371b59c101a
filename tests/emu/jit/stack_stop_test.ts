/**
 * The stack templates (emu/x86/jit/stack.ts) look for a queued exit or a written code page only on their slow paths:
 * a fast path's push writes a page of the write TLB, which holds no code or MMIO page, and a pop reads one of the read
 * TLB, so neither can queue an exit or write code. A block holding a stack instruction between register instructions
 * and memory loads, in 32-bit and in 64-bit code, must leave the registers the interpreter leaves, and its source
 * must have no statement of its own that checks the exit queue (each stack instruction once had one after it): a
 * CALL rel the block follows (its push of the return address: codegen.ts callPush), and PUSH and POP of a register.
 * The slow paths' checks are tested by stack_calls_test's PUSH over the next instruction of its own block.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { type Bits, codeAt, GPR, openEmu, type Program, RSP, runner } from "./_jit.ts";

/**
 * The listings, by what they hold: `mov esp, 0x7000`, then stack instructions between register instructions; the
 * return address of the CALL is at `nop`.
 */
const LISTINGS: Record<string, (bits: Bits) => string[]> = {
  "a followed CALL": (bits) => {
    const w = bits === 64 ? "48 " : "";
    return [
      "bc 00 70 00 00", // mov esp, 0x7000 (in 64-bit mode RSP's upper half is cleared)
      `${w}01 d8`, // add rax, rbx
      "e8 01 00 00 00", // call +1 (the block follows it)
      "90", // nop (the return address: not run)
      `${w}8b 3c 24`, // mov rdi, [rsp]
      `${w}83 c4 0${bits / 16}`, // add rsp, 4 or 8
      `${w}01 f8`, // add rax, rdi
      "f4", // hlt
    ];
  },
  "PUSH and POP": (bits) => {
    const w = bits === 64 ? "48 " : "";
    return [
      "bc 00 70 00 00", // mov esp, 0x7000
      "53", // push rbx
      `${w}01 d8`, // add rax, rbx
      "59", // pop rcx
      `${w}01 c8`, // add rax, rcx
      "e8 01 00 00 00", // call +1 (the block follows it)
      "90", // nop (the return address: not run)
      "56", // push rsi
      `${w}29 f0`, // sub rax, rsi
      "5a", // pop rdx
      "5f", // pop rdi (the return address)
      `${w}01 f8`, // add rax, rdi
      "f4", // hlt
    ];
  },
};

/** The program of `listing` with its registers. */
function program(listing: string[], bits: Bits): Program {
  const code = listing.flatMap((s) => s.split(" ").map((b) => parseInt(b, 16)));
  const regs = GPR.map((_, i) => i === RSP ? 0x7000n : 0x1111n * BigInt(i + 1));
  return { bits, ops: [{ bytes: code, asm: "(the listing)" }], code, regs, rflags: 2n, data: [], undefinedFlags: 0 };
}

for (const [what, listing] of Object.entries(LISTINGS)) {
  for (const bits of [32, 64] as const) {
    test(`block compiler, ${bits}-bit: ${what} checks for exits only on its slow paths`, () => {
      const p = program(listing(bits), bits);
      using offKvm = openEmu("off");
      using off = runner("off", offKvm, bits);
      const want = off.run(p);
      assert.equal(want.exit, "hlt");
      const nop = listing(bits).indexOf("90"), at = listing(bits).slice(0, nop).join(" ").split(" ").length;
      assert.equal(want.regs[7], BigInt(codeAt(bits) + at), "the return address pops into RDI");
      using kvm = openEmu("eager");
      using g = runner("eager", kvm, bits);
      const got = g.run(p);
      assert.deepEqual(got, want);
      const blocks = [...g.emu().cpu.blocks.byAddress.values()].filter((b) => b.insns.length >= 6);
      assert.equal(blocks.length, 1, "the listing was compiled as one block");
      const source = blocks[0].fn.toString();
      assert.match(source, /c\.exits\.length/, "the slow paths check for exits");
      const checks = source.split("\n").filter((line) => /^\s*if \(c\.exits\.length !== 0/.test(line));
      assert.deepEqual(checks, [], "statements of their own check the exit queue");
    });
  }
}
