/**
 * String instructions: MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS, with REP,
 * REPE and REPNE. Every iteration commits (registers and memory) before
 * the next, so an exception or an exit in the middle leaves the state of a
 * partly done REP, with EIP still at the instruction. As the kernel does,
 * a REP iteration that causes an exit (OUTS, or a store to MMIO) exits
 * with RF set and EIP at the instruction; REP INS asks userspace for as
 * many items as fit before the page ends, in one exit.
 *
 * The flags of a REP CMPS/SCAS: AMD's personality shows those of the last
 * iteration whenever the instruction stops; Intel's, as this project's
 * Intel host (family 6 model 167) does, only once it completes: a fault in
 * the middle is delivered with the flags the instruction began with. An
 * Intel CMPS also reads ES:rDI before the source (a fault on both reports
 * the destination's), AMD's the source first.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { DF, MASK, RF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { DS, EAX, ECX, EDI, EDX, ES, ESI } from "../state.ts";
import { alu } from "./alu.ts";
import { checkIo, valueOf } from "./io.ts";
import { bulkAllowed, copyItems, fillItems, pageRoom, rangeLinear } from "./bulk.ts";

/**
 * Iterations of a REP done per interpreter step, so that timeouts stay prompt: the REP then stops as an interrupt
 * would stop it (registers updated, EIP at the instruction) and resumes at the next step. Each iteration counts as
 * an instruction toward the run loop's alarm (`cpu.work`).
 */
export const REP_CHUNK = 4096;
/** Items a REP MOVS/STOS moves per interpreter step a page at a time (bulk.ts). */
export const BULK_CHUNK = 65536;
/** What moving one page of a REP MOVS/STOS at once counts as, in instructions (`cpu.work`). */
export const BULK_PAGE_WORK = 64;

function step(cpu: Cpu, d: Insn): number {
  return cpu.eflRest & DF ? -d.size : d.size;
}

function advance(cpu: Cpu, reg: number, d: Insn, by: number): void {
  cpu.setReg(reg, d.asize, ((cpu.getReg(reg, d.asize) + by) & MASK[d.asize]) >>> 0);
}

function src(d: Insn): number {
  return d.seg >= 0 ? d.seg : DS;
}

/**
 * Runs `iter` once, or under REP until the count or the condition ends. `iter` returns whether to go on. Returns
 * false when the REP stops to resume later (an exit, or the step's budget spent), true when it is done.
 */
