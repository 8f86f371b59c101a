/**
 * The last pages of a block's loads and stores (emu/x86/jit/operands.ts lastPage): an access to the page the last
 * access of its kind found in the TLB uses that page's bytes without looking the TLB up again. A loop that copies
 * 4 KiB + 12 bytes a dword at a time from 0x9000 to 0xc002 (its stores unaligned, one of them across a page boundary)
 * reads and writes the same bytes in every mode, and, compiled, looks each of the TLB's tags up about once per page
 * and block entry instead of at every access.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { collect, hex } from "../../_support/sys.ts";
import { countingReads, describeExit, emuCpu, guest, leHex, openEmu } from "./_jit.ts";

/** The dwords copied, from where to where. */
const N = 1027, FROM = 0x9000, TO = 0xc002;

/**
 * mov esi, FROM / mov edi, TO / mov ecx, N / L: mov eax, [esi] / mov [edi], eax / add esi, 4 / add edi, 4 / dec ecx
 * / jnz L / out 0xe9, eax / hlt (32-bit; in 64-bit mode the adds are 64-bit and dec ecx is ff c9).
 */
const COPY = {
  32: `be${leHex(FROM)} bf${leHex(TO)} b9${leHex(N)} 8b06 8907 83c604 83c704 49 75f3 e7e9 f4`,
  64: `be${leHex(FROM)} bf${leHex(TO)} b9${leHex(N)} 8b06 8907 4883c604 4883c704 ffc9 75f0 e7e9 f4`,
};

for (const bits of [32, 64] as const) {
  for (const mode of ["off", "on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: a copy loop reads and writes through its last pages`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, bits, hex(COPY[bits]));
      const bytes = g.mem.bytes;
      for (let k = 0; k < 4 * N; k++) bytes[FROM + k] = (k * 7 + 3) & 0xff;
      const m = emuCpu(g.vm, g.mem).cpu.mem;
      const reads = { n: 0 }, writes = { n: 0 };
      m.rTag = countingReads(m.rTag, reads);
      m.wTag = countingReads(m.wTag, writes);
      const { out, exit } = collect(g.vcpu);
      assert.equal(exit.reason, "hlt", describeExit(exit));
      const last = FROM + 4 * (N - 1);
      assert.deepEqual(out, [
        (bytes[last] | bytes[last + 1] << 8 | bytes[last + 2] << 16 | bytes[last + 3] << 24) >>> 0,
      ]);
      for (let k = 0; k < 4 * N; k++) assert.equal(bytes[TO + k], (k * 7 + 3) & 0xff, `byte ${k}`);
      assert.equal(bytes[TO - 1], 0);
      assert.equal(bytes[TO + 4 * N], 0);
      // The interpreter looks the TLB up at each access; a compiled loop at most once per page and block entry.
      if (mode === "eager") {
        assert.ok(reads.n < N / 4, `rTag read ${reads.n} times for ${N} loads`);
        assert.ok(writes.n < N / 4, `wTag read ${writes.n} times for ${N} stores`);
      }
    });
  }
}
