/**
 * The block compiler's 64-bit data moves and memory sources (emu/x86/jit/templates.ts): MOV r64 to and from
 * memory with base, index, scale and displacement, 8-byte accesses across a page boundary (the second page mapped
 * to another physical page), ADD/OR/AND/SUB/XOR/CMP r64 with a memory source, CMP and TEST with a 64-bit memory
 * operand, LEA (64- and 32-bit results, RIP-relative too) and MOV reg, imm with REX.B, followed by a Jcc that reads
 * their flags: seeded random programs, run with `blockCompiler: "off"` and `"eager"`, must leave the same registers,
 * RIP, arithmetic flags and data. A fixed program also shows that these instructions are written out in the
 * compiled block rather than called through their semantic functions.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Prng } from "../../../diff/prng.ts";
import { test } from "../../_support/harness.ts";
import { LM_STACK } from "../../_support/long_mode.ts";
import {
  ARITH,
  CC,
  COND_READS,
  differences,
  GPR,
  h32,
  le32,
  le64,
  type Op,
  openEmu,
  type Program,
  regName,
  report,
  rex,
  RSP,
  runner,
} from "./_jit.ts";
import { aluFlags, DATA_AT, DATA_SIZE, modrm, REMAP, sib } from "./_narrow.ts";

const ALU = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];

/** Seeded random programs of 64-bit memory operations. */
class Generator {
  readonly #r: Prng;
  readonly #ops: Op[] = [];

  constructor(r: Prng) {
    this.#r = r;
  }

  program(n: number): Program {
    const r = this.#r;
    const regs = GPR.map((_, i) => i === RSP ? BigInt(LM_STACK) : (BigInt(r.u32()) << 32n) | BigInt(r.u32()));
    const data = Array.from({ length: DATA_SIZE }, () => r.below(256));
    // Defined flags for the first Jcc.
    this.#ops.push({ bytes: [0x48, 0x39, 0xc0], asm: "cmp rax, rax" });
    for (let i = 0; i < n; i++) this.#step();
    this.#ops.push({ bytes: [0xf4], asm: "hlt" });
    const code = this.#ops.flatMap((o) => o.bytes);
    return { bits: 64, ops: this.#ops, code, regs, rflags: 2n, data, dataAt: DATA_AT, undefinedFlags: 0 };
  }

  /** A register other than RSP. */
  #reg(): number {
    for (;;) {
      const n = this.#r.below(16);
      if (n !== RSP) return n;
    }
  }

  /**
   * `[base + index*scale + disp32]` addressing `size` bytes in the data area (base and index loaded first with MOV
   * r32, imm32), as ModRM/SIB bytes for ModRM.reg `reg`, with the REX prefix for `w`.
   */
  #address(reg: number, size: number, w: boolean): { pre: Op[]; rex: number[]; tail: number[]; ptr: string } {
    const r = this.#r, base = this.#reg();
    let index = this.#reg();
    while (index === base) index = this.#reg();
    const scale = r.below(4), iv = r.below(8), bv = DATA_AT - r.below(0x200);
    // Often across the page boundary at DATA_AT + 0x80.
    const target = DATA_AT + (r.chance(1, 3) ? 0x80 - r.below(size) : r.below(DATA_SIZE - size + 1));
    const disp = (target - bv - (iv << scale)) >>> 0;
    const pre = [this.#movImm32(base, bv), this.#movImm32(index, iv)];
    const tail = [modrm(2, reg, 4), sib(scale, index, base), ...le32(disp)];
    const ptr = `[${regName(base, 8)} + ${regName(index, 8)}*${1 << scale} + ${h32(disp)}]`;
    return { pre, rex: rex(w, reg, base, false, index), tail, ptr };
  }

