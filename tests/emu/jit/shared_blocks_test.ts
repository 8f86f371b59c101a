/**
 * The vCPUs of a VM share one block cache (jit/cache.ts): a second vCPU runs the blocks the first one made without
 * making them again, and what a block keeps for the CPU that runs it (the KVM_RUN it was last compared with memory
 * in, its links) never holds for the other: a vCPU whose run has the number of the other's last run, that writes a
 * block's code the other made and then jumps there, runs the new code. A write to code by one vCPU is seen by the
 * other's next run.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { GuestMemory, Vm } from "../../../mod.ts";
import { HANDLE } from "../../../_handle.ts";
import type { EmuVcpu } from "../../../emu/vcpu.ts";
import { HOT } from "../../../emu/x86/jit/cache.ts";
import { test } from "../../_support/harness.ts";
import { runToOut } from "../../_support/guests.ts";
import { hex } from "../../_support/sys.ts";
import { guest, openEmu } from "./_jit.ts";

/** The second vCPU's code: a page of its own, away from the first one's. */
const B_CODE = 0xd000;

/** The emulator's vCPU `id` of `vm`, whose slot 0 is `mem`. */
function emuVcpu(vm: Vm, mem: GuestMemory, id: number): EmuVcpu {
  const kernel = vm[HANDLE].kernel as unknown as { vcpuOf(fd: number): EmuVcpu | undefined };
  for (let fd = 0; fd < 1 << 16; fd++) {
    const v = kernel.vcpuOf(fd);
    if (v && v.id === id && v.vm.slots.byId.get(0)?.bytes?.buffer === mem.bytes.buffer) return v;
  }
  throw new Error(`no emulator vCPU ${id}`);
}

// L: mov eax, 1 / out 0xe9, eax / jmp L (the immediate's byte at offset 1)
const LOOP = "b801000000 e7e9 ebf7";

for (const bits of [32, 64] as const) {
  for (const mode of ["on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: a second vCPU runs the blocks the first made, not blocks of its own`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, bits, hex(LOOP));
      for (let i = 0; i < 4 * HOT; i++) assert.equal(runToOut(g.vcpu, 0xe9, 4), 1);
      const a = emuVcpu(g.vm, g.mem, 0).cpu, made = a.blocks.stats.compiled;
      assert.ok(made > 0 && a.blocks.size > 0, "the first vCPU ran blocks");
      const v1 = g.vm.createVcpu(1);
      v1.setSregs(g.vcpu.getSregs());
      v1.setRegs({ ...g.vcpu.getRegs(), rip: BigInt(g.at) });
      for (let i = 0; i < 4 * HOT; i++) assert.equal(runToOut(v1, 0xe9, 4), 1);
      const b = emuVcpu(g.vm, g.mem, 1).cpu;
      assert.equal(b.blocks, a.blocks, "one cache for the VM's vCPUs");
      assert.equal(b.blocks.stats.compiled, made, "the second vCPU made no block");
      v1.close();
    });

    test(`block compiler ${mode}, ${bits}-bit: a vCPU checks a block made by another in its own run, whatever its number`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, bits, hex(LOOP));
      for (let i = 0; i < 4 * HOT; i++) assert.equal(runToOut(g.vcpu, 0xe9, 4), 1);
      const a = emuVcpu(g.vm, g.mem, 0).cpu;
      const v1 = g.vm.createVcpu(1);
      const b = emuVcpu(g.vm, g.mem, 1).cpu;
      // The first vCPU's block at L, and the run it was last compared with memory in.
      const x = [...a.blocks.byAddress.values()].find((blk) => blk.eip === g.at && blk.valid);
      assert.ok(x !== undefined, "the first vCPU made a block at L");
      // B: jecxz M / L1: out 0xea, al / loop L1 / M: mov byte [L+1], 2 / jmp L. Its loop's OUTs end a run each, so
      // that its last run, which writes the first vCPU's block and jumps there, would have the number of the run that
      // block was last checked in if both vCPUs counted alike (its ECX is the difference).
      const runs = Math.max(0, x.checked - b.runEpoch - 1);
      const rel = g.at - (B_CODE + 6 + 7 + 5);
      const jmp = [0xe9, rel & 0xff, (rel >> 8) & 0xff, (rel >> 16) & 0xff, (rel >>> 24) & 0xff];
      // mov byte [disp32], 2: C6 05 disp32 02 (RIP-relative in 64-bit code: the displacement is from the next insn)
      const target = g.at + 1, disp = bits === 64 ? target - (B_CODE + 6 + 7) : target;
      const store = [0xc6, 0x05, disp & 0xff, (disp >> 8) & 0xff, (disp >> 16) & 0xff, (disp >>> 24) & 0xff, 0x02];
      g.mem.bytes.set([0xe3, 0x04, 0xe6, 0xea, 0xe2, 0xfc, ...store, ...jmp], B_CODE);
      v1.setSregs(g.vcpu.getSregs());
      v1.setRegs({ ...g.vcpu.getRegs(), rip: BigInt(B_CODE), rcx: BigInt(runs) });
      for (let i = 0; i < runs; i++) runToOut(v1, 0xea);
      assert.equal(runToOut(v1, 0xe9, 4), 2, "the second vCPU runs the code it wrote");
      assert.equal(runToOut(g.vcpu, 0xe9, 4), 2, "the first vCPU's next run sees the write");
      v1.close();
    });
  }
}
