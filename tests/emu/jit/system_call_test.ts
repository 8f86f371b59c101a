/**
 * Fast system calls at the end of compiled blocks (emu/x86/jit/safe.ts
 * SYSTEM_CALLS, run.ts runChain): a loop of SYSCALL/SYSRET (64-bit) and of
 * SYSENTER/SYSEXIT (32-bit protected mode) between CPL 3 and a small handler
 * at CPL 0 ends in the same registers, flags, CS, SS and RIP with the
 * compiler off and eager, and in eager the calls and returns run inside
 * blocks (the blocks count them). A SYSRET that sets TF from R11 single-steps
 * the instruction after it, whose #DB reports that instruction's successor as
 * the return address, however the blocks chain.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { collect, hex, KSTACK, USTACK } from "../../_support/sys.ts";
import { codeAt, emuStats, guest, type Mode, openEmu } from "./_jit.ts";
import type { Vcpu } from "../../../mod.ts";

/** A piece of code: hex bytes, a label, or a rel8 or imm32 naming a label (resolved by `assemble`). */
type Part = string | { label: string } | { rel8: string } | { imm32: string };

/** The bytes of `parts` placed at `base`, with their labels. */
function assemble(base: number, parts: readonly Part[]): { code: number[]; labels: Map<string, number> } {
  const labels = new Map<string, number>();
  const size = (p: Part) => typeof p === "string" ? hex(p).length : "rel8" in p ? 1 : "imm32" in p ? 4 : 0;
  let at = base;
  for (const p of parts) {
    if (typeof p !== "string" && "label" in p) labels.set(p.label, at);
    at += size(p);
  }
  const code: number[] = [];
  for (const p of parts) {
    if (typeof p === "string") code.push(...hex(p));
    else if ("rel8" in p) {
      const rel = labels.get(p.rel8)! - (base + code.length + 1);
      assert.ok(rel >= -128 && rel < 128, `rel8 to ${p.rel8}`);
      code.push(rel & 0xff);
    } else if ("imm32" in p) {
      const v = labels.get(p.imm32)!;
      code.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
    }
  }
  return { code, labels };
}

const imm32 = (v: number) =>
  [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24].map((b) => b.toString(16).padStart(2, "0")).join("");

/**
 * 64-bit: SYSRET to `user` (R11 = 2), which makes `n` system calls; the handler mixes EAX and returns with RFLAGS
 * 2 | (ESI & R14) (the caller's count, masked: R14 = TF sets TF once the count has bit 8 set); a last call with EAX = 0 outputs EBX and halts at CPL 0. STAR gives SYSCALL CS
 * 0x08 and SYSRET CS 0x2b, SS 0x23 (tests/_support/long_mode.ts's GDT).
 */
function program64(n: number): Part[] {
  return [
    `be${imm32(n)} 31db b9`, // mov esi, n / xor ebx, ebx / mov ecx, user
    { imm32: "user" },
    "41bb02000000 480f07", // mov r11d, 2 / o64 sysret
    { label: "user" },
    "89f0 0f05", // mov eax, esi / syscall
    "01c3 ffce 75", // add ebx, eax / dec esi / jnz user
    { rel8: "user" },
    "31c0 0f05", // xor eax, eax / syscall
    { label: "handler" },
    "85c0 74", // test eax, eax / jz exit
    { rel8: "exit" },
    "69c0b179379e 355a5a5a5a", // imul eax, eax, 0x9e3779b1 / xor eax, 0x5a5a5a5a
    "4189f3 4521f3 4183cb02 480f07", // mov r11d, esi / and r11d, r14d / or r11d, 2 / o64 sysret
    { label: "exit" },
    "89d8 e7e9 f4", // mov eax, ebx / out 0xe9, eax / hlt
  ];
}

/**
 * 32-bit: SYSEXIT to `user`, which makes `n` SYSENTERs (back at `back` on the user stack); the handler mixes EAX and
 * SYSEXITs; a last call with EAX = 0 outputs EBX and halts at CPL 0. SYSENTER_CS 0x08: CS 0x08, SS 0x10, SYSEXIT's
 * CS 0x1b and SS 0x23 (tests/_support/sys.ts's GDT).
 */
function program32(n: number): Part[] {
  const ustack = imm32(USTACK);
  return [
    `be${imm32(n)} 31db ba`, // mov esi, n / xor ebx, ebx / mov edx, user
    { imm32: "user" },
    `b9${ustack} 0f35`, // mov ecx, USTACK / sysexit
    { label: "user" },
    "89f0 ba", // mov eax, esi / mov edx, back
    { imm32: "back" },
    `b9${ustack} 0f34`, // mov ecx, USTACK / sysenter
    { label: "back" },
    "01c3 4e 75", // add ebx, eax / dec esi / jnz user
    { rel8: "user" },
    "31c0 ba", // xor eax, eax / mov edx, back
    { imm32: "back" },
    "0f34", // sysenter
    { label: "handler" },
    "85c0 74", // test eax, eax / jz exit
    { rel8: "exit" },
    "69c0b179379e 355a5a5a5a 0f35", // imul eax, eax, 0x9e3779b1 / xor eax, 0x5a5a5a5a / sysexit
    { label: "exit" },
    "89d8 e7e9 f4", // mov eax, ebx / out 0xe9, eax / hlt
  ];
}

