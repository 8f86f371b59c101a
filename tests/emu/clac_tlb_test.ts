/**
 * CLAC and STAC and the software TLB under CR4.SMAP: one that changes
 * EFLAGS.AC flushes the TLB (translations cached while supervisor accesses
 * could, or could not, reach user pages do not carry over); one that finds
 * AC as it would leave it (Linux's CLAC at every interrupt entry) changes
 * nothing and keeps it. A page-table change without an invalidation
 * therefore stays unseen across a CLAC with AC clear and is seen after STAC.
 *
 * Emulator only: a processor may or may not keep a translation.
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/harness.ts";
import { bench64 } from "../_support/long64.ts";
import { P, setPte, W } from "../_support/long_mode.ts";
import { probeRun } from "../_support/probes.ts";
import { describe } from "../_support/sys.ts";
import { X86_CR4_SMAP } from "../../constants.ts";

// Reads supervisor page 0x8000 and reports it, maps it to frame 0xa000 (its PTE, nothing invalidated), then reports
// it after a CLAC (AC already clear) and after a STAC.
const CODE = [
  "8b042500800000 e7e9", // mov eax, [0x8000] / out 0xe9, eax
  "c7042540300100 23a00000", // mov dword [0x13040], 0xa023 (the PTE of 0x8000: P, W, A)
  "0f01ca 8b042500800000 e7e9", // clac / mov eax, [0x8000] / out 0xe9, eax
  "0f01cb 8b042500800000 e7e9 f4", // stac / mov eax, [0x8000] / out 0xe9, eax / hlt
].join(" ");

backendTest(
  "TLB: CLAC with AC already clear keeps the translations under SMAP; STAC, which sets it, drops them",
  (kvm) => {
    using m = bench64(kvm, CODE, { cr4: X86_CR4_SMAP });
    m.vcpu.setCpuid2(kvm.supportedCpuid());
    // Every page supervisor-only (SMAP: the kernel's own accesses to user pages fault while AC is clear).
    for (let p = 0; p < 0x200000; p += 0x1000) setPte(m.mem, p, P | W);
    const v = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset);
    v.setUint32(0x8000, 0x11111111, true);
    v.setUint32(0xa000, 0x22222222, true);
    const run = probeRun(m.vcpu);
    assert.equal(run.exit.reason, "hlt", describe(run.exit));
    assert.deepEqual(run.out, [0x11111111, 0x11111111, 0x22222222]);
  },
  { only: ["emu"] },
);
