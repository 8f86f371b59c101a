/**
 * CR0, CR4 and EFER bits as the emulator's numbers. The one definition is
 * the public `X86_CR0_*`, `X86_CR4_*` and `EFER_*` of abi/constants.ts
 * (BigInt, as `Sregs` carries them); this module only converts them once
 * for code that works on 32-bit numbers.
 *
 * @module
 */
import * as C from "../../abi/constants.ts";

export const CR0_PE = Number(C.X86_CR0_PE);
export const CR0_MP = Number(C.X86_CR0_MP);
export const CR0_EM = Number(C.X86_CR0_EM);
export const CR0_TS = Number(C.X86_CR0_TS);
export const CR0_ET = Number(C.X86_CR0_ET);
export const CR0_NE = Number(C.X86_CR0_NE);
export const CR0_WP = Number(C.X86_CR0_WP);
export const CR0_AM = Number(C.X86_CR0_AM);
export const CR0_NW = Number(C.X86_CR0_NW);
export const CR0_CD = Number(C.X86_CR0_CD);
/** Bit 31: as an unsigned number (0x80000000). */
export const CR0_PG = Number(C.X86_CR0_PG);

export const CR4_VME = Number(C.X86_CR4_VME);
export const CR4_PVI = Number(C.X86_CR4_PVI);
export const CR4_TSD = Number(C.X86_CR4_TSD);
export const CR4_DE = Number(C.X86_CR4_DE);
export const CR4_PSE = Number(C.X86_CR4_PSE);
export const CR4_PAE = Number(C.X86_CR4_PAE);
export const CR4_MCE = Number(C.X86_CR4_MCE);
export const CR4_PGE = Number(C.X86_CR4_PGE);
export const CR4_PCE = Number(C.X86_CR4_PCE);
export const CR4_OSFXSR = Number(C.X86_CR4_OSFXSR);
export const CR4_OSXMMEXCPT = Number(C.X86_CR4_OSXMMEXCPT);
export const CR4_UMIP = Number(C.X86_CR4_UMIP);
export const CR4_FSGSBASE = Number(C.X86_CR4_FSGSBASE);
export const CR4_PCIDE = Number(C.X86_CR4_PCIDE);
export const CR4_OSXSAVE = Number(C.X86_CR4_OSXSAVE);
export const CR4_SMEP = Number(C.X86_CR4_SMEP);
export const CR4_SMAP = Number(C.X86_CR4_SMAP);

export const EFER_SCE = Number(C.EFER_SCE);
export const EFER_LME = Number(C.EFER_LME);
export const EFER_LMA = Number(C.EFER_LMA);
export const EFER_NXE = Number(C.EFER_NX);
