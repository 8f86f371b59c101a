/**
 * String instructions at every operand and address size: MOVS, CMPS, STOS,
 * LODS, SCAS with REP, REPE and REPNE (INS and OUTS are port I/O, in
 * io.ts, on the same `repeat`). Every iteration commits (registers and
 * memory) before the next, so an exception or an exit in the middle leaves
 * the state of a partly done REP, with rIP still at the instruction. As
 * the kernel does, a REP iteration that causes an exit (a store to MMIO)
 * exits with RF set and rIP at the instruction.
 *
 * The flags of a REP CMPS/SCAS: AMD's personality shows those of the last
 * iteration whenever the instruction stops; Intel's, as this project's
 * Intel host (family 6 model 167) does, only once it completes: a fault in
 * the middle is delivered with the flags the instruction began with. An
 * Intel CMPS also reads ES:rDI before the source (a fault on both reports
 * the destination's), AMD's the source first.
 *
 * In 64-bit mode the items are 8, 16, 32 or 64 bits and the registers
 * RSI/RDI/RCX (or ESI/EDI/ECX with a 67 prefix, each iteration writing
 * them as 32-bit registers, their upper halves cleared). On Intel (as this
 * project's host does) a REP with a 67 prefix clears them on entry, before
 * the first iteration and whatever the count (0, or a fault in the first
 * iteration): the upper half of RCX, and for MOVS those of RSI and RDI, for
 * STOS that of RDI (LODS, CMPS and SCAS leave their pointers). AMD's
 * personality writes nothing before an iteration completes.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { MASK, RF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { EAX, ECX, EDI, ES, ESI } from "../state.ts";
import { getRip, qv, readQ, setQ, TWO32, writeQ } from "../long/access.ts";
import { alu, alu64, ALU_CMP } from "./alu.ts";
import { bulkAllowed, copyItems, fillItems, pageRoom, rangeLinear } from "./bulk.ts";
import { addressLong, advance, advanceLong, sourceSeg, stepOf } from "./string_regs.ts";

/**
 * Iterations of a REP done per interpreter step, so that timeouts stay prompt: the REP then stops as an interrupt
 * would stop it (registers updated, EIP at the instruction) and resumes at the next step. Each iteration counts as
 * an instruction toward the run loop's alarm (`cpu.work`).
 */
const REP_CHUNK = 4096;
/** Items a REP MOVS/STOS moves per interpreter step a page at a time (bulk.ts). */
const BULK_CHUNK = 65536;
/** What moving one page of a REP MOVS/STOS at once counts as, in instructions (`cpu.work`). */
const BULK_PAGE_WORK = 64;

/**
 * Runs `iter` once, or under REP until the count or the condition ends. `iter` returns whether to go on. Returns
 * false when the REP stops to resume later (an exit, or the step's budget spent), true when it is done.
 */
export function repeat(cpu: Cpu, d: Insn, iter: (cpu: Cpu, d: Insn) => boolean): boolean {
  if (!d.rep) {
    iter(cpu, d);
    return true;
  }
  const am = MASK[d.asize];
  for (let budget = REP_CHUNK;; budget--) {
    const c = cpu.getReg(ECX, d.asize);
    if (c === 0) return true;
    const more = iter(cpu, d);
    cpu.setReg(ECX, d.asize, ((c - 1) & am) >>> 0);
    cpu.commitReplay();
    cpu.work++;
    if (cpu.exits.length && more) {
      cpu.nextEip = cpu.eip;
      cpu.eflRest |= RF;
      return false;
    }
    if (!more || c === 1) return true;
    if (budget === 0) {
      cpu.nextEip = cpu.eip;
      return false;
    }
  }
}

/** Whether CMPS reads its destination (ES:rDI) before its source: on Intel (see the module doc). */
function destinationFirst(cpu: Cpu): boolean {
  return cpu.vendor.name !== "amd";
}

/**
 * Runs a CMPS or SCAS (`run`: true when it completed) with the flags committed per vendor (see the module doc):
 * on Intel a REP that stops early, by a fault or to resume, leaves the flags it began with.
 */
function compareFlags(cpu: Cpu, d: Insn, run: () => boolean): void {
  if (!d.rep || cpu.vendor.name === "amd") {
    run();
    return;
  }
  const entry = cpu.arith();
  let done = false;
  try {
    done = run();
  } finally {
    if (!done) cpu.setArith(entry);
  }
}

function movsIter(cpu: Cpu, d: Insn): boolean {
  const v = cpu.read(sourceSeg(d), cpu.getReg(ESI, d.asize), d.size);
  cpu.write(ES, cpu.getReg(EDI, d.asize), d.size, v);
  const s = stepOf(cpu, d);
  advance(cpu, ESI, d, s);
  advance(cpu, EDI, d, s);
  return true;
}

