/**
 * A compiled block whose load or store meets a #PF returns -1 instead of
 * throwing it (operands.ts: Memory's try* accesses), with EIP at the
 * faulting instruction, what the instructions before it wrote in the
 * registers, CR2 and the error code in `Memory.faultCode` for the run loop
 * to deliver (exec.ts); throwing it out of the block cost about 1.4 us a
 * fault. The guest sees the same either way (blocks_test's faults compare
 * eager with off).
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { hex } from "../../_support/sys.ts";
import { ABSENT, type Bits, codeAt, emuCpu, guest, le32, openEmu } from "./_jit.ts";

/**
 * mov ebx, 5 / add ebx, 1 / mov eax, [ABSENT + 8] (a load) or mov [ABSENT + 8], ebx (a store) / hlt; in 64-bit mode
 * the address is absolute through a SIB byte without base or index.
 */
function program(store: boolean, bits: Bits): number[] {
  const [op, modrm] = store ? [0x89, 0x1d] : [0x8b, 0x05];
  const access = bits === 32 ? [op, modrm] : [op, modrm - 1, 0x25];
  return [...hex("bb05000000 83c301"), ...access, ...le32(ABSENT + 8), 0xf4];
}

for (const bits of [32, 64] as const) {
  for (const store of [false, true]) {
    const what = store ? "store" : "load";
    test(`block compiler eager, ${bits}-bit: a ${what} that meets a #PF returns from the block with the fault`, () => {
      using kvm = openEmu("eager");
      using g = guest(kvm, bits, program(store, bits), { paging: true });
      const cpu = emuCpu(g.vm, g.mem).cpu;
      const entry = codeAt(bits);
      // The first run compiles the block (and delivers the fault to the guest's handler); then it runs again here.
      g.vcpu.run({ timeoutMs: 1000 });
      const block = [...cpu.blocks.byAddress.values()].find((b) => b.valid && b.eip === entry);
      assert.ok(block, "the block at the entry was compiled");
      cpu.eip = entry;
      cpu.mem.faultCode = -1;
      const result = block.fn(cpu, 1000);
      assert.equal(result, -1);
      // The load or store is the third instruction: 5 + 3 bytes in.
      const regs = g.vcpu.getRegs();
      assert.equal(regs.rip, BigInt(entry + 8));
      assert.equal(regs.rbx, 6n, "RBX as the ADD left it");
      assert.equal(g.vcpu.getSregs().cr2, BigInt(ABSENT + 8));
      // Not present, a read or a write, at CPL 0.
      assert.equal(cpu.mem.faultCode, store ? 2 : 0);
    });
  }
}
