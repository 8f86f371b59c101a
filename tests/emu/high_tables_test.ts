/**
 * Descriptor tables above 4 GiB in IA-32e mode (SDM vol. 3, 3.5.1 and 6.14.1:
 * GDTR, IDTR and TR hold 64-bit linear bases there). Linux keeps its GDT, IDT
 * and TSS in the cpu_entry_area at 0xfffffe0000000000 and far-returns through
 * the GDT in startup_64; a CPU that truncates a table address to 32 bits reads
 * the wrong descriptor and triple-faults. The bench's tables are copied to
 * physical 2 MiB, mapped at 0xffffff0000000000 (PML4 entry 510), and the
 * originals at the truncated addresses are cleared.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import { bench64 } from "../_support/long64.ts";
import {
  LM_CODE,
  LM_GDT,
  LM_IDT,
  LM_PML4,
  LM_RSP0,
  LM_TSS,
  type LongMachine,
  P,
  PS,
  view,
  W,
} from "../_support/long_mode.ts";
import { probeRun } from "../_support/probes.ts";
import { describe } from "../_support/sys.ts";

/** Where the tables go: linear HIGH maps physical COPY (a 2 MiB page through PML4 entry 510). */
const HIGH = 0xffffff0000000000n, COPY = 0x200000;
/** Free pages of the bench for the new PDPT and page directory. */
const PDPT2 = 0x14000, PD2 = 0x15000;

/** Moves the bench's GDT, IDT and TSS to HIGH + their offsets, clearing them where a truncated address lands. */
function highTables(m: LongMachine): void {
  const v = view(m.mem), b = m.mem.bytes;
  v.setBigUint64(LM_PML4 + 510 * 8, BigInt(PDPT2) | P | W, true);
  v.setBigUint64(PDPT2, BigInt(PD2) | P | W, true);
  v.setBigUint64(PD2, BigInt(COPY) | P | W | PS, true);
  b.copyWithin(COPY, 0, 0x3000);
  b.fill(0, LM_GDT, LM_TSS + 0x68);
  b.fill(0, LM_IDT, LM_IDT + 0x1000);
  const s = m.vcpu.getSregs();
  s.gdt = { ...s.gdt, base: HIGH + BigInt(LM_GDT) };
  s.idt = { ...s.idt, base: HIGH + BigInt(LM_IDT) };
  s.tr = { ...s.tr, base: HIGH + BigInt(LM_TSS) };
  m.vcpu.setSregs(s);
}

function run(kvm: Kvm, code: string, cpl: 0 | 3): number[] {
  using m = bench64(kvm, code, { cpl });
  highTables(m);
  const r = probeRun(m.vcpu);
  assert.equal(r.exit.reason, "hlt", describe(r.exit));
  if (cpl === 3 && r.out.length === 4) {
    // The frame went to RSP0 of the TSS read at its upper-half base: RSP points at the pushed RIP.
    assert.equal(m.vcpu.getRegs().rsp, BigInt(LM_RSP0 - 40));
  }
  return r.out;
}

backendTest("emu high tables: a far return through a GDT at an upper-half address (startup_64's lretq)", (kvm) => {
  // push 0x08 / lea rax, [rip+3] / push rax / retfq / mov eax, 0x600d / out 0xe9, eax / hlt
  const out = run(kvm, "6a08 488d0503000000 50 48cb b80d600000 e7e9 f4", 0);
  assert.deepEqual(out, [0x600d]);
});

backendTest("emu high tables: #UD at CPL 3 through an upper-half IDT, GDT and TSS (RSP0)", (kvm) => {
  // ud2
  const out = run(kvm, "0f0b", 3);
  assert.deepEqual(out, [6, 0, LM_CODE, 0x2b]);
});

// On this host's kvm_pvm, CPL 0 is emulated and its emulator has no LAR (an internal-error exit): emulator only.
backendTest("emu high tables: LAR reads its descriptor from an upper-half GDT", (kvm) => {
  // mov eax, 0x2b / lar eax, eax / out 0xe9, eax / hlt: the 64-bit user code segment's access rights
  const out = run(kvm, "b82b000000 0f02c0 e7e9 f4", 0);
  assert.deepEqual(out, [0x00affb00]);
}, { only: ["emu"] });

backendTest("emu high tables: reading a descriptor leaves the data TLB entry of the same index alone", (kvm) => {
  // The GDT's page (HIGH) and linear page 0 share a TLB index (the emulator's 4096 entries; any size aliases page 0):
  // mov ebx, [0x800] / push 0x08 / lea rax, [rip+3] / push rax / retfq / mov eax, [0x800]
  // out 0xe9, eax / mov eax, ebx / out 0xe9, eax / hlt
  const code = "8b1c2500080000 6a08 488d0503000000 50 48cb 8b042500080000 e7e9 89d8 e7e9 f4";
  using m = bench64(kvm, code);
  highTables(m);
  view(m.mem).setUint32(0x800, 0x55667788, true);
  const r = probeRun(m.vcpu);
  assert.equal(r.exit.reason, "hlt", describe(r.exit));
  assert.deepEqual(r.out, [0x55667788, 0x55667788]);
});
