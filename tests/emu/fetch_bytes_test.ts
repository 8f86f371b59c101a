/**
 * The bytes a cached instruction record keeps (Insn.raw, compared with
 * memory once a run to notice the host's writes between runs): the records
 * the interpreter decodes in a code page after its first are views of one
 * copy of the page (fetch.ts instructionBytes), not an array each (issue
 * 14: cached records are what Deno's young-generation collections copy).
 * The copy is made again when the host has rewritten bytes since, so that
 * a record always keeps the bytes it was decoded from.
 *
 * @module
 */
import assert from "node:assert/strict";
import { cpuOf, makeGuest, nextOut, type TestGuest } from "../../emu/_testing.ts";
import type { Cpu } from "../../emu/x86/cpu.ts";
import { test } from "../_support/harness.ts";

/** The CPU of `g`, running its code in the interpreter (the records under test are the interpreter's). */
function interpreted(g: TestGuest): Cpu {
  const cpu = cpuOf(g);
  cpu.blocks.threshold = 0;
  return cpu;
}

/** `L: mov al, 1; out 0x10, al; mov al, 2; out 0x10, al; jmp L` at 0x1000 (the second immediate at 0x1005). */
const CODE = [0xb0, 0x01, 0xe6, 0x10, 0xb0, 0x02, 0xe6, 0x10, 0xeb, 0xf6];

test("the records decoded in a code page after its first keep views of one copy of the page", () => {
  const g = makeGuest({ code: CODE });
  const cpu = interpreted(g);
  assert.deepEqual([nextOut(g), nextOut(g)], [1, 2]);
  const page = cpu.code.get(1);
  assert.ok(page, "page 1 holds decoded code");
  const [first, second, third, fourth] = [page[0], page[2], page[4], page[6]];
  assert.ok(first?.raw && second?.raw && third?.raw && fourth?.raw, "four records with their bytes");
  assert.deepEqual([...third.raw], [0xb0, 0x02]);
  assert.equal(second.raw.buffer.byteLength, 4096, "a view of the page's copy");
  assert.equal(third.raw.buffer, second.raw.buffer, "one copy for the page");
  assert.equal(fourth.raw.buffer, second.raw.buffer, "one copy for the page");
});

test("a record decoded after the host rewrote its bytes keeps the new bytes, not the page copy's old ones", () => {
  const g = makeGuest({ code: CODE });
  interpreted(g);
  // Run 1 decodes 0x1000 and 0x1002: the page's copy is made, holding `mov al, 2` at 0x1004.
  assert.equal(nextOut(g), 1);
  g.mem[0x1005] = 3;
  // Run 2 decodes 0x1004 from the new bytes; run 3 goes round to the first OUT again.
  assert.deepEqual([nextOut(g), nextOut(g)], [3, 1]);
  // The host writes the old byte back: the record of `mov al, 3` no longer matches memory and is decoded again (had
  // it kept the copy's old bytes, it would match them and run with its old immediate).
  g.mem[0x1005] = 2;
  assert.equal(nextOut(g), 2);
});
