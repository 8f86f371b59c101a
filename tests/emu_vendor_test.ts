/**
 * Where the emulator's vendor personalities differ in what an instruction
 * does: the flags the manuals leave undefined (AMD: as this project's EPYC
 * host computes them, checked by `diff/cli.ts --strict-flags`; Intel: the
 * choices stated in ops/muldiv.ts, ops/shift.ts and ops/bit.ts), and a
 * failing CMPXCHG to a 32-bit register in 64-bit mode. Each instruction runs
 * alone in 64-bit mode at CPL 3 through the differential harness's machine,
 * on the emulator only (the kvm backend is the other vendor's CPU or this
 * one: the corpus replays such cases on it).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../mod.ts";
import type { Case } from "../diff/case.ts";
import { RFLAGS } from "../diff/outcome.ts";
import { Runner } from "../diff/runner.ts";
import { test } from "./_harness.ts";

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

test("emu vendors: MUL leaves SF/ZF/AF/PF on AMD, sets them from the low half on Intel", () => {
  // mul ecx: 3 * 5 = 15, no overflow.
  const args: Input = { bytes: [0xf7, 0xe1], rax: 3n, rcx: 5n, flags: SF | ZF | AF };
  assert.equal(run("amd", args).flags, SF | ZF | AF);
  assert.equal(run("intel", args).flags, PF);
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

test("emu vendors: BSF of 0 sets flags as for a zero result on AMD, only ZF on Intel", () => {
  // bsf eax, ecx with ecx = 0.
  const args: Input = { bytes: [0x0f, 0xbc, 0xc1], rax: 7n, rcx: 0n, flags: CF | SF | OF };
  assert.equal(run("amd", args).flags, ZF | PF);
  assert.equal(run("intel", args).flags, CF | SF | OF | ZF);
});

test("emu vendors: a failing CMPXCHG r32 keeps the destination's upper half on AMD, zero-extends on Intel", () => {
  // cmpxchg ecx, edx with eax = 1, ecx = 5: eax takes 5.
  const args: Input = { bytes: [0x0f, 0xb1, 0xd1], rax: 1n, rcx: 0xffffffff00000005n, rdx: 9n, flags: 0n };
  const amd = run("amd", args), intel = run("intel", args);
  assert.deepEqual([amd.rax, amd.rcx], [5n, 0xffffffff00000005n]);
  assert.deepEqual([intel.rax, intel.rcx], [5n, 5n]);
});
