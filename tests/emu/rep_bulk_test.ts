/**
 * REP MOVS and REP STOS over many pages, on both backends: the emulator
 * moves such runs a page at a time (emu/x86/ops/bulk.ts); memory and
 * registers must come out as the CPU's item-by-item semantics leave them:
 * an overlapping forward copy repeats its pattern, a backward overlap is a
 * plain move, a fill may start unaligned, and a run that reaches MMIO
 * exits at the first item outside RAM with the items before it done.
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/harness.ts";
import { CODE, describe, load, machine, protectedMode, runTo, runToOut } from "../_support/guests.ts";

const SIZE = 0x20000;

/** Runs `rep` + `out 0xe9, al` at CODE in flat 32-bit protected mode with the registers given. */
function runRep(
  m: ReturnType<typeof machine>,
  insn: string,
  regs: { eax?: number; ecx: number; esi?: number; edi: number },
): void {
  load(m.mem, CODE, [insn, "e6 e9"]); // rep <op>; out 0xe9, al
  protectedMode(m.vcpu, m.mem, CODE);
  m.vcpu.setRegs({
    ...m.vcpu.getRegs(),
    rax: BigInt(regs.eax ?? 0),
    rcx: BigInt(regs.ecx),
    rsi: BigInt(regs.esi ?? 0),
    rdi: BigInt(regs.edi),
    rip: BigInt(CODE),
  });
}

/** Fills guest memory [from, from + len) with a recognizable pattern. */
function pattern(bytes: Uint8Array, from: number, len: number): void {
  for (let i = 0; i < len; i++) bytes[from + i] = (i * 7 + 3) & 0xff;
}

backendTest("rep movsb overlapping ahead of the source repeats the pattern across pages", (kvm) => {
  using m = machine(kvm, SIZE);
  const b = m.mem.bytes;
  pattern(b, 0x4000, 16);
  runRep(m, "f3 a4", { ecx: 9000, esi: 0x4000, edi: 0x4005 }); // rep movsb: dst = src + 5
  runToOut(m.vcpu, 0xe9);
  const expected = new Uint8Array(SIZE);
  pattern(expected, 0x4000, 16);
  for (let i = 0; i < 9000; i++) expected[0x4005 + i] = expected[0x4000 + i];
  assert.deepEqual(b.subarray(0x4000, 0x4005 + 9000), expected.subarray(0x4000, 0x4005 + 9000));
  const r = m.vcpu.getRegs();
  assert.deepEqual([r.rcx, r.rsi, r.rdi], [0n, BigInt(0x4000 + 9000), BigInt(0x4005 + 9000)]);
});

backendTest("rep movsd with the destination below an overlapping source is a plain move", (kvm) => {
  using m = machine(kvm, SIZE);
  const b = m.mem.bytes;
  pattern(b, 0x6001, 4 * 3000);
  const source = b.slice(0x6001, 0x6001 + 4 * 3000);
  runRep(m, "f3 a5", { ecx: 3000, esi: 0x6001, edi: 0x5ffe }); // rep movsd, unaligned, 3 bytes below
  runToOut(m.vcpu, 0xe9);
  assert.deepEqual(b.subarray(0x5ffe, 0x5ffe + 4 * 3000), source);
  const r = m.vcpu.getRegs();
  assert.deepEqual([r.rcx, r.rsi, r.rdi], [0n, BigInt(0x6001 + 12000), BigInt(0x5ffe + 12000)]);
});

backendTest("rep stosd from an unaligned address fills every page; rep stosb with ecx 0 does nothing", (kvm) => {
  using m = machine(kvm, SIZE);
  const b = m.mem.bytes;
  runRep(m, "f3 ab", { eax: 0x11223344, ecx: 5000, edi: 0x3003 });
  runToOut(m.vcpu, 0xe9);
  for (let i = 0; i < 5000; i++) {
    assert.deepEqual([...b.subarray(0x3003 + 4 * i, 0x3007 + 4 * i)], [0x44, 0x33, 0x22, 0x11], `item ${i}`);
  }
  assert.equal(b[0x3003 + 20000], 0);
  assert.equal(m.vcpu.getRegs().rdi, BigInt(0x3003 + 20000));
  runRep(m, "f3 aa", { eax: 0xff, ecx: 0, edi: 0x3000 });
  runToOut(m.vcpu, 0xe9);
  assert.equal(b[0x3000], 0);
});

backendTest(
  "rep stosb that runs off the end of RAM exits at the first MMIO byte, the bytes before it written",
  (kvm) => {
    using m = machine(kvm, SIZE);
    const b = m.mem.bytes;
    runRep(m, "f3 aa", { eax: 0x5a, ecx: 0x2010, edi: SIZE - 0x2000 });
    const exit = runTo(m.vcpu, "mmio");
    assert.ok(exit.isWrite && exit.physAddr === BigInt(SIZE) && exit.data[0] === 0x5a, describe(exit));
    assert.ok(b.subarray(SIZE - 0x2000).every((x) => x === 0x5a));
    const r = m.vcpu.getRegs();
    // The item that exited is done: 0x2001 items stored, 0xf left.
    assert.deepEqual([r.rcx, r.rdi], [0xfn, BigInt(SIZE + 1)]);
  },
);
