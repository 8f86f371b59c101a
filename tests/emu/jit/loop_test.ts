/**
 * Loops in compiled blocks (emu/x86/jit/codegen.ts): a block that branches
 * back to its own start keeps the flags of its last producer in locals from
 * one iteration to the next and writes them into the CPU only where
 * something could see them; 64-bit ALU templates compute their flags only
 * where they are read. Seeded random loops, in 32-bit protected mode and
 * 64-bit mode, whose bodies start with and contain instructions that read the
 * flags the iteration before left (ADC/SBB, SETcc, CMOVcc, PUSHF, INC/DEC,
 * rotates, AMD's IMUL), stores and loads, and whose back edges are produced by
 * 32- and 64-bit DEC/SUB/ADD, run with the compiler "eager" and "off" on both
 * personalities: registers, RIP, all six arithmetic flags and the data must
 * agree.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Prng } from "../../../diff/prng.ts";
import { test } from "../../_support/harness.ts";
import { ARITH, type Bits, DATA, differences, type Op, openEmu, type Outcome, report, rex, runner } from "./_jit.ts";
import type { Program, Vendor } from "./_jit.ts";
import { KSTACK } from "../../_support/sys.ts";
import { LM_STACK } from "../../_support/long_mode.ts";

/** Registers a loop body may change: eax, edx, ebx, esi, edi (ecx counts, esp is the stack). */
const BODY_REGS = [0, 2, 3, 6, 7];
const CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
const ALU = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
const SHIFT = ["rol", "ror", "", "", "shl", "shr", "", "sar"];

/** ModRM of a register pair. */
const rm3 = (reg: number, rm: number) => 0xc0 | ((reg & 7) << 3) | (rm & 7);
/** ModRM, SIB and disp32 of an absolute address (no base, no index: the same in both modes). */
const abs = (reg: number, at: number) => [(reg & 7) << 3 | 4, 0x25, at & 0xff, (at >>> 8) & 0xff, 0, 0];

/** One random body instruction of a loop in `bits`-bit code. */
function bodyOp(r: Prng, bits: Bits): Op {
  const a = r.pick(BODY_REGS), b = r.pick(BODY_REGS);
  const wide = bits === 64 && r.chance(1, 2);
  const w = wide ? rex(true, 0, 0) : [];
  const name = (n: number) => (wide ? "r" : "e") + ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"][n];
  switch (r.below(10)) {
    case 0:
    case 1: {
      const k = r.below(8);
      return { bytes: [...w, k * 8 + 1, rm3(b, a)], asm: `${ALU[k]} ${name(a)}, ${name(b)}` };
    }
    case 2: {
      const k = r.below(8), v = r.below(256);
      return { bytes: [...w, 0x83, rm3(k, a), v], asm: `${ALU[k]} ${name(a)}, ${(v << 24) >> 24}` };
    }
    case 3: {
      const k = r.below(2);
      return { bytes: [...w, 0xff, rm3(k, a)], asm: `${k ? "dec" : "inc"} ${name(a)}` };
    }
    case 4: {
      const k = r.pick([0, 1, 4, 5, 7]), n = r.range(1, 31);
      return { bytes: [0xc1, rm3(k, a), n], asm: `${SHIFT[k]} e${name(a).slice(1)}, ${n}` };
    }
    case 5:
      return { bytes: [0x0f, 0xaf, rm3(a, b)], asm: `imul e${name(a).slice(1)}, e${name(b).slice(1)}` };
    case 6: {
      const cc = r.below(16), byte = r.pick([0, 2, 3]);
      return { bytes: [0x0f, 0x90 + cc, rm3(0, byte)], asm: `set${CC[cc]} ${"a?db"[byte]}l` };
    }
    case 7: {
      const cc = r.below(16);
      return { bytes: [0x0f, 0x40 + cc, rm3(a, b)], asm: `cmov${CC[cc]} e${name(a).slice(1)}, e${name(b).slice(1)}` };
    }
    case 8: {
      const at = DATA + 4 * r.below(16), store = r.chance(1, 2);
      return {
        bytes: [store ? 0x89 : 0x8b, ...abs(a, at)],
        asm: store
          ? `mov [0x${at.toString(16)}], e${name(a).slice(1)}`
          : `mov e${name(a).slice(1)}, [0x${at.toString(16)}]`,
      };
    }
    default:
      return { bytes: [0x9c, 0x58 + 7], asm: "pushf; pop rdi" };
  }
}

/** The instructions that end an iteration: a counter update that sets the flags, and the branch back. */
function backEdge(r: Prng, bits: Bits, rel: number): Op[] {
  const wide = bits === 64 && r.chance(1, 2);
  const w = wide ? rex(true, 0, 0) : [];
  const c = wide ? "rcx" : "ecx";
  const [update, jcc] = r.pick<[Op, number]>([
    [{ bytes: [...w, 0xff, 0xc9], asm: `dec ${c}` }, 0x75],
    [{ bytes: [...w, 0x83, 0xe9, 1], asm: `sub ${c}, 1` }, r.pick([0x75, 0x77, 0x7f])],
    [{ bytes: [...w, 0x83, 0xc1, 0xff], asm: `add ${c}, -1` }, 0x72],
  ]);
  const back = -(rel + update.bytes.length + 2);
  return [update, { bytes: [jcc, back & 0xff], asm: `j${CC[jcc & 15]} top` }];
}

