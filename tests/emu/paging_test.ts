/**
 * Paging: 32-bit paging with accessed and dirty bits, the #PF error codes
 * (present, write, user, instruction fetch) with CR2, CR0.WP, 4 MiB pages
 * under CR4.PSE, PAE paging with NX, KVM_TRANSLATE, and the dirty log that
 * the guest's writes and the page walker's accessed/dirty updates mark.
 * A host KVM without paging outside long mode (kvm_pvm: KVM_SET_SREGS drops
 * CR0.PG from 32-bit and PAE states) skips its half of the paging tests
 * with what {@linkcode probeLegacyPaging} or {@linkcode probePaePaging} saw.
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/harness.ts";
import { featureTest } from "../_support/guests.ts";
import { probeLegacyPaging, probePaePaging } from "../_support/probes.ts";
import { type Bench, bench, collect, describe, enter, expectOut, gate, K_CODE, put, setIdt } from "../_support/sys.ts";
import { X86_CR0_ET, X86_CR0_PE, X86_CR0_PG, X86_CR0_WP } from "../../constants.ts";

const P = 1, W = 2, U = 4, A = 0x20, D = 0x40, PS = 0x80;
/** CR0 of the paging tests: PE, ET and PG, and with WP. */
const CR0_PG = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG, CR0_PG_WP = CR0_PG | X86_CR0_WP;
const PD = 0x10000, PT0 = 0x11000, PT1 = 0x12000;
/**
 * 32-bit paging: linear 0-64 KiB identity-mapped (user, writable); 0x400000 -> 0x9000 (supervisor),
 * 0x401000 -> 0xa000 (user), 0x402000 not present, 0x403000 -> 0xb000 (user, read-only).
 */
function paging32(b: Bench): void {
  const v = b.view;
  v.setUint32(PD, PT0 | P | W | U, true);
  v.setUint32(PD + 4, PT1 | P | W | U, true);
  for (let i = 0; i < 16; i++) v.setUint32(PT0 + 4 * i, (i << 12) | P | W | U, true);
  v.setUint32(PT1, 0x9000 | P | W, true);
  v.setUint32(PT1 + 4, 0xa000 | P | W | U, true);
  v.setUint32(PT1 + 12, 0xb000 | P | U, true);
}

// The #PF handler at 0x1100: mov eax, [esp] / out 0xe9, eax / mov eax, cr2 / out 0xe9, eax
//   mov eax, [esp+4] / out 0xe9, eax / hlt
const PF_HANDLER = "8b0424e7e90f20d0e7e98b442404e7e9f4";

/** Page faults: [what, code, cpl, cr0, expected (error code, CR2, EIP)]. */
const FAULTS: Array<[string, string, 0 | 3, bigint, number[]]> = [
  ["a read of a page not present: 0", "a100204000", 0, CR0_PG_WP, [0, 0x402000, 0x1000]], // mov eax, [0x402000]
  ["a write to a page not present: W", "a300204000", 0, CR0_PG_WP, [2, 0x402000, 0x1000]], // mov [0x402000], eax
  ["a read of a supervisor page at CPL 3: P|U", "a100004000", 3, CR0_PG_WP, [5, 0x400000, 0x1000]],
  ["a write to a read-only page at CPL 3: P|W|U", "a300304000", 3, CR0_PG_WP, [7, 0x403000, 0x1000]],
  ["a write to a read-only page at CPL 0 with CR0.WP: P|W", "a300304000", 0, CR0_PG_WP, [3, 0x403000, 0x1000]],
];

for (const [what, code, cpl, cr0, expected] of FAULTS) {
  featureTest(`#PF: ${what}`, probeLegacyPaging, (kvm) => {
    using b = bench(kvm);
    put(b, 0x1000, code);
    put(b, 0x1100, PF_HANDLER);
    paging32(b);
    enter(b, { cpl, cr0, cr3: BigInt(PD) });
    setIdt(b, 14, gate(0xe, K_CODE, 0x1100));
    expectOut(b.vcpu, expected);
  });
}

