/**
 * The lazy flags of a 32-bit ADC and SBB in a compiled block (templates.ts carried32, F_ADC and F_SBB), and of the ALU
 * operations and INC/DEC on a memory destination of 8, 16 and 32 bits (rmw, rmwKind): the operands, the result and the
 * carry-in stay in the block's locals, and CF, the conditions and the flags written out at the block's end are
 * computed from them; where the memory operand straddles a page, the semantic function runs and its lazy record is
 * read back into the locals. The cases where the carry-in decides CF are those a formula without it gets
 * wrong: a sum that wraps to its first operand again (B = 2^32 - 1 with a carry-in: CF set; B = 0 without: clear) and
 * a difference of equal operands (a borrow only with a borrow-in). Every pair of edge operands with CF clear and set
 * before: ADC or SBB, then a second ADC or SBB that reads its CF, SETB, SETBE, SETL, SETLE, SETO and SETS of each, and
 * a shift by CL = 0 that keeps the second's flags, in 32- and 64-bit mode; `blockCompiler: "eager"` must leave what `"off"` does (registers, RIP, the arithmetic flags).
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { ARITH, type Bits, DATA, differences, le32, type Op, openEmu, type Program, report, runner } from "./_jit.ts";
import { decode } from "../../../emu/x86/decode.ts";
import { OP_MAPS } from "../../../emu/x86/optable.ts";
import { producerOf } from "../../../emu/x86/jit/templates.ts";
import { F_ADC, F_DEC, F_SBB, F_SUB } from "../../../emu/x86/flags.ts";

const EDGES = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** ADC (11 /r) or SBB (19 /r) r/m32, r32 on registers: `rm` gets `reg`. */
function carried(sbb: boolean, rm: number, reg: number): Op {
  const names = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
  return {
    bytes: [sbb ? 0x19 : 0x11, 0xc0 | (reg << 3) | rm],
    asm: `${sbb ? "sbb" : "adc"} ${names[rm]}, ${names[reg]}`,
  };
}

/** SETcc (0F 90+cc) to a byte register (AL, CL, DL, BL; in 64-bit mode with a REX prefix SIL, DIL...). */
function setcc(cc: number, rm: number, bits: Bits): Op {
  const rex = bits === 64 && rm >= 4 ? [0x40 | (rm >> 3)] : [];
  return { bytes: [...rex, 0x0f, 0x90 | cc, 0xc0 | (rm & 7)], asm: `set${cc.toString(16)} r8(${rm})` };
}

/**
 * A program: ADC or SBB (`first`) EAX, EBX with CF `cin` before, its conditions into byte registers, then ADC or SBB
 * (`second`) ECX, EDX, which reads its CF, that one's conditions and a shift by CL = 0; HLT.
 */
function program(
  bits: Bits,
  first: Op,
  second: boolean,
  a: number,
  b: number,
  cin: number,
  at = DATA,
): Program {
  const ops: Op[] = [first];
  // B, BE, L, LE, O, S of the first into SI, DI (32-bit: one into each, the rest after the second, of it).
  if (bits === 64) {
    [0x2, 0x6, 0xc, 0xe, 0x0, 0x8].forEach((cc, i) => ops.push(setcc(cc, 8 + i, bits)));
  } else {
    ops.push(setcc(0x2, 6, bits), setcc(0x6, 7, bits));
  }
  ops.push(carried(second, 1, 2));
  ops.push(setcc(0x2, 3, bits), setcc(0x6, 5, bits));
  // A shift by CL = 0 keeps all the second's flags (eager.ts eagerOf of its locals).
  ops.push(
    { bytes: [0x89, 0xcd], asm: "mov ebp, ecx" },
    { bytes: [0xb9, 0, 0, 0, 0], asm: "mov ecx, 0" },
    { bytes: [0xd3, 0xe6], asm: "shl esi, cl" },
    { bytes: [0xf4], asm: "hlt" },
  );
  const regs = Array.from({ length: 16 }, () => 0n);
  [regs[0], regs[3], regs[1], regs[2], regs[4]] = [BigInt(a), BigInt(b), BigInt(b), BigInt(a), 0x8000n];
  return {
    bits,
    ops,
    code: ops.flatMap((o) => o.bytes),
    regs,
    rflags: BigInt(0x2 | cin),
    // The memory operand (`at`) holds `a` too, between other bytes.
    data: [0x5a, 0x5a, 0x5a, 0x5a, ...le32(a), 0xa5, 0xa5, 0xa5, 0xa5],
    dataAt: at - 4,
    undefinedFlags: 0,
  };
}

