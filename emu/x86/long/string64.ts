/**
 * String instructions in 64-bit mode: MOVS, STOS, LODS, CMPS, SCAS with 8-,
 * 16-, 32- and 64-bit items, RSI/RDI/RCX (or ESI/EDI/ECX with a 67
 * prefix), REP/REPE/REPNE. As in the 32-bit core, each iteration commits
 * before the next, and a long REP resumes at the same instruction.
 *
 * With a 67 prefix each iteration writes ECX, ESI and EDI as 32-bit
 * registers (their upper halves cleared). On Intel (as this project's
 * host, family 6 model 167, does) a REP with a 67 prefix clears them on
 * entry, before the first iteration and whatever the count (0, or a fault
 * in the first iteration): the upper half of RCX, and for MOVS those of
 * RSI and RDI, for STOS that of RDI (LODS, CMPS and SCAS leave their
 * pointers). AMD's personality writes nothing before an iteration
 * completes. The flags of a REP CMPS/SCAS and the order in which CMPS
 * reads its operands follow ../ops/string.ts.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { DF, RF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { DS, EAX, ECX, EDI, ES, ESI } from "../state.ts";
import { alu } from "../ops/alu.ts";
import { alu64 } from "../ops/alu.ts";
import { getRip, qv, readQ, regSigned, setQ, TWO32, writeQ } from "./access.ts";
import { BULK_CHUNK, BULK_PAGE_WORK, compareFlags, destinationFirst, REP_CHUNK } from "../ops/string.ts";
import { bulkAllowed, copyItems, fillItems, pageRoom, rangeLinear } from "../ops/bulk.ts";

function addr(cpu: Cpu, n: number, d: Insn): number {
  return d.asize === 8 ? regSigned(cpu, n) : cpu.r32[n << 1];
}

/** Adds `by` to an address or count register with the instruction's address size. */
function adv(cpu: Cpu, n: number, d: Insn, by: number): void {
  const r = cpu.r32, lo = r[n << 1] + by;
  r[n << 1] = lo >>> 0;
  r[(n << 1) + 1] = d.asize === 8 ? (r[(n << 1) + 1] + Math.floor(lo / TWO32)) >>> 0 : 0;
}

function stepOf(cpu: Cpu, d: Insn): number {
  return cpu.eflRest & DF ? -d.size : d.size;
}

function seg(d: Insn): number {
  return d.seg >= 0 ? d.seg : DS;
}

/** Reads an item into qv (the high half is 0 below 8 bytes). */
function load(cpu: Cpu, s: number, off: number, size: number): void {
  if (size === 8) readQ(cpu, s, off);
  else {
    qv[0] = cpu.read(s, off, size);
    qv[1] = 0;
  }
}

function store(cpu: Cpu, s: number, off: number, size: number, lo: number, hi: number): void {
  if (size === 8) writeQ(cpu, s, off, lo, hi);
  else cpu.write(s, off, size, lo);
}

function compare(cpu: Cpu, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  if (size === 8) alu64(cpu, 7, aLo, aHi, bLo, bHi);
  else alu(cpu, 7, aLo, bLo, size);
}

function movsIter(cpu: Cpu, d: Insn): boolean {
  load(cpu, seg(d), addr(cpu, ESI, d), d.size);
  store(cpu, ES, addr(cpu, EDI, d), d.size, qv[0], qv[1]);
  const s = stepOf(cpu, d);
  adv(cpu, ESI, d, s);
  adv(cpu, EDI, d, s);
  return true;
}

function stosIter(cpu: Cpu, d: Insn): boolean {
  const lo = d.size === 8 || d.size === 4 ? cpu.r32[0] : cpu.getReg(EAX, d.size);
  store(cpu, ES, addr(cpu, EDI, d), d.size, lo, cpu.r32[1]);
  adv(cpu, EDI, d, stepOf(cpu, d));
  return true;
}

function lodsIter(cpu: Cpu, d: Insn): boolean {
  load(cpu, seg(d), addr(cpu, ESI, d), d.size);
  if (d.size === 8) setQ(cpu, EAX, qv[0], qv[1]);
  else cpu.setReg(EAX, d.size, qv[0]);
  adv(cpu, ESI, d, stepOf(cpu, d));
  return true;
}

function cmpsIter(cpu: Cpu, d: Insn): boolean {
  const dstFirst = destinationFirst(cpu);
  if (dstFirst) load(cpu, ES, addr(cpu, EDI, d), d.size);
  else load(cpu, seg(d), addr(cpu, ESI, d), d.size);
  const fLo = qv[0], fHi = qv[1];
  if (dstFirst) load(cpu, seg(d), addr(cpu, ESI, d), d.size);
  else load(cpu, ES, addr(cpu, EDI, d), d.size);
  if (dstFirst) compare(cpu, d.size, qv[0], qv[1], fLo, fHi);
  else compare(cpu, d.size, fLo, fHi, qv[0], qv[1]);
  const s = stepOf(cpu, d);
  adv(cpu, ESI, d, s);
  adv(cpu, EDI, d, s);
  return (cpu.zf() === 1) === (d.rep === 0xf3);
}