// mov dword [0x403000], 0x55 / mov eax, [0x403000] / out 0xe9, eax / hlt
featureTest("CR0.WP clear: CPL 0 writes a read-only page", probeLegacyPaging, (kvm) => {
  using b = bench(kvm);
  put(b, 0x1000, "c7050030400055000000a100304000e7e9f4");
  paging32(b);
  enter(b, { cr0: CR0_PG, cr3: BigInt(PD) });
  expectOut(b.vcpu, [0x55]);
  assert.equal(b.view.getUint32(0xb000, true), 0x55);
  assert.equal(b.view.getUint32(PT1 + 12, true), 0xb000 | P | U | A | D);
});

// mov eax, [0x400000] / mov [0x401004], eax / hlt
featureTest(
  "accessed and dirty bits; the dirty log marks the data page and the page tables",
  probeLegacyPaging,
  (kvm) => {
    using b = bench(kvm, { logDirtyPages: true });
    put(b, 0x1000, "a100004000a304104000f4");
    paging32(b);
    b.view.setUint32(0x9000, 0xcafe, true);
    enter(b, { cr0: CR0_PG_WP, cr3: BigInt(PD) });
    b.vm.getDirtyLog(0);
    const { exit } = collect(b.vcpu);
    assert.equal(exit.reason, "hlt", describe(exit));
    assert.equal(b.view.getUint32(0xa004, true), 0xcafe);
    assert.equal(b.view.getUint32(PT1, true), 0x9000 | P | W | A, "read: accessed only");
    assert.equal(b.view.getUint32(PT1 + 4, true), 0xa000 | P | W | U | A | D, "written: accessed and dirty");
    assert.equal(b.view.getUint32(PD + 4, true) & (A | D), A, "a directory entry gets A, never D");
    assert.equal(b.view.getUint32(PT1 + 12, true) & A, 0, "untouched");
    const log = b.vm.getDirtyLog(0);
    const dirty = [];
    for (let page = 0; page < log.length * 8; page++) if (log[page >> 3] & (1 << (page & 7))) dirty.push(page);
    for (const page of [0xa, PD >> 12, PT0 >> 12, PT1 >> 12]) assert.ok(dirty.includes(page), `page ${page}: ${dirty}`);
    assert.ok(!dirty.includes(9), `page 9 was only read: ${dirty}`);
  },
);

// mov eax, [0x401000] / out 0xe9, eax / hlt     (0x400000 is a 4 MiB page at physical 0)
featureTest("CR4.PSE: a 4 MiB page", probeLegacyPaging, (kvm) => {
  using b = bench(kvm);
  put(b, 0x1000, "a100104000e7e9f4");
  paging32(b);
  b.view.setUint32(PD + 4, 0 | PS | P | W, true);
  enter(b, { cr0: CR0_PG_WP, cr3: BigInt(PD), cr4: 0x10n });
  expectOut(b.vcpu, [0x401000a1]); // the first bytes of the code, seen through the large page
  assert.equal(b.view.getUint32(PD + 4, true), PS | P | W | A);
});

/** PAE: PDPT at 0x13000, directory at 0x14000, tables at 0x15000 (identity 0-64 KiB) and 0x16000 (4 MiB). */
function pae(b: Bench): void {
  const v = b.view;
  v.setUint32(0x13000, 0x14000 | P, true);
  v.setUint32(0x14000, 0x15000 | P | W | U, true);
  v.setUint32(0x14000 + 16, 0x16000 | P | W | U, true);
  for (let i = 0; i < 16; i++) v.setUint32(0x15000 + 8 * i, (i << 12) | P | W | U, true);
  v.setUint32(0x16000, 0x9000 | P | W, true); // 0x400000: data, no execute
  v.setUint32(0x16000 + 4, 0x80000000, true);
  v.setUint32(0x16000 + 8, 0xa000 | P | W, true); // 0x401000
}

