/**
 * templates.ts flagsDead: a multiply (MUL, IMUL) whose flags are set again before anything can see them reads none
 * of the flags before it (Site.flagsDead), so that AMD's MUL at the top of a loop (the kernel's mpihelp_submul_1 in
 * 32-bit mode: MUL; ADD; ADC ... INC; JNZ) neither has the loop write out the flags it carries nor reads them back.
 * Decoded instruction runs, in 32- and 64-bit mode: what makes the flags dead (ALU operations and TEST on registers,
 * CMP, with MOV, MOVZX, MOVSXD and LEA between) and what keeps them alive (ADC and SBB, INC, a Jcc, SETcc, a load or
 * an ALU operation with a memory operand that may fault, LOCK, the end of the path); then the code of the MUL and IMUL
 * templates with and without it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { decode } from "../../../emu/x86/decode.ts";
import type { Insn } from "../../../emu/x86/insn.ts";
import { OP_MAPS } from "../../../emu/x86/optable.ts";
import { OP_MAPS64 } from "../../../emu/x86/long/optable64.ts";
import { flagsDead, template } from "../../../emu/x86/jit/templates.ts";
import { templateSite } from "./_jit.ts";
import { test } from "../../_support/harness.ts";

/** Decodes the instructions `bytes` (one array each) in 32-bit (4) or 64-bit (8) mode. */
function insns(mode: 4 | 8, ...bytes: number[][]): Insn[] {
  return bytes.map((b) => {
    const d = decode(mode === 8 ? OP_MAPS64 : OP_MAPS, new Uint8Array(b), 0, b.length, mode);
    assert.ok(d !== null && d.len === b.length, `${b.map((x) => x.toString(16)).join(" ")} decodes`);
    return d;
  });
}

const MUL_M32 = [0xf7, 0x24, 0x8e]; // mul dword [esi + ecx*4]
const ADD_EAX_EBX = [0x01, 0xd8]; // add eax, ebx
const ADC_EDX_0 = [0x83, 0xd2, 0x00]; // adc edx, 0
const MOV_EBX_EDX = [0x89, 0xd3]; // mov ebx, edx
const INC_ECX = [0x41]; // inc ecx (32-bit mode)
const JNZ = [0x75, 0xf0];
const LOAD = [0x8b, 0x06]; // mov eax, [esi]
const ADD_MEM = [0x03, 0x06]; // add eax, [esi]
const CMP_EAX_EBX = [0x39, 0xd8];
const TEST_EAX = [0x85, 0xc0];
const LEA = [0x8d, 0x44, 0x08, 0x04]; // lea eax, [eax + ecx + 4]
const MOVZX = [0x0f, 0xb6, 0xc3]; // movzx eax, bl
const SETB = [0x0f, 0x92, 0xc0]; // setb al
const SUB_EAX_IMM = [0x2d, 0x01, 0x00, 0x00, 0x00]; // sub eax, 1
const IMUL_R32 = [0x0f, 0xaf, 0xc3]; // imul eax, ebx

test("flagsDead: a multiply's flags set again by a register ALU operation before anything sees them", () => {
  const dead = (mode: 4 | 8, ...bytes: number[][]) => {
    const list = insns(mode, ...bytes);
    return flagsDead(list, 0, list.length);
  };
  // The 32-bit loop of mpi.asm: MUL; ADD; ADC...
  assert.equal(dead(4, MUL_M32, ADD_EAX_EBX, ADC_EDX_0, MOV_EBX_EDX, INC_ECX, JNZ), true);
  assert.equal(dead(4, MUL_M32, MOV_EBX_EDX, LEA, MOVZX, CMP_EAX_EBX), true);
  assert.equal(dead(4, MUL_M32, TEST_EAX), true);
  assert.equal(dead(4, MUL_M32, SUB_EAX_IMM), true);
  assert.equal(dead(4, IMUL_R32, ADD_EAX_EBX), true);
  // Read, or seen where a fault or the next block may look.
  assert.equal(dead(4, MUL_M32, ADC_EDX_0), false, "ADC reads CF");
  assert.equal(dead(4, MUL_M32, INC_ECX, ADD_EAX_EBX), false, "INC keeps CF");
  assert.equal(dead(4, MUL_M32, JNZ), false, "a Jcc reads them");
  assert.equal(dead(4, MUL_M32, SETB, ADD_EAX_EBX), false, "SETcc reads them");
  assert.equal(dead(4, MUL_M32, LOAD, ADD_EAX_EBX), false, "a load may fault with them in EFLAGS");
  assert.equal(dead(4, MUL_M32, ADD_MEM), false, "so may a memory source");
  assert.equal(dead(4, MUL_M32, MOV_EBX_EDX), false, "the path ends: the next block may read them");
  assert.equal(dead(4, MUL_M32, [0xf0, 0x01, 0xd8]), false, "LOCK ADD on registers raises #UD");
  // Only multiplies are asked: ADC computes its result from CF.
  assert.equal(dead(4, ADC_EDX_0, ADD_EAX_EBX), false);
  // `end` bounds the path: an ADD past it (another path of the block) does not count.
  const list = insns(4, MUL_M32, MOV_EBX_EDX, ADD_EAX_EBX);
  assert.equal(flagsDead(list, 0, 2), false);
  // 64-bit mode: MUL r/m64 and IMUL r64, r/m64, with MOVSXD and 64-bit ALU operations.
  assert.equal(dead(8, [0x48, 0xf7, 0x26], [0x48, 0x63, 0xc1], [0x48, 0x01, 0xd8]), true);
  assert.equal(dead(8, [0x48, 0x0f, 0xaf, 0xc1], [0x48, 0x11, 0xd8]), false, "ADC r64 reads CF");
  assert.equal(dead(8, [0x48, 0x0f, 0xaf, 0xc1], [0x48, 0x39, 0xd8]), true);
});

/** A site in a block on AMD, after a flag producer that left the flags in the CPU. */
const SITE = templateSite("amd");

test("flagsDead: AMD's MUL and IMUL templates read no flags before them when theirs are dead", () => {
  for (
    const [mode, bytes] of [
      [4, MUL_M32],
      [4, IMUL_R32],
      [8, [0x48, 0xf7, 0x26]],
      [8, [0xf7, 0x26]],
      [8, [0x48, 0x0f, 0xaf, 0xc1]],
    ] as const
  ) {
    const [d] = insns(mode, [...bytes]);
    const live = template(d, SITE)?.code, dead = template(d, { ...SITE, flagsDead: true })?.code;
    assert.ok(live !== undefined && dead !== undefined, "a template");
    assert.match(live, /P = c\.arith\(\)/, "live: AMD keeps SF, ZF, AF, PF of the CPU's flags");
    assert.doesNotMatch(dead, /c\.arith\(\)|\bP\b/, "dead: nothing read");
    assert.match(dead, /E = \(T1 \? 2049 : 0\)/, "dead: CF and OF only");
  }
});
