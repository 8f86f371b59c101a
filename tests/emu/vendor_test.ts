/**
 * Where the emulator's vendor personalities differ in what an instruction
 * does, and where they agree although the manuals leave it open: the flags
 * the manuals leave undefined (AMD: as this project's EPYC host computes
 * them; Intel: as its Intel host, family 6 model 167, does; both checked by
 * `diff/cli.ts --strict-flags`), a failing CMPXCHG to a 32-bit register and
 * a REP with a 32-bit address size in 64-bit mode. Each instruction runs
 * alone in 64-bit mode at CPL 3 through the differential harness's machine,
 * on the emulator only (the kvm backend is the other vendor's CPU or this
 * one: the corpus replays such cases on it).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../../mod.ts";
import type { Case } from "../../diff/case.ts";
import { RFLAGS } from "../../diff/outcome.ts";
import { Runner } from "../../diff/runner.ts";
import { test } from "../_support/harness.ts";

const CF = 0x1n, PF = 0x4n, AF = 0x10n, ZF = 0x40n, SF = 0x80n, OF = 0x800n;
const STATUS = CF | PF | AF | ZF | SF | OF;

/** One instruction and its inputs. */
interface Input {
  bytes: number[];
  rax: bigint;
  rcx: bigint;
  rdx?: bigint;
  /** The initial status flags. */
  flags: bigint;
}

/** Runs `x` on the emulator with `vendor`'s personality; returns rax, rcx and the status flags. */
function run(vendor: "intel" | "amd", x: Input): { rax: bigint; rcx: bigint; flags: bigint } {
  const regs = Array.from({ length: 16 }, () => 0n);
  [regs[0], regs[1], regs[2], regs[4]] = [x.rax, x.rcx, x.rdx ?? 0n, 0x30800n];
  const { bytes, flags } = x;
  const c: Case = {
    env: { mode: "64", real: false, paging: false, seg: { es: 0, ss: 0, ds: 0, fs: 0, gs: 0 }, alignmentCheck: false },
    family: "vendor",
    groups: [{ insns: [{ bytes, form: "vendor", size: 32 }] }],
    regs,
    rflags: flags,
    memory: 0,
    seed: 0,
    index: 0,
  };
  using kvm = Kvm.open({ backend: "emu", vendor });
  using runner = new Runner(kvm);
  const o = runner.run(c);
  assert.equal(o.exits.length, 1, JSON.stringify(o.exits));
  return { rax: o.regs[0], rcx: o.regs[1], flags: o.regs[RFLAGS] & STATUS };
}

test("emu vendors: MUL leaves SF/ZF/AF/PF on AMD, sets SF/PF from the low half and clears ZF/AF on Intel", () => {
  // mul ecx: 3 * 5 = 15, no overflow.
  const args: Input = { bytes: [0xf7, 0xe1], rax: 3n, rcx: 5n, flags: SF | ZF | AF };
  assert.equal(run("amd", args).flags, SF | ZF | AF);
  assert.equal(run("intel", args).flags, PF);
  // A zero product: ZF stays clear on Intel.
  assert.equal(run("intel", { ...args, rax: 0n }).flags, PF);
});

test("emu vendors: DIV keeps CF/OF and sets AF on AMD, changes nothing on Intel", () => {
  // div ecx: 100 / 7.
  const args: Input = { bytes: [0xf7, 0xf1], rax: 100n, rcx: 7n, flags: CF | ZF | SF | PF };
  assert.equal(run("amd", args).flags, CF | AF);
  assert.equal(run("intel", args).flags, CF | ZF | SF | PF);
});

test("emu vendors: SHR sets AF and, by more than 1, clears OF on AMD", () => {
  // shr eax, 4 of 0x80000000: 0x08000000 (PF: its low byte is 0); OF is the operand's MSB on Intel.
  const args: Input = { bytes: [0xc1, 0xe8, 0x04], rax: 0x80000000n, rcx: 0n, flags: 0n };
  assert.equal(run("amd", args).flags, AF | PF);
  assert.equal(run("intel", args).flags, OF | PF);
});

test("emu vendors: SHL by more than 1 takes OF from the result on AMD, from the operand's top bits on Intel", () => {
  // shl eax, 2 of 0x20000000: 0x80000000, CF 0; AMD: OF = MSB XOR CF, and AF set.
  const args: Input = { bytes: [0xc1, 0xe0, 0x02], rax: 0x20000000n, rcx: 0n, flags: 0n };
  assert.equal(run("amd", args).flags, OF | SF | AF | PF);
  assert.equal(run("intel", args).flags, SF | PF);
});

test("emu vendors: in 64-bit mode an Intel ROL of a register by an immediate above 1 keeps OF", () => {
  // rol eax, 4 of 0x40000001: 0x14; by CL, OF is the operand's two top bits XORed (1).
  const imm: Input = { bytes: [0xc1, 0xc0, 0x04], rax: 0x40000001n, rcx: 4n, flags: OF };
  assert.equal(run("amd", imm).flags, 0n);
  assert.equal(run("intel", imm).flags, OF);
  assert.equal(run("intel", { ...imm, flags: 0n }).flags, 0n);
  assert.equal(run("intel", { ...imm, bytes: [0xd3, 0xc0], flags: 0n }).flags, OF);
});

test("emu vendors: BSF of 0 sets flags as for a zero result on both", () => {
  // bsf eax, ecx with ecx = 0.
  const args: Input = { bytes: [0x0f, 0xbc, 0xc1], rax: 7n, rcx: 0n, flags: CF | SF | OF };
  assert.equal(run("amd", args).flags, ZF | PF);
  assert.equal(run("intel", args).flags, ZF | PF);
});

test("emu vendors: a failing CMPXCHG r32 keeps the destination's upper half on both", () => {
  // cmpxchg ecx, edx with eax = 1, ecx = 5: eax takes 5.
  const args: Input = { bytes: [0x0f, 0xb1, 0xd1], rax: 1n, rcx: 0xffffffff00000005n, rdx: 9n, flags: 0n };
  for (const vendor of ["amd", "intel"] as const) {
    const o = run(vendor, args);
    assert.deepEqual([o.rax, o.rcx], [5n, 0xffffffff00000005n], vendor);
  }
});

test("emu vendors: an Intel REP with a 67 prefix and ECX = 0 clears the upper half of RCX", () => {
  // rep stosb with a 32-bit address size: no item is stored.
  const args: Input = { bytes: [0x67, 0xf3, 0xaa], rax: 0n, rcx: 0xffffffff00000000n, flags: 0n };
  assert.equal(run("amd", args).rcx, 0xffffffff00000000n);
  assert.equal(run("intel", args).rcx, 0n);
});
