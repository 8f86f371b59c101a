/**
 * LTR and LLDT in IA-32e mode (SDM vol. 2, LTR and LLDT; vol. 3, 8.2.3):
 * TSS and LDT descriptors are 16 bytes, the third dword holding bits 63:32 of
 * the base and the fourth a type field that must be zero. A base that is not
 * canonical, a non-zero upper type, a descriptor that does not fit in the GDT,
 * and a 16-bit TSS (which IA-32e mode does not have) are #GP(selector); a
 * canonical upper-half base is loaded whole.
 *
 * KVM_SET_SREGS accepts any TR or LDTR base on the kernel (kvm_is_valid_sregs
 * checks control registers and EFER only), and so does the emulator; the
 * guest-visible checks are those of LTR and LLDT. The 64-bit code runs at
 * CPL 0, which kvm_pvm emulates; where its emulator loads what the manuals
 * refuse, the probe says so and the KVM half skips.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../../mod.ts";
import { backendTest } from "../../_support/harness.ts";
import { featureTest } from "../../_support/guests.ts";
import { bench64 } from "../../_support/long64.ts";
import { LM_GDT, type LongMachine, view } from "../../_support/long_mode.ts";
import { probeRun, unlessOut } from "../../_support/probes.ts";
import { describe } from "../../_support/sys.ts";

/** The selector the tests' 16-byte descriptor occupies (GDT entries 9 and 10, past the bench's own). */
const SEL = 0x48;
const GOOD = 0x600d;
// mov ax, 0x48 / ltr ax (or lldt ax) / mov eax, 0x600d / out 0xe9, eax / hlt
const LTR = "66b84800 0f00d8 b80d600000 e7e9 f4";
const LLDT = "66b84800 0f00d0 b80d600000 e7e9 f4";
/** What the #GP stub reports for LTR/LLDT at 0x4004 refusing the selector. */
const GP_SEL = [13, SEL, 0x4004, 0x08];

interface Desc {
  base: bigint;
  /** 9: available 64-bit TSS, 1: available 16-bit TSS, 2: LDT. */
  type: number;
  /** The type field of the upper half (bits 12:8 of its second dword). */
  upperType?: number;
  /** The GDT limit (default: the whole 16 bytes fit). */
  gdtLimit?: number;
}

/** A 64-bit CPL 0 bench running `code` with the 16-byte system descriptor `d` at SEL. */
function sysBench(kvm: Kvm, code: string, d: Desc): LongMachine {
  const m = bench64(kvm, code), v = view(m.mem), base = d.base;
  const lo = 0x67n | ((base & 0xffffffn) << 16n) | (BigInt(d.type | 0x80) << 40n) | (((base >> 24n) & 0xffn) << 56n);
  const hi = ((base >> 32n) & 0xffffffffn) | (BigInt(d.upperType ?? 0) << 40n);
  v.setBigUint64(LM_GDT + SEL, lo, true);
  v.setBigUint64(LM_GDT + SEL + 8, hi, true);
  const sregs = m.vcpu.getSregs();
  sregs.gdt = { ...sregs.gdt, limit: d.gdtLimit ?? SEL + 15 };
  m.vcpu.setSregs(sregs);
  return m;
}

function outcome(m: LongMachine): number[] {
  const run = probeRun(m.vcpu);
  assert.equal(run.exit.reason, "hlt", describe(run.exit));
  return run.out;
}

const NONCANONICAL = 0x0000800000000600n, UPPER_HALF = 0xffffff8000000600n;

/** LTR of a 16-byte TSS descriptor whose base is not canonical, in 64-bit mode: #GP(selector). */
function probeLtrCanonical(kvm: Kvm): string | undefined {
  using m = sysBench(kvm, LTR, { base: NONCANONICAL, type: 9 });
  return unlessOut(probeRun(m.vcpu), GP_SEL, "LTR loads a TSS descriptor with a non-canonical base");
}

backendTest("LTR and LLDT in 64-bit mode load all 64 bits of a canonical base", (kvm) => {
  {
    using m = sysBench(kvm, LTR, { base: UPPER_HALF, type: 9 });
    assert.deepEqual(outcome(m), [GOOD], "LTR");
    assert.equal(m.vcpu.getSregs().tr.base, UPPER_HALF, "TR.base");
    // LTR marks the descriptor busy (type 11).
    assert.equal(view(m.mem).getUint8(LM_GDT + SEL + 5) & 0xf, 11, "busy");
  }
  using m = sysBench(kvm, LLDT, { base: UPPER_HALF, type: 2 });
  assert.deepEqual(outcome(m), [GOOD], "LLDT");
  assert.equal(m.vcpu.getSregs().ldt.base, UPPER_HALF, "LDTR.base");
});

featureTest(
  "LTR and LLDT in 64-bit mode: #GP(selector) for what a 16-byte descriptor may not hold",
  probeLtrCanonical,
  (kvm) => {
    const cases: [string, string, Desc][] = [
      ["LTR, non-canonical base", LTR, { base: NONCANONICAL, type: 9 }],
      ["LLDT, non-canonical base", LLDT, { base: NONCANONICAL, type: 2 }],
      ["LTR, upper type field not zero", LTR, { base: 0x600n, type: 9, upperType: 5 }],
      ["LLDT, upper type field not zero", LLDT, { base: 0x600n, type: 2, upperType: 5 }],
      ["LTR of a 16-bit TSS", LTR, { base: 0x600n, type: 1 }],
      ["LTR, the upper half past the GDT limit", LTR, { base: 0x600n, type: 9, gdtLimit: SEL + 7 }],
      ["LLDT, the upper half past the GDT limit", LLDT, { base: 0x600n, type: 2, gdtLimit: SEL + 7 }],
    ];
    for (const [what, code, d] of cases) {
      using m = sysBench(kvm, code, d);
      assert.deepEqual(outcome(m), GP_SEL, what);
      const sregs = m.vcpu.getSregs();
      assert.notEqual(code === LTR ? sregs.tr.selector : sregs.ldt.selector, SEL, `${what}: the register is unchanged`);
    }
  },
);

backendTest("KVM_SET_SREGS takes a non-canonical TR or LDTR base as the kernel does", (kvm) => {
  using m = bench64(kvm, "b80d600000 e7e9 f4");
  const sregs = m.vcpu.getSregs();
  sregs.tr = { ...sregs.tr, base: NONCANONICAL };
  sregs.ldt = { ...sregs.ldt, base: NONCANONICAL, selector: SEL, type: 2, s: 0, present: 1, unusable: 0 };
  m.vcpu.setSregs(sregs);
  const back = m.vcpu.getSregs();
  assert.equal(back.tr.base, NONCANONICAL);
  assert.equal(back.ldt.base, NONCANONICAL);
});