/** What a run ended in: its output, exit, registers (RFLAGS and RIP among them), CS and SS. */
function state(vcpu: Vcpu) {
  const { out, exit } = collect(vcpu);
  const s = vcpu.getSregs();
  return { out, exit: exit.reason, regs: vcpu.getRegs(), cs: s.cs.selector, ss: s.ss.selector };
}

/** The 64-bit program run with `r14` the mask of the count its handler returns in RFLAGS; the state and the counts. */
function run64(mode: Mode, n: number, r14: bigint) {
  using kvm = openEmu(mode);
  const { code, labels } = assemble(codeAt(64), program64(n));
  using g = guest(kvm, 64, code);
  g.vcpu.setMsrs([
    { index: 0xc0000081, data: (0x18n << 48n) | (0x08n << 32n) }, // STAR
    { index: 0xc0000082, data: BigInt(labels.get("handler")!) }, // LSTAR
    { index: 0xc0000084, data: 0n }, // SFMASK
  ]);
  g.vcpu.setRegs({ ...g.vcpu.getRegs(), r14 });
  return { ...state(g.vcpu), stats: { ...emuStats(g.vm, g.mem) }, labels };
}

/** The 32-bit program; the state and the compiler's counts. */
function run32(mode: Mode, n: number) {
  using kvm = openEmu(mode);
  const { code, labels } = assemble(codeAt(32), program32(n));
  using g = guest(kvm, 32, code);
  g.vcpu.setMsrs([
    { index: 0x174, data: 0x08n }, // SYSENTER_CS
    { index: 0x175, data: BigInt(KSTACK) }, // SYSENTER_ESP
    { index: 0x176, data: BigInt(labels.get("handler")!) }, // SYSENTER_EIP
  ]);
  return { ...state(g.vcpu), stats: { ...emuStats(g.vm, g.mem) }, labels };
}

/** EBX at the end: the sum of the handler's results for n, n-1, ..., 1. */
function expected(n: number): number {
  let sum = 0;
  for (let i = n; i > 0; i--) sum = (sum + ((Math.imul(i, 0x9e3779b1) ^ 0x5a5a5a5a) >>> 0)) >>> 0;
  return sum;
}

const N = 1000;

/**
 * Checks that the interpreter's run `off` halted with the sum for N, and that `eager` ended as it did, back at CPL 0
 * (CS 0x08, SS 0x10); returns `eager`.
 */
function sameAsInterpreter<R extends { exit: string; out: number[]; cs: number; ss: number; stats: unknown }>(
  off: R,
  eager: R,
): R {
  assert.equal(off.exit, "hlt");
  assert.deepEqual(off.out, [expected(N)]);
  assert.deepEqual({ ...eager, stats: undefined }, { ...off, stats: undefined });
  assert.equal(eager.cs, 0x08);
  assert.equal(eager.ss, 0x10);
  return eager;
}

test("block compiler, 64-bit: SYSCALL/SYSRET end blocks and chain, as the interpreter runs them", () => {
  const eager = sameAsInterpreter(run64("off", N, 0n), run64("eager", N, 0n));
  // An iteration is 13 instructions (MOV, SYSCALL; TEST, JZ, IMUL, XOR, MOV, AND, OR, SYSRET; ADD, DEC, JNZ), all in
  // blocks: 11 when the interpreter runs the SYSCALL and the SYSRET.
  assert.ok(eager.stats.insns >= 13 * N, JSON.stringify(eager.stats));
});

test("block compiler, 32-bit: SYSENTER/SYSEXIT end blocks and chain, as the interpreter runs them", () => {
  const eager = sameAsInterpreter(run32("off", N), run32("eager", N));
  // 12 instructions an iteration (MOV x3, SYSENTER; TEST, JZ, IMUL, XOR, SYSEXIT; ADD, DEC, JNZ), 10 without them.
  assert.ok(eager.stats.insns >= 12 * N, JSON.stringify(eager.stats));
});

for (const mode of ["on", "eager"] as const) {
  test(`block compiler ${mode}, 64-bit: a SYSRET that sets TF from R11 traps after the next instruction`, () => {
    // The handler returns with TF after 256 calls (the count goes from 0x20ff to 0x1fff), deep in a chain of blocks:
    // the user's ADD runs, then #DB (vector 1, a trap) reports the DEC's address at CS 0x2b
    // (tests/_support/long64.ts's stubs: vector, error code, RIP, CS).
    const off = run64("off", 0x20ff, 0x100n), other = run64(mode, 0x20ff, 0x100n);
    const back = off.labels.get("user")! + 4 + 2; // mov eax, esi / syscall / add ebx, eax
    assert.deepEqual(off.out, [1, 0, back, 0x2b]);
    assert.deepEqual({ ...other, stats: undefined }, { ...off, stats: undefined });
  });
}