function repeat(cpu: Cpu, d: Insn, iter: (cpu: Cpu, d: Insn) => boolean): boolean {
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
export function destinationFirst(cpu: Cpu): boolean {
  return cpu.vendor.name !== "amd";
}

/**
 * Runs a CMPS or SCAS (`run`: true when it completed) with the flags committed per vendor (see the module doc):
 * on Intel a REP that stops early, by a fault or to resume, leaves the flags it began with.
 */
export function compareFlags(cpu: Cpu, d: Insn, run: () => boolean): void {
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
  const v = cpu.read(src(d), cpu.getReg(ESI, d.asize), d.size);
  cpu.write(ES, cpu.getReg(EDI, d.asize), d.size, v);
  const s = step(cpu, d);
  advance(cpu, ESI, d, s);
  advance(cpu, EDI, d, s);
  return true;
}

function stosIter(cpu: Cpu, d: Insn): boolean {
  cpu.write(ES, cpu.getReg(EDI, d.asize), d.size, cpu.getReg(EAX, d.size));
  advance(cpu, EDI, d, step(cpu, d));
  return true;
}

function lodsIter(cpu: Cpu, d: Insn): boolean {
  cpu.setReg(EAX, d.size, cpu.read(src(d), cpu.getReg(ESI, d.asize), d.size));
  advance(cpu, ESI, d, step(cpu, d));
  return true;
}

function cmpsIter(cpu: Cpu, d: Insn): boolean {
  const dstFirst = destinationFirst(cpu);
  let b = dstFirst ? cpu.read(ES, cpu.getReg(EDI, d.asize), d.size) : 0;
  const a = cpu.read(src(d), cpu.getReg(ESI, d.asize), d.size);
  if (!dstFirst) b = cpu.read(ES, cpu.getReg(EDI, d.asize), d.size);
  alu(cpu, 7, a, b, d.size);
  const s = step(cpu, d);
  advance(cpu, ESI, d, s);
  advance(cpu, EDI, d, s);
  return (cpu.zf() === 1) === (d.rep === 0xf3);
}

function scasIter(cpu: Cpu, d: Insn): boolean {
  const b = cpu.read(ES, cpu.getReg(EDI, d.asize), d.size);
  alu(cpu, 7, cpu.getReg(EAX, d.size), b, d.size);
  advance(cpu, EDI, d, step(cpu, d));
  return (cpu.zf() === 1) === (d.rep === 0xf3);
}

function outsIter(cpu: Cpu, d: Insn): boolean {
  const port = cpu.getReg(EDX, 2);
  const v = cpu.read(src(d), cpu.getReg(ESI, d.asize), d.size);
  cpu.portOutValue(port, d.size, v);
  advance(cpu, ESI, d, step(cpu, d));
  return true;
}

/**
 * REP MOVS/STOS with 32-bit addresses a page at a time (bulk.ts), up to BULK_CHUNK items; `repeat` does the rest.
 * True when the chunk ran out with items left (the instruction resumes at the next step).
 */
function bulkRepeat(cpu: Cpu, d: Insn, copy: boolean): boolean {
  for (let budget = BULK_CHUNK;;) {
    const count = cpu.getReg(ECX, 4), si = cpu.getReg(ESI, 4), di = cpu.getReg(EDI, 4), size = d.size;
    if (count < 2) return false;
    if (budget < 2) return true;
    // Source before destination: the order in which single iterations would fault.
    let items = Math.min(count, budget, copy ? pageRoom(cpu, src(d), si, size, false) : count);
    items = Math.min(items, pageRoom(cpu, ES, di, size, true));
    if (items < 2) return false;
    const from = copy ? rangeLinear(cpu, src(d), si, size, items, false) : 0;
    const to = rangeLinear(cpu, ES, di, size, items, true);
    if (from < 0 || to < 0) return false;
    const done = copy
      ? copyItems(cpu, from, to, size, items)
      : fillItems(cpu, to, size, items, cpu.getReg(EAX, size), 0);
    if (!done) return false;
    if (copy) cpu.setReg(ESI, 4, (si + size * items) >>> 0);
    cpu.setReg(EDI, 4, (di + size * items) >>> 0);
    cpu.setReg(ECX, 4, count - items);
    cpu.work += BULK_PAGE_WORK;
    budget -= items;
  }
}

/** A4/A5: MOVS. */
export function movs(cpu: Cpu, d: Insn): void {
  if (bulkAllowed(cpu, d) && bulkRepeat(cpu, d, true)) {
    cpu.nextEip = cpu.eip;
    return;
  }
  repeat(cpu, d, movsIter);
}

/** AA/AB: STOS. */
export function stos(cpu: Cpu, d: Insn): void {
  if (bulkAllowed(cpu, d) && bulkRepeat(cpu, d, false)) {
    cpu.nextEip = cpu.eip;
    return;
  }
  repeat(cpu, d, stosIter);
}

/** AC/AD: LODS. */
export function lods(cpu: Cpu, d: Insn): void {
  repeat(cpu, d, lodsIter);
}

/** A6/A7: CMPS. */
export function cmps(cpu: Cpu, d: Insn): void {
  compareFlags(cpu, d, () => repeat(cpu, d, cmpsIter));
}

/** AE/AF: SCAS. */
export function scas(cpu: Cpu, d: Insn): void {
  compareFlags(cpu, d, () => repeat(cpu, d, scasIter));
}

/** 6E/6F: OUTS. */
export function outs(cpu: Cpu, d: Insn): void {
  checkIo(cpu, cpu.getReg(EDX, 2), d.size);
  repeat(cpu, d, outsIter);
}

/** 6C/6D: INS: one exit brings every item up to the end of the destination page. */
export function ins(cpu: Cpu, d: Insn): void {
  const port = cpu.getReg(EDX, 2);
  checkIo(cpu, port, d.size);
  const am = MASK[d.asize];
  let count = d.rep ? cpu.getReg(ECX, d.asize) : 1;
  if (count === 0) return;
  const s = step(cpu, d);
  const di = cpu.getReg(EDI, d.asize);
  const lin = cpu.lin(ES, di, d.size, true);
  const inPage = s > 0 ? Math.floor((0x1000 - (lin & 0xfff)) / d.size) : Math.floor((lin & 0xfff) / d.size) + 1;
  count = Math.max(1, Math.min(count, inPage, Math.floor(4096 / d.size)));
  const data = cpu.portIn(port, d.size, count);
  for (let i = 0; i < count; i++) {
    cpu.write(ES, cpu.getReg(EDI, d.asize), d.size, valueOf(data, i * d.size, d.size));
    advance(cpu, EDI, d, s);
    if (d.rep) cpu.setReg(ECX, d.asize, ((cpu.getReg(ECX, d.asize) - 1) & am) >>> 0);
  }
  cpu.commitReplay();
  if (d.rep && cpu.getReg(ECX, d.asize) !== 0) cpu.nextEip = cpu.eip;
}