function stosIter(cpu: Cpu, d: Insn): boolean {
  cpu.write(ES, cpu.getReg(EDI, d.asize), d.size, cpu.getReg(EAX, d.size));
  advance(cpu, EDI, d, stepOf(cpu, d));
  return true;
}

function lodsIter(cpu: Cpu, d: Insn): boolean {
  cpu.setReg(EAX, d.size, cpu.read(sourceSeg(d), cpu.getReg(ESI, d.asize), d.size));
  advance(cpu, ESI, d, stepOf(cpu, d));
  return true;
}

function cmpsIter(cpu: Cpu, d: Insn): boolean {
  const dstFirst = destinationFirst(cpu);
  let b = dstFirst ? cpu.read(ES, cpu.getReg(EDI, d.asize), d.size) : 0;
  const a = cpu.read(sourceSeg(d), cpu.getReg(ESI, d.asize), d.size);
  if (!dstFirst) b = cpu.read(ES, cpu.getReg(EDI, d.asize), d.size);
  alu(cpu, ALU_CMP, a, b, d.size);
  const s = stepOf(cpu, d);
  advance(cpu, ESI, d, s);
  advance(cpu, EDI, d, s);
  return (cpu.zf() === 1) === (d.rep === 0xf3);
}

function scasIter(cpu: Cpu, d: Insn): boolean {
  const b = cpu.read(ES, cpu.getReg(EDI, d.asize), d.size);
  alu(cpu, ALU_CMP, cpu.getReg(EAX, d.size), b, d.size);
  advance(cpu, EDI, d, stepOf(cpu, d));
  return (cpu.zf() === 1) === (d.rep === 0xf3);
}

// ---- 64-bit mode ------------------------------------------------------------

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
  if (size === 8) alu64(cpu, ALU_CMP, aLo, aHi, bLo, bHi);
  else alu(cpu, ALU_CMP, aLo, bLo, size);
}

function movsIter64(cpu: Cpu, d: Insn): boolean {
  load(cpu, sourceSeg(d), addressLong(cpu, ESI, d), d.size);
  store(cpu, ES, addressLong(cpu, EDI, d), d.size, qv[0], qv[1]);
  const s = stepOf(cpu, d);
  advanceLong(cpu, ESI, d, s);
  advanceLong(cpu, EDI, d, s);
  return true;
}

function stosIter64(cpu: Cpu, d: Insn): boolean {
  const lo = d.size === 8 || d.size === 4 ? cpu.r32[0] : cpu.getReg(EAX, d.size);
  store(cpu, ES, addressLong(cpu, EDI, d), d.size, lo, cpu.r32[1]);
  advanceLong(cpu, EDI, d, stepOf(cpu, d));
  return true;
}

function lodsIter64(cpu: Cpu, d: Insn): boolean {
  load(cpu, sourceSeg(d), addressLong(cpu, ESI, d), d.size);
  if (d.size === 8) setQ(cpu, EAX, qv[0], qv[1]);
  else cpu.setReg(EAX, d.size, qv[0]);
  advanceLong(cpu, ESI, d, stepOf(cpu, d));
  return true;
}

function cmpsIter64(cpu: Cpu, d: Insn): boolean {
  const dstFirst = destinationFirst(cpu);
  if (dstFirst) load(cpu, ES, addressLong(cpu, EDI, d), d.size);
  else load(cpu, sourceSeg(d), addressLong(cpu, ESI, d), d.size);
  const fLo = qv[0], fHi = qv[1];
  if (dstFirst) load(cpu, sourceSeg(d), addressLong(cpu, ESI, d), d.size);
  else load(cpu, ES, addressLong(cpu, EDI, d), d.size);
  if (dstFirst) compare(cpu, d.size, qv[0], qv[1], fLo, fHi);
  else compare(cpu, d.size, fLo, fHi, qv[0], qv[1]);
  const s = stepOf(cpu, d);
  advanceLong(cpu, ESI, d, s);
  advanceLong(cpu, EDI, d, s);
  return (cpu.zf() === 1) === (d.rep === 0xf3);
}

