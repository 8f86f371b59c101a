/**
 * The translations that no TLB entry holds (SDM vol. 3, 4.10.2): the CPU's
 * implicit supervisor accesses (the IDT read at every interrupt) and MMIO
 * pages. The emulator caches them as a TLB would: a page-table change
 * without an invalidation may go unseen, and INVLPG makes it seen.
 *
 * Both tests run on the emulator only: a processor may or may not keep such
 * a translation, so only INVLPG's half of each is architectural.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Vcpu } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import { bench64, put64 } from "../_support/long64.ts";
import { LM_IDT, LM_PDPT, setGate } from "../_support/long_mode.ts";
import { probeRun } from "../_support/probes.ts";
import { describe } from "../_support/sys.ts";

/** Where the IDT's page (linear LM_IDT) is mapped to after the first interrupt: a copy of it, one gate changed. */
const IDT_COPY = 0xc000;
const HANDLER_OLD = 0x3800, HANDLER_NEW = 0x3900;

backendTest(
  "walk cache: the IDT's translation outlives a PTE change until INVLPG",
  (kvm) => {
    // int 0x20 / mov dword [0x13010], 0xc023 (LM_IDT's PTE: frame IDT_COPY) / int 0x20 / invlpg [0x2000] /
    // int 0x20 / hlt
    using m = bench64(kvm, "cd20 c7042510300100 23c00000 cd20 0f013c2500200000 cd20 f4");
    // Each handler reports its number: mov eax, n / out 0xe9, eax / iretq.
    put64(m, HANDLER_OLD, "b8aa000000 e7e9 48cf");
    put64(m, HANDLER_NEW, "b8bb000000 e7e9 48cf");
    setGate(m.mem, 0x20, BigInt(HANDLER_NEW));
    m.mem.bytes.copyWithin(IDT_COPY, LM_IDT, LM_IDT + 0x1000);
    setGate(m.mem, 0x20, BigInt(HANDLER_OLD));
    const run = probeRun(m.vcpu);
    assert.equal(run.exit.reason, "hlt", describe(run.exit));
    assert.deepEqual(run.out, [0xaa, 0xaa, 0xbb]);
  },
  { only: ["emu"] },
);

/** Runs the guest to HLT, every exit an MMIO read (at most three): their addresses. */
function mmioReads(vcpu: Vcpu): bigint[] {
  const reads: bigint[] = [];
  for (let exit = vcpu.run({ timeoutMs: 5000 }); exit.reason !== "hlt"; exit = vcpu.run({ timeoutMs: 5000 })) {
    assert.equal(exit.reason, "mmio", describe(exit));
    if (exit.reason === "mmio") reads.push(exit.physAddr);
    assert.ok(reads.length <= 3, "more MMIO reads than the guest makes");
  }
  return reads;
}

backendTest(
  "walk cache: an MMIO page's translation outlives a PTE change until INVLPG",
  (kvm) => {
    // mov eax, [0x1ff000] (mapped to 0x1ff000, outside the 4 MiB of RAM) / mov dword [0x13ff8], 0x900023
    // (its PTE: 0x900000) / mov eax, [0x1ff000] / invlpg [0x1ff000] / mov eax, [0x1ff000] / hlt
    const code = "8b042500f01f00 c70425f83f0100 23009000 8b042500f01f00 0f013c2500f01f00 8b042500f01f00 f4";
    using m = bench64(kvm, code);
    new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset).setUint32(0x13ff8, 0x5ff023, true);
    assert.deepEqual(mmioReads(m.vcpu), [0x5ff000n, 0x5ff000n, 0x900000n]);
  },
  { only: ["emu"] },
);

