/**
 * The AMD personality (like the kernel's svm.c): an AuthenticAMD family-6
 * CPU with only the features the core implements, mirrored in the
 * extended V.leaf 0x80000001 as AMD processors do.
 *
 * @module
 */
import * as V from "./vendor.ts";

const v = V.vendorWords("AuthenticAMD");

/** MSR_K7_HWCR: AMD's hardware configuration register. */
export const MSR_K7_HWCR = 0xc0010015;

/** The AMD personality. */
export const svm: V.Vendor = {
  name: "amd",
  cpuid: [
    V.leaf(0, 0xd, v.ebx, v.ecx, v.edx),
    // Family 6, model 2, stepping 2 (an Athlon-class signature).
    V.leaf(1, 0x00000622, V.EMU_LEAF1_EBX, V.EMU_LEAF1_ECX, V.EMU_LEAF1_EDX),
    { function: 7, index: 0, flags: 1, eax: 0, ebx: V.EMU_LEAF7_EBX, ecx: 0, edx: 0 },
    V.EMU_LEAF6,
    ...V.EMU_LEAF_D,
    V.leaf(0x80000000, 0x80000008, v.ebx, v.ecx, v.edx),
    // AMD mirrors leaf 1's EDX here (bits 0-17 and 23-24), plus SYSCALL, NX, RDTSCP and LM.
    V.leaf(0x80000001, 0x00000622, 0, V.EMU_EXT1_ECX, ((V.EMU_LEAF1_EDX & 0x0183f3ff) | V.EMU_EXT1_EDX) >>> 0),
    V.EMU_EXT7,
    V.EMU_ADDRESS_SIZES,
  ],
  msrIndexList: [...V.COMMON_MSRS, 0x1b, MSR_K7_HWCR],
  extraMsrs: new Map([[MSR_K7_HWCR, 0n]]),
  logicSetsAf: false,
};
