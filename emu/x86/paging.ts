/**
 * Page walks in every paging mode: 32-bit paging (with 4 MiB pages under
 * CR4.PSE), PAE paging (2 MiB pages, NX under EFER.NXE) and 4-level paging
 * in long mode (PML4 -> PDPT -> PD -> PT, 2 MiB pages in the PD and 1 GiB
 * pages in the PDPT when the guest's CPUID has them). SMEP and SMAP apply
 * in each. A walk sets the accessed bits of every level, and the dirty bit
 * of the leaf on a write; a failed walk raises #PF with the hardware's error
 * code (P, W/R, U/S, RSVD, I/D) and sets CR2.
 *
 * In long mode a linear address is the 48-bit form (0 to 2^48-1) of a
 * canonical address; physical addresses are numbers below 2^52.
 *
 * @module
 */
import { CpuFault, PF } from "./fault.ts";
import { AC as EFLAGS_AC } from "./flags.ts";
import type { State } from "./state.ts";
import type { Memory } from "./memory.ts";
import { markPageDirty, type MemSlot } from "../memslots.ts";
import type { CpuidEntry } from "../../abi/structs.ts";
import { fromLin48 } from "./long/access.ts";
import { CR0_WP, CR4_PAE, CR4_PSE, CR4_SMAP, CR4_SMEP, EFER_LMA, EFER_NXE } from "./control_bits.ts";

/** Paging-entry bits. */
const P = 1, RW = 2, US = 4, A = 0x20, D = 0x40, PS = 0x80;
/** #PF error-code bits. */
const PF_P = 1, PF_W = 2, PF_U = 4, PF_RSVD = 8, PF_ID = 0x10;

/** What a walk needs: the state and the memory. */
export interface Walker extends State {
  readonly mem: Memory;
  /** EFLAGS without the arithmetic flags (AC, for SMAP). */
  readonly eflRest: number;
  /** The guest's CPUID (MAXPHYADDR; 1 GiB pages in long mode). */
  readonly cpuidTable: readonly CpuidEntry[];
  /** The RAM slot its walks last read an entry from. */
  readonly tableSlot: TableSlot;
}

/** The result of a walk without side effects (KVM_TRANSLATE). */
export interface WalkInfo {
  phys: number;
  writable: boolean;
  user: boolean;
}

/** The result of a walk: the translation, or the #PF error code. */
export type Walked = WalkInfo | number;

/**
 * Translates `lin`, raising #PF on failure; while `Memory.quiet` is set (its try* accesses), a failure answers -1
 * and leaves the error code in `Memory.faultCode` instead (CR2 is set either way).
 */
export function walk(cpu: Walker, lin: number, write: boolean, user: boolean, fetch: boolean): number {
  const r = walkCore(cpu, lin, write, user, fetch, true);
  if (r < 0) {
    cpu.cr2 = cpu.efer & EFER_LMA ? fromLin48(lin) : lin;
    const mem = cpu.mem;
    if (mem.quiet) {
      mem.faultCode = ~r;
      return -1;
    }
    throw new CpuFault(PF, ~r);
  }
  // An INVLPG anywhere in the page that maps code must end what was cached from the translation (memory.ts).
  if (fetch) cpu.mem.codeTranslated(lin, walkSpan);
  // INVLPG anywhere in a large page must drop the TLB entries of all its 4 KiB pages (memory.ts flushPage).
  if (walkSpan !== 4096) cpu.mem.largeTranslated(lin, walkSpan);
  return r;
}

/**
 * Walks the tables for `lin`. Returns the translation, or the #PF error
 * code. With `update`, sets accessed/dirty bits and checks the access.
 */
export function walkInfo(
  cpu: Walker,
  lin: number,
  write: boolean,
  user: boolean,
  fetch: boolean,
  update: boolean,
): Walked {
  const r = walkCore(cpu, lin, write, user, fetch, update);
  return r < 0 ? ~r : { phys: r, writable: (walkRights & RW) !== 0, user: (walkRights & US) !== 0 };
}

/**
 * The rights of the last successful walkCore (RW and US of every level, combined): its second result, kept here so
 * that a walk allocates nothing (a Linux boot walks millions of times, a page-fault loop at every access).
 */
let walkRights = 0;
/** The size of the page the last successful walkCore found (4 KiB, 2 MiB, 4 MiB or 1 GiB), as walkRights. */
let walkSpan = 4096;

/** The size of the page the last successful walk found (walk_cache.ts records it with the walk's translation). */
export function lastWalkSpan(): number {
  return walkSpan;
}

