/**
 * Blocks that go on into the next linear page (emu/x86/jit/block.ts scanBlock, run.ts blockAt, cache.ts): a loop
 * whose body starts at the end of one page and goes on into the next, through an instruction that crosses the
 * boundary or one that ends exactly at it, runs as one compiled block; the guest's write to the second page drops
 * it; the second page mapped to another frame (PTE, then INVLPG or a CR3 reload) runs the other frame's bytes; and
 * the second page unmapped gives #PF (CR2 the second page, the interpreter's error code) only when the instruction
 * that needs it runs, not when a block that holds it is entered. In 32-bit protected mode with paging and in 64-bit
 * mode, with the compiler off, on and eager (each checked against the same expected values).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm, Vcpu } from "../../../mod.ts";
import type { Block } from "../../../emu/x86/jit/block.ts";
import type { BlockCache } from "../../../emu/x86/jit/cache.ts";
import { test } from "../../_support/harness.ts";
import { type Machine, pageTables32, PTE_P, PTE_W } from "../../_support/guests.ts";
import { bench, collect, enter, hex, K_CODE, MEM_SIZE } from "../../_support/sys.ts";
import { bench64 } from "../../_support/long64.ts";
import { LM_PT, SEL64_CODE0 } from "../../_support/long_mode.ts";
import { type Bits, describeExit, emuCpu, h32, le32, type Mode, openEmu } from "./_jit.ts";

const MODES: readonly Mode[] = ["off", "on", "eager"];

/** Iterations of the loop per pass. */
const N = 1000;
/** The loop's instructions per iteration. */
const LOOP_INSNS = 6;

/** The first of the two pages (their linear and physical addresses are equal), and a third frame for a remap. */
const PAGE: Record<Bits, number> = { 32: 0xd000, 64: 0x20000 };
/** The frame the second page is mapped to by a remap (a copy of it, with another immediate). */
const OTHER: Record<Bits, number> = { 32: 0xf000, 64: 0x22000 };
/** The page table entry of linear `a` (below 2 MiB in 64-bit mode: LM_PT's 4 KiB pages). */
const PT32 = 0x19000;
function pteOf(bits: Bits, a: number): number {
  return bits === 32 ? PT32 + 4 * (a >>> 12) : LM_PT + 8 * (a >>> 12);
}
/** A present, writable (and in 64-bit mode user) page's flags. */
const FLAGS: Record<Bits, number> = { 32: PTE_P | PTE_W, 64: 7 };

/** An absolute memory operand [addr] with ModRM reg field `reg`. */
function abs(bits: Bits, reg: number, addr: number): number[] {
  return bits === 32 ? [(reg << 3) | 5, ...le32(addr)] : [(reg << 3) | 4, 0x25, ...le32(addr)];
}

/** jmp rel32 from `at` to `to`. */
function jmp(at: number, to: number): number[] {
  return [0xe9, ...le32(to - (at + 5))];
}

/** A rel8 displacement from the end of a 2-byte branch at `at` to `to`. */
function rel8(at: number, to: number): number {
  const d = to - (at + 2);
  assert.ok(d >= -128 && d < 128, `rel8 from ${at.toString(16)} to ${to.toString(16)}`);
  return d & 0xff;
}

/** How a test's program is laid out: the loop's head, its ADD r32, imm32, and where the second page starts. */
interface Loop {
  /** The loop's first instruction. */
  l: number;
  /** `add eax, 0x01020304`, whose last `5 - split` bytes are on the second page. */
  add: number;
  /** The second page. */
  next: number;
  /** Where the immediate's top byte lies. */
  top: number;
}

/**
 * The loop, with the ADD's first `split` bytes on the first page (5: it ends at the boundary, the next instruction
 * starts the second page):
 *
 *   L: add edx, 1 / test esi, esi / jnz X / add eax, 0x01020304 / dec ecx / jnz L / jmp AFTER
 *   X: mov ebp, cr2 / xor esi, esi / jmp L
 *
 * ESI set makes the loop's first iteration branch away (to X) before the second page, and come back. The program
 * starts at `start` (ECX = N, EAX = EDX = ESI = EBX = 0, then jmp L); AFTER (on the first page) is `after(at)`.
 */
function program(bits: Bits, split: number, after: (at: number, loop: Loop) => number[]): {
  code: number[];
  loop: Loop;
} {
  const page = PAGE[bits], next = page + 0x1000, add = next - split, l = add - 7, x = l - 0x10;
  const start = page + 0xe00, afterAt = page + 0xe40;
  const loop: Loop = { l, add, next, top: add + 4 };
  const code = new Array<number>(0x1100).fill(0x90);
  const put = (at: number, bytes: number[]) => code.splice(at - start, bytes.length, ...bytes);
  put(start, [...hex("b9"), ...le32(N), ...hex("31c0 31d2 31f6 31db"), ...jmp(start + 13, l)]);
  put(afterAt, after(afterAt, loop));
  put(x, [...hex("0f20d5 31f6 eb"), rel8(x + 5, l)]);
  put(l, [...hex("83c201 85f6 75"), rel8(l + 5, x), ...hex("0504030201")]);
  const dec = bits === 32 ? [0x49] : [0xff, 0xc9];
  const jnz = add + 5 + dec.length;
  put(add + 5, [...dec, 0x75, rel8(jnz, l), ...jmp(jnz + 2, afterAt)]);
  return { code, loop };
}

