/**
 * Forward branches inside compiled blocks (emu/x86/jit/codegen.ts
 * forwardSkips): a Jcc whose target is a later instruction of its own
 * block skips the instructions between inside the block's code, as an
 * `if`, instead of leaving the block through a side exit.
 *
 * - A loop whose body holds an if (a Jcc over an ADD) runs as one looping
 *   block: its taken branch does not leave the block, so the block's code is
 *   called a few times, not once per iteration.
 * - Seeded random programs of nested and crossing forward Jccs (short and
 *   near) over ALU operations of every size (whose flags the two ways leave
 *   differently in the block's locals), ADC/SBB and SETcc (called through
 *   their semantics), loads, stores and shifts, some loading from a page that
 *   is not present inside a skipped range, run with the compiler "eager" and
 *   "off": registers, RIP, the arithmetic flags, the data and the exit (a
 *   fault's state included) must agree.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Prng } from "../../../diff/prng.ts";
import { test } from "../../_support/harness.ts";
import {
  ABSENT,
  ARITH,
  type Bits,
  DATA,
  describeExit,
  differences,
  emuStats,
  GPR,
  guest,
  le32,
  type Op,
  openEmu,
  type Outcome,
  type Program,
  report,
  rex,
  RSP,
  runner,
} from "./_jit.ts";
import { collect, hex, KSTACK } from "../../_support/sys.ts";
import { LM_STACK } from "../../_support/long_mode.ts";

// ---------------------------------------------------------------------------------------------------------------
// 1. A taken forward branch stays in the block

/** The sum of the odd numbers of 1..1000 in a loop whose body skips the ADD for even ECX, then out 0xe9, HLT. */
const IF_LOOP: Record<Bits, string> = {
  // mov ecx, 1000 / xor eax, eax / L: test cl, 1 / jz S / add eax, ecx / S: inc edx / dec ecx / jnz L / out / hlt
  32: "b9e8030000 31c0 f6c101 7402 01c8 42 49 75f5 e7e9 f4",
  // the same with 64-bit ADD, INC and DEC (inc edx: ff c2, the 0x42 of 32-bit code being REX in 64-bit mode)
  64: "b9e8030000 4831c0 f6c101 7403 4801c8 ffc2 48ffc9 75f1 e7e9 f4",
};

