/**
 * What keeps the software TLB and what flushes it. Each guest reads linear
 * 0x8000 and reports it, maps 0x8000 to frame 0xa000 by writing its PTE
 * without an invalidation, then reports it after an instruction that leaves
 * translation alone and after one that changes it. The stale translation
 * must survive the first (the emulator keeps its TLB, as a processor may)
 * and be gone after the second.
 *
 * - WRMSR: a write to an MSR that takes no part in translation (TSC_AUX,
 *   and Linux's x2APIC EOI and TSC_DEADLINE writes at every interrupt)
 *   keeps the TLB; a write to EFER (NXE and LME change what a walk gives)
 *   flushes it.
 * - CLAC and STAC under CR4.SMAP: one that finds EFLAGS.AC as it would
 *   leave it (Linux's CLAC at every interrupt entry) keeps the TLB; one that
 *   changes AC flushes it (translations cached while supervisor accesses
 *   could, or could not, reach user pages do not carry over).
 *
 * Emulator only: a processor may or may not keep a translation, so only the
 * flushing halves are architectural.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import { bench64 } from "../_support/long64.ts";
import { P, setPte, W } from "../_support/long_mode.ts";
import { probeRun } from "../_support/probes.ts";
import { describe } from "../_support/sys.ts";
import { X86_CR4_SMAP } from "../../constants.ts";

const READ = "8b042500800000 e7e9"; // mov eax, [0x8000] / out 0xe9, eax

/** Runs `code` (hex) on a 64-bit bench with 0x8000 and 0xa000 told apart; the values it reported. */
function reads(kvm: Kvm, code: string, options: { smap?: boolean } = {}): number[] {
  using m = bench64(kvm, code, options.smap ? { cr4: X86_CR4_SMAP } : {});
  if (options.smap) {
    m.vcpu.setCpuid2(kvm.supportedCpuid());
    // Every page supervisor-only (SMAP: the kernel's own accesses to user pages fault while AC is clear).
    for (let p = 0; p < 0x200000; p += 0x1000) setPte(m.mem, p, P | W);
  }
  const v = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset);
  v.setUint32(0x8000, 0x11111111, true);
  v.setUint32(0xa000, 0x22222222, true);
  const run = probeRun(m.vcpu);
  assert.equal(run.exit.reason, "hlt", describe(run.exit));
  return run.out;
}

backendTest("TLB: WRMSR keeps the translations unless the MSR is EFER or the APIC base", (kvm) => {
  const code = [
    READ,
    "c7042540300100 27a00000", // mov dword [0x13040], 0xa027 (the PTE of 0x8000: P, W, U, A)
    "b9030100c0 31c0 31d2 0f30", // mov ecx, TSC_AUX / xor eax, eax / xor edx, edx / wrmsr
    READ,
    "b9800000c0 0f32 0f30", // mov ecx, EFER / rdmsr / wrmsr
    READ,
    "f4",
  ].join(" ");
  assert.deepEqual(reads(kvm, code), [0x11111111, 0x11111111, 0x22222222]);
}, { only: ["emu"] });

backendTest(
  "TLB: CLAC with AC already clear keeps the translations under SMAP; STAC, which sets it, drops them",
  (kvm) => {
    const code = [
      READ,
      "c7042540300100 23a00000", // mov dword [0x13040], 0xa023 (the PTE of 0x8000: P, W, A)
      "0f01ca", // clac
      READ,
      "0f01cb", // stac
      READ,
      "f4",
    ].join(" ");
    assert.deepEqual(reads(kvm, code, { smap: true }), [0x11111111, 0x11111111, 0x22222222]);
  },
  { only: ["emu"] },
);

backendTest("TLB: INVLPG of one address of a 2 MiB page drops the translations of all its 4 KiB pages", (kvm) => {
  // Linear 2-4 MiB is one 2 MiB page (the directory's entry 1, at 0x12008) onto frame 0x200000. The guest reads
  // 0x3ff000 and 0x200000 (a TLB entry each), points the page at frame 0 (P W PS A), invalidates 0x200000 alone and
  // reads 0x3ff000 again: the processor may hold one entry per 4 KiB of a large page, and INVLPG of any address in
  // the page invalidates them all (SDM vol. 3, 4.10.4.1).
  // mov eax, [0x3ff000] / out 0xe9, eax / mov eax, [0x200000] / mov dword [0x12008], 0xa3 / invlpg [0x200000] /
  // mov eax, [0x3ff000] / out 0xe9, eax / hlt
  const code = "8b042500f03f00 e7e9 8b042500002000 c7042508200100 a3000000 0f013c2500002000 8b042500f03f00 e7e9 f4";
  using m = bench64(kvm, code);
  const v = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset);
  v.setUint32(0x3ff000, 0x11111111, true);
  v.setUint32(0x1ff000, 0x22222222, true);
  const run = probeRun(m.vcpu);
  assert.equal(run.exit.reason, "hlt", describe(run.exit));
  assert.deepEqual(run.out, [0x11111111, 0x22222222]);
});
