/**
 * A wider GDT for the long-mode system tests: a second 64-bit TSS, a not-present data segment and a
 * byte-granular one, on top of the GDT of tests/_support/long_mode.ts.
 *
 * @module
 */
import { descriptor } from "../../_support/sys.ts";
import { LM_GDT, type LongMachine, view } from "../../_support/long_mode.ts";

/** A second 64-bit TSS (available) at GDT 0x48, with its RSP0. */
export const TSS2 = 0x3800, TSS2_RSP0 = 0xa000;

/**
 * Widens the GDT of {@linkcode longMachine}: 0x48 an available 64-bit TSS at TSS2 (16 bytes), 0x58 a data
 * segment that is not present, 0x60 a data segment with a 4 KiB byte-granular limit.
 */
export function widenGdt(m: LongMachine): void {
  const v = view(m.mem);
  v.setBigUint64(LM_GDT + 0x48, descriptor(TSS2, 0x67, 9, { s: 0, db: 0 }), true);
  v.setBigUint64(LM_GDT + 0x50, 0n, true);
  v.setBigUint64(LM_GDT + 0x58, descriptor(0, 0xffff, 3, { present: 0 }), true);
  v.setBigUint64(LM_GDT + 0x60, descriptor(0, 0xfff, 3), true);
  v.setBigUint64(TSS2 + 4, BigInt(TSS2_RSP0), true);
  const sregs = m.vcpu.getSregs();
  sregs.gdt = { base: BigInt(LM_GDT), limit: 0x67 };
  m.vcpu.setSregs(sregs);
}
