/**
 * INS and OUTS in 64-bit mode: RSI/RDI/RCX (ESI/EDI/ECX with a 67 prefix)
 * with the 32-bit core's exit semantics: a REP OUTS exits after each item
 * and resumes with RF set; one INS exit brings every item up to the end of
 * the destination page.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { DF, RF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { checkIo, valueOf } from "../ops/io.ts";
import { DS, ECX, EDI, EDX, ES, ESI } from "../state.ts";
import { getRip, regSigned, TWO32 } from "./access.ts";

function addr(cpu: Cpu, n: number, d: Insn): number {
  return d.asize === 8 ? regSigned(cpu, n) : cpu.r32[n << 1];
}

function adv(cpu: Cpu, n: number, d: Insn, by: number): void {
  const r = cpu.r32, lo = r[n << 1] + by;
  r[n << 1] = lo >>> 0;
  r[(n << 1) + 1] = d.asize === 8 ? (r[(n << 1) + 1] + Math.floor(lo / TWO32)) >>> 0 : 0;
}

function count(cpu: Cpu, d: Insn): number {
  const lo = cpu.r32[ECX << 1], hi = d.asize === 8 ? cpu.r32[(ECX << 1) + 1] : 0;
  return hi ? 2 ** 32 : lo;
}

/** 6E/6F: OUTS. */
export function outs64(cpu: Cpu, d: Insn): void {
  const port = cpu.getReg(EDX, 2);
  checkIo(cpu, port, d.size);
  if (d.rep && count(cpu, d) === 0) return;
  const v = cpu.read(d.seg >= 0 ? d.seg : DS, addr(cpu, ESI, d), d.size);
  cpu.portOutValue(port, d.size, v);
  adv(cpu, ESI, d, cpu.eflRest & DF ? -d.size : d.size);
  if (!d.rep) return;
  adv(cpu, ECX, d, -1);
  // As KVM (and the 32-bit core): RIP stays on the instruction at every exit, the last one too; the next
  // run finds RCX = 0 and completes it.
  cpu.nextEip = getRip(cpu);
  cpu.eflRest |= RF;
}

/** 6C/6D: INS: one exit brings every item up to the end of the destination page. */
export function ins64(cpu: Cpu, d: Insn): void {
  const port = cpu.getReg(EDX, 2);
  checkIo(cpu, port, d.size);
  let n = d.rep ? count(cpu, d) : 1;
  if (n === 0) return;
  const step = cpu.eflRest & DF ? -d.size : d.size;
  const lin = cpu.lin(ES, addr(cpu, EDI, d), d.size, true);
  const inPage = step > 0 ? Math.floor((0x1000 - (lin % 4096)) / d.size) : Math.floor((lin % 4096) / d.size) + 1;
  n = Math.max(1, Math.min(n, inPage, Math.floor(4096 / d.size)));
  const data = cpu.portIn(port, d.size, n);
  for (let i = 0; i < n; i++) {
    cpu.write(ES, addr(cpu, EDI, d), d.size, valueOf(data, i * d.size, d.size));
    adv(cpu, EDI, d, step);
    if (d.rep) adv(cpu, ECX, d, -1);
  }
  cpu.commitReplay();
  if (d.rep && count(cpu, d) !== 0) cpu.nextEip = getRip(cpu);
}
