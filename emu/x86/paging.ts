/**
 * Page walks: 32-bit paging (with 4 MiB pages under CR4.PSE) and PAE
 * paging (2 MiB pages, NX under EFER.NXE). A walk sets accessed bits, and
 * the dirty bit on a write; a failed walk raises #PF with the hardware's
 * error code (P, W/R, U/S, RSVD, I/D) and sets CR2.
 *
 * @module
 */
import { CpuFault, PF } from "./fault.ts";
import type { State } from "./state.ts";
import type { Memory } from "./memory.ts";
import type { CpuidEntry } from "../../abi/structs.ts";
import { EFER_LMA, fromLin48 } from "./long/access.ts";
import { maxPhysAddr, reservedHigh, walkLong } from "./long/paging64.ts";

const CR0_WP = 1 << 16, CR4_PSE = 1 << 4, CR4_PAE = 1 << 5, CR4_SMEP = 1 << 20, CR4_SMAP = 1 << 21;
const EFER_NXE = 1 << 11, EFLAGS_AC = 1 << 18;
const P = 1, RW = 2, US = 4, A = 0x20, D = 0x40, PS = 0x80, RSVD = 8;

/** What a walk needs: the state and the memory. */
export interface Walker extends State {
  readonly mem: Memory;
  /** EFLAGS without the arithmetic flags (AC, for SMAP in long mode). */
  readonly eflRest: number;
  /** The guest's CPUID (1 GiB pages in long mode). */
  readonly cpuidTable: readonly CpuidEntry[];
}

/** The result of a walk without side effects (KVM_TRANSLATE). */
export interface WalkInfo {
  phys: number;
  writable: boolean;
  user: boolean;
}

