/**
 * The guards of a block's memory accesses (emu/x86/jit/operands.ts GUARD: segment rights, limits and bases, the TLB's
 * tag base, watchpoints and EFLAGS.AC) are locals read on each entry of the block (codegen.ts withGuards), not once
 * per compiled block: the same looping block, run again after the interpreter reloaded DS with another base, or
 * remapped its page and reloaded CR3 (a TLB flush: a new tag base), stores through the new base or frame. Both passes
 * run the loop at linear 0x9000 + 4k; the second one's stores land at physical 0xa000 + 4k.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { collect, descriptor, GDT, hex } from "../../_support/sys.ts";
import { describeExit, emuStats, guest, openEmu } from "./_jit.ts";

/** The loop's iterations, where it stores (linear), and where its second pass's stores land (physical). */
const N = 100, AT = 0x9000, MOVED = 0xa000;
/** A data segment at selector 0x40 (GDT index 8), based MOVED - AT, with a 4 GiB limit. */
const SELECTOR = 0x40;

/** mov esi, 2 / O: mov ecx, N / mov edi, ebx / L: mov [edi], ecx / add edi, 4 / dec ecx / jnz L (32-bit). */
const LOOP32 = "be02000000 b964000000 89df 890f 83c704 49 75f8";
/** The same in 64-bit mode (add rdi, 4; dec ecx is ff c9). */
const LOOP64 = "be02000000 b964000000 89df 890f 4883c704 ffc9 75f6";
/** dec esi / jnz O / mov eax, esi / out 0xe9, eax / hlt, after `between` (its length in bytes). */
const tail = (bits: 32 | 64, between: number) =>
  `${bits === 32 ? "4e" : "ffce"} 75${
    (256 - (17 + between + (bits === 32 ? 3 : 4) + (bits === 64 ? 2 : 0))).toString(16)
  } 89f0 e7e9 f4`;

const CASES = [
  {
    name: "32-bit: MOV DS between the passes",
    bits: 32 as const,
    paging: false,
    // mov edx, 0x40 / mov ebx, AT / LOOP / mov ds, edx / tail
    code: `ba40000000 bb00900000 ${LOOP32} 8eda ${tail(32, 2)}`,
  },
  {
    name: "32-bit paging: the page remapped and CR3 reloaded between the passes",
    bits: 32 as const,
    paging: true,
    // mov ebx, AT / LOOP / mov dword [PTE of AT], MOVED | P W / mov eax, cr3 / mov cr3, eax / tail
    code: `bb00900000 ${LOOP32} c70524900100 03a00000 0f20d8 0f22d8 ${tail(32, 16)}`,
  },
  {
    name: "64-bit: the page remapped and CR3 reloaded between the passes",
    bits: 64 as const,
    paging: false,
    // mov ebx, AT / LOOP / mov dword [PTE of AT], MOVED | P W U / mov rax, cr3 / mov cr3, rax / tail
    code: `bb00900000 ${LOOP64} c7042548300100 07a00000 0f20d8 0f22d8 ${tail(64, 17)}`,
  },
];

for (const c of CASES) {
  for (const mode of ["off", "on", "eager"] as const) {
    test(`block compiler ${mode}, ${c.name}: the loop's block stores through the new mapping`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, c.bits, hex(c.code), { paging: c.paging });
      const view = new DataView(g.mem.bytes.buffer, g.mem.bytes.byteOffset);
      view.setBigUint64(GDT + 8 * (SELECTOR >> 3), descriptor(MOVED - AT, 0xffffffff, 0x3, { g: 1 }), true);
      const { out, exit } = collect(g.vcpu);
      assert.equal(exit.reason, "hlt", describeExit(exit));
      assert.deepEqual(out, [0]);
      for (let k = 0; k < N; k++) {
        assert.equal(view.getUint32(AT + 4 * k, true), N - k, `first pass, iteration ${k}`);
        assert.equal(view.getUint32(MOVED + 4 * k, true), N - k, `second pass, iteration ${k}`);
      }
      if (mode !== "off") assert.ok(emuStats(g.vm, g.mem).insns > 4 * N, JSON.stringify(emuStats(g.vm, g.mem)));
    });
  }
}
