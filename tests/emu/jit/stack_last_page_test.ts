/**
 * The 64-bit stack templates (emu/x86/jit/stack.ts item64) find their item through the block's last pages
 * (operands.ts LAST_PAGES) before the TLB, as its loads and stores do: a function's pushes, calls, pops and returns
 * use one page, so after the first access of each kind the others of a block test one page number. The last pages
 * are shared with the data accesses, and an item inside one page need not be 8-byte aligned. Blocks of stack
 * instructions and memory accesses to the stack's page, with RSP aligned, misaligned by 4 and next to a page's end
 * (an item across it takes the semantic function), must leave the registers and the stack the interpreter leaves,
 * and the block's source must test the last pages for its stack items.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { GPR, openEmu, type Program, RSP, runner } from "./_jit.ts";

/** A block of stack instructions and stores and loads through RSP; it starts with RSP at `sp`. */
function listing(): string[] {
  return [
    "53", // push rbx
    "48 89 44 24 f8", // mov [rsp - 8], rax
    "56", // push rsi
    "59", // pop rcx
    "48 8b 14 24", // mov rdx, [rsp]
    "e8 01 00 00 00", // call +1 (the block follows it)
    "90", // nop (the return address: not run)
    "57", // push rdi
    "48 01 c8", // add rax, rcx
    "5f", // pop rdi
    "5e", // pop rsi (the return address)
    "5d", // pop rbp (the first push's RBX)
    "f4", // hlt
  ];
}

/** The program of `listing` with RSP at `sp` and the data area (the stack) at 0x6000. */
function program(sp: number): Program {
  const code = listing().flatMap((s) => s.split(" ").map((b) => parseInt(b, 16)));
  const regs = GPR.map((_, i) => i === RSP ? BigInt(sp) : 0x0101010101010101n * BigInt(i + 1));
  const data = Array.from({ length: 0x1000 }, (_, i) => i & 0xff);
  return {
    bits: 64,
    ops: [{ bytes: code, asm: "(the listing)" }],
    code,
    regs,
    rflags: 2n,
    data,
    dataAt: 0x6000,
    undefinedFlags: 0,
  };
}

test("block compiler, 64-bit: stack items through the last pages, RSP aligned or not, near a page's end", () => {
  using offKvm = openEmu("off");
  using off = runner("off", offKvm, 64);
  using kvm = openEmu("eager");
  using g = runner("eager", kvm, 64);
  // RSP: aligned, misaligned, the first push's item across 0x6000, the call's item across it.
  for (const sp of [0x6800, 0x6804, 0x6004, 0x6014]) {
    const p = program(sp);
    const want = off.run(p);
    assert.equal(want.exit, "hlt");
    assert.equal(want.regs[5], p.regs[3], "RBP pops RBX's push");
    assert.deepEqual(g.run(p), want, `RSP 0x${sp.toString(16)}`);
  }
  const blocks = [...g.emu().cpu.blocks.byAddress.values()].filter((b) => b.insns.length >= 10);
  assert.equal(blocks.length, 1, "the listing was compiled as one block");
  const source = blocks[0].fn.toString();
  assert.match(source, /\bWH === SQ && WT === \(SP >>> 12\)/, "a push tests the last page written");
  assert.match(source, /\bRH === SQ && RT === \(SP >>> 12\)/, "a pop tests the last page read");
});