/** Translates `lin`, raising #PF on failure. */
export function walk(cpu: Walker, lin: number, write: boolean, user: boolean, fetch: boolean): number {
  const r = walkInfo(cpu, lin, write, user, fetch, true);
  if (typeof r === "number") {
    cpu.cr2 = cpu.efer & EFER_LMA ? fromLin48(lin) : lin;
    throw new CpuFault(PF, r);
  }
  return r.phys;
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
): WalkInfo | number {
  if (cpu.efer & EFER_LMA) return walkLong(cpu, lin, write, user, fetch, update);
  const mem = cpu.mem;
  const wp = (cpu.cr0 & CR0_WP) !== 0, pae = (cpu.cr4 & CR4_PAE) !== 0, nx = pae && (cpu.efer & EFER_NXE) !== 0;
  // I/D: an instruction fetch, reported when NX (PAE with EFER.NXE) or SMEP is enabled.
  const ifetch = fetch && (nx || cpu.cr4 & CR4_SMEP) ? 0x10 : 0;
  const err = (present: number) => present | (write ? 2 : 0) | (user ? 4 : 0) | ifetch;
  // The access rights of the combined entries, SMEP and SMAP included.
  const denied = (rights: number) => check(rights, write, user, wp) || supervisorDenied(cpu, rights, user, fetch);
  if (!(cpu.cr4 & CR4_PAE)) {
    const pdeAddr = (cpu.cr3 & 0xfffff000) + (lin >>> 22) * 4;
    const pde = mem.physRead32(pdeAddr);
    if (!(pde & P)) return err(0);
    if (pde & PS && cpu.cr4 & CR4_PSE) {
      // A 4 MiB page: bits 20:13 hold physical-address bits 39:32; bit 21 and those at or above MAXPHYADDR
      // (at most 40 here) are reserved.
      const m = Math.min(maxPhysAddr(cpu.cpuidTable), 40);
      if (pde & (0x200000 | (0x1fe000 & ~((1 << (m - 19)) - 1)))) return err(1) | RSVD;
      if (update && denied(pde)) return err(1);
      if (update) setBits(mem, pdeAddr, pde, write);
      const hi = ((pde >>> 13) & 0xff) * 2 ** 32;
      return { phys: hi + (pde & 0xffc00000) + (lin & 0x3fffff), writable: !!(pde & RW), user: !!(pde & US) };
    }
    const pteAddr = (pde & 0xfffff000) + ((lin >>> 12) & 0x3ff) * 4;
    const pte = mem.physRead32(pteAddr);
    if (!(pte & P)) return err(0);
    const rights = pde & pte;
    if (update && denied(rights)) return err(1);
    if (update) {
      if (!(pde & A)) mem.physWrite32(pdeAddr, pde | A);
      setBits(mem, pteAddr, pte, write);
    }
    return addOffset(pte, lin, rights);
  }
  // PAE: a 4-entry PDPT, then 512-entry directories and tables of 8-byte entries.
  const pdpteAddr = (cpu.cr3 & 0xffffffe0) + (lin >>> 30) * 8;
  const pdpte = mem.physRead32(pdpteAddr);
  if (!(pdpte & P)) return err(0);
  const pdpteHi = mem.physRead32(pdpteAddr + 4) & 0xfffff;
  const pdeAddr = pdpteHi * 2 ** 32 + (pdpte & 0xfffff000) + ((lin >>> 21) & 0x1ff) * 8;
  const pde = mem.physRead32(pdeAddr), pdeHi = mem.physRead32(pdeAddr + 4);
  if (!(pde & P)) return err(0);
  // Bits 62:MAXPHYADDR are reserved, and bit 63 (XD) too unless EFER.NXE.
  const rsvdHi = (reservedHigh(cpu.cpuidTable) | 0x7ff00000 | (nx ? 0 : 0x80000000)) >>> 0;
  if (pdeHi & rsvdHi || (pde & PS && pde & 0x1fe000)) return err(1) | RSVD;
  if (pde & PS) {
    if (update && (denied(pde) || (fetch && nx && pdeHi & 0x80000000))) return err(1);
    if (update) setBits(mem, pdeAddr, pde, write);
    const phys = (pdeHi & 0xfffff) * 2 ** 32 + (pde & 0xffe00000) + (lin & 0x1fffff);
    return { phys, writable: !!(pde & RW), user: !!(pde & US) };
  }
  const pteAddr = (pdeHi & 0xfffff) * 2 ** 32 + (pde & 0xfffff000) + ((lin >>> 12) & 0x1ff) * 8;
  const pte = mem.physRead32(pteAddr), pteHi = mem.physRead32(pteAddr + 4);
  if (!(pte & P)) return err(0);
  if (pteHi & rsvdHi) return err(1) | RSVD;
  const rights = pde & pte;
  const noExec = nx && ((pdeHi | pteHi) & 0x80000000) !== 0;
  if (update && (denied(rights) || (fetch && noExec))) return err(1);
  if (update) {
    if (!(pde & A)) mem.physWrite32(pdeAddr, pde | A);
    setBits(mem, pteAddr, pte, write);
  }
  const phys = (pteHi & 0xfffff) * 2 ** 32 + (pte & 0xfffff000) + (lin & 0xfff);
  return { phys, writable: !!(rights & RW), user: !!(rights & US) };
}

function addOffset(pte: number, lin: number, rights: number): WalkInfo {
  return { phys: ((pte & 0xfffff000) >>> 0) + (lin & 0xfff), writable: !!(rights & RW), user: !!(rights & US) };
}

/** True when the access is not allowed by the combined rights. */
function check(rights: number, write: boolean, user: boolean, wp: boolean): boolean {
  if (user && !(rights & US)) return true;
  if (write && !(rights & RW) && (user || wp)) return true;
  return false;
}

/**
 * SMEP and SMAP outside long mode (as paging64.ts has them): a supervisor-mode fetch from a user page under
 * CR4.SMEP, and a supervisor-mode data access to one under CR4.SMAP unless EFLAGS.AC is set for an explicit access
 * (an implicit one, such as a descriptor-table read, is always checked).
 */
function supervisorDenied(cpu: Walker, rights: number, user: boolean, fetch: boolean): boolean {
  if (user || !(rights & US)) return false;
  if (fetch) return (cpu.cr4 & CR4_SMEP) !== 0;
  return (cpu.cr4 & CR4_SMAP) !== 0 && (!(cpu.eflRest & EFLAGS_AC) || cpu.mem.sys);
}

function setBits(mem: Memory, addr: number, entry: number, write: boolean): void {
  const want = entry | A | (write ? D : 0);
  if (want !== entry) mem.physWrite32(addr, want >>> 0);
}