/** AFTER for one pass: out 0xe9, eax / hlt. */
const ONE_PASS = () => hex("e7e9 f4");

/**
 * AFTER for two passes in one KVM_RUN (no exit between them, so the blocks are not compared with memory again): after
 * the first, EDI = EAX, `change(loop)` (what the test does between the passes), EBX = 1, ESI = `esi`, ECX = N, EAX = 0 and
 * back to L; after the second, out 0xe9 with the first pass's EAX, then the second's, and hlt.
 */
function twoPasses(change: (loop: Loop) => number[], esi = 0): (at: number, loop: Loop) => number[] {
  return (at, loop) => {
    const first = [
      ...hex("89c7"),
      ...change(loop),
      ...hex("bb01000000 be"),
      ...le32(esi),
      0xb9,
      ...le32(N),
      ...hex("31c0"),
    ];
    const jmpAt = at + 4 + first.length;
    // test ebx, ebx / jnz DONE / first / jmp L / DONE: xchg eax, edi / out / xchg eax, edi / out / hlt
    return [...hex("85db 75"), rel8(at + 2, jmpAt + 5), ...first, ...jmp(jmpAt, loop.l), ...hex("97 e7e9 97 e7e9 f4")];
  };
}

/** EAX after a pass of the loop whose immediate's top byte is `top`. */
function sum(top: number): number {
  return Math.imul(N, (top << 24) | 0x020304) >>> 0;
}

/** A guest running `code` (placed at PAGE + 0xe00, where it starts) at `bits`, and its vCPU's block cache. */
interface Guest extends Disposable {
  vcpu: Vcpu;
  bytes: Uint8Array;
  blocks: BlockCache;
}

/** 32-bit protected mode with 32-bit paging (every page of MEM_SIZE identity-mapped), or 64-bit mode (bench64). */
function guest(kvm: Kvm, bits: Bits, code: readonly number[]): Guest {
  const start = PAGE[bits] + 0xe00;
  let m: Machine;
  if (bits === 32) {
    const b = m = bench(kvm);
    const pages = Array.from({ length: MEM_SIZE >> 12 }, (_, i) => i << 12);
    const cr3 = pageTables32(b.mem, PT32 - 0x1000, pages.map((a) => ({ linear: a, physical: a, flags: FLAGS[32] })));
    enter(b, { cr0: 0x80000011n, cr3, eip: start });
  } else {
    m = bench64(kvm, "", { at: start });
  }
  m.mem.bytes.set(code, start);
  return {
    vcpu: m.vcpu,
    bytes: m.mem.bytes,
    blocks: emuCpu(m.vm, m.mem).cpu.blocks,
    [Symbol.dispose]: () => m[Symbol.dispose](),
  };
}

/** Runs `g` to its HLT; returns what it wrote to port 0xe9. */
function run(g: Guest): number[] {
  const { out, exit } = collect(g.vcpu);
  assert.equal(exit.reason, "hlt", describeExit(exit));
  return out;
}

/**
 * Asserts that the loop's `passes` passes ran compiled, as one block per pass rather than one or two per iteration:
 * every instruction of each iteration in blocks, bar a few dozen iterations (the "on" mode's interpreted arrivals).
 */
function ranCompiled(g: Guest, mode: Mode, passes: number): void {
  if (mode === "off") return;
  const s = g.blocks.stats;
  assert.ok(s.insns >= passes * (LOOP_INSNS * N - 200), `the loop's instructions in blocks: ${JSON.stringify(s)}`);
  // The compiled loop runs its iterations inside one call; in mode "on" it runs in the first tier (a call an
  // iteration) for fewer iterations than it would take to be compiled (cache.ts PROMOTE).
  if (mode === "eager") {
    assert.ok(s.executed < (passes * N) / 4, `blocks run for ${passes * N} iterations: ${JSON.stringify(s)}`);
  }
}

/** The compiled block entered at the loop's head, which holds bytes of the second page. */
function loopBlock(g: Guest, loop: Loop): Block {
  const b = [...g.blocks.byAddress.values()].find((b) => b.valid && b.eip === loop.l);
  assert.ok(b, "a block at the loop's head");
  // The loop, and on past its JNZ and the JMP to AFTER (on the first page) in the "on" and eager modes.
  assert.ok(b.insns.length >= LOOP_INSNS, b.insns.map((d) => d.jit).join(" "));
  assert.equal(b.nextPfn, loop.next >>> 12);
  return b;
}

