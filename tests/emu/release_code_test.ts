/**
 * exec.ts releaseCode: a vCPU being closed gives up its decoded
 * instructions, compiled blocks and fetch cache, so that a closed vCPU,
 * which lies in the old generation until a full collection, holds no young
 * code pages that every scavenge until then would copy (issue 14). A vCPU
 * whose code was released decodes it again and runs on. Runs in the
 * suite's compiler mode.
 *
 * @module
 */
import assert from "node:assert/strict";
import { cpuOf, makeGuest, nextOut } from "../../emu/_testing.ts";
import { releaseCode } from "../../emu/x86/exec.ts";
import { test } from "../_support/harness.ts";

test("releaseCode empties the decode cache; the vCPU decodes its code again and runs on", () => {
  // L: inc al; out 0x10, al; jmp L
  const g = makeGuest({ code: [0xfe, 0xc0, 0xe6, 0x10, 0xeb, 0xfa] });
  const cpu = cpuOf(g);
  for (let i = 1; i <= 40; i++) assert.equal(nextOut(g), i);
  assert.ok(cpu.code.size > 0, "decoded code before");
  releaseCode(cpu);
  assert.equal(cpu.code.size, 0, "no decoded code after");
  assert.equal(cpu.mem.codePfns.size, 0, "no page watched for code writes");
  // The guest changes `inc al` to `dec al` (FE C8) through the host: the code decoded again is the new one.
  g.mem[0x1001] = 0xc8;
  assert.deepEqual([nextOut(g), nextOut(g)], [39, 38]);
});

test("closing a vCPU's descriptor releases its code", () => {
  const g = makeGuest({ code: [0xfe, 0xc0, 0xe6, 0x10, 0xeb, 0xfa] });
  const cpu = cpuOf(g);
  for (let i = 1; i <= 40; i++) assert.equal(nextOut(g), i);
  assert.ok(cpu.code.size > 0 && cpu.mem.codePfns.size > 0, "decoded code before");
  assert.equal(g.k.close(g.vcpu), 0);
  assert.equal(cpu.code.size, 0, "no decoded code after close");
  assert.equal(cpu.mem.codePfns.size, 0, "no page watched for code writes after close");
});

test("closing a vCPU gives its TLB level to the next vCPU", () => {
  // Guests that hold every spare level, so that the closed vCPU's is the one the next vCPU takes.
  const held = Array.from({ length: 5 }, () => makeGuest({ code: [0xf4] }));
  const g = makeGuest({ code: [0xfe, 0xc0, 0xe6, 0x10, 0xeb, 0xfa] });
  for (let i = 1; i <= 3; i++) assert.equal(nextOut(g), i);
  const level = cpuOf(g).mem.rTag;
  assert.equal(g.k.close(g.vcpu), 0);
  const next = makeGuest({ code: [0xfe, 0xc0, 0xe6, 0x10, 0xeb, 0xfa] });
  assert.equal(cpuOf(next).mem.rTag, level);
  assert.equal(nextOut(next), 1);
  for (const h of [...held, next]) h.k.close(h.vcpu);
});
