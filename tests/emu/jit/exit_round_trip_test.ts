/**
 * An I/O exit's round trip on the emulator: the core's exits are taken
 * again (emu/x86/exit.ts takeExit) instead of made anew, and the KVM_RUN
 * after an exit goes on through the link of the block where the chain
 * stopped (jit/run.ts runChain, Cpu.chainFrom), comparing its successor's
 * bytes in place, rather than looking the block up again: still running
 * what the host rewrote, and from where the host moved RIP.
 *
 * @module
 */
import assert from "node:assert/strict";
import { HOT } from "../../../emu/x86/jit/cache.ts";
import { test } from "../../_support/harness.ts";
import { runTo, runToOut } from "../../_support/guests.ts";
import { hex } from "../../_support/sys.ts";
import { emuCpu, emuStats, type Guest, guest, openEmu } from "./_jit.ts";

/**
 * L: out 0xe9, eax / add eax, 1 / jmp L. The block that starts after the OUT goes on at L (a superblock) up to the
 * OUT, after which it stops: each KVM_RUN runs it once, from its own link.
 */
const LOOP = hex("e7e9 83c001 ebf9");
/** Where the block after the OUT starts, from L. */
const AFTER_OUT = 2;
/** The immediate of the ADD, from L. */
const ADD_IMM = 4;

/** The guest run until its blocks are compiled and linked: the value the next OUT writes. */
function warm(g: Guest): number {
  let eax = 0;
  for (let i = 0; i < 4 * HOT; i++) assert.equal(runToOut(g.vcpu, 0xe9, 4), eax++);
  // In mode "on" the blocks stay in the first tier (threaded.ts) until promoted: linked all the same.
  assert.ok(emuStats(g.vm, g.mem).executed > 0, "the loop ran in blocks");
  return eax;
}

for (const bits of [32, 64] as const) {
  test(`${bits}-bit: the core's I/O exits and the run loop's HLT exit are taken again, not made anew`, () => {
    using kvm = openEmu("off");
    // out 0xe9, eax / out 0xe9, eax / hlt
    using g = guest(kvm, bits, hex("e7e9 e7e9 f4"));
    const v = emuCpu(g.vm, g.mem);
    runToOut(g.vcpu, 0xe9, 4);
    const first = v.lastExit;
    assert.ok(first !== undefined);
    runToOut(g.vcpu, 0xe9, 4);
    // The first exit was given back at the start of the second run, then taken for its OUT (cpu.ts portOutValue).
    assert.equal(v.lastExit, first, "the second OUT's exit is the first one's object");
    runTo(g.vcpu, "hlt");
    assert.equal(v.lastExit, first, "the HLT's exit is that object too (exec.ts pushExit)");
  });

  for (const mode of ["on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: a KVM_RUN after an exit goes on through the stopped chain's link`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, bits, LOOP);
      let eax = warm(g);
      // The block after the OUT leaves the cache's index (white-box): only its own link still leads to it. Looked up
      // again at CS:EIP, it would be compiled anew.
      const blocks = emuCpu(g.vm, g.mem).cpu.blocks;
      const key = [...blocks.byAddress].find(([, b]) => b.eip === g.at + AFTER_OUT)?.[0];
      assert.ok(key !== undefined, "a block starts after the OUT");
      blocks.byAddress.delete(key);
      const before = { ...emuStats(g.vm, g.mem) };
      for (let i = 0; i < 3; i++) assert.equal(runToOut(g.vcpu, 0xe9, 4), eax++);
      const after = emuStats(g.vm, g.mem);
      assert.equal(after.compiled, before.compiled, "no block compiled again");
      assert.equal(after.executed - before.executed, 3, "the block ran in each run");
    });

    test(`block compiler ${mode}, ${bits}-bit: the block a KVM_RUN goes on to runs as the host rewrote it`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, bits, LOOP);
      let eax = warm(g);
      const invalidated = emuStats(g.vm, g.mem).invalidated;
      g.mem.bytes[g.at + ADD_IMM] = 7;
      eax += 6;
      for (let i = 0; i < 3; i++, eax += 7) assert.equal(runToOut(g.vcpu, 0xe9, 4), eax, "add eax, 7");
      assert.ok(emuStats(g.vm, g.mem).invalidated > invalidated, "the rewritten block was dropped");
    });

    test(`block compiler ${mode}, ${bits}-bit: a KVM_RUN goes on from where the host moved RIP`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, bits, LOOP);
      const eax = warm(g);
      // RIP to the JMP: the ADD after the OUT does not run.
      const regs = g.vcpu.getRegs();
      g.vcpu.setRegs({ ...regs, rip: BigInt(g.at + 5) });
      assert.equal(runToOut(g.vcpu, 0xe9, 4), eax - 1);
      assert.equal(runToOut(g.vcpu, 0xe9, 4), eax);
    });
  }
}