/** walkInfo's walk: the physical address (rights in walkRights), or the #PF error code bit-inverted (negative). */
function walkCore(cpu: Walker, lin: number, write: boolean, user: boolean, fetch: boolean, update: boolean): number {
  if (cpu.efer & EFER_LMA) return walkLong(cpu, lin, write, user, fetch, update);
  const pae = (cpu.cr4 & CR4_PAE) !== 0, nx = pae && (cpu.efer & EFER_NXE) !== 0;
  const base = errorBase(cpu, write, user, fetch, nx);
  if (!pae) {
    const pdeAddr = (cpu.cr3 & 0xfffff000) + (lin >>> 22) * 4;
    const pde = readEntry32(cpu, pdeAddr);
    if (!(pde & P)) return ~base;
    if (pde & PS && cpu.cr4 & CR4_PSE) {
      // A 4 MiB page: bits 20:13 hold physical-address bits 39:32; bit 21 and those at or above MAXPHYADDR
      // (at most 40 here) are reserved.
      const m = Math.min(maxPhysAddr(cpu.cpuidTable), 40);
      if (pde & (0x200000 | (0x1fe000 & ~((1 << (m - 19)) - 1)))) return ~(base | PF_P | PF_RSVD);
      if (update && accessDenied(cpu, pde, write, user, fetch)) return ~(base | PF_P);
      if (update) setBits(cpu, pdeAddr, pde, write);
      walkRights = pde;
      walkSpan = 2 ** 22;
      return ((pde >>> 13) & 0xff) * 2 ** 32 + ((pde & 0xffc00000) >>> 0) + (lin & 0x3fffff);
    }
    const pteAddr = ((pde & 0xfffff000) >>> 0) + ((lin >>> 12) & 0x3ff) * 4;
    const pte = readEntry32(cpu, pteAddr);
    if (!(pte & P)) return ~base;
    const rights = pde & pte;
    if (update && accessDenied(cpu, rights, write, user, fetch)) return ~(base | PF_P);
    if (update) {
      setBits(cpu, pdeAddr, pde, false);
      setBits(cpu, pteAddr, pte, write);
    }
    walkRights = rights;
    walkSpan = 4096;
    return ((pte & 0xfffff000) >>> 0) + (lin & 0xfff);
  }
  // PAE: a 4-entry PDPT, then 512-entry directories and tables of 8-byte entries.
  const pdpteAddr = (cpu.cr3 & 0xffffffe0) + (lin >>> 30) * 8;
  const pdpte = readEntry(cpu, pdpteAddr);
  if (!(pdpte & P)) return ~base;
  const pdpteHi = entryHi & 0xfffff;
  const pdeAddr = pdpteHi * 2 ** 32 + ((pdpte & 0xfffff000) >>> 0) + ((lin >>> 21) & 0x1ff) * 8;
  const pde = readEntry(cpu, pdeAddr), pdeHi = entryHi;
  if (!(pde & P)) return ~base;
  // Bits 62:MAXPHYADDR are reserved, and bit 63 (XD) too unless EFER.NXE.
  const rsvdHi = (reservedHigh(cpu.cpuidTable) | 0x7ff00000 | (nx ? 0 : 0x80000000)) >>> 0;
  if (pdeHi & rsvdHi || (pde & PS && pde & 0x1fe000)) return ~(base | PF_P | PF_RSVD);
  if (pde & PS) {
    if (update && (accessDenied(cpu, pde, write, user, fetch) || (fetch && nx && pdeHi & 0x80000000))) {
      return ~(base | PF_P);
    }
    if (update) setBits(cpu, pdeAddr, pde, write);
    walkRights = pde;
    walkSpan = 2 ** 21;
    return (pdeHi & 0xfffff) * 2 ** 32 + ((pde & 0xffe00000) >>> 0) + (lin & 0x1fffff);
  }
  const pteAddr = (pdeHi & 0xfffff) * 2 ** 32 + ((pde & 0xfffff000) >>> 0) + ((lin >>> 12) & 0x1ff) * 8;
  const pte = readEntry(cpu, pteAddr), pteHi = entryHi;
  if (!(pte & P)) return ~base;
  if (pteHi & rsvdHi) return ~(base | PF_P | PF_RSVD);
  const rights = pde & pte;
  const noExec = nx && ((pdeHi | pteHi) & 0x80000000) !== 0;
  if (update && (accessDenied(cpu, rights, write, user, fetch) || (fetch && noExec))) return ~(base | PF_P);
  if (update) {
    setBits(cpu, pdeAddr, pde, false);
    setBits(cpu, pteAddr, pte, write);
  }
  walkRights = rights;
  walkSpan = 4096;
  return (pteHi & 0xfffff) * 2 ** 32 + ((pte & 0xfffff000) >>> 0) + (lin & 0xfff);
}

