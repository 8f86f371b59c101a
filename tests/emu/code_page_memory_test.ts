/**
 * A written code page keeps its array of decoded instructions, cleared in
 * place (Cpu.codeWritten), instead of a new 32 KiB array after each write:
 * code that writes the page it runs from made random guests allocate about
 * 900 MiB/s under the interpreter (issue 14). A page written again before
 * anything was decoded there is no code any more: its array goes and its
 * writes take the TLB again. Runs in the suite's compiler mode.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { makeGuest, runOnce, runToHlt, type TestGuest } from "../../emu/_testing.ts";
import type { EmuVcpu } from "../../emu/vcpu.ts";

/** The emulator vCPU of `g`. */
function vcpuOf(g: TestGuest): EmuVcpu {
  const v = (g.k as unknown as { vcpuOf(fd: number): EmuVcpu | undefined }).vcpuOf(g.vcpu);
  assert.ok(v, "no emulator vCPU");
  return v;
}

/** Runs to the next OUT, whose byte it returns. */
function nextOut(g: TestGuest): number {
  const e = runOnce(g);
  assert.equal(e.reason, 2, `exit ${e.reason}, not an OUT`);
  return e.io!.data[0];
}

test("a code page written 100 times by its own code keeps one array of decoded instructions", () => {
  const g = makeGuest({
    code: [
      0xe6,
      0x10, //                   out 0x10, al
      0xb9,
      0x64,
      0x00, //             mov cx, 100
      0x88,
      0x0e,
      0x00,
      0x18, //       mov [0x1800], cl   (its own page)
      0xe2,
      0xfa, //                   loop (to the mov)
      0xe6,
      0x10, //                   out 0x10, al
      0xf4, //                         hlt
    ],
  });
  const cpu = vcpuOf(g).cpu;
  nextOut(g);
  const page = cpu.code.get(1);
  assert.ok(page, "page 1 holds decoded code");
  nextOut(g);
  assert.equal(g.mem[0x1800], 1, "the loop ran");
  assert.equal(cpu.code.get(1), page, "the same array, cleared in place");
  assert.ok(cpu.mem.codePfns.has(1), "still watched for writes");
});

test("code that rewrites an instruction of its page runs the new bytes after each write", () => {
  const g = makeGuest({
    code: [
      0xb1,
      0x03, //                   mov cl, 3
      0xb0,
      0x01, //                   mov al, 1          (0x1002; its immediate at 0x1003)
      0xe6,
      0x10, //                   out 0x10, al
      0xfe,
      0x06,
      0x03,
      0x10, //       inc byte [0x1003]
      0xfe,
      0xc9, //                   dec cl
      0x75,
      0xf4, //                   jnz (to the mov al)
      0xf4, //                         hlt
    ],
  });
  const { out, last } = runToHlt(g);
  assert.equal(last.reason, 5, "HLT");
  assert.deepEqual(out, [1, 2, 3]);
});

test("a page written twice with no code decoded there in between is no code page any more", () => {
  const g = makeGuest({
    code: [
      0xe8,
      0xfd,
      0x0f, //             call 0x2000
      0xe6,
      0x10, //                   out 0x10, al
      0xc6,
      0x06,
      0x00,
      0x28,
      0x01, // mov byte [0x2800], 1
      0xc6,
      0x06,
      0x01,
      0x28,
      0x02, // mov byte [0x2801], 2
      0xe6,
      0x10, //                   out 0x10, al
      0xf4, //                         hlt
    ],
  });
  g.mem[0x2000] = 0xc3; // ret
  const cpu = vcpuOf(g).cpu;
  nextOut(g);
  assert.ok(cpu.code.get(2), "page 2 holds decoded code after the call");
  nextOut(g);
  assert.deepEqual([g.mem[0x2800], g.mem[0x2801]], [1, 2]);
  assert.equal(cpu.code.get(2), undefined, "its array is gone");
  assert.ok(!cpu.mem.codePfns.has(2), "its writes are no longer watched");
});