function scasIter64(cpu: Cpu, d: Insn): boolean {
  load(cpu, ES, addressLong(cpu, EDI, d), d.size);
  const acc = d.size === 8 || d.size === 4 ? cpu.r32[0] : cpu.getReg(EAX, d.size);
  compare(cpu, d.size, acc, cpu.r32[1], qv[0], qv[1]);
  advanceLong(cpu, EDI, d, stepOf(cpu, d));
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
function repeatLong(cpu: Cpu, d: Insn, iter: (cpu: Cpu, d: Insn) => boolean): boolean {
  if (!d.rep) {
    iter(cpu, d);
    return true;
  }
  const r = cpu.r32;
  for (let budget = REP_CHUNK;; budget--) {
    const lo = r[ECX << 1], hi = d.asize === 8 ? r[(ECX << 1) + 1] : 0;
    if (lo === 0 && hi === 0) return true;
    const more = iter(cpu, d);
    advanceLong(cpu, ECX, d, -1);
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
 * REP MOVS/STOS with a 32- or 64-bit address size a page at a time (bulk.ts), up to BULK_CHUNK items; `repeat` or
 * `repeatLong` does the rest. True when the chunk ran out with items left (the instruction resumes at the next step).
 * A 32-bit address size writes ECX, ESI and EDI as 32-bit registers, in every mode.
 */
function bulkRepeat(cpu: Cpu, d: Insn, copy: boolean): boolean {
  const r = cpu.r32;
  for (let budget = BULK_CHUNK;;) {
    const count = d.asize === 8 ? r[ECX << 1] + r[(ECX << 1) + 1] * TWO32 : r[ECX << 1];
    if (count < 2) return false;
    if (budget < 2) return true;
    const si = addressLong(cpu, ESI, d), di = addressLong(cpu, EDI, d), size = d.size;
    // Source before destination: the order in which single iterations would fault.
    let items = Math.min(count, budget, copy ? pageRoom(cpu, sourceSeg(d), si, size, false) : count);
    items = Math.min(items, pageRoom(cpu, ES, di, size, true));
    if (items < 2) return false;
    const from = copy ? rangeLinear(cpu, sourceSeg(d), si, size, items, false) : 0;
    const to = rangeLinear(cpu, ES, di, size, items, true);
    if (from < 0 || to < 0) return false;
    const lo = size === 8 || size === 4 ? r[0] : cpu.getReg(EAX, size);
    const done = copy ? copyItems(cpu, from, to, size, items) : fillItems(cpu, to, size, items, lo, r[1]);
    if (!done) return false;
    if (copy) advanceLong(cpu, ESI, d, size * items);
    advanceLong(cpu, EDI, d, size * items);
    advanceLong(cpu, ECX, d, -items);
    cpu.work += BULK_PAGE_WORK;
    budget -= items;
  }
}

// ---- the instructions ---------------------------------------------------------

/** REP MOVS (`copy`) or STOS: a page at a time where bulk.ts allows it, then item by item. */
function moveItems(cpu: Cpu, d: Insn, copy: boolean, long: boolean): void {
  if (long) enterRep(cpu, d, copy ? SI_DI : DI);
  if (bulkAllowed(cpu, d) && bulkRepeat(cpu, d, copy)) {
    cpu.nextEip = long ? getRip(cpu) : cpu.eip;
    return;
  }
  if (long) repeatLong(cpu, d, copy ? movsIter64 : stosIter64);
  else repeat(cpu, d, copy ? movsIter : stosIter);
}

/** A4/A5: MOVS. */
export function movs(cpu: Cpu, d: Insn): void {
  moveItems(cpu, d, true, false);
}

/** A4/A5 in 64-bit mode: MOVS. */
export function movs64(cpu: Cpu, d: Insn): void {
  moveItems(cpu, d, true, true);
}

/** AA/AB: STOS. */
export function stos(cpu: Cpu, d: Insn): void {
  moveItems(cpu, d, false, false);
}

/** AA/AB in 64-bit mode: STOS. */
export function stos64(cpu: Cpu, d: Insn): void {
  moveItems(cpu, d, false, true);
}

/** AC/AD: LODS. */
export function lods(cpu: Cpu, d: Insn): void {
  repeat(cpu, d, lodsIter);
}

/** AC/AD in 64-bit mode: LODS. */
export function lods64(cpu: Cpu, d: Insn): void {
  enterRep(cpu, d, NONE);
  repeatLong(cpu, d, lodsIter64);
}

/** A6/A7: CMPS. */
export function cmps(cpu: Cpu, d: Insn): void {
  compareFlags(cpu, d, () => repeat(cpu, d, cmpsIter));
}

/** A6/A7 in 64-bit mode: CMPS. */
export function cmps64(cpu: Cpu, d: Insn): void {
  enterRep(cpu, d, NONE);
  compareFlags(cpu, d, () => repeatLong(cpu, d, cmpsIter64));
}

/** AE/AF: SCAS. */
export function scas(cpu: Cpu, d: Insn): void {
  compareFlags(cpu, d, () => repeat(cpu, d, scasIter));
}

/** AE/AF in 64-bit mode: SCAS. */
export function scas64(cpu: Cpu, d: Insn): void {
  enterRep(cpu, d, NONE);
  compareFlags(cpu, d, () => repeatLong(cpu, d, scasIter64));
}
