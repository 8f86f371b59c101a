/**
 * The decoder's SSE paths: mandatory-prefix selection (F2/F3 win over 66),
 * the 0F38 and 0F3A maps, and VEX: outside 64-bit mode C4/C5 are LES/LDS
 * unless the next byte's top bits are 11; a legacy prefix before VEX is
 * #UD; VEX opcodes the core lacks (AVX) decode to an internal error.
 * Bytes assembled with nasm (bits 32) from the source in the comments.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { decode } from "../../../emu/x86/decode.ts";
import { OP_MAPS } from "../../../emu/x86/optable.ts";
import { execUd, execUnimplemented } from "../../../emu/x86/fault.ts";
import { loadFarPointer } from "../../../emu/x86/ops/mov.ts";
import { andn, movbeLoad } from "../../../emu/x86/ops/bmi.ts";
import type { Insn } from "../../../emu/x86/insn.ts";

function dec(hex: string, mode = 4): Insn {
  const b = Uint8Array.from(hex.match(/../g)!.map((x) => parseInt(x, 16)));
  const d = decode(OP_MAPS, b, 0, b.length, mode);
  if (!d) throw new Error(`${hex}: needs more bytes`);
  return d;
}

test("emu sse decode: mandatory prefixes select the entry; F2/F3 win over 66", () => {
  const row = OP_MAPS.two[0x58]!.pfx!;
  equal(dec("0f58c1").exec, row[0]!.exec, "addps");
  equal(dec("660f58c1").exec, row[1]!.exec, "addpd");
  equal(dec("f30f58c1").exec, row[2]!.exec, "addss");
  equal(dec("f20f58c1").exec, row[3]!.exec, "addsd");
  equal(dec("66f20f58c1").exec, row[3]!.exec, "66 F2: addsd");
  equal(dec("f2660f58c1").exec, row[3]!.exec, "F2 66: addsd");
  equal(dec("0f60c1").exec, OP_MAPS.two[0x60]!.pfx![0]!.exec, "punpcklbw mm0, mm1 (MMX)");
  equal(dec("0f53c1").exec, execUnimplemented, "rcpps (not implemented) is an internal error");
});

test("emu sse decode: 0F38 and 0F3A maps, with lengths", () => {
  const pshufb = dec("660f3800c1"); // pshufb xmm0, xmm1
  deepEqual([pshufb.op, pshufb.len], [0x200, 5]);
  const palignr = dec("660f3a0fc103"); // palignr xmm0, xmm1, 3
  deepEqual([palignr.op, palignr.len, palignr.imm], [0x30f, 6, 3]);
  equal(dec("0f38f006").exec, movbeLoad, "movbe eax, [esi]");
  equal(dec("f20f38f006").len, 5, "crc32 eax, byte [esi]");
});

test("emu sse decode: VEX versus LES/LDS outside 64-bit mode", () => {
  equal(dec("c406").exec, loadFarPointer, "les eax, [esi]");
  equal(dec("c54b04").exec, loadFarPointer, "lds ecx, [ebx+4]");
  const d = dec("c4e270f2c2"); // andn eax, ecx, edx
  deepEqual([d.exec, d.vex, d.vvvv, d.reg, d.rm, d.len], [andn, 1, 1, 0, 2, 5]);
  equal(dec("c5f058c2").exec, execUnimplemented, "vaddps xmm0, xmm1, xmm2 (AVX) is an internal error");
  equal(dec("66c4e270f2c2").exec, execUd, "66 before VEX");
  equal(dec("f3c4e270f2c2").exec, execUd, "F3 before VEX");
});