for (const bits of [32, 64] as const) {
  test(`block compiler, ${bits}-bit: a loop whose body skips an ADD runs in one block, its branch taken inside`, () => {
    using kvm = openEmu("eager");
    using g = guest(kvm, bits, hex(IF_LOOP[bits]));
    const { out, exit } = collect(g.vcpu);
    assert.deepEqual(out, [250000]);
    assert.equal(exit.reason, "hlt", describeExit(exit));
    const s = emuStats(g.vm, g.mem);
    // Leaving through a side exit on each of the 500 taken branches would call compiled code over 1000 times.
    assert.ok(s.executed < 50, `the blocks were called ${s.executed} times: ${JSON.stringify(s)}`);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Differential: nested and crossing forward branches, compiler vs interpreter

/** Registers the programs change: all but ESP. */
const REGS = [0, 1, 2, 3, 5, 6, 7];
/** Bytes of data the programs load and store, at DATA. */
const DATA_SIZE = 64;
/** ModRM and SIB of an absolute disp32 (no base, no index: the same in both modes), then the displacement. */
const abs = (reg: number, at: number) => [((reg & 7) << 3) | 4, 0x25, ...le32(at)];
const rm3 = (reg: number, rm: number) => 0xc0 | ((reg & 7) << 3) | (rm & 7);

/** One random straight-line instruction. */
function straight(r: Prng, bits: Bits, faults: boolean): Op {
  const a = r.pick(REGS), b = r.pick(REGS), k = r.below(8);
  const size = r.pick(bits === 64 ? [1, 2, 4, 4, 8, 8] : [1, 2, 4, 4]);
  const pre = size === 2 ? [0x66] : size === 8 ? rex(true, 0, 0) : [];
  const w = size === 1 ? 0 : 1;
  switch (r.below(faults ? 11 : 10)) {
    case 0:
    case 1:
      return { bytes: [...pre, k * 8 + w, rm3(b, size === 1 ? a & 3 : a)], asm: `alu${k} r${a}, r${b} (${size})` };
    case 2:
      return { bytes: [...pre, 0x83, rm3(k, a), r.below(256)], asm: `alu${k} r${a}, imm8 (${size === 1 ? 4 : size})` };
    case 3:
      return { bytes: [...pre, 0xfe + w, rm3(r.below(2), size === 1 ? a & 3 : a)], asm: `inc/dec r${a} (${size})` };
    case 4:
      return { bytes: [0xb8 + a, ...le32(r.u32())], asm: `mov r${a}, imm32` };
    case 5:
      return { bytes: [...pre, 0x8b, ...abs(a, DATA + r.below(DATA_SIZE - 8))], asm: `mov r${a}, [data] (${size})` };
    case 6:
      return { bytes: [...pre, 0x89, ...abs(a, DATA + r.below(DATA_SIZE - 8))], asm: `mov [data], r${a} (${size})` };
    case 7:
      return { bytes: [...pre, 0x03, ...abs(a, DATA + r.below(DATA_SIZE - 8))], asm: `add r${a}, [data] (${size})` };
    case 8:
      return { bytes: [0x0f, 0x90 + r.below(16), rm3(0, a & 3)], asm: `setcc r${a & 3}b` };
    case 9:
      return { bytes: [...pre, 0xc1, rm3(r.pick([0, 4, 5, 7]), a), r.range(1, 31)], asm: `shift r${a} (${size})` };
    default:
      return { bytes: [0x8b, ...abs(a, ABSENT + 8)], asm: `mov r${a}, [absent]` };
  }
}

/** A program of `n` steps, a third of them forward Jccs over the next 1 to 6 steps, then HLT. */
function program(r: Prng, bits: Bits, n: number, faults: boolean): Program {
  // The steps first; the Jccs' displacements once the lengths of what they skip are known.
  const steps: ({ op: Op } | { cc: number; over: number; near: boolean })[] = [];
  for (let i = 0; i < n; i++) {
    if (r.chance(1, 3)) steps.push({ cc: r.below(16), over: r.range(1, 6), near: r.chance(1, 5) });
    else {steps.push({
        op: r.chance(1, 8)
          ? { bytes: [0x11 + 8 * r.below(2), rm3(r.pick(REGS), r.pick(REGS))], asm: "adc/sbb" }
          : straight(r, bits, faults),
      });}
  }
  steps.push({ op: { bytes: [0xf4], asm: "hlt" } });
  const lengths = steps.map((s) => "op" in s ? s.op.bytes.length : s.near ? 6 : 2);
  const ops: Op[] = steps.map((s, i) => {
    if ("op" in s) return s.op;
    const over = Math.min(s.over, steps.length - 1 - i);
    const rel = lengths.slice(i + 1, i + 1 + over).reduce((t, l) => t + l, 0);
    return s.near
      ? { bytes: [0x0f, 0x80 + s.cc, ...le32(rel)], asm: `jcc${s.cc} near over ${over}` }
      : { bytes: [0x70 + s.cc, rel], asm: `jcc${s.cc} over ${over}` };
  });
  const regs = GPR.map((_, i) =>
    i === RSP
      ? BigInt(bits === 64 ? LM_STACK : KSTACK)
      : bits === 64 && r.chance(1, 2)
      ? (BigInt(r.u32()) << 32n) | BigInt(r.u32())
      : BigInt(r.u32())
  );
  const data = Array.from({ length: DATA_SIZE }, () => r.below(256));
  const code = ops.flatMap((o) => o.bytes);
  return { bits, ops, code, regs, rflags: 2n | BigInt(r.u32() & ARITH), data, undefinedFlags: 0 };
}

const PROGRAMS = 300, SEED = 0xf0d;

for (const bits of [32, 64] as const) {
  for (const faults of [false, true]) {
    const what = faults ? ", some loading from a page not present" : "";
    test(`block compiler differential, ${bits}-bit: nested and crossing forward Jccs${what}, eager = off`, () => {
      using kvmOff = openEmu("off");
      using kvmEager = openEmu("eager");
      using off = runner("off", kvmOff, bits, { paging: faults });
      using eager = runner("eager", kvmEager, bits, { paging: faults });
      const failures: string[] = [];
      let faulted = 0;
      for (let i = 0; i < PROGRAMS; i++) {
        const r = new Prng(SEED + bits + (faults ? 1 : 0), i);
        const p = program(r, bits, r.range(6, 40), faults);
        const a = off.run(p), b = eager.run(p);
        if (a.exit !== "hlt") faulted++;
        const diff = differences(a, b, ARITH);
        if (diff.length) {
          const results: [string, Outcome][] = [["off", a], ["eager", b]];
          failures.push(`eager vs off: ${diff.join(", ")}\n${report(p, `program ${i}`, results)}`);
        }
      }
      assert.equal(failures.length, 0, `${failures.length} of ${PROGRAMS} differ; the first:\n${failures[0]}`);
      // The fault variant must fault in some programs (and halt in the others).
      if (faults) assert.ok(faulted > 0 && faulted < PROGRAMS, `${faulted} of ${PROGRAMS} programs faulted`);
    });
  }
}