/** The linear-address span one entry of each 4-level table covers (PT, PD, PDPT, PML4). */
const SPANS = [4096, 2 ** 21, 2 ** 30, 2 ** 39] as const;
/** The entries a 4-level walk went through, by level, for setting their accessed bits once it succeeded. */
const walkAddrs = new Float64Array(4), walkEntries = new Int32Array(4);

/**
 * The RAM slot of the last paging entry a CPU's walk read (`readEntry`): its slots' generation then, its range and
 * bytes. A walk reads up to eight dwords, nearly always of one slot, and finding it for each (memory.ts physRead32)
 * was a third of a 4-level walk in a page-fault loop.
 */
export class TableSlot {
  generation = -1;
  gpa = 0;
  end = 0;
  bytes: Uint8Array = new Uint8Array(0);
  /** The slot itself (its dirty log), or null before the first entry read. */
  slot: MemSlot | null = null;
}

/** The high dword of the 8-byte entry `readEntry` read last. */
let entryHi = 0;

/**
 * Reads the 8-byte paging entry at guest-physical `at`: returns its low dword, its high one in `entryHi`. Outside
 * the remembered slot it reads through `Memory.physRead32` (RAM only: Unimplemented elsewhere, HostFault for a slot
 * without host bytes) and remembers the slot that holds it.
 */
function readEntry(cpu: Walker, at: number): number {
  const t = cpu.tableSlot;
  if (cpu.mem.slots.generation !== t.generation || at < t.gpa || at + 8 > t.end) {
    const lo = cpu.mem.physRead32(at);
    entryHi = cpu.mem.physRead32(at + 4);
    rememberSlot(cpu, at);
    return lo;
  }
  const b = t.bytes, k = at - t.gpa;
  entryHi = (b[k + 4] | (b[k + 5] << 8) | (b[k + 6] << 16) | (b[k + 7] << 24)) >>> 0;
  return (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)) >>> 0;
}

/** Reads the 4-byte paging entry (32-bit paging) at guest-physical `at`, as readEntry. */
function readEntry32(cpu: Walker, at: number): number {
  const t = cpu.tableSlot;
  if (cpu.mem.slots.generation !== t.generation || at < t.gpa || at + 4 > t.end) {
    const v = cpu.mem.physRead32(at);
    rememberSlot(cpu, at);
    return v;
  }
  const b = t.bytes, k = at - t.gpa;
  return (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)) >>> 0;
}

/** Remembers the slot of `at`, just read as a paging entry, if it has host bytes. */
function rememberSlot(cpu: Walker, at: number): void {
  const slots = cpu.mem.slots, slot = slots.find(at), t = cpu.tableSlot;
  if (slot === undefined || slot.bytes === undefined) return;
  t.generation = slots.generation;
  t.slot = slot;
  t.gpa = slot.gpa;
  t.end = slot.gpa + slot.size;
  t.bytes = slot.bytes;
}

/**
 * Walks the 4-level tables for the 48-bit linear `lin`: walkCore's result. With `update`, checks the access rights
 * and sets the accessed and dirty bits.
 */
function walkLong(cpu: Walker, lin: number, write: boolean, user: boolean, fetch: boolean, update: boolean): number {
  const nxe = (cpu.efer & EFER_NXE) !== 0;
  const base = errorBase(cpu, write, user, fetch, nxe);
  const rsvdHi = reservedHigh(cpu.cpuidTable);
  // The table index of each level: bits 47:39, 38:30, 29:21 and 20:12 of `lin`, from its high and low halves.
  const linHi = Math.floor(lin / 2 ** 32), linLo = lin >>> 0;
  let table = cpu.cr3 - (cpu.cr3 % 4096);
  let rights = RW | US, nx = 0, level = 3;
  let lo = 0, hi = 0;
  for (;; level--) {
    const index = level === 3
      ? (linHi >>> 7) & 511
      : level === 2
      ? ((linHi << 2) | (linLo >>> 30)) & 511
      : (linLo >>> (level === 1 ? 21 : 12)) & 511;
    const at = table + index * 8;
    lo = readEntry(cpu, at);
    hi = entryHi;
    if (!(lo & P)) return ~base;
    // Bits 51:MAXPHYADDR are reserved at every level, and bit 63 (XD) unless EFER.NXE.
    if (hi & rsvdHi || (hi & 0x80000000 && !nxe)) return ~(base | PF_P | PF_RSVD);
    walkAddrs[level] = at;
    walkEntries[level] = lo;
    rights &= lo;
    nx |= hi >>> 31;
    if (level === 0) break;
    if (lo & PS) {
      if (level === 3 || (level === 2 && !gbPages(cpu.cpuidTable))) return ~(base | PF_P | PF_RSVD);
      // A large page: the frame's low bits (13 up to its size) are reserved.
      if (lo & (level === 2 ? 0x3fffe000 : 0x1fe000)) return ~(base | PF_P | PF_RSVD);
      break;
    }
    table = (hi & 0xfffff) * 2 ** 32 + ((lo & 0xfffff000) >>> 0);
  }
  if (update) {
    if (accessDenied(cpu, rights, write, user, fetch) || (fetch && nx && nxe)) return ~(base | PF_P);
    for (let i = 3; i >= level; i--) setBits(cpu, walkAddrs[i], walkEntries[i], i === level && write);
  }
  const span = SPANS[level], frame = (hi & 0xfffff) * 2 ** 32 + ((lo & 0xfffff000) >>> 0);
  walkRights = rights;
  walkSpan = span;
  return frame - (frame % span) + (lin % span);
}

