/**
 * memory.ts: a vCPU's software TLB levels are made when it needs them (the
 * CPL 3 level only once it runs at CPL 3) and a released Memory gives them
 * back, emptied, for the next vCPU to take (issue 14: a short-lived VM's TLB
 * arrays were the bulk of what it allocated). A level taken again holds
 * nothing of the vCPU that gave it back, and a released Memory that is used
 * again takes levels of its own. Runs in the suite's compiler mode.
 *
 * @module
 */
import assert from "node:assert/strict";
import { cpuOf, makeGuest, nextOut, type TestGuest } from "../../emu/_testing.ts";
import { test } from "../_support/harness.ts";

/** mov al, [0x2000]; out 0x10, al; jmp back: the byte at 0x2000, over and over. */
const READER = [0xa0, 0x00, 0x20, 0xe6, 0x10, 0xeb, 0xf9];

/** A real-mode guest of READER whose byte at 0x2000 is `value`. */
function reader(value: number): TestGuest {
  const g = makeGuest({ code: READER });
  g.mem[0x2000] = value;
  return g;
}

/** Guests that hold (and keep) every spare level, so that the next release is the only one spare. */
function drain(): TestGuest[] {
  return Array.from({ length: 5 }, () => reader(0));
}

test("a released real-mode vCPU gives back one level, emptied, and the next vCPU takes it", () => {
  const held = drain();
  const a = reader(0x11);
  assert.equal(nextOut(a), 0x11);
  const mem = cpuOf(a).mem, level = mem.rTag, bytes = mem.rBuf;
  assert.ok(level.some((t) => t >= 0), "the read filled an entry");
  mem.release();
  assert.notEqual(mem.rTag, level, "a released Memory no longer reads the level");
  assert.ok(level.every((t) => t === -1), "tags emptied");
  assert.ok(bytes.every((b) => b.length === 0), "no slot bytes held");
  // It filled its entries with the same tags as `a` (one flush on its first run): without the emptying, it would
  // read a's byte through a's entry.
  const b = reader(0x22);
  assert.equal(cpuOf(b).mem.rTag, level, "the next vCPU takes the level given back");
  assert.equal(nextOut(b), 0x22);
  // Real mode never made a CPL 3 level: only one was given back, so the vCPU after b makes its own.
  const c = reader(0x33);
  assert.notEqual(cpuOf(c).mem.rTag, level);
  assert.equal(nextOut(c), 0x33);
  for (const g of [...held, a, b, c]) g.k.close(g.vcpu);
});

test("a released Memory used again takes levels of its own, at either privilege level", () => {
  const held = drain();
  const a = reader(0x44);
  assert.equal(nextOut(a), 0x44);
  const mem = cpuOf(a).mem;
  mem.release();
  const b = reader(0x55);
  assert.equal(nextOut(b), 0x55);
  // a runs on (as exec.ts releaseCode allows): it reads its own memory, b keeps reading its own.
  assert.equal(nextOut(a), 0x44);
  assert.notEqual(mem.rTag, cpuOf(b).mem.rTag);
  assert.equal(nextOut(b), 0x55);
  // At CPL 3 after a release: a fill takes both levels, and each serves its own entries.
  mem.release();
  mem.setUser(true);
  assert.equal(mem.read8(0x2000), 0x44);
  const user = mem.rTag;
  mem.setUser(false);
  assert.notEqual(mem.rTag, user);
  assert.equal(mem.read8(0x2000), 0x44);
  mem.setUser(true);
  assert.equal(mem.rTag, user);
  assert.equal(nextOut(b), 0x55);
  for (const g of [...held, a, b]) g.k.close(g.vcpu);
});
