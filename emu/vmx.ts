/**
 * The Intel personality (like the kernel's vmx.c): a GenuineIntel family-6
 * CPU with only the features the core implements.
 *
 * @module
 */
import { COMMON_MSRS, EMU_LEAF1_ECX, EMU_LEAF1_EDX, leaf, type Vendor, vendorWords } from "./vendor.ts";

const v = vendorWords("GenuineIntel");

/** The Intel personality. */
export const vmx: Vendor = {
  name: "intel",
  cpuid: [
    leaf(0, 1, v.ebx, v.ecx, v.edx),
    // Family 6, model 3, stepping 3; one logical processor.
    leaf(1, 0x00000633, 0x00010000, EMU_LEAF1_ECX, EMU_LEAF1_EDX),
    leaf(0x80000000, 0x80000001, 0, 0, 0),
    leaf(0x80000001, 0, 0, 0, 0),
  ],
  msrIndexList: [...COMMON_MSRS, 0x1b],
  extraMsrs: new Map(),
  logicSetsAf: false,
};