// jmp 0x400000 (NX): #PF with P and I/D
featureTest("PAE with EFER.NXE: fetching from a no-execute page is #PF(P|I/D)", probePaePaging, (kvm) => {
  using b = bench(kvm);
  put(b, 0x1000, "e9fbef3f00");
  put(b, 0x1100, PF_HANDLER);
  pae(b);
  b.vcpu.setCpuid2(kvm.supportedCpuid());
  enter(b, { cr0: CR0_PG_WP, cr3: 0x13000n, cr4: 0x20n });
  const sregs = b.vcpu.getSregs();
  sregs.efer |= 0x800n;
  b.vcpu.setSregs(sregs);
  setIdt(b, 14, gate(0xe, K_CODE, 0x1100));
  expectOut(b.vcpu, [0x11, 0x400000, 0x400000]);
});

// mov eax, [0x400000] / mov [0x401004], eax / hlt
featureTest("PAE: 8-byte entries, accessed and dirty bits", probePaePaging, (kvm) => {
  using b = bench(kvm);
  put(b, 0x1000, "a100004000a304104000f4");
  pae(b);
  b.view.setUint32(0x16000 + 4, 0, true);
  b.view.setUint32(0x9000, 0xbeef, true);
  enter(b, { cr0: CR0_PG_WP, cr3: 0x13000n, cr4: 0x20n });
  const { exit } = collect(b.vcpu);
  assert.equal(exit.reason, "hlt", describe(exit));
  assert.equal(b.view.getUint32(0xa004, true), 0xbeef);
  assert.equal(b.view.getUint32(0x16000, true), 0x9000 | P | W | A);
  assert.equal(b.view.getUint32(0x16008, true), 0xa000 | P | W | A | D);
});

featureTest("KVM_TRANSLATE through 32-bit page tables", probeLegacyPaging, (kvm) => {
  using b = bench(kvm);
  paging32(b);
  enter(b, { cr0: CR0_PG_WP, cr3: BigInt(PD) });
  const t = b.vcpu.translate(0x400123);
  assert.deepEqual(
    { ...t },
    { physicalAddress: 0x9123n, valid: true, writeable: true, usermode: false },
  );
  assert.equal(b.vcpu.translate(0x402000).valid, false);
  assert.equal(b.vcpu.translate(0x1234).physicalAddress, 0x1234n);
});

featureTest(
  "KVM_TRANSLATE of frames at 2 GiB and above: 4 KiB and 4 MiB pages, PAE 4 KiB and 2 MiB pages",
  probePaePaging,
  (kvm) => {
    // Bit 31 of an entry's low dword is an address bit: read as a signed int32 it once gave negative addresses.
    const expect = (b: Bench, lin: number, phys: number) =>
      assert.deepEqual(
        { ...b.vcpu.translate(lin) },
        { physicalAddress: BigInt(phys), valid: true, writeable: true, usermode: false },
        `translate(0x${lin.toString(16)})`,
      );
    {
      using b = bench(kvm);
      paging32(b);
      b.view.setUint32(PT1 + 16, 0x80005000 | P | W, true); // 0x404000
      b.view.setUint32(PD + 8, 0xffc00000 | PS | P | W, true); // 0x800000: a 4 MiB page
      enter(b, { cr0: CR0_PG_WP, cr3: BigInt(PD), cr4: 0x10n });
      expect(b, 0x404123, 0x80005123);
      expect(b, 0x9abcde, 0xffdabcde);
    }
    {
      using b = bench(kvm);
      pae(b);
      b.view.setUint32(0x16000 + 4, 0, true);
      b.view.setUint32(0x16000 + 24, 0x80007000 | P | W, true); // 0x403000
      b.view.setUint32(0x14000 + 24, 0xfe000000 | PS | P | W, true); // 0x600000: a 2 MiB page
      b.view.setUint32(0x14000 + 28, 1, true); // ... at 0x1fe000000
      enter(b, { cr0: CR0_PG_WP, cr3: 0x13000n, cr4: 0x20n });
      expect(b, 0x403456, 0x80007456);
      expect(b, 0x612345, 0x1fe012345);
    }
  },
);

backendTest("KVM_TRANSLATE without paging: the linear address, valid, writeable, not usermode", (kvm) => {
  using b = bench(kvm);
  enter(b);
  for (const lin of [0x1234, 0x400000, 0xfffff000]) {
    assert.deepEqual(
      { ...b.vcpu.translate(lin) },
      { physicalAddress: BigInt(lin), valid: true, writeable: true, usermode: false },
    );
  }
});
