/**
 * Memory's try* accesses (emu/x86/memory.ts), which a compiled block's slow
 * paths may use instead of the raising ones: a #PF answers -1, with the
 * error code in `faultCode` and CR2 set as the raising access sets them,
 * nothing written, and nothing left behind that changes a later access (the
 * walk cache records no translation for the failed walk, and the next
 * raising access still raises).
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../_support/harness.ts";
import { CpuFault } from "../../emu/x86/fault.ts";
import { ABSENT, DATA, emuCpu, guest, openEmu } from "./jit/_jit.ts";

/** The #PF error code of a supervisor access to a page that is not present: W/R for a write. */
const NOT_PRESENT_READ = 0, NOT_PRESENT_WRITE = 2;

/** The 64-bit guest of tests/emu/jit (CPL 0, ABSENT not present), its emulated CPU. */
function absentPage() {
  const kvm = openEmu("off");
  const g = guest(kvm, 64, [0xf4], { paging: true });
  const { cpu } = emuCpu(g.vm, g.mem);
  return { cpu, mem: cpu.mem, [Symbol.dispose]: () => (g[Symbol.dispose](), kvm.close()) };
}

/** Runs `f`, which must raise #PF with `code`. */
function raisesPf(f: () => unknown, code: number): void {
  assert.throws(f, (e) => e instanceof CpuFault && e.vector === 14 && e.code === code);
}

test("try* accesses: a #PF answers -1 with its error code and CR2; mapped pages read and write", () => {
  using t = absentPage();
  const { cpu, mem } = t;
  assert.equal(mem.tryWrite32(DATA, 0x89abcdef), 0);
  assert.equal(mem.tryRead32(DATA), 0x89abcdef);
  assert.equal(mem.tryRead16(DATA + 2), 0x89ab);
  assert.equal(mem.tryRead8(DATA + 3), 0x89);
  assert.equal(mem.tryWrite64(DATA + 8, 0x11223344, 0x55667788), 0);
  const q = new Uint32Array(2);
  assert.equal(mem.tryRead64(DATA + 8, q), 0);
  assert.deepEqual([...q], [0x11223344, 0x55667788]);
  assert.equal(mem.faultCode, -1);

  for (
    const [read, at] of [[() => mem.tryRead32(ABSENT + 0x10), ABSENT + 0x10], [
      () => mem.tryRead8(ABSENT),
      ABSENT,
    ]] as const
  ) {
    cpu.cr2 = 0;
    assert.equal(read(), -1);
    assert.equal(mem.faultCode, NOT_PRESENT_READ);
    assert.equal(cpu.cr2, at);
    mem.faultCode = -1;
  }
  // Across into the absent page: CR2 names it, and the first page's bytes are not written.
  mem.tryWrite32(ABSENT - 4, 0x01020304);
  assert.equal(mem.tryWrite32(ABSENT - 2, 0xffffffff), -1);
  assert.equal(mem.faultCode, NOT_PRESENT_WRITE);
  assert.equal(cpu.cr2, ABSENT);
  assert.equal(mem.tryRead32(ABSENT - 4), 0x01020304);
  assert.equal(mem.tryRead64(ABSENT - 4, q), -1);
  assert.equal(mem.tryWrite64(ABSENT + 0x20, 1, 2), -1);
  assert.equal(mem.faultCode, NOT_PRESENT_WRITE);
  assert.equal(cpu.cr2, ABSENT + 0x20);
  assert.equal(mem.quiet, false);
});

test("try* accesses: a failed quiet walk leaves no translation behind; raising accesses still raise", () => {
  using t = absentPage();
  const { mem } = t;
  assert.equal(mem.tryRead32(ABSENT), -1);
  // A walk cache that kept the failed walk would answer its -1 plus the offset here: physical 0x7.
  raisesPf(() => mem.read32(ABSENT + 8), NOT_PRESENT_READ);
  raisesPf(() => mem.write32(ABSENT + 8, 1), NOT_PRESENT_WRITE);
  assert.equal(mem.tryRead32(ABSENT + 0x100), -1);
});
