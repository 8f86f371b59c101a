/**
 * fetch.ts codePage: a page whose decode cache a write dropped gets that
 * cache back, emptied, when it is decoded again, instead of a new 32 KiB
 * array at each write (issue 14: code that writes its own page made hundreds
 * of them in a 20 ms run). What it held is gone: the page runs the code
 * written. Runs in the suite's compiler mode.
 *
 * @module
 */
import assert from "node:assert/strict";
import { cpuOf, makeGuest, nextOut } from "../../emu/_testing.ts";
import { test } from "../_support/harness.ts";

// L: mov al, 1 (its immediate at 0x1001); out 0x10, al; inc byte [0x1001]; jmp L
const WRITER = [0xb0, 0x01, 0xe6, 0x10, 0xfe, 0x06, 0x01, 0x10, 0xeb, 0xf6];

test("a code page written by its own code keeps its decode cache, emptied, and runs the new code", () => {
  const g = makeGuest({ code: WRITER });
  const cpu = cpuOf(g);
  assert.equal(nextOut(g), 1);
  assert.equal(nextOut(g), 2);
  const cache = cpu.code.get(1);
  assert.ok(cache !== undefined, "page 1 decoded");
  for (let i = 3; i <= 300; i++) assert.equal(nextOut(g), i & 0xff);
  assert.equal(cpu.code.get(1), cache, "the same array, decoded again after each write");
  // The host rewrites the immediate between runs; the guest's INC comes first, then the MOV runs it.
  g.mem[0x1001] = 0x80;
  assert.equal(nextOut(g), 0x81);
  assert.equal(nextOut(g), 0x82);
});

test("code the host rewrites between runs is decoded again, none of the old records run", () => {
  // L: mov al, [0x2000]; out 0x10, al; jmp L
  const g = makeGuest({ code: [0xa0, 0x00, 0x20, 0xe6, 0x10, 0xeb, 0xf9] });
  g.mem[0x2000] = 7;
  const cpu = cpuOf(g);
  assert.equal(nextOut(g), 7);
  assert.equal(nextOut(g), 7);
  const cache = cpu.code.get(1)!;
  assert.ok(cache.some((d) => d !== undefined));
  // The host writes a MOV AL, 9 and a NOP over the load: the records decoded before must not run.
  g.mem.set([0xb0, 0x09, 0x90], 0x1000);
  assert.equal(nextOut(g), 9);
  assert.equal(nextOut(g), 9);
  assert.equal(cpu.code.get(1), cache, "decoded again into the same array");
});

test("code that writes its own page within one run runs each version it writes", () => {
  // mov cx, 5; L: mov al, 1 (its immediate at 0x1004); inc byte [0x1004]; loop L; out 0x10, al; hlt
  const g = makeGuest({ code: [0xb9, 0x05, 0x00, 0xb0, 0x01, 0xfe, 0x06, 0x04, 0x10, 0xe2, 0xf8, 0xe6, 0x10, 0xf4] });
  // The MOV ran with 1, 2, 3, 4 and 5: a record of an earlier version left in the cache (it was checked in this
  // run) would load 1 each time.
  assert.equal(nextOut(g), 5);
  assert.equal(g.mem[0x1004], 6);
});
