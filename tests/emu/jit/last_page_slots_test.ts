/**
 * The slots of a block's last pages (emu/x86/jit/operands.ts SLOTS): an access keeps the page it found in the slot
 * of its base register, so a loop that reads and writes through two pointers in turn (the XZ decompressor's byte
 * copy: its dictionary's fields through RAX, its buffer through R8) finds each pointer's page where it left it.
 * A loop copies 1,024 dwords from 0x9000 to 0xc000, adding to each the dword at 0xa800 (through RBX) and storing the
 * sum at 0xa804 too: its loads alternate between the pages of RSI and RBX, its stores between those of RDI and RBX.
 * In every mode it leaves the same bytes; compiled, it looks each tag up about once per page and block entry, where
 * one last page of each kind took a look-up at every access.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { collect, hex } from "../../_support/sys.ts";
import { countingReads, describeExit, emuCpu, guest, leHex, openEmu } from "./_jit.ts";

/** The dwords copied, from where to where, and the dword added to each (at ADD; the sum also goes to ADD + 4). */
const N = 1024, FROM = 0x9000, TO = 0xc000, ADD = 0xa800, K = 0x9e3779b1;

/**
 * mov esi, FROM / mov edi, TO / mov ebx, ADD / mov ecx, N / L: mov eax, [rsi] / add eax, [rbx] / mov [rdi], eax /
 * mov [rbx + 4], eax / add rsi, 4 / add rdi, 4 / dec ecx / jnz L / mov eax, [rbx + 4] / out 0xe9, eax / hlt (in
 * 32-bit mode the adds are 32-bit and dec ecx is 49).
 */
const LOOP = {
  32: `be${leHex(FROM)} bf${leHex(TO)} bb${leHex(ADD)} b9${
    leHex(N)
  } 8b06 0303 8907 894304 83c604 83c704 49 75ee 8b4304 e7e9 f4`,
  64:
    `be${leHex(FROM)} bf${leHex(TO)} bb${leHex(ADD)} b9${leHex(N)} 8b06 0303 8907 894304 4883c604 4883c704 ffc9 75eb ` +
    "8b4304 e7e9 f4",
};

/** The little-endian dword at `at` of `bytes`. */
function dword(bytes: Uint8Array, at: number): number {
  return (bytes[at] | bytes[at + 1] << 8 | bytes[at + 2] << 16 | bytes[at + 3] << 24) >>> 0;
}

for (const bits of [32, 64] as const) {
  for (const mode of ["off", "on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: loads and stores through two pointers in turn keep a page each`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, bits, hex(LOOP[bits]));
      const bytes = g.mem.bytes;
      for (let k = 0; k < 4 * N; k++) bytes[FROM + k] = (k * 13 + 5) & 0xff;
      new DataView(bytes.buffer, bytes.byteOffset).setUint32(ADD, K, true);
      const m = emuCpu(g.vm, g.mem).cpu.mem;
      const reads = { n: 0 }, writes = { n: 0 };
      m.rTag = countingReads(m.rTag, reads);
      m.wTag = countingReads(m.wTag, writes);
      const { out, exit } = collect(g.vcpu);
      assert.equal(exit.reason, "hlt", describeExit(exit));
      for (let k = 0; k < N; k++) {
        assert.equal(dword(bytes, TO + 4 * k), (dword(bytes, FROM + 4 * k) + K) >>> 0, `dword ${k}`);
      }
      assert.deepEqual(out, [(dword(bytes, FROM + 4 * (N - 1)) + K) >>> 0]);
      assert.equal(dword(bytes, ADD + 4), out[0]);
      assert.equal(dword(bytes, TO + 4 * N), 0);
      // The interpreter looks the TLB up at each access; a compiled loop at most once per page, slot and block entry.
      if (mode === "eager") {
        assert.ok(reads.n < N / 4, `rTag read ${reads.n} times for ${2 * N} loads`);
        assert.ok(writes.n < N / 4, `wTag read ${writes.n} times for ${2 * N} stores`);
      }
    });
  }
}
