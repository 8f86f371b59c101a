/**
 * The 64-bit siblings of the part-1 paging tests: 4-level paging at CPL 0
 * (run by the kernel's instruction emulator on kvm_pvm, which has paging
 * only in long mode), #PF error codes with a 64-bit CR2, CR0.WP, accessed
 * and dirty bits with the dirty log, 2 MiB pages, reserved bits, INVLPG
 * and CR3 reloads, and KVM_TRANSLATE.
 *
 * Sibling map (part-1 test → test here):
 * - tests/emu/paging_test "#PF: a read of a page not present: 0" → "long #PF at CPL 0: a read of a page not present"
 * - tests/emu/paging_test "#PF: a write to a page not present: W" → "long #PF at CPL 0: a write to a page not present"
 * - tests/emu/paging_test "#PF: a write to a read-only page at CPL 0 with CR0.WP" → "long #PF at CPL 0: ... CR0.WP"
 * - tests/emu/paging_test "CR0.WP clear: CPL 0 writes a read-only page" → "long CR0.WP clear ..."
 * - tests/emu/paging_test "accessed and dirty bits; the dirty log ..." → "long accessed and dirty bits; the dirty log ..."
 * - tests/emu/paging_test "CR4.PSE: a 4 MiB page" → "long 2 MiB page ..." (the long-mode large page)
 * - tests/emu/paging_test "PAE: 8-byte entries, accessed and dirty bits" → the two tests above (4-level entries are 8 bytes)
 * - tests/emu/paging_test "KVM_TRANSLATE through 32-bit page tables" → "long KVM_TRANSLATE through 4-level page tables"
 * - tests/emu/paging_test "KVM_TRANSLATE without paging" and tests/api/vcpu_regs_test "translate: the identity with paging off":
 *   no 64-bit subject (long mode always pages)
 * - the INVLPG of the part-1 system instructions → "long INVLPG ..." and "long MOV CR3 ..."
 *
 * Already covered by tests/emu/long/mode_test.ts: #PF at CPL 3 (not present: U; read-only: P|W|U; supervisor: P|U),
 * "PAE with EFER.NXE: fetching from a no-execute page" (the NX fetch), 1 GiB pages and the reserved PS bit,
 * SMEP/SMAP, canonical-address faults, and KVM_TRANSLATE of 4 KiB, 2 MiB and upper-half mappings;
 * tests/api/vcpu_regs_test has "Vcpu.translate with 4-level paging".
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../../mod.ts";
import { backendTest } from "../../_support/harness.ts";
import { describe, machine, runTo } from "../../_support/guests.ts";
import { collect, expectOut } from "../../_support/sys.ts";
import { bench64, installStubs, put64 } from "../../_support/long64.ts";
import {
  A,
  buildLongMode,
  D,
  enterLongMode,
  getPte,
  LM_CODE,
  LM_MEMORY,
  LM_PD,
  LM_PDPT,
  LM_PML4,
  LM_PT,
  type LongMachine,
  NX,
  P,
  PS,
  setGate,
  setPte,
  U,
  view,
  W,
} from "../../_support/long_mode.ts";

const PF_HANDLER = 0x3400;
// #PF: pop rbx / mov eax, ebx / out 0xe9, eax (the error code) / mov rax, cr2 / out 0xe9, eax / shr rax, 32
//   out 0xe9, eax (CR2, low then high) / mov rax, [rsp] / out 0xe9, eax (RIP) / hlt
const PF_HANDLER_CODE = "5b 89d8 e7e9 0f20d0 e7e9 48c1e820 e7e9 488b0424 e7e9 f4";

/** A CPL 0 machine with `code` and the #PF handler; `setup` edits the page tables. */
function pfBench(kvm: Kvm, code: string, setup: (m: LongMachine) => void): LongMachine {
  const m = bench64(kvm, code);
  put64(m, PF_HANDLER, PF_HANDLER_CODE);
  setGate(m.mem, 14, BigInt(PF_HANDLER));
  setup(m);
  return m;
}