  #movImm32(n: number, v: number): Op {
    return { bytes: [...rex(false, 0, n), 0xb8 + (n & 7), ...le32(v)], asm: `mov ${regName(n, 4)}, ${h32(v)}` };
  }

  #step(): void {
    const r = this.#r, ops = this.#ops, d = this.#reg();
    switch (r.below(8)) {
      case 0: { // MOV r64, m64 / MOV m64, r64
        const load = r.chance(1, 2), a = this.#address(d, 8, true);
        ops.push(...a.pre, {
          bytes: [...a.rex, load ? 0x8b : 0x89, ...a.tail],
          asm: load ? `mov ${regName(d, 8)}, qword ${a.ptr}` : `mov qword ${a.ptr}, ${regName(d, 8)}`,
        });
        return;
      }
      case 1: { // op r64, m64 (03-form), then a Jcc on its flags
        const kind = r.pick([0, 1, 4, 5, 6, 7]), a = this.#address(d, 8, true);
        ops.push(...a.pre, {
          bytes: [...a.rex, (kind << 3) | 3, ...a.tail],
          asm: `${ALU[kind]} ${regName(d, 8)}, qword ${a.ptr}`,
          ...aluFlags(kind),
        });
        return this.#jcc();
      }
      case 2: { // CMP m64, r64 / TEST m64, r64 / CMP m64, imm8
        const form = r.below(3), a = this.#address(form === 2 ? 7 : d, 8, true);
        if (form === 2) {
          const v = r.below(256);
          ops.push(...a.pre, {
            bytes: [...a.rex, 0x83, ...a.tail, v],
            asm: `cmp qword ${a.ptr}, ${(v << 24) >> 24}`,
            ...aluFlags(7),
          });
        } else {
          ops.push(...a.pre, {
            bytes: [...a.rex, form === 0 ? 0x39 : 0x85, ...a.tail],
            asm: `${form === 0 ? "cmp" : "test"} qword ${a.ptr}, ${regName(d, 8)}`,
            ...aluFlags(form === 0 ? 7 : 4),
          });
        }
        return this.#jcc();
      }
      case 3: { // LEA r64 or r32
        const w = r.chance(1, 2), a = this.#address(d, 8, w);
        ops.push(...a.pre, { bytes: [...a.rex, 0x8d, ...a.tail], asm: `lea ${regName(d, w ? 8 : 4)}, ${a.ptr}` });
        return;
      }
      case 4: { // LEA RIP-relative
        const w = r.chance(1, 2), disp = r.u32();
        ops.push({
          bytes: [...rex(w, d, 0), 0x8d, modrm(0, d, 5), ...le32(disp)],
          asm: `lea ${regName(d, w ? 8 : 4)}, [rip + ${h32(disp)}]`,
        });
        return;
      }
      case 5: { // MOV r64, imm64 / MOV r32, imm32
        if (r.chance(1, 2)) return void ops.push(this.#movImm32(d, r.u32()));
        const v = (BigInt(r.u32()) << 32n) | BigInt(r.u32());
        ops.push({ bytes: [...rex(true, 0, d), 0xb8 + (d & 7), ...le64(v)], asm: `mov ${regName(d, 8)}, ${v}` });
        return;
      }
      case 6: { // MOV r64, r64 and TEST r64, r64
        const s = this.#reg();
        if (r.chance(1, 2)) {
          ops.push({
            bytes: [...rex(true, s, d), 0x89, modrm(3, s, d)],
            asm: `mov ${regName(d, 8)}, ${regName(s, 8)}`,
          });
          return;
        }
        ops.push({
          bytes: [...rex(true, s, d), 0x85, modrm(3, s, d)],
          asm: `test ${regName(d, 8)}, ${regName(s, 8)}`,
          ...aluFlags(4),
        });
        return this.#jcc();
      }
      default:
        return this.#jcc();
    }
  }

  /** A Jcc over a `xor r64, imm8`, so that both paths leave different registers. */
  #jcc(): void {
    const r = this.#r, cc = r.below(16), x = this.#reg();
    this.#ops.push({ bytes: [0x70 + cc, 4], asm: `j${CC[cc]} +4`, reads: COND_READS[cc >> 1] });
    this.#ops.push({ bytes: [...rex(true, 0, x), 0x83, modrm(3, 6, x), 0x5a], asm: `xor ${regName(x, 8)}, 0x5a` });
  }
}