/** A random loop program: a flag-setting preamble, a loop of 1-8 body instructions run 1-40 times, HLT. */
function loopProgram(r: Prng, bits: Bits): Program {
  const pre = bodyOp(r, bits);
  const body = Array.from({ length: r.range(1, 8) }, () => bodyOp(r, bits));
  const size = body.reduce((n, o) => n + o.bytes.length, 0);
  const ops = [pre, ...body, ...backEdge(r, bits, size), { bytes: [0xf4], asm: "hlt" }];
  const regs = Array.from({ length: 16 }, (_, i) => {
    if (i === 4) return BigInt(bits === 64 ? LM_STACK : KSTACK);
    if (i === 1) return BigInt(r.range(1, 40));
    const lo = BigInt(r.chance(1, 4) ? r.pick([0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) : r.u32());
    return bits === 64 && r.chance(1, 2) ? (BigInt(r.u32()) << 32n) | lo : lo;
  });
  return {
    bits,
    ops,
    code: ops.flatMap((o) => o.bytes),
    regs,
    rflags: 0x2n | BigInt(r.below(2) ? 0x8d5 : 0),
    data: Array.from({ length: 64 }, () => r.below(256)),
    undefinedFlags: 0,
  };
}

const PROGRAMS = 150, SEED = 0x100b;
const VENDORS: readonly Vendor[] = ["intel", "amd"];

for (const bits of [32, 64] as const) {
  test(`block compiler loops, ${bits}-bit: flags carried across the back edge; eager = off (Intel, AMD)`, () => {
    const stack = new DisposableStack();
    using _ = stack;
    const runners = VENDORS.map((vendor) => ({
      vendor,
      off: stack.use(runner(`off (${vendor})`, stack.use(openEmu("off", vendor)), bits)),
      eager: stack.use(runner(`eager (${vendor})`, stack.use(openEmu("eager", vendor)), bits)),
    }));
    const failures: string[] = [];
    let looped = 0;
    for (let i = 0; i < PROGRAMS; i++) {
      const p = loopProgram(new Prng(SEED + bits, i), bits);
      const results: [string, Outcome][] = [];
      const diff: string[] = [];
      for (const { vendor, off, eager } of runners) {
        const before = eager.stats().executed;
        const a = off.run(p), b = eager.run(p);
        if (eager.stats().executed > before) looped++;
        results.push([off.name, a], [eager.name, b]);
        diff.push(...differences(a, b, ARITH).map((d) => `eager vs off (${vendor}): ${d}`));
        if (a.exit !== "hlt") diff.push(`off (${vendor}) did not halt: ${a.exit}`);
      }
      if (diff.length) failures.push(`${diff.join(", ")}\n${report(p, `program ${i}`, results)}`);
    }
    assert.equal(failures.length, 0, `${failures.length} of ${PROGRAMS} differ; the first:\n${failures[0]}`);
    // The eager runs ran compiled blocks (the loops are not left to the interpreter).
    assert.ok(looped >= PROGRAMS, `compiled blocks ran in ${looped} of ${2 * PROGRAMS} runs`);
  });
}

/** 64-bit addresses at the edges of the canonical halves, for {@linkcode edgeProgram}. */
const EDGE_ADDRESSES = [
  0x0000_7fff_ffff_fffcn, // a dword runs past 2^47 - 1: #GP
  0x0000_7fff_ffff_fff8n, // the last dword below 2^47: not mapped, #PF
  0x0000_8000_0000_0000n, // non-canonical: #GP
  0xffff_7fff_ffff_fffcn, // non-canonical: #GP
  0xffff_8000_0000_0000n, // canonical, upper half: not mapped, #PF
  0xffff_ffff_ffff_fffen, // a dword that wraps to 0
  BigInt(DATA) + 0x1_0000_0000n, // above 4 GiB: not mapped, #PF
  BigInt(DATA) + 8n, // mapped
];

/** `mov rbx, addr - 0x10; mov eax, [rbx + 0x10]` (a load) or `mov [rbx + rsi*2 + 0x10], eax` (rsi = 0), HLT. */
function edgeProgram(addr: bigint, store: boolean): Program {
  const base = (addr - 0x10n) & 0xffff_ffff_ffff_ffffn;
  const ops: Op[] = [
    {
      bytes: [0x48, 0xbb, ...Array.from({ length: 8 }, (_, i) => Number((base >> BigInt(8 * i)) & 0xffn))],
      asm: "mov rbx, imm64",
    },
    store
      ? { bytes: [0x89, 0x44, 0x73, 0x10], asm: "mov [rbx + rsi*2 + 0x10], eax" }
      : { bytes: [0x8b, 0x43, 0x10], asm: "mov eax, [rbx + 0x10]" },
    { bytes: [0xf4], asm: "hlt" },
  ];
  const regs = Array.from({ length: 16 }, (_, i) => i === 4 ? BigInt(LM_STACK) : i === 0 ? 0x1234_5678n : 0n);
  return {
    bits: 64,
    ops,
    code: ops.flatMap((o) => o.bytes),
    regs,
    rflags: 0x2n,
    data: new Array(64).fill(0),
    undefinedFlags: 0,
  };
}

test("block compiler, 64-bit loads and stores at the edges of the canonical halves: eager = off", () => {
  using off = runner("off", openEmu("off"), 64);
  using eager = runner("eager", openEmu("eager"), 64);
  const failures: string[] = [];
  for (const addr of EDGE_ADDRESSES) {
    for (const store of [false, true]) {
      const p = edgeProgram(addr, store);
      const a = off.run(p), b = eager.run(p);
      const diff = differences(a, b, ARITH);
      if (diff.length) {
        failures.push(`${diff.join(", ")}\n${report(p, `0x${addr.toString(16)}`, [["off", a], ["eager", b]])}`);
      }
    }
  }
  assert.equal(failures.length, 0, failures.join("\n\n"));
}, {
  unsanitized: "the emulator binds libc on first use (ffi/bind.ts) for the rest of the process: here, in this test",
});
