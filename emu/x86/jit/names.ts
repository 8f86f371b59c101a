/**
 * The numbers the generated code uses, by name: the CPU's bits come from
 * where the emulator defines them (flags.ts RFLAGS, state.ts segment
 * access rights, long/access.ts EFER and address sizes, memory.ts the TLB);
 * what only the block compiler needs is defined here, from them.
 *
 * @module
 */
import { CF, OF, PF, SF, ZF } from "../flags.ts";
import { AR_S, AR_UNUSABLE } from "../state.ts";
import { TWO32, TWO47, TWO48 } from "../long/access.ts";

/** Segment type bits of a descriptor's access rights (SDM 3.4.5.1): code, expand-down (data), writable (data). */
export const AR_TYPE_CODE = 8, AR_TYPE_EXPAND_DOWN = 4, AR_TYPE_WRITABLE = 2;

/**
 * The access-rights bits Cpu.lin tests before it simply adds a data segment's base, and the value they must have: a
 * usable, expand-up data segment (and writable for a store).
 */
export const SEG_READ_MASK = AR_UNUSABLE | AR_S | AR_TYPE_CODE | AR_TYPE_EXPAND_DOWN;
export const SEG_WRITE_MASK = SEG_READ_MASK | AR_TYPE_WRITABLE;
export const SEG_READ_OK = AR_S, SEG_WRITE_OK = AR_S | AR_TYPE_WRITABLE;

/**
 * A 4 KiB page: the shift from an address to its page number, its size, the mask of an offset in it, and the pages
 * in 4 GiB (the weight of a high address half's page numbers).
 */
export const PAGE_SHIFT = 12, PAGE_SIZE = 1 << PAGE_SHIFT, PAGE_MASK = PAGE_SIZE - 1, PAGES_PER_4G = TWO32 / PAGE_SIZE;

/** Bits 32-47 of a 48-bit linear address, in its high half. */
export const HIGH16 = TWO48 / TWO32 - 1;

/** The high half of a canonical 48-bit address is at most CANONICAL_HIGH_TOP or at least CANONICAL_HIGH_BOTTOM. */
export const CANONICAL_HIGH_TOP = TWO47 / TWO32 - 1, CANONICAL_HIGH_BOTTOM = TWO32 - TWO47 / TWO32;

/** The bit positions of PF, SF and OF in RFLAGS (flags.ts). */
export const PF_SHIFT = 31 - Math.clz32(PF), SF_SHIFT = 31 - Math.clz32(SF), OF_SHIFT = 31 - Math.clz32(OF);

/** ZF or CF (below or equal), OF or CF (what IMUL and the rotates set together). */
export const ZF_CF = ZF | CF, OF_CF = OF | CF;