function scasIter(cpu: Cpu, d: Insn): boolean {
  load(cpu, ES, addr(cpu, EDI, d), d.size);
  const acc = d.size === 8 || d.size === 4 ? cpu.r32[0] : cpu.getReg(EAX, d.size);
  compare(cpu, d.size, acc, cpu.r32[1], qv[0], qv[1]);
  adv(cpu, EDI, d, stepOf(cpu, d));
  return (cpu.zf() === 1) === (d.rep === 0xf3);
}

/** The entry of an Intel REP with a 32-bit address size: clears the upper halves of RCX and of `pointers`. */
function enterRep(cpu: Cpu, d: Insn, pointers: readonly number[]): void {
  if (!d.rep || d.asize !== 4 || cpu.vendor.name === "amd") return;
  cpu.r32[(ECX << 1) + 1] = 0;
  for (const n of pointers) cpu.r32[(n << 1) + 1] = 0;
}

const NONE: readonly number[] = [], DI: readonly number[] = [EDI], SI_DI: readonly number[] = [ESI, EDI];

/**
 * Runs `iter` once, or under REP until RCX (ECX) or the condition ends it. Returns false when the REP stops to
 * resume later (an exit, or the step's budget spent), true when it is done.
 */
function repeat(cpu: Cpu, d: Insn, iter: (cpu: Cpu, d: Insn) => boolean): boolean {
  if (!d.rep) {
    iter(cpu, d);
    return true;
  }
  const r = cpu.r32;
  for (let budget = REP_CHUNK;; budget--) {
    const lo = r[ECX << 1], hi = d.asize === 8 ? r[(ECX << 1) + 1] : 0;
    if (lo === 0 && hi === 0) return true;
    const more = iter(cpu, d);
    adv(cpu, ECX, d, -1);
    cpu.commitReplay();
    cpu.work++;
    const last = lo === 1 && hi === 0;
    if (cpu.exits.length && more && !last) {
      cpu.nextEip = getRip(cpu);
      cpu.eflRest |= RF;
      return false;
    }
    if (!more || last) return true;
    if (budget === 0) {
      cpu.nextEip = getRip(cpu);
      return false;
    }
  }
}

/**
 * REP MOVS/STOS a page at a time (../ops/bulk.ts), up to BULK_CHUNK items; `repeat` does the rest. True when the
 * chunk ran out with items left (the instruction resumes at the next step).
 */
function bulkRepeat(cpu: Cpu, d: Insn, copy: boolean): boolean {
  const r = cpu.r32;
  for (let budget = BULK_CHUNK;;) {
    const count = d.asize === 8 ? r[ECX << 1] + r[(ECX << 1) + 1] * TWO32 : r[ECX << 1];
    if (count < 2) return false;
    if (budget < 2) return true;
    const si = addr(cpu, ESI, d), di = addr(cpu, EDI, d), size = d.size;
    // Source before destination: the order in which single iterations would fault.
    let items = Math.min(count, budget, copy ? pageRoom(cpu, seg(d), si, size, false) : count);
    items = Math.min(items, pageRoom(cpu, ES, di, size, true));
    if (items < 2) return false;
    const from = copy ? rangeLinear(cpu, seg(d), si, size, items, false) : 0;
    const to = rangeLinear(cpu, ES, di, size, items, true);
    if (from < 0 || to < 0) return false;
    const lo = size === 8 || size === 4 ? r[0] : cpu.getReg(EAX, size);
    const done = copy ? copyItems(cpu, from, to, size, items) : fillItems(cpu, to, size, items, lo, r[1]);
    if (!done) return false;
    if (copy) adv(cpu, ESI, d, size * items);
    adv(cpu, EDI, d, size * items);
    adv(cpu, ECX, d, -items);
    cpu.work += BULK_PAGE_WORK;
    budget -= items;
  }
}

/** A4/A5: MOVS. */
export function movs64(cpu: Cpu, d: Insn): void {
  enterRep(cpu, d, SI_DI);
  if (bulkAllowed(cpu, d) && bulkRepeat(cpu, d, true)) {
    cpu.nextEip = getRip(cpu);
    return;
  }
  repeat(cpu, d, movsIter);
}

/** AA/AB: STOS. */
export function stos64(cpu: Cpu, d: Insn): void {
  enterRep(cpu, d, DI);
  if (bulkAllowed(cpu, d) && bulkRepeat(cpu, d, false)) {
    cpu.nextEip = getRip(cpu);
    return;
  }
  repeat(cpu, d, stosIter);
}

/** AC/AD: LODS. */
export function lods64(cpu: Cpu, d: Insn): void {
  enterRep(cpu, d, NONE);
  repeat(cpu, d, lodsIter);
}

/** A6/A7: CMPS. */
export function cmps64(cpu: Cpu, d: Insn): void {
  enterRep(cpu, d, NONE);
  compareFlags(cpu, d, () => repeat(cpu, d, cmpsIter));
}

/** AE/AF: SCAS. */
export function scas64(cpu: Cpu, d: Insn): void {
  enterRep(cpu, d, NONE);
  compareFlags(cpu, d, () => repeat(cpu, d, scasIter));
}