backendTest(
  "walk cache: a write through a page read before sets the PTE's dirty bit",
  (kvm) => {
    // mov eax, [0x1ff000] (MMIO: its translation is cached for reading) / mov [0x1ff000], eax / hlt
    using m = bench64(kvm, "8b042500f01f00 89042500f01f00 f4");
    const view = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset);
    view.setUint32(0x13ff8, 0x5ff023, true);
    const kinds: boolean[] = [];
    for (let exit = m.vcpu.run({ timeoutMs: 5000 }); exit.reason !== "hlt"; exit = m.vcpu.run({ timeoutMs: 5000 })) {
      assert.equal(exit.reason, "mmio", describe(exit));
      if (exit.reason === "mmio") kinds.push(exit.isWrite);
      assert.ok(kinds.length <= 2, "more MMIO accesses than the guest makes");
    }
    assert.deepEqual(kinds, [false, true]);
    // The read's walk set A (already set); the write's must set D, as a walk for writing does.
    assert.equal(view.getUint32(0x13ff8, true), 0x5ff063);
  },
);

backendTest(
  "walk cache: INVLPG in a region no code was fetched from drops the MMIO page's translation",
  (kvm) => {
    // Linear 1 GiB + 0x1ff000 through tables of its own: INVLPG there leaves the fetch cache's epoch as it is
    // (memory.ts codeTranslated: no code page holds it), so only the walk cache's own drop makes the PTE change seen.
    // mov eax, [0x401ff000] / mov dword [0x15ff8], 0x900023 (its PTE: 0x900000) / mov eax, [0x401ff000] /
    // invlpg [0x401ff000] / mov eax, [0x401ff000] / hlt
    const code = "8b042500f01f40 c70425f85f0100 23009000 8b042500f01f40 0f013c2500f01f40 8b042500f01f40 f4";
    using m = bench64(kvm, code);
    const v = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset);
    v.setBigUint64(LM_PDPT + 8, 0x14000n | 7n, true); // 1-2 GiB: a directory at 0x14000
    v.setBigUint64(0x14000, 0x15000n | 7n, true); // its first 2 MiB: a table at 0x15000
    v.setUint32(0x15ff8, 0x5ff023, true); // 1 GiB + 0x1ff000 -> 0x5ff000 (MMIO)
    assert.deepEqual(mmioReads(m.vcpu), [0x5ff000n, 0x5ff000n, 0x900000n]);
  },
  { only: ["emu"] },
);

backendTest(
  "walk cache: INVLPG of a neighbouring 4 KiB page leaves an MMIO page's translation, its own page's drops it",
  (kvm) => {
    // While every cached walk is of a 4 KiB page, INVLPG drops its page's alone (walk_cache.ts drop).
    // mov eax, [0x1ff000] / mov dword [0x13ff8], 0x900023 (its PTE: 0x900000) / invlpg [0x1fe000] /
    // mov eax, [0x1ff000] / invlpg [0x1ff000] / mov eax, [0x1ff000] / hlt
    const code = "8b042500f01f00 c70425f83f0100 23009000 0f013c2500e01f00 8b042500f01f00 0f013c2500f01f00 " +
      "8b042500f01f00 f4";
    using m = bench64(kvm, code);
    new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset).setUint32(0x13ff8, 0x5ff023, true);
    assert.deepEqual(mmioReads(m.vcpu), [0x5ff000n, 0x5ff000n, 0x900000n]);
  },
  { only: ["emu"] },
);

backendTest(
  "walk cache: INVLPG anywhere in a 2 MiB page drops its MMIO translation",
  (kvm) => {
    // Linear 2-4 MiB is one 2 MiB page (LM_PD entry 1), here onto 0x600000, outside the 4 MiB of RAM.
    // mov eax, [0x200000] / mov dword [0x12008], 0x8000a3 (the PDE: 0x800000, P W PS A) / mov eax, [0x200000] /
    // invlpg [0x3ff000] / mov eax, [0x200000] / hlt
    const code = "8b042500002000 c7042508200100 a3008000 8b042500002000 0f013c2500f03f00 8b042500002000 f4";
    using m = bench64(kvm, code);
    new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset).setUint32(0x12008, 0x6000a3, true);
    assert.deepEqual(mmioReads(m.vcpu), [0x600000n, 0x600000n, 0x800000n]);
  },
  { only: ["emu"] },
);
