/**
 * Reserved bits in paging entries (SDM vol. 3, 4.3-4.5): a present entry with
 * a reserved bit set makes the access #PF with the RSVD bit (3) of the error
 * code, at every level of 4-level, PAE and 32-bit paging: the physical-address
 * bits from MAXPHYADDR up (bit 51 is reserved on any CPU whose MAXPHYADDR is
 * below 52; PAE entries also reserve bits 62:52), XD (bit 63) while EFER.NXE
 * is clear, and the low frame bits of a large page. MAXPHYADDR is what the
 * vCPU's CPUID leaf 80000008h says (36 without it, as the kernel has it); the
 * emulator advertises the leaf.
 *
 * The 4-level cases read at CPL 3 (natively on kvm_pvm) through a subtree of
 * their own at linear 512 GiB; the PAE and 32-bit cases read at CPL 0.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import { featureTest } from "../_support/guests.ts";
import { bench64 } from "../_support/long64.ts";
import { LM_PML4, type LongMachine, view } from "../_support/long_mode.ts";
import { probeLegacyPaging, probePaePaging, probeRun } from "../_support/probes.ts";
import { type Bench, bench, describe, enter, put } from "../_support/sys.ts";

const P = 1n, W = 2n, U = 4n, PS = 0x80n, NX = 1n << 63n;
const PF_P = 1, PF_W = 2, PF_U = 4, PF_RSVD = 8;

/**
 * The 4-level subtree: PML4 entry 1 (linear 512 GiB) -> PDPT -> PD -> PT -> one 4 KiB page; PD entry 1 a
 * 2 MiB page.
 */
const SUB_PDPT = 0x20000, SUB_PD = 0x21000, SUB_PT = 0x22000, SUB_PAGE = 0x23000;
const SUB_LINEAR = 0x8000000000n, SUB_LARGE = SUB_LINEAR + 0x200000n;

type Level = "pml4e" | "pdpte" | "pde" | "pte" | "pde-2m";

/** Builds the subtree with `extra` bits in the entry at `level`. */
function subtree(m: LongMachine, level: Level, extra: bigint): void {
  const v = view(m.mem), table = P | W | U;
  v.setBigUint64(LM_PML4 + 8, BigInt(SUB_PDPT) | table | (level === "pml4e" ? extra : 0n), true);
  v.setBigUint64(SUB_PDPT, BigInt(SUB_PD) | table | (level === "pdpte" ? extra : 0n), true);
  v.setBigUint64(SUB_PD, BigInt(SUB_PT) | table | (level === "pde" ? extra : 0n), true);
  v.setBigUint64(SUB_PD + 8, 0x200000n | table | PS | (level === "pde-2m" ? extra : 0n), true);
  v.setBigUint64(SUB_PT, BigInt(SUB_PAGE) | table | (level === "pte" ? extra : 0n), true);
}