const PROGRAMS = 300, SEED = 0x64e0;

test("block compiler, 64-bit memory operands, LEA and MOV imm: random programs, eager = off", () => {
  using kvmOff = openEmu("off");
  using kvmEager = openEmu("eager");
  using off = runner("off", kvmOff, 64, { remap: REMAP });
  using eager = runner("eager", kvmEager, 64, { remap: REMAP });
  const failures: string[] = [];
  for (let i = 0; i < PROGRAMS; i++) {
    const r = new Prng(SEED, i);
    const p = new Generator(r).program(r.range(4, 24));
    const a = off.run(p), b = eager.run(p);
    const diff = differences(a, b, ARITH);
    if (a.exit !== "hlt") diff.push("off did not halt");
    if (diff.length) failures.push(`${diff.join(", ")}\n${report(p, `program ${i}`, [["off", a], ["eager", b]])}`);
  }
  assert.equal(failures.length, 0, `${failures.length} of ${PROGRAMS} differ; the first:\n${failures[0]}`);
  assert.ok(eager.stats().compiled > 0);
});

/**
 * One block of the instructions above (MOV r64 load and store, ADD r64 from memory, CMP and TEST with memory, LEA
 * r64 and r32, RIP-relative LEA, MOV r32/r64, imm with REX.B, MOV and TEST between registers), run in eager mode:
 * its code calls no semantic function (each `f<i>(c, d<i>)` of codegen.ts would be one).
 */
const WRITTEN_OUT = [
  "41 b8 80 9f 00 00", // mov r8d, 0x9f80
  "49 b9 08 00 00 00 00 00 00 00", // mov r9, 8
  "4b 8b 44 c8 10", // mov rax, [r8 + r9*8 + 0x10]
  "4b 89 44 48 20", // mov [r8 + r9*2 + 0x20], rax
  "49 03 40 08", // add rax, [r8 + 8]
  "49 39 00", // cmp [r8], rax
  "49 85 40 18", // test [r8 + 0x18], rax
  "49 83 78 10 05", // cmp qword [r8 + 0x10], 5
  "4b 8d 0c 88", // lea rcx, [r8 + r9*4]
  "43 8d 54 08 f0", // lea edx, [r8 + r9 - 0x10]
  "48 8d 35 00 01 00 00", // lea rsi, [rip + 0x100]
  "48 89 c7", // mov rdi, rax
  "48 85 ff", // test rdi, rdi
  "74 00", // jz +0
  "f4", // hlt
];

test("block compiler, 64-bit: memory moves, ALU memory sources, LEA and MOV imm are written out, not called", () => {
  using kvm = openEmu("eager");
  using g = runner("eager", kvm, 64, { remap: REMAP });
  const code = WRITTEN_OUT.flatMap((s) => s.split(" ").map((b) => parseInt(b, 16)));
  const data = Array.from({ length: DATA_SIZE }, (_, i) => i);
  const regs = GPR.map((_, i) => (i === RSP ? BigInt(LM_STACK) : 0n));
  const ops = [{ bytes: code, asm: "(the listing above)" }];
  const out = g.run({ bits: 64, ops, code, regs, rflags: 2n, data, dataAt: DATA_AT, undefinedFlags: 0 });
  assert.equal(out.exit, "hlt");
  const blocks = [...g.emu().cpu.blocks.byAddress.values()];
  assert.ok(blocks.length > 0, "nothing was compiled");
  const calls = blocks.flatMap((b) => b.fn.toString().match(/\bf\d+\(c, d\d+\)/g) ?? []);
  assert.deepEqual(calls, [], "the compiled block calls semantic functions");
});
