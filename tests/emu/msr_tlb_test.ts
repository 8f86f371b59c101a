/**
 * WRMSR and the software TLB: a write to an MSR that does not take part in
 * translation (TSC_AUX, and Linux's x2APIC EOI and TSC_DEADLINE writes at
 * every interrupt) leaves the TLB as it was, as the processor's does; a
 * write to EFER (NXE and LME change what a walk gives) flushes it. A
 * page-table change without an invalidation therefore stays unseen across
 * the first and is seen after the second.
 *
 * Emulator only: a processor may or may not keep a translation, so only
 * EFER's half is architectural.
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/harness.ts";
import { bench64 } from "../_support/long64.ts";
import { probeRun } from "../_support/probes.ts";
import { describe } from "../_support/sys.ts";

// Reads linear 0x8000 and reports it, maps 0x8000 to frame 0xa000 (its PTE, nothing invalidated), then reports it
// after WRMSR TSC_AUX (0), and again after EFER is written back with its own value.
const CODE = [
  "8b042500800000 e7e9", // mov eax, [0x8000] / out 0xe9, eax
  "c7042540300100 27a00000", // mov dword [0x13040], 0xa027 (the PTE of 0x8000: P, W, U, A)
  "b9030100c0 31c0 31d2 0f30", // mov ecx, TSC_AUX / xor eax, eax / xor edx, edx / wrmsr
  "8b042500800000 e7e9", // mov eax, [0x8000] / out 0xe9, eax
  "b9800000c0 0f32 0f30", // mov ecx, EFER / rdmsr / wrmsr
  "8b042500800000 e7e9 f4", // mov eax, [0x8000] / out 0xe9, eax / hlt
].join(" ");

backendTest(
  "TLB: WRMSR keeps the translations unless the MSR is EFER or the APIC base",
  (kvm) => {
    using m = bench64(kvm, CODE);
    const v = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset);
    v.setUint32(0x8000, 0x11111111, true);
    v.setUint32(0xa000, 0x22222222, true);
    const run = probeRun(m.vcpu);
    assert.equal(run.exit.reason, "hlt", describe(run.exit));
    assert.deepEqual(run.out, [0x11111111, 0x11111111, 0x22222222]);
  },
  { only: ["emu"] },
);
