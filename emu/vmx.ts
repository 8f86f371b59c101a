/**
 * The Intel personality (like the kernel's vmx.c): a GenuineIntel family-6
 * CPU with only the features the core implements.
 *
 * @module
 */
import * as V from "./vendor.ts";

const v = V.vendorWords("GenuineIntel");

/** The Intel personality. */
export const vmx: V.Vendor = {
  name: "intel",
  cpuid: [
    V.leaf(0, 0xd, v.ebx, v.ecx, v.edx),
    // Family 6, model 3, stepping 3; one logical processor.
    V.leaf(1, 0x00000633, V.EMU_LEAF1_EBX, V.EMU_LEAF1_ECX, V.EMU_LEAF1_EDX),
    // Plus FDP_EXCPTN_ONLY (bit 6) and FCS/FDS deprecated (bit 13): the x87 records FDP only for unmasked
    // exceptions and saves FCS and FDS as zeros, as this personality's x87 does (fpu/state.ts).
    { function: 7, index: 0, flags: 1, eax: 0, ebx: (V.EMU_LEAF7_EBX | (1 << 6) | (1 << 13)) >>> 0, ecx: 0, edx: 0 },
    V.EMU_LEAF6,
    ...V.EMU_LEAF_D,
    V.leaf(0x80000000, 0x80000008, 0, 0, 0),
    // Intel reports SYSCALL here only in 64-bit mode; the bits are the same.
    V.leaf(0x80000001, 0, 0, V.EMU_EXT1_ECX, V.EMU_EXT1_EDX),
    V.EMU_EXT7,
    V.EMU_ADDRESS_SIZES,
  ],
  msrIndexList: [...V.COMMON_MSRS, 0x1b],
  extraMsrs: new Map(),
  logicSetsAf: false,
};
