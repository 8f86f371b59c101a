/**
 * 4-level paging (long mode): PML4 -> PDPT -> PD -> PT with 1 GiB pages in
 * the PDPT and 2 MiB pages in the PD, NX (EFER.NXE), SMEP and SMAP, the
 * accessed bits of every level and the dirty bit of the leaf, and the #PF
 * error code: P, W/R, U/S, RSVD and I/D.
 *
 * A linear address here is the 48-bit form (0 to 2^48-1) of a canonical
 * address; physical addresses are numbers below 2^52.
 *
 * @module
 */
import type { CpuidEntry } from "../../../abi/structs.ts";
import type { Memory } from "../memory.ts";
import type { State } from "../state.ts";
import { EFER_NXE } from "./access.ts";

const P = 1, RW = 2, US = 4, A = 0x20, D = 0x40, PS = 0x80;
const CR0_WP = 1 << 16, CR4_SMEP = 1 << 20, CR4_SMAP = 1 << 21, EFLAGS_AC = 1 << 18;
/** #PF error-code bits. */
export const PF_P = 1, PF_W = 2, PF_U = 4, PF_RSVD = 8, PF_ID = 0x10;

/** What the long-mode walk needs. */
export interface LongWalker extends State {
  readonly mem: Memory;
  /** EFLAGS without the arithmetic flags (AC is read for SMAP). */
  readonly eflRest: number;
  /** The guest's CPUID (1 GiB pages exist only when 80000001h EDX.Page1GB says so). */
  readonly cpuidTable: readonly CpuidEntry[];
}

const maxPhysCache = new WeakMap<readonly CpuidEntry[], number>();

/**
 * MAXPHYADDR as the guest's CPUID gives it (80000008h EAX[7:0], when leaf 80000000h reaches it), else 36, as
 * the kernel's cpuid_query_maxphyaddr: the physical-address bits above it are reserved in paging entries.
 */
export function maxPhysAddr(table: readonly CpuidEntry[]): number {
  let m = maxPhysCache.get(table);
  if (m === undefined) {
    m = 36;
    const top = table.find((e) => e.function === 0x80000000);
    const leaf = table.find((e) => e.function === 0x80000008);
    if (top && top.eax >>> 0 >= 0x80000008 && leaf) m = leaf.eax & 0xff;
    maxPhysCache.set(table, m);
  }
  return m;
}

/** The reserved physical-address bits of an entry's high 32 bits: bits 51:MAXPHYADDR (none when it is 52 or more). */
export function reservedHigh(table: readonly CpuidEntry[]): number {
  const m = maxPhysAddr(table);
  return m >= 52 ? 0 : (0xfffff & ~((1 << Math.max(0, m - 32)) - 1)) >>> 0;
}

/** True when the guest's CPUID advertises 1 GiB pages (80000001h EDX bit 26). */
function gbPages(cpu: LongWalker): boolean {
  const e = cpu.cpuidTable.find((x) => x.function === 0x80000001);
  return e !== undefined && (e.edx & (1 << 26)) !== 0;
}

/** A successful translation. */
export interface LongTranslation {
  phys: number;
  writable: boolean;
  user: boolean;
}

/**
 * Walks the 4-level tables for the 48-bit linear `lin`. Returns the
 * translation or the #PF error code. With `update`, checks the access
 * rights and sets the accessed and dirty bits.
 */
export function walkLong(
  cpu: LongWalker,
  lin: number,
  write: boolean,
  user: boolean,
  fetch: boolean,
  update: boolean,
): LongTranslation | number {
  const mem = cpu.mem;
  const nxe = (cpu.efer & EFER_NXE) !== 0;
  const base = (write ? PF_W : 0) | (user ? PF_U : 0) | (fetch && (nxe || cpu.cr4 & CR4_SMEP) ? PF_ID : 0);
  const addrs: number[] = [], los: number[] = [], rsvdHi = reservedHigh(cpu.cpuidTable);
  let table = Math.floor(cpu.cr3 / 4096) * 4096;
  let rw = RW, us = US, nx = 0, size = 0;
  let lo = 0, hi = 0;
  for (let level = 3; level >= 0; level--) {
    const index = Math.floor(lin / 2 ** (12 + 9 * level)) & 511;
    const at = table + index * 8;
    lo = mem.physRead32(at);
    hi = mem.physRead32(at + 4);
    if (!(lo & P)) return base;
    // Bits 51:MAXPHYADDR are reserved at every level, and bit 63 (XD) unless EFER.NXE.
    if (hi & rsvdHi || (hi & 0x80000000 && !nxe)) return base | PF_P | PF_RSVD;
    addrs.push(at);
    los.push(lo);
    rw &= lo;
    us &= lo;
    nx |= hi >>> 31;
    if (lo & PS && level > 0) {
      if (level === 3 || (level === 2 && !gbPages(cpu))) return base | PF_P | PF_RSVD;
      // A large page: the frame's low bits (13 up to its size) are reserved.
      const low = level === 2 ? 0x3fffe000 : 0x1fe000;
      if (lo & low) return base | PF_P | PF_RSVD;
      size = level;
      break;
    }
    table = (hi & 0xfffff) * 2 ** 32 + ((lo & 0xfffff000) >>> 0);
  }
  const span = size === 2 ? 2 ** 30 : size === 1 ? 2 ** 21 : 4096;
  const frame = (hi & 0xfffff) * 2 ** 32 + ((lo & 0xfffff000) >>> 0);
  const phys = frame - (frame % span) + (lin % span);
  if (update) {
    let bad = false;
    if (user && !us) bad = true;
    else if (write && !rw && (user || cpu.cr0 & CR0_WP)) bad = true;
    else if (fetch && nx && nxe) bad = true;
    else if (!user && us && fetch && cpu.cr4 & CR4_SMEP) bad = true;
    else if (!user && us && !fetch && cpu.cr4 & CR4_SMAP && (!(cpu.eflRest & EFLAGS_AC) || mem.sys)) bad = true;
    if (bad) return base | PF_P;
    const last = addrs.length - 1;
    for (let i = 0; i <= last; i++) {
      const want = los[i] | A | (i === last && write ? D : 0);
      if (want !== los[i]) mem.physWrite32(addrs[i], want >>> 0);
    }
  }
  return { phys, writable: rw !== 0, user: us !== 0 };
}