/** Page faults at CPL 0: [what, code, setup, expected (error code, CR2 low, CR2 high, RIP)]. */
const FAULTS: Array<[string, string, (m: LongMachine) => void, number[]]> = [
  // mov al, [0xd000]
  ["a read of a page not present: 0", "8a042500d00000 f4", (m) => setPte(m.mem, 0xd000, 0n), [0, 0xd000, 0, LM_CODE]],
  // mov [0xd000], al
  ["a write to a page not present: W", "88042500d00000 f4", (m) => setPte(m.mem, 0xd000, 0n), [2, 0xd000, 0, LM_CODE]],
  // mov rax, 0xffffff800000d010 / mov bl, [rax]
  ["a read through the upper half: CR2 holds 64 bits", "48b810d0000080ffffff 8a18 f4", (m) => {
    setPte(m.mem, 0xd000, 0n);
  }, [0, 0xd010, 0xffffff80, LM_CODE + 10]],
  // mov byte [0xb000], 7
  ["a write to a read-only page with CR0.WP: P|W", "c6042500b0000007 f4", (m) => setPte(m.mem, 0xb000, P | U), [
    3,
    0xb000,
    0,
    LM_CODE,
  ]],
  // mov eax, [0xd000] with NX set in the PTE and EFER.NXE clear: a reserved bit
  ["NX with EFER.NXE clear is a reserved bit: P|RSVD", "8b042500d00000 f4", (m) => {
    setPte(m.mem, 0xd000, P | W | U | NX);
    const sregs = m.vcpu.getSregs();
    m.vcpu.setSregs({ ...sregs, efer: sregs.efer & ~0x800n });
  }, [9, 0xd000, 0, LM_CODE]],
];

for (const [what, code, setup, expected] of FAULTS) {
  backendTest(`long #PF at CPL 0: ${what}`, (kvm) => {
    using m = pfBench(kvm, code, setup);
    expectOut(m.vcpu, expected);
  });
}

backendTest("long CR0.WP clear: CPL 0 writes a read-only page, which becomes accessed and dirty", (kvm) => {
  // mov dword [0xb000], 0x55 / mov eax, [0xb000] / out 0xe9, eax / hlt
  using m = bench64(kvm, "c7042500b0000055000000 8b042500b00000 e7e9 f4");
  setPte(m.mem, 0xb000, P | U);
  const sregs = m.vcpu.getSregs();
  m.vcpu.setSregs({ ...sregs, cr0: sregs.cr0 & ~(1n << 16n) });
  expectOut(m.vcpu, [0x55]);
  assert.equal(view(m.mem).getUint32(0xb000, true), 0x55);
  assert.equal(getPte(m.mem, 0xb000), 0xb000n | P | U | A | D);
});

/** A long-mode machine whose memory slot logs dirty pages, with the reporting stubs. */
function dirtyMachine(kvm: Kvm): LongMachine {
  const m: LongMachine = machine(kvm, { size: LM_MEMORY, logDirtyPages: true });
  buildLongMode(m.mem);
  installStubs(m);
  return m;
}

backendTest("long accessed and dirty bits at every level; the dirty log marks the data page and the tables", (kvm) => {
  using m = dirtyMachine(kvm);
  put64(m, LM_CODE, "8b042500600000 89042504c00000 f4"); // mov eax, [0x6000] / mov [0xc004], eax / hlt
  view(m.mem).setUint32(0x6000, 0xcafe, true);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  m.vm.getDirtyLog(0);
  const { exit } = collect(m.vcpu);
  assert.equal(exit.reason, "hlt", describe(exit));
  const v = view(m.mem);
  assert.equal(v.getUint32(0xc004, true), 0xcafe);
  assert.equal(getPte(m.mem, 0x6000), 0x6000n | P | W | U | A, "read: accessed only");
  assert.equal(getPte(m.mem, 0xc000), 0xc000n | P | W | U | A | D, "written: accessed and dirty");
  for (const [at, name] of [[LM_PML4, "PML4E"], [LM_PDPT, "PDPTE"], [LM_PD, "PDE"]] as const) {
    assert.equal(v.getBigUint64(at, true) & A, A, `${name}: accessed`);
  }
  assert.equal(getPte(m.mem, 0xd000) & A, 0n, "untouched");
  const log = m.vm.getDirtyLog(0);
  const dirty = [];
  for (let page = 0; page < log.length * 8; page++) if (log[page >> 3] & (1 << (page & 7))) dirty.push(page);
  for (const page of [0xc, LM_PT >> 12]) assert.ok(dirty.includes(page), `page ${page}: ${dirty}`);
  assert.ok(!dirty.includes(6), `page 6 was only read: ${dirty}`);
});

