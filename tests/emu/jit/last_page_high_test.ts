/**
 * In 64-bit mode a block's access tests its last page (emu/x86/jit/operands.ts access, lastPage) by the page number
 * in the low half of the address and by the high half: two addresses 4 GiB apart are different pages. A block stores
 * (or loads) twice to DATA, which makes it the last page of its kind, then to DATA + 4 GiB, which is not mapped: that
 * access faults as it does in the interpreter, and writes (or reads) nothing at DATA.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { hex } from "../../_support/sys.ts";
import { DATA, emuCpu, guest, le32, openEmu } from "./_jit.ts";

const FAR = DATA + 2 ** 32;

/** The 8 bytes of `v` (below 2^53), little endian, as hex. */
function le64(v: number): string {
  return [...le32(v >>> 0), ...le32(Math.floor(v / 2 ** 32))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * mov edi, DATA / mov rsi, FAR / then, stores: mov dword [rdi], 0x11111111 / mov dword [rdi + 4], 0x22222222 /
 * mov dword [rsi], 0x33333333; loads: mov eax, [rdi] / mov eax, [rdi + 4] / mov ebx, [rsi]; then out 0xe9, eax / hlt.
 */
function program(store: boolean): number[] {
  const head = `bf${le64(DATA).slice(0, 8)} 48be${le64(FAR)}`;
  const body = store ? "c70711111111 c7470422222222 c70633333333" : "8b07 8b4704 8b1e";
  return hex(`${head} ${body} e7e9 f4`);
}

for (const store of [true, false]) {
  const what = store ? "store" : "load";
  test(`block compiler, 64-bit: a ${what} 4 GiB above the last page is not that page`, () => {
    const results = (["off", "eager"] as const).map((mode) => {
      using kvm = openEmu(mode);
      using g = guest(kvm, 64, program(store));
      const bytes = g.mem.bytes;
      bytes.fill(0x5a, DATA, DATA + 8);
      const exit = g.vcpu.run({ timeoutMs: 1000 });
      const regs = g.vcpu.getRegs();
      return {
        exit: exit.reason,
        data: [...bytes.subarray(DATA, DATA + 8)],
        rbx: regs.rbx,
        cr2: g.vcpu.getSregs().cr2,
        compiled: emuCpu(g.vm, g.mem).cpu.blocks.stats.executed > 0 || mode === "off",
      };
    });
    const [off, eager] = results;
    assert.notEqual(off.exit, "hlt", "the access 4 GiB up faults");
    assert.equal(off.cr2, BigInt(FAR));
    assert.ok(eager.compiled, "eager ran the program in blocks");
    assert.deepEqual(eager, off);
    assert.deepEqual(off.data, store ? [0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22] : new Array(8).fill(0x5a));
  });
}
