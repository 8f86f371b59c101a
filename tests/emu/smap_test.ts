/**
 * SMAP and SMEP (SDM vol. 3, 4.6): STAC and CLAC set and clear EFLAGS.AC at
 * CPL 0 and are #UD at CPL 3, with LOCK, or when CPUID does not advertise
 * SMAP; under CR4.SMAP a supervisor-mode data access to a user page is a #PF
 * unless AC is set; under CR4.SMEP a supervisor-mode fetch from a user page is
 * a #PF with I/D. Checked in 64-bit mode and under 32-bit and PAE paging. The
 * vCPUs get the backend's supported CPUID (KVM_SET_CPUID2) first, as a VMM
 * does; a backend whose CPUID lacks SMAP or SMEP skips, saying so.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../mod.ts";
import { featureTest } from "../_support/guests.ts";
import { bench64 } from "../_support/long64.ts";
import { type LongMachine, P, setPte, U, W } from "../_support/long_mode.ts";
import { probeLegacyPaging, probePaePaging, probeRun } from "../_support/probes.ts";
import { type Bench, bench, describe, enter, put } from "../_support/sys.ts";
import { X86_CR4_PAE, X86_CR4_SMAP, X86_CR4_SMEP } from "../../constants.ts";

const SMEP = 1 << 7, SMAP = 1 << 20;
const AC = 0x40000;

/** Undefined when CPUID.(7,0):EBX advertises `bits`, else what it lacks. */
function lacks(kvm: Kvm, bits: number): string | undefined {
  const leaf7 = kvm.supportedCpuid().find((e) => e.function === 7 && e.index === 0);
  const ebx = leaf7?.ebx ?? 0;
  const missing = [[SMEP, "SMEP"], [SMAP, "SMAP"]].filter(([b]) => bits & (b as number) && !(ebx & (b as number)));
  if (missing.length === 0) return undefined;
  return `CPUID.(7,0):EBX does not advertise ${missing.map(([, n]) => n).join(" or ")} (0x${ebx.toString(16)})`;
}

function withCpuid<T extends { vcpu: { setCpuid2(e: ReturnType<Kvm["supportedCpuid"]>): void } }>(kvm: Kvm, m: T): T {
  m.vcpu.setCpuid2(kvm.supportedCpuid());
  return m;
}

/**
 * A 64-bit program at CPL 0 (or 3) with the supported CPUID; what it wrote to port 0xe9 before `hlt`. Under
 * CR4.SMAP the first 2 MiB are supervisor pages (the stubs and stacks), except 0x8000, a user page.
 */
function run64(kvm: Kvm, code: string, options: { cpl?: 0 | 3; cr4?: bigint } = {}): number[] {
  using m: LongMachine = withCpuid(kvm, bench64(kvm, code, options));
  if (options.cr4) { for (let p = 0; p < 0x200000; p += 0x1000) setPte(m.mem, p, p === 0x8000 ? P | W | U : P | W); }
  const run = probeRun(m.vcpu);
  assert.equal(run.exit.reason, "hlt", describe(run.exit));
  return run.out;
}

// pushfq / pop rax / out 0xe9, eax
const REPORT_FLAGS = "9c 58 e7e9";

featureTest("STAC and CLAC set and clear EFLAGS.AC at CPL 0", (kvm) => lacks(kvm, SMAP), (kvm) => {
  // stac / report flags / clac / report flags / hlt
  const out = run64(kvm, `0f01cb ${REPORT_FLAGS} 0f01ca ${REPORT_FLAGS} f4`);
  assert.deepEqual(out.map((f) => f & AC), [AC, 0], `rflags ${out.map((f) => f.toString(16))}`);
});

featureTest("STAC and CLAC are #UD at CPL 3 and with LOCK", (kvm) => lacks(kvm, SMAP), (kvm) => {
  assert.deepEqual(run64(kvm, "0f01cb f4", { cpl: 3 }), [6, 0, 0x4000, 0x2b], "stac at CPL 3");
  assert.deepEqual(run64(kvm, "0f01ca f4", { cpl: 3 }), [6, 0, 0x4000, 0x2b], "clac at CPL 3");
  assert.deepEqual(run64(kvm, "f00f01cb f4"), [6, 0, 0x4000, 0x08], "lock stac");
});