/**
 * An ALU operation (`kind`: 0-7 in opcode order, 8 INC, 9 DEC) on the memory at `at` (SIB, no base or index: absolute
 * in both modes) of `size` bytes, with EBX (BL, BX) or an immediate (`imm`).
 */
function rmw(kind: number, size: 1 | 2 | 4, at: number, imm: boolean): Op {
  const prefix = size === 2 ? [0x66] : [];
  const w = size === 1 ? 0 : 1;
  const [op, reg, tail] = kind >= 8
    ? [0xfe | w, kind - 8, []]
    : imm
    ? [0x80 | w, kind, size === 1 ? [0x81] : size === 2 ? [0x81, 0x80] : [0x81, 0, 0, 0x80]]
    : [(kind << 3) | w, 3, []];
  const name = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "inc", "dec"][kind];
  return {
    bytes: [...prefix, op, (reg << 3) | 4, 0x25, ...le32(at), ...tail],
    asm: `${name}${size * 8} [${at}]${kind < 8 ? (imm ? ", imm" : ", reg") : ""}`,
  };
}

test("ADC, SBB of 32 bits and the ALU operations on memory of 8, 16, 32 bits have lazy flag kinds", () => {
  const kind = (bytes: number[]) => producerOf(decode(OP_MAPS, new Uint8Array(bytes), 0, bytes.length, 4)!)?.fop;
  assert.equal(kind([0x11, 0xd8]), F_ADC);
  assert.equal(kind([0x19, 0xd8]), F_SBB);
  assert.equal(kind(rmw(5, 4, DATA, false).bytes), F_SUB);
  assert.equal(kind(rmw(2, 1, DATA, true).bytes), F_ADC);
  assert.equal(kind(rmw(9, 2, DATA, false).bytes), F_DEC);
});

for (const bits of [32, 64] as const) {
  test(`ALU operations and INC/DEC on memory with lazy flags, ${bits}-bit: eager = off, in a page and across pages`, () => {
    using eager = runner("eager", openEmu("eager"), bits);
    using off = runner("off", openEmu("off"), bits);
    let programs = 0;
    // In the page, the bytes change in place; across two pages, the semantic function runs (a page's end).
    for (const at of [DATA + 0x100, DATA + 0xffe]) {
      for (const size of [1, 2, 4] as const) {
        for (let kind = 0; kind < 10; kind++) {
          if (kind === 7) continue;
          for (const imm of kind < 8 ? [false, true] : [false]) {
            for (const [a, b] of [[0, 0xffffffff], [0xffffffff, 0xffffffff], [0x80000000, 1], [0x7fff, 0x8001]]) {
              for (const cin of [0, 1]) {
                const p = program(bits, rmw(kind, size, at, imm), kind !== 3, a, b, cin, at);
                const [x, y] = [eager.run(p), off.run(p)];
                assert.equal(x.exit, "hlt", report(p, "eager", [["eager", x]]));
                const diff = differences(x, y, ARITH);
                assert.deepEqual(diff, [], report(p, diff.join(", "), [["eager", x], ["off", y]]));
                programs++;
              }
            }
          }
        }
      }
    }
    assert.equal(programs, 2 * 3 * (7 * 2 + 2) * 4 * 2);
  });
}

for (const bits of [32, 64] as const) {
  test(`ADC and SBB of 32 bits with lazy flags, ${bits}-bit: eager = off on every edge pair and carry-in`, () => {
    using eager = runner("eager", openEmu("eager"), bits);
    using off = runner("off", openEmu("off"), bits);
    let programs = 0;
    for (const first of [false, true]) {
      for (const second of [false, true]) {
        for (const a of EDGES) {
          for (const b of EDGES) {
            for (const cin of [0, 1]) {
              const p = program(bits, carried(first, 0, 3), second, a, b, cin);
              const [x, y] = [eager.run(p), off.run(p)];
              assert.equal(x.exit, "hlt", report(p, "eager", [["eager", x]]));
              const diff = differences(x, y, ARITH);
              assert.deepEqual(diff, [], report(p, diff.join(", "), [["eager", x], ["off", y]]));
              programs++;
            }
          }
        }
      }
    }
    assert.equal(programs, 2 * 2 * EDGES.length * EDGES.length * 2);
    assert.ok(eager.stats().compiled > 0, "the programs ran compiled");
  });
}