backendTest("long 2 MiB page: PD entry 1 maps linear 2 MiB; a read sets its A bit, a write its D bit", (kvm) => {
  // mov eax, [0x201000] / out 0xe9, eax / mov [0x202004], eax / hlt
  using m = bench64(kvm, "8b042500102000 e7e9 89042504202000 f4");
  const v = view(m.mem);
  v.setUint32(0x201000, 0x2a2b2c2d, true);
  v.setBigUint64(LM_PD + 8, 0x200000n | P | W | PS, true);
  expectOut(m.vcpu, [0x2a2b2c2d]);
  assert.equal(v.getUint32(0x202004, true), 0x2a2b2c2d);
  assert.equal(v.getBigUint64(LM_PD + 8, true), 0x200000n | P | W | PS | A | D);
});

/**
 * Runs a guest that reads linear 0xd000 (physical 0xd000), points its PTE at physical 0x9000, flushes the TLB its
 * own way and reads again: it must write the old value, then the new one.
 */
function expectRemapSeen(m: LongMachine): void {
  const v = view(m.mem);
  v.setUint32(0xd000, 0x11111111, true);
  v.setUint32(0x9000, 0x99999999, true);
  expectOut(m.vcpu, [0x11111111, 0x99999999]);
}

backendTest("long INVLPG at CPL 0: after the guest rewrites a PTE, INVLPG makes the new mapping visible", (kvm) => {
  // mov eax, [0xd000] / out 0xe9, eax / mov qword [0x13068], 0x9007 (PTE of 0xd000 -> 0x9000) / invlpg [0xd000]
  // mov eax, [0xd000] / out 0xe9, eax / hlt
  using m = bench64(kvm, "8b042500d00000 e7e9 48c7042568300100 07900000 0f013c2500d00000 8b042500d00000 e7e9 f4");
  expectRemapSeen(m);
});

backendTest("long MOV CR3 at CPL 0: reloading CR3 makes a rewritten PTE visible", (kvm) => {
  // mov rbx, cr3 / mov eax, [0xd000] / out 0xe9, eax / mov qword [0x13068], 0x9007 / mov cr3, rbx
  // mov eax, [0xd000] / out 0xe9, eax / hlt
  using m = bench64(kvm, "0f20db 8b042500d00000 e7e9 48c7042568300100 07900000 0f22db 8b042500d00000 e7e9 f4");
  expectRemapSeen(m);
  assert.equal(m.vcpu.getSregs().cr3, BigInt(LM_PML4));
});

backendTest("long KVM_TRANSLATE through 4-level page tables: 4 KiB, 2 MiB and not-present entries", (kvm) => {
  using m = bench64(kvm, "f4");
  view(m.mem).setBigUint64(LM_PT + 6 * 8, 0x9000n | P, true); // linear 0x6000 -> physical 0x9000
  setPte(m.mem, 0x7000, 0n);
  const t = (a: number | bigint) => m.vcpu.translate(a);
  assert.deepEqual([t(0x6123).physicalAddress, t(0x6123).valid], [0x9123n, true]);
  assert.deepEqual([t(0xffffff8000006123n).physicalAddress, t(0xffffff8000006123n).valid], [0x9123n, true]);
  assert.deepEqual([t(0x212345).physicalAddress, t(0x212345).valid], [0x212345n, true]);
  // KVM fills in only physicalAddress and valid: writeable is always true and usermode false, whatever the
  // entries say (here a read-only supervisor page); the emulator answers the same.
  assert.deepEqual({ ...t(0x6123) }, { physicalAddress: 0x9123n, valid: true, writeable: true, usermode: false });
  assert.equal(t(0x7000).valid, false, "a PTE not present");
  assert.equal(t(0x8000_0000).valid, false, "a PDPT entry not present");
  assert.equal(t(0x7f00_0000_0000n).valid, false, "a PML4 entry not present");
  runTo(m.vcpu, "hlt");
});
