/**
 * The AMD personality (like the kernel's svm.c): an AuthenticAMD family-6
 * CPU with only the features the core implements, mirrored in the
 * extended leaf 0x80000001 as AMD processors do.
 *
 * @module
 */
import { COMMON_MSRS, EMU_LEAF1_ECX, EMU_LEAF1_EDX, leaf, type Vendor, vendorWords } from "./vendor.ts";

const v = vendorWords("AuthenticAMD");

/** MSR_K7_HWCR: AMD's hardware configuration register. */
export const MSR_K7_HWCR = 0xc0010015;

/** The AMD personality. */
export const svm: Vendor = {
  name: "amd",
  cpuid: [
    leaf(0, 1, v.ebx, v.ecx, v.edx),
    // Family 6, model 2, stepping 2 (an Athlon-class signature).
    leaf(1, 0x00000622, 0x00010000, EMU_LEAF1_ECX, EMU_LEAF1_EDX),
    leaf(0x80000000, 0x80000001, v.ebx, v.ecx, v.edx),
    // Bit 11 is SYSCALL there (SEP in leaf 1), which the core does not implement.
    leaf(0x80000001, 0x00000622, 0, 0, EMU_LEAF1_EDX & ~(1 << 11)),
  ],
  msrIndexList: [...COMMON_MSRS, 0x1b, MSR_K7_HWCR],
  extraMsrs: new Map([[MSR_K7_HWCR, 0n]]),
  logicSetsAf: false,
};