/** The error-code bits every #PF of this access carries: W/R, U/S, and I/D for a fetch under NX or SMEP. */
function errorBase(cpu: Walker, write: boolean, user: boolean, fetch: boolean, nx: boolean): number {
  return (write ? PF_W : 0) | (user ? PF_U : 0) | (fetch && (nx || cpu.cr4 & CR4_SMEP) ? PF_ID : 0);
}

/**
 * True when the combined rights (RW and US of every level) forbid the access: a user access to a supervisor
 * page, a write to a read-only page by the user or under CR0.WP, a supervisor-mode fetch from a user page under
 * CR4.SMEP, and a supervisor-mode data access to one under CR4.SMAP unless EFLAGS.AC is set for an explicit
 * access (an implicit one, such as a descriptor-table read, is always checked). NX is the caller's.
 */
function accessDenied(cpu: Walker, rights: number, write: boolean, user: boolean, fetch: boolean): boolean {
  if (user && !(rights & US)) return true;
  if (write && !(rights & RW) && (user || cpu.cr0 & CR0_WP)) return true;
  if (user || !(rights & US)) return false;
  if (fetch) return (cpu.cr4 & CR4_SMEP) !== 0;
  return (cpu.cr4 & CR4_SMAP) !== 0 && (!(cpu.eflRest & EFLAGS_AC) || cpu.mem.sys);
}

/**
 * Sets the accessed bit of the entry at `addr`, just read by the walk, and the dirty bit with `dirty`, writing it only
 * when they change: in the slot the walk read it from (TableSlot) where it can, marking the page in its dirty log as
 * Memory.physWrite32 does, else through that.
 */
function setBits(cpu: Walker, addr: number, entry: number, dirty: boolean): void {
  const want = (entry | A | (dirty ? D : 0)) >>> 0;
  if (want === entry >>> 0) return;
  const t = cpu.tableSlot, slot = t.slot;
  if (slot === null || cpu.mem.slots.generation !== t.generation || addr < t.gpa || addr + 4 > t.end) {
    cpu.mem.physWrite32(addr, want);
    return;
  }
  const b = t.bytes, k = addr - t.gpa;
  b[k] = want;
  b[k + 1] = want >> 8;
  b[k + 2] = want >> 16;
  b[k + 3] = want >> 24;
  markPageDirty(slot, k);
}

const maxPhysCache = new WeakMap<readonly CpuidEntry[], number>();

/**
 * MAXPHYADDR as the guest's CPUID gives it (80000008h EAX[7:0], when leaf 80000000h reaches it), else 36, as
 * the kernel's cpuid_query_maxphyaddr: the physical-address bits above it are reserved in paging entries.
 */
function maxPhysAddr(table: readonly CpuidEntry[]): number {
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
  // Asked at every walk: the last table's answer first (its WeakMap lookup was a tenth of a 4-level walk).
  if (table === rsvdTable) return rsvdValue;
  const m = maxPhysAddr(table);
  rsvdValue = m >= 52 ? 0 : (0xfffff & ~((1 << Math.max(0, m - 32)) - 1)) >>> 0;
  rsvdTable = table;
  return rsvdValue;
}

/** The table reservedHigh answered last, and its answer. */
let rsvdTable: readonly CpuidEntry[] | null = null, rsvdValue = 0;

const gbPagesCache = new WeakMap<readonly CpuidEntry[], boolean>();

/** True when the guest's CPUID advertises 1 GiB pages (80000001h EDX bit 26). */
function gbPages(table: readonly CpuidEntry[]): boolean {
  let has = gbPagesCache.get(table);
  if (has === undefined) {
    const e = table.find((x) => x.function === 0x80000001);
    has = e !== undefined && (e.edx & (1 << 26)) !== 0;
    gbPagesCache.set(table, has);
  }
  return has;
}
