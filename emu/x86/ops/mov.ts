/**
 * Data movement: MOV in all its forms (r/m, immediates, moffs, segment
 * registers), LEA, MOVZX/MOVSX, XCHG, CBW/CWDE, CWD/CDQ, XLAT, LDS/LES/
 * LSS/LFS/LGS, CMOVcc, SETcc, BSWAP, LAHF/SAHF.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { ARITH, MASK } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { execUd, fault, UD } from "../fault.ts";
import { loadSeg } from "../segment.ts";
import { CS, DS, EAX, EBX, EDX, ES, FS, GS, SS } from "../state.ts";

/** 88/89: MOV r/m, reg. */
export function movRmReg(cpu: Cpu, d: Insn): void {
  cpu.writeRm(d, cpu.getReg(d.reg, d.size));
}

/** 8A/8B: MOV reg, r/m. */
export function movRegRm(cpu: Cpu, d: Insn): void {
  cpu.setReg(d.reg, d.size, cpu.readRm(d));
}

/** C6/C7 /0: MOV r/m, imm. */
export function movRmImm(cpu: Cpu, d: Insn): void {
  cpu.writeRm(d, d.imm);
}

/** B0-BF: MOV reg, imm. */
export function movRegImm(cpu: Cpu, d: Insn): void {
  cpu.setReg(d.op & 7, d.size, d.imm);
}

/** A0-A3: MOV AL/eAX <-> moffs. */
export function movMoffs(cpu: Cpu, d: Insn): void {
  const seg = d.seg >= 0 ? d.seg : DS;
  if (d.op & 2) cpu.write(seg, d.imm, d.size, cpu.getReg(EAX, d.size));
  else cpu.setReg(EAX, d.size, cpu.read(seg, d.imm, d.size));
}

/** 8C: MOV r/m16, Sreg (a register destination gets the zero-extended selector with a 32-bit operand). */
export function movRmSreg(cpu: Cpu, d: Insn): void {
  if (d.reg > GS) fault(UD);
  const sel = cpu.segSel[d.reg];
  if (d.mod === 3) cpu.setReg(d.rm, d.osize, sel);
  else cpu.write(cpu.seg(d), cpu.ea(d), 2, sel);
}

/** 8E: MOV Sreg, r/m16. */
export function movSregRm(cpu: Cpu, d: Insn): void {
  if (d.reg === CS || d.reg > GS) fault(UD);
  loadSeg(cpu, d.reg, cpu.readRmSize(d, 2));
  if (d.reg === SS) cpu.shadow = 2;
}

/** 8D: LEA reg, m. */
export function lea(cpu: Cpu, d: Insn): void {
  cpu.setReg(d.reg, d.osize, d.osize === 2 ? cpu.ea(d) & 0xffff : cpu.ea(d));
}

/** 0F B6/B7: MOVZX. */
export function movzx(cpu: Cpu, d: Insn): void {
  cpu.setReg(d.reg, d.osize, cpu.readRmSize(d, d.op & 1 ? 2 : 1));
}

/** 0F BE/BF: MOVSX. */
export function movsx(cpu: Cpu, d: Insn): void {
  const v = cpu.readRmSize(d, d.op & 1 ? 2 : 1);
  const s = d.op & 1 ? (v << 16) >> 16 : (v << 24) >> 24;
  cpu.setReg(d.reg, d.osize, (s & MASK[d.osize]) >>> 0);
}

/** 86/87: XCHG r/m, reg. */
export function xchgRmReg(cpu: Cpu, d: Insn): void {
  const a = cpu.readRm(d), b = cpu.getReg(d.reg, d.size);
  cpu.writeRm(d, b);
  cpu.setReg(d.reg, d.size, a);
}

/** 90-97: XCHG eAX, reg (90 is NOP). */
export function xchgAcc(cpu: Cpu, d: Insn): void {
  const n = d.op & 7;
  if (n === 0) return;
  const a = cpu.getReg(EAX, d.size);
  cpu.setReg(EAX, d.size, cpu.getReg(n, d.size));
  cpu.setReg(n, d.size, a);
}

/** 98: CBW / CWDE. */
export function cbw(cpu: Cpu, d: Insn): void {
  if (d.osize === 2) cpu.setReg(EAX, 2, ((cpu.getReg(EAX, 1) << 24) >> 24) & 0xffff);
  else cpu.setReg(EAX, 4, (cpu.getReg(EAX, 2) << 16) >> 16);
}

/** 99: CWD / CDQ. */
export function cwd(cpu: Cpu, d: Insn): void {
  const neg = cpu.getReg(EAX, d.osize) & (d.osize === 2 ? 0x8000 : 0x80000000);
  cpu.setReg(EDX, d.osize, neg ? MASK[d.osize] : 0);
}

/** D7: XLAT. */
export function xlat(cpu: Cpu, d: Insn): void {
  const off = (cpu.getReg(EBX, d.asize) + cpu.getReg(EAX, 1)) & MASK[d.asize];
  cpu.setReg(EAX, 1, cpu.read(d.seg >= 0 ? d.seg : DS, off >>> 0, 1));
}

/** C4/C5, 0F B2/B4/B5: LES, LDS, LSS, LFS, LGS. */
export function loadFarPointer(cpu: Cpu, d: Insn): void {
  const seg = d.op === 0xc4 ? ES : d.op === 0xc5 ? DS : d.op === 0x1b2 ? SS : d.op === 0x1b4 ? FS : GS;
  const s = cpu.seg(d), off = cpu.ea(d);
  const v = cpu.read(s, off, d.osize);
  const sel = cpu.read(s, (off + d.osize) & MASK[d.asize], 2);
  loadSeg(cpu, seg, sel);
  cpu.setReg(d.reg, d.osize, v);
}

/** 0F 40-4F: CMOVcc (the source is read even when the condition is false). */
export function cmov(cpu: Cpu, d: Insn): void {
  const v = cpu.readRm(d);
  if (cpu.cond(d.op & 0xf)) cpu.setReg(d.reg, d.size, v);
}

/** 0F 90-9F: SETcc r/m8. */
export function setcc(cpu: Cpu, d: Insn): void {
  cpu.writeRm(d, cpu.cond(d.op & 0xf) ? 1 : 0);
}

/** 0F C8-CF: BSWAP (undefined with a 16-bit operand; zero as on current processors). */
export function bswap(cpu: Cpu, d: Insn): void {
  const n = d.op & 7;
  if (d.osize === 2) {
    cpu.setReg(n, 2, 0);
    return;
  }
  const v = cpu.getReg(n, 4);
  cpu.setReg(n, 4, ((v >>> 24) | ((v >>> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24)) >>> 0);
}

/** 9F: LAHF. */
export function lahf(cpu: Cpu): void {
  cpu.r8[1] = (cpu.getFlags() & 0xd5) | 2;
}

/** 9E: SAHF. */
export function sahf(cpu: Cpu): void {
  cpu.setArith((cpu.arith() & ~0xd5 & ARITH) | (cpu.r8[1] & 0xd5));
}

/** Invalid in this mode. */
export const invalid = execUd;
