/**
 * Decoded records shared between addresses (fetch.ts sharedRecord): the
 * interpreter keeps one record for the same bytes in the same mode, however
 * many addresses hold them, so that a guest running through zeroed memory
 * or decoding its own rewritten code again and again does not keep a
 * record per address for the young generation's collections to copy (issue
 * 14). Such a record is compared with memory at each use: the host may
 * rewrite the bytes at one of its addresses between runs and not the others.
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

test("the same bytes at many addresses are one record", () => {
  // 1,000 `add [bx+si], al` (00 00) with AL 0, then `mov al, 7; out 0x10, al`.
  const g = makeGuest({ code: [...new Array(2000).fill(0), 0xb0, 0x07, 0xe6, 0x10] });
  const cpu = interpreted(g);
  assert.equal(nextOut(g), 7);
  const page = cpu.code.get(1);
  assert.ok(page, "page 1 holds decoded code");
  const records = new Set<unknown>();
  for (let off = 0; off < 2000; off += 2) records.add(page[off]);
  assert.equal(records.size, 1, `${records.size} records for 1,000 copies of 00 00`);
  assert.ok(page[0], "decoded");
});

/** `L: mov al, 0; add al, 1; add al, 1; out 0x10, al; jmp L` at 0x1000 (the ADDs' immediates at 0x1003 and 0x1005). */
const TWICE = [0xb0, 0x00, 0x04, 0x01, 0x04, 0x01, 0xe6, 0x10, 0xeb, 0xf6];

test("a record two addresses share notices the host's write to either between runs", () => {
  const g = makeGuest({ code: TWICE });
  const cpu = interpreted(g);
  assert.deepEqual([nextOut(g), nextOut(g)], [2, 2]);
  const page = cpu.code.get(1)!;
  assert.equal(page[4], page[2], "`add al, 1` at 0x1002 and 0x1004 is one record");
  // The host rewrites the second immediate: the first ADD still runs the shared record, which the second no longer
  // matches (had the first's check in this run stood for both, the second would add 1).
  g.mem[0x1005] = 5;
  assert.deepEqual([nextOut(g), nextOut(g)], [6, 6]);
  g.mem[0x1003] = 3;
  assert.deepEqual([nextOut(g), nextOut(g)], [8, 8]);
  g.mem[0x1003] = g.mem[0x1005] = 1;
  assert.deepEqual([nextOut(g), nextOut(g)], [2, 2]);
});