/** mov byte [addr], imm8. */
function store8(bits: Bits, addr: number, imm: number): number[] {
  return [0xc6, ...abs(bits, 0, addr), imm];
}

/** mov dword [addr], imm32. */
function store32(bits: Bits, addr: number, imm: number): number[] {
  return [0xc7, ...abs(bits, 0, addr), ...le32(imm)];
}

/** invlpg [addr]. */
function invlpg(bits: Bits, addr: number): number[] {
  return [0x0f, 0x01, ...abs(bits, 7, addr)];
}

/** mov eax, cr3 / mov cr3, eax (RAX in 64-bit mode). */
const RELOAD_CR3 = hex("0f20d8 0f22d8");

for (const bits of [32, 64] as const) {
  for (const mode of MODES) {
    for (const split of [3, 5]) {
      const how = split === 5 ? "ends at the page's end" : "crosses into the next page";
      test(`block compiler ${mode}, ${bits}-bit: a loop whose ADD ${how} runs as one block`, () => {
        using kvm = openEmu(mode);
        const { code, loop } = program(bits, split, ONE_PASS);
        using g = guest(kvm, bits, code);
        assert.deepEqual(run(g), [sum(0x01)]);
        ranCompiled(g, mode, 1);
        if (mode !== "off") loopBlock(g, loop);
      });
    }

    test(`block compiler ${mode}, ${bits}-bit: the guest's write to the second page drops the block`, () => {
      using kvm = openEmu(mode);
      const { code } = program(bits, 3, twoPasses((loop) => store8(bits, loop.top, 0x7f)));
      using g = guest(kvm, bits, code);
      assert.deepEqual(run(g).map(h32), [sum(0x01), sum(0x7f)].map(h32));
      ranCompiled(g, mode, 2);
      if (mode !== "off") assert.ok(g.blocks.stats.invalidated >= 1, JSON.stringify(g.blocks.stats));
    });

    for (const flush of ["INVLPG", "a CR3 reload"]) {
      test(`block compiler ${mode}, ${bits}-bit: the second page remapped (${flush}) runs the new frame's bytes`, () => {
        using kvm = openEmu(mode);
        const { code, loop } = program(
          bits,
          3,
          twoPasses((loop) => [
            ...store32(bits, pteOf(bits, loop.next), OTHER[bits] | FLAGS[bits]),
            ...(flush === "INVLPG" ? invlpg(bits, loop.next) : RELOAD_CR3),
          ]),
        );
        using g = guest(kvm, bits, code);
        // The other frame: the second page's code, with another top byte of the immediate.
        g.bytes.copyWithin(OTHER[bits], loop.next, loop.next + 0x100);
        g.bytes[OTHER[bits] + (loop.top - loop.next)] = 0x7f;
        assert.deepEqual(run(g).map(h32), [sum(0x01), sum(0x7f)].map(h32));
        ranCompiled(g, mode, 2);
        if (mode === "off") return;
        assert.equal(g.blocks.stats.invalidated, 0, "no page was written");
        assert.equal(loopBlock(g, { ...loop, next: OTHER[bits] }).nextPfn, OTHER[bits] >>> 12);
      });
    }

    test(`block compiler ${mode}, ${bits}-bit: the second page unmapped gives #PF where the ADD runs`, () => {
      using kvm = openEmu(mode);
      // The second pass unmaps the second page and sets ESI: its first iteration leaves for X before the ADD, the
      // second faults at the ADD (the stub reports vector, error code, EIP and CS, and halts).
      const unmap = (loop: Loop) => [...store32(bits, pteOf(bits, loop.next), 0), ...invlpg(bits, loop.next)];
      const { code, loop } = program(bits, 3, twoPasses(unmap, 1));
      using g = guest(kvm, bits, code);
      // Not present, a supervisor read (an instruction fetch: I/D where NX is on, as in the 64-bit guest).
      const error = bits === 64 ? 0x10 : 0;
      const cs = bits === 64 ? SEL64_CODE0 : K_CODE;
      assert.deepEqual(run(g).map(h32), [14, error, loop.add, cs].map(h32));
      assert.equal(g.vcpu.getSregs().cr2, BigInt(loop.next), "CR2: the second page");
      const regs = g.vcpu.getRegs();
      assert.equal(h32(Number(regs.rdi)), h32(sum(0x01)), "the first pass");
      assert.equal(regs.rdx, BigInt(N + 2), "ADD EDX ran twice in the second pass: to X, then to the fault");
      assert.equal(regs.rbp, 0n, "CR2 at X: no fault yet");
      ranCompiled(g, mode, 1);
    });
  }
}