/** imm64 as little-endian hex. */
function imm64(x: bigint): string {
  return Array.from({ length: 8 }, (_, i) => ((x >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, "0")).join("");
}

/**
 * Runs the CPL 3 program to its end and returns what the stubs reported: [14, error code, 0x400a, 0x2b] for a
 * #PF on the access, [13, 0, 0x400c, 0x2b] when it went through (the hlt at CPL 3 is #GP).
 */
function access64(m: LongMachine): number[] {
  const run = probeRun(m.vcpu);
  assert.equal(run.exit.reason, "hlt", describe(run.exit));
  return run.out;
}

function longCase(kvm: Kvm, level: Level, extra: bigint, options: { write?: boolean; nxe?: boolean } = {}) {
  const at = level === "pde-2m" ? SUB_LARGE : SUB_LINEAR, write = options.write ?? false;
  using m = bench64(kvm, `48b8${imm64(at)} ${write ? "8900" : "8b00"} f4`, { cpl: 3 });
  subtree(m, level, extra);
  if (options.nxe === false) {
    const sregs = m.vcpu.getSregs();
    sregs.efer &= ~(1n << 11n);
    m.vcpu.setSregs(sregs);
  }
  const out = access64(m);
  return { out, cr2: m.vcpu.getSregs().cr2 };
}

const rsvdRead = [14, PF_P | PF_U | PF_RSVD, 0x400a, 0x2b];

backendTest("4-level paging: bit 51 of an entry at any level is reserved: #PF with RSVD", (kvm) => {
  for (const level of ["pml4e", "pdpte", "pde", "pte", "pde-2m"] as const) {
    const { out, cr2 } = longCase(kvm, level, 1n << 51n);
    assert.deepEqual(out, rsvdRead, `bit 51 in the ${level}`);
    assert.equal(cr2, level === "pde-2m" ? SUB_LARGE : SUB_LINEAR, `CR2 after bit 51 in the ${level}`);
  }
  // A write: W/R is set in the error code too.
  const { out } = longCase(kvm, "pte", 1n << 51n, { write: true });
  assert.deepEqual(out, [14, PF_P | PF_W | PF_U | PF_RSVD, 0x400a, 0x2b], "a write through a PTE with bit 51");
  // Without a reserved bit the same accesses go through (the hlt at CPL 3 is then #GP).
  for (const level of ["pte", "pde-2m"] as const) {
    assert.deepEqual(longCase(kvm, level, 0n).out, [13, 0, 0x400c, 0x2b], `the ${level} without reserved bits`);
  }
});

backendTest("4-level paging: XD (bit 63) is reserved while EFER.NXE is clear, at every level", (kvm) => {
  for (const level of ["pml4e", "pdpte", "pde", "pte", "pde-2m"] as const) {
    assert.deepEqual(longCase(kvm, level, NX, { nxe: false }).out, rsvdRead, `XD in the ${level}, NXE clear`);
    // With NXE a data read through an XD entry is allowed.
    assert.deepEqual(longCase(kvm, level, NX).out, [13, 0, 0x400c, 0x2b], `XD in the ${level}, NXE set`);
  }
});

backendTest("4-level paging: the low frame bits of a 2 MiB page (20:13) are reserved", (kvm) => {
  assert.deepEqual(longCase(kvm, "pde-2m", 1n << 13n).out, rsvdRead, "bit 13 of a 2 MiB PDE");
  assert.deepEqual(longCase(kvm, "pde-2m", 1n << 20n).out, rsvdRead, "bit 20 of a 2 MiB PDE");
});

backendTest("MAXPHYADDR is what CPUID 80000008h says; the entry bit at MAXPHYADDR is reserved", (kvm) => {
  const cpuid = kvm.supportedCpuid();
  const top = cpuid.find((e) => e.function === 0x80000000), sizes = cpuid.find((e) => e.function === 0x80000008);
  assert.ok(top && top.eax >>> 0 >= 0x80000008 && sizes, "CPUID leaf 80000008h (address sizes) is advertised");
  const maxPhys = sizes.eax & 0xff;
  assert.ok(maxPhys >= 36 && maxPhys <= 52, `MAXPHYADDR ${maxPhys}`);
  if (maxPhys === 52) return; // no reserved physical-address bit to set
  using m = bench64(kvm, `48b8${imm64(SUB_LINEAR)} 8b00 f4`, { cpl: 3 });
  m.vcpu.setCpuid2(cpuid);
  subtree(m, "pte", 1n << BigInt(maxPhys));
  assert.deepEqual(access64(m), rsvdRead, `bit ${maxPhys} (MAXPHYADDR) of a PTE`);
});

// ---- PAE and 32-bit paging, at CPL 0 ----------------------------------------------------------------------

/** PAE: PDPT at 0x10000 -> PD at 0x11000: PDE 0 -> PT at 0x12000 (identity, first 2 MiB), PDE 2 -> PT at 0x13000
 * mapping linear 0x400000 to 0x14000, PDE 3 a 2 MiB page at linear 0x600000 (physical 0). */
const PAE_PDPT = 0x10000, PAE_PD = 0x11000, PAE_PT = 0x12000, PAE_PT2 = 0x13000;

function paeTables(b: Bench, level: "pde" | "pte" | "pde-2m", extra: bigint): void {
  const v = b.view, t = P | W | U;
  v.setBigUint64(PAE_PDPT, BigInt(PAE_PD) | P, true);
  v.setBigUint64(PAE_PD, BigInt(PAE_PT) | t, true);
  for (let i = 0; i < 0x20; i++) v.setBigUint64(PAE_PT + 8 * i, BigInt(i << 12) | t, true);
  v.setBigUint64(PAE_PD + 16, BigInt(PAE_PT2) | t | (level === "pde" ? extra : 0n), true);
  v.setBigUint64(PAE_PT2, 0x14000n | t | (level === "pte" ? extra : 0n), true);
  v.setBigUint64(PAE_PD + 24, t | PS | (level === "pde-2m" ? extra : 0n), true);
}

/** At CPL 0: mov eax, [at] / hlt (the code at 0x1000); what the stubs report, and CR2. */
function legacyRead(b: Bench, at: number): { out: number[]; cr2: bigint } {
  put(b, 0x1000, `a1${[0, 8, 16, 24].map((s) => ((at >>> s) & 0xff).toString(16).padStart(2, "0")).join("")} f4`);
  const run = probeRun(b.vcpu);
  return { out: run.exit.reason === "hlt" ? run.out : [-1, run.out.length], cr2: b.vcpu.getSregs().cr2 };
}

const rsvd0 = [14, PF_P | PF_RSVD, 0x1000, 0x08];

featureTest(
  "PAE paging: bits 62:MAXPHYADDR and XD without NXE are reserved in PDEs and PTEs",
  probePaePaging,
  (kvm) => {
    const cases: ["pde" | "pte" | "pde-2m", bigint, string][] = [
      ["pde", 1n << 51n, "bit 51"],
      ["pte", 1n << 51n, "bit 51"],
      ["pde-2m", 1n << 51n, "bit 51"],
      ["pte", 1n << 62n, "bit 62"],
      ["pde", 1n << 62n, "bit 62"],
      ["pte", NX, "XD (EFER.NXE clear)"],
      ["pde-2m", NX, "XD (EFER.NXE clear)"],
      ["pde-2m", 1n << 13n, "bit 13 of a 2 MiB page"],
    ];
    for (const [level, extra, what] of cases) {
      using b = bench(kvm);
      paeTables(b, level, extra);
      enter(b, { cr0: 0x80000011n, cr3: BigInt(PAE_PDPT), cr4: 0x20n });
      const at = level === "pde-2m" ? 0x600000 : 0x400000;
      const { out, cr2 } = legacyRead(b, at);
      assert.deepEqual(out, rsvd0, `${what} in the ${level}`);
      assert.equal(cr2, BigInt(at), `CR2 after ${what} in the ${level}`);
    }
    // The same tables without the reserved bits: the reads go through.
    for (const level of ["pte", "pde-2m"] as const) {
      using b = bench(kvm);
      paeTables(b, level, 0n);
      enter(b, { cr0: 0x80000011n, cr3: BigInt(PAE_PDPT), cr4: 0x20n });
      assert.deepEqual(legacyRead(b, level === "pde-2m" ? 0x600000 : 0x400000).out, [], `the ${level} without them`);
    }
  },
);

featureTest("32-bit paging: bit 21 of a 4 MiB page's PDE is reserved", probeLegacyPaging, (kvm) => {
  for (const extra of [1 << 21, 0]) {
    using b = bench(kvm);
    // Page directory at 0x10000: PDE 0 -> PT at 0x11000 (identity, first 128 KiB), PDE 1 a 4 MiB page (physical 0).
    b.view.setUint32(0x10000, 0x11000 | 7, true);
    for (let page = 0; page < 0x20; page++) b.view.setUint32(0x11000 + 4 * page, (page << 12) | 7, true);
    b.view.setUint32(0x10004, 0x87 | extra, true);
    enter(b, { cr0: 0x80000011n, cr3: 0x10000n, cr4: 0x10n });
    const { out } = legacyRead(b, 0x400000);
    assert.deepEqual(out, extra ? rsvd0 : [], extra ? "bit 21 of a 4 MiB PDE" : "a 4 MiB PDE without it");
  }
});
