/**
 * The Intel personality (like the kernel's vmx.c): a GenuineIntel family-6
 * CPU with only the features the core implements.
 *
 * @module
 */
import {
  COMMON_MSRS,
  EMU_ADDRESS_SIZES,
  EMU_EXT1_ECX,
  EMU_EXT1_EDX,
  EMU_LEAF1_EBX,
  EMU_LEAF1_ECX,
  EMU_LEAF1_EDX,
  EMU_LEAF7_EBX,
  EMU_LEAF_D,
  leaf,
  type Vendor,
  vendorWords,
} from "./vendor.ts";

const v = vendorWords("GenuineIntel");

/** The Intel personality. */
export const vmx: Vendor = {
  name: "intel",
  cpuid: [
    leaf(0, 0xd, v.ebx, v.ecx, v.edx),
    // Family 6, model 3, stepping 3; one logical processor.
    leaf(1, 0x00000633, EMU_LEAF1_EBX, EMU_LEAF1_ECX, EMU_LEAF1_EDX),
    // Plus FDP_EXCPTN_ONLY (bit 6) and FCS/FDS deprecated (bit 13): the x87 records FDP only for unmasked
    // exceptions and saves FCS and FDS as zeros, as this personality's x87 does (fpu/state.ts).
    { function: 7, index: 0, flags: 1, eax: 0, ebx: (EMU_LEAF7_EBX | (1 << 6) | (1 << 13)) >>> 0, ecx: 0, edx: 0 },
    ...EMU_LEAF_D,
    leaf(0x80000000, 0x80000008, 0, 0, 0),
    // Intel reports SYSCALL here only in 64-bit mode; the bits are the same.
    leaf(0x80000001, 0, 0, EMU_EXT1_ECX, EMU_EXT1_EDX),
    EMU_ADDRESS_SIZES,
  ],
  msrIndexList: [...COMMON_MSRS, 0x1b],
  extraMsrs: new Map(),
  logicSetsAf: false,
};