featureTest("64-bit SMAP: a CPL 0 read of a user page faults unless STAC set AC", (kvm) => lacks(kvm, SMAP), (kvm) => {
  // mov eax, [0x8000] / out 0xe9, eax / hlt (every page of the long-mode map is a user page)
  const read = "8b042500800000 e7e9 f4";
  assert.deepEqual(run64(kvm, read, { cr4: X86_CR4_SMAP }), [14, 1, 0x4000, 0x08], "read with AC clear");
  assert.deepEqual(run64(kvm, `0f01cb ${read}`, { cr4: X86_CR4_SMAP }).length, 1, "read after STAC");
  assert.deepEqual(run64(kvm, `0f01cb 0f01ca ${read}`, { cr4: X86_CR4_SMAP }), [14, 1, 0x4006, 0x08], "after CLAC");
});

// ---- 32-bit and PAE paging --------------------------------------------------------------------------------

/** The user pages of the legacy benches: data at 0x9000 (0x11223344), code at 0xa000 (hlt). */
const USER_DATA = 0x9000, USER_CODE = 0xa000;

/**
 * A protected-mode bench at CPL 0 under 32-bit or PAE paging: the first 128 KiB identity-mapped as supervisor
 * pages, except the user pages USER_DATA and USER_CODE; `code` at 0x1000.
 */
function legacy(kvm: Kvm, pae: boolean, code: string, cr4: bigint): Bench {
  const b = withCpuid(kvm, bench(kvm));
  const v = b.view, flags = (page: number) => page === USER_DATA || page === USER_CODE ? 7 : 3;
  if (pae) {
    v.setBigUint64(0x10000, 0x11000n | 1n, true); // PDPT -> PD
    v.setBigUint64(0x11000, 0x12000n | 7n, true); // PD -> PT
    for (let p = 0; p < 0x20000; p += 0x1000) v.setBigUint64(0x12000 + (p >> 12) * 8, BigInt(p | flags(p)), true);
  } else {
    v.setUint32(0x10000, 0x11000 | 7, true);
    for (let p = 0; p < 0x20000; p += 0x1000) v.setUint32(0x11000 + (p >> 12) * 4, p | flags(p), true);
  }
  v.setUint32(USER_DATA, 0x11223344, true);
  put(b, USER_CODE, "f4");
  put(b, 0x1000, code);
  enter(b, { cr0: 0x80010011n, cr3: 0x10000n, cr4: cr4 | (pae ? X86_CR4_PAE : 0n) });
  return b;
}

function runLegacy(kvm: Kvm, pae: boolean, code: string, cr4: bigint): number[] {
  using b = legacy(kvm, pae, code, cr4);
  const run = probeRun(b.vcpu);
  assert.equal(run.exit.reason, "hlt", `${pae ? "PAE" : "32-bit"}: ${describe(run.exit)}`);
  return run.out;
}

for (const pae of [false, true]) {
  const mode = pae ? "PAE paging" : "32-bit paging";
  const probe = (kvm: Kvm) => lacks(kvm, SMAP | SMEP) ?? (pae ? probePaePaging(kvm) : probeLegacyPaging(kvm));
  featureTest(`${mode}: SMAP faults a CPL 0 read of a user page unless AC; STAC and CLAC`, probe, (kvm) => {
    // mov eax, [0x9000] / out 0xe9, eax / hlt
    const read = "a100900000 e7e9 f4";
    assert.deepEqual(runLegacy(kvm, pae, read, X86_CR4_SMAP), [14, 1, 0x1000, 0x08], "read with AC clear");
    assert.deepEqual(runLegacy(kvm, pae, `0f01cb ${read}`, X86_CR4_SMAP), [0x11223344], "read after STAC");
    assert.deepEqual(runLegacy(kvm, pae, `0f01cb 0f01ca ${read}`, X86_CR4_SMAP), [14, 1, 0x1006, 0x08], "after CLAC");
    assert.deepEqual(runLegacy(kvm, pae, read, 0n), [0x11223344], "read without CR4.SMAP");
    // A write is refused the same way: mov dword [0x9000], eax.
    assert.deepEqual(runLegacy(kvm, pae, "a300900000 f4", X86_CR4_SMAP), [14, 3, 0x1000, 0x08], "write with AC clear");
  });
  featureTest(`${mode}: SMEP faults a CPL 0 fetch from a user page with I/D`, probe, (kvm) => {
    // jmp 0xa000 (from 0x1000: rel32 = 0x8ffb)
    const jump = "e9fb8f0000";
    assert.deepEqual(runLegacy(kvm, pae, jump, X86_CR4_SMEP), [14, 0x11, USER_CODE, 0x08], "fetch under SMEP");
    // Without SMEP the hlt there runs; SMAP does not apply to fetches.
    assert.deepEqual(runLegacy(kvm, pae, jump, X86_CR4_SMAP), [], "fetch without SMEP");
  });
}
