/**
 * Decimal arithmetic: DAA, DAS, AAA, AAS, AAM, AAD (and SALC).
 *
 * Undefined flags, one choice for both vendor personalities: this project's
 * oracle cannot show the AMD host's (kvm_pvm raises #UD for DAA, AAA and
 * AAS, and its AAM/AAD flags come from the kernel's emulator); DAS, which
 * it runs, agrees with this choice. DAA/DAS: SF, ZF, PF from AL,
 * OF cleared. AAA/AAS: SF, ZF, PF from AL before its high nibble is
 * cleared, OF cleared. AAM/AAD: CF, AF, OF cleared.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { AF, CF, OF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { DE, fault } from "../fault.ts";

/** 27: DAA. */
export function daa(cpu: Cpu): void {
  const old = cpu.r8[0], oldCf = cpu.cf();
  let al = old, cf = 0, af = 0;
  if ((al & 0xf) > 9 || cpu.af()) {
    al = (al + 6) & 0xff;
    af = AF;
  }
  if (old > 0x99 || oldCf) {
    al = (al + 0x60) & 0xff;
    cf = CF;
  }
  cpu.r8[0] = al;
  cpu.setResultFlags(al, 1, cf | af);
}

/** 2F: DAS. */
export function das(cpu: Cpu): void {
  const old = cpu.r8[0], oldCf = cpu.cf();
  let al = old, cf = 0, af = 0;
  if ((al & 0xf) > 9 || cpu.af()) {
    // The borrow out of AL - 6 sets CF (the SDM's "old_CF or borrow"); the next step may set it too.
    if (al < 6) cf = CF;
    al = (al - 6) & 0xff;
    af = AF;
  }
  if (old > 0x99 || oldCf) {
    al = (al - 0x60) & 0xff;
    cf = CF;
  }
  cpu.r8[0] = al;
  cpu.setResultFlags(al, 1, cf | af);
}

/** 37/3F: AAA and AAS. */
export function aaa(cpu: Cpu, d: Insn): void {
  const sub = d.op === 0x3f;
  let ax = cpu.r16[0];
  let flags = 0;
  if ((ax & 0xf) > 9 || cpu.af()) {
    ax = sub ? ((ax - 6) & 0xff) | (((ax >> 8) - 1) & 0xff) << 8 : (ax + 0x106) & 0xffff;
    flags = AF | CF;
  }
  cpu.r16[0] = ax & 0xff0f;
  cpu.setResultFlags(ax & 0xff, 1, flags);
  cpu.setArith((cpu.arith() & ~(CF | AF | OF)) | flags);
}

/** D4: AAM imm8. */
export function aam(cpu: Cpu, d: Insn): void {
  if (d.imm === 0) fault(DE);
  const al = cpu.r8[0];
  cpu.r8[1] = Math.floor(al / d.imm);
  cpu.r8[0] = al % d.imm;
  cpu.setResultFlags(cpu.r8[0], 1, 0);
}

/** D5: AAD imm8. */
export function aad(cpu: Cpu, d: Insn): void {
  const al = (cpu.r8[0] + cpu.r8[1] * d.imm) & 0xff;
  cpu.r16[0] = al;
  cpu.setResultFlags(al, 1, 0);
}

/** D6: SALC (AL = CF ? 0xff : 0). */
export function salc(cpu: Cpu): void {
  cpu.r8[0] = cpu.cf() ? 0xff : 0;
}
