/**
 * Data movement at every operand size and mode: MOV in all its forms (r/m,
 * immediates, moffs, segment registers), LEA, MOVZX/MOVSX, MOVSXD, XCHG,
 * CBW/CWDE/CDQE, CWD/CDQ/CQO, XLAT, LDS/LES/LSS/LFS/LGS, CMOVcc, SETcc,
 * BSWAP, LAHF/SAHF. In 64-bit mode the opcode-register forms take REX.B, a
 * 32-bit CMOV zero-extends even when the condition is false, and 64-bit
 * values are two uint32 halves.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { AF, ARITH, CF, MASK, PF, SF, ZF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { fault, UD } from "../fault.ts";
import { loadSeg } from "../segment.ts";
import { CS, DS, EAX, EBX, EDX, ES, FS, GS, SS } from "../state.ts";
import { ea64, eaHalves, qv, readQ, readRmQ, setQ, writeQ, writeRmQ } from "../long/access.ts";

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

/** 90-97: XCHG eAX, reg (90 is NOP, F3 90 PAUSE: told to the devices, for pause-loop exiting). */
export function xchgAcc(cpu: Cpu, d: Insn): void {
  const n = d.op & 7;
  if (n === 0) {
    if (d.rep === 0xf3) cpu.devices?.pause?.();
    return;
  }
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

/** The flags LAHF and SAHF move through AH: SF ZF AF PF CF (bit 1 reads as 1). */
const AH_FLAGS = SF | ZF | AF | PF | CF;

/** 9F: LAHF. */
export function lahf(cpu: Cpu): void {
  cpu.r8[1] = (cpu.getFlags() & AH_FLAGS) | 2;
}

/** 9E: SAHF. */
export function sahf(cpu: Cpu): void {
  cpu.setArith((cpu.arith() & ~AH_FLAGS & ARITH) | (cpu.r8[1] & AH_FLAGS));
}

// ---- 64-bit operands (REX.W) and 64-bit mode -------------------------------

/** The register of an opcode-register instruction (50-5F, 90-97, B0-BF, 0F C8-CF) with REX.B. */
export function opReg(d: Insn): number {
  return (d.op & 7) | ((d.rex & 1) << 3);
}

/** 89 with REX.W: MOV r/m64, r64. */
export function movRmReg64(cpu: Cpu, d: Insn): void {
  writeRmQ(cpu, d, cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1]);
}

/** 8B with REX.W: MOV r64, r/m64. */
export function movRegRm64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  setQ(cpu, d.reg, qv[0], qv[1]);
}

/** C7 /0 with REX.W: MOV r/m64, imm32 (sign-extended). */
export function movRmImm64(cpu: Cpu, d: Insn): void {
  writeRmQ(cpu, d, d.imm, d.imm2);
}

/** B0-BF in 64-bit mode: MOV reg, imm (REX.B selects R8-R15; with REX.W the immediate is 8 bytes). */
export function movRegImmLong(cpu: Cpu, d: Insn): void {
  let n = opReg(d);
  if (d.size === 1 && d.rex && n >= 4 && n < 8) n += 16;
  if (d.size === 8) setQ(cpu, n, d.imm, d.imm2);
  else cpu.setReg(n, d.size, d.imm);
}

/** A0-A3 in 64-bit mode: MOV AL/AX/EAX/RAX <-> moffs (a 64-bit address, or 32-bit with 67). */
export function movMoffsLong(cpu: Cpu, d: Insn): void {
  const seg = d.seg >= 0 ? d.seg : DS;
  const off = d.asize === 8 ? (d.imm2 | 0) * 2 ** 32 + d.imm : d.imm;
  const far = d.asize === 8 && ((d.imm2 | 0) >= 0x200000 || (d.imm2 | 0) < -0x200000);
  const at = far ? 2 ** 62 : off;
  if (d.op & 2) {
    if (d.size === 8) writeQ(cpu, seg, at, cpu.r32[0], cpu.r32[1]);
    else cpu.write(seg, at, d.size, cpu.getReg(EAX, d.size));
  } else if (d.size === 8) {
    readQ(cpu, seg, at);
    setQ(cpu, EAX, qv[0], qv[1]);
  } else cpu.setReg(EAX, d.size, cpu.read(seg, at, d.size));
}

/** 63 with REX.W: MOVSXD r64, r/m32. */
export function movsxd(cpu: Cpu, d: Insn): void {
  const v = cpu.readRmSize(d, 4);
  setQ(cpu, d.reg, v, v & 0x80000000 ? 0xffffffff : 0);
}

/**
 * 63 without REX.W: MOVSXD r32, r/m32 (a plain move) or r16, r/m16. With a 16-bit operand size an AMD CPU
 * reads 32 bits of memory (this project's EPYC host raises #AC for a 2-aligned operand that is not 4-aligned)
 * and keeps the low 16; Intel reads 16.
 */
export function movsxd32(cpu: Cpu, d: Insn): void {
  const size = d.osize === 2 && d.mod !== 3 && cpu.vendor.name === "amd" ? 4 : d.osize;
  cpu.setReg(d.reg, d.osize, cpu.readRmSize(d, size) & (d.osize === 2 ? 0xffff : 0xffffffff));
}

/** 8D in 64-bit mode: LEA of any operand size (the address is computed with the address size, then truncated). */
export function leaLong(cpu: Cpu, d: Insn): void {
  ea64(cpu, d);
  const lo = eaHalves[0], hi = d.asize === 4 ? 0 : eaHalves[1];
  if (d.size === 8) setQ(cpu, d.reg, lo, hi);
  else cpu.setReg(d.reg, d.size, d.size === 2 ? lo & 0xffff : lo);
}

/** 0F B6/B7/BE/BF with REX.W: MOVZX/MOVSX r64, r/m8 or r/m16. */
export function movx64(cpu: Cpu, d: Insn): void {
  const word = (d.op & 1) !== 0, v = cpu.readRmSize(d, word ? 2 : 1);
  if (d.op < 0x1b8) setQ(cpu, d.reg, v, 0);
  else {
    const s = word ? (v << 16) >> 16 : (v << 24) >> 24;
    setQ(cpu, d.reg, s >>> 0, s < 0 ? 0xffffffff : 0);
  }
}

/** 87 with REX.W: XCHG r/m64, r64. */
export function xchgRmReg64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  const lo = qv[0], hi = qv[1];
  writeRmQ(cpu, d, cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1]);
  setQ(cpu, d.reg, lo, hi);
}

/** 90-97 in 64-bit mode: XCHG rAX, reg (90 without REX.B is NOP: EAX is not zero-extended; F3 90 PAUSE). */
export function xchgAccLong(cpu: Cpu, d: Insn): void {
  const n = opReg(d);
  if (n === 0) {
    if (d.rep === 0xf3) cpu.devices?.pause?.();
    return;
  }
  if (d.size === 8) {
    const lo = cpu.r32[0], hi = cpu.r32[1];
    setQ(cpu, EAX, cpu.r32[n << 1], cpu.r32[(n << 1) + 1]);
    setQ(cpu, n, lo, hi);
    return;
  }
  const a = cpu.getReg(EAX, d.size);
  cpu.setReg(EAX, d.size, cpu.getReg(n, d.size));
  cpu.setReg(n, d.size, a);
}

/** 0F 40-4F in 64-bit mode: CMOVcc of any size. */
export function cmovLong(cpu: Cpu, d: Insn): void {
  if (d.size === 8) {
    readRmQ(cpu, d);
    if (cpu.cond(d.op & 0xf)) setQ(cpu, d.reg, qv[0], qv[1]);
    return;
  }
  const v = cpu.readRm(d);
  if (cpu.cond(d.op & 0xf)) cpu.setReg(d.reg, d.size, v);
  else if (d.size === 4) cpu.r32[(d.reg << 1) + 1] = 0;
}

/** 98 with REX.W: CDQE. */
export function cdqe(cpu: Cpu): void {
  cpu.r32[1] = cpu.r32[0] & 0x80000000 ? 0xffffffff : 0;
}

/** 99 with REX.W: CQO. */
export function cqo(cpu: Cpu): void {
  const s = cpu.r32[1] & 0x80000000 ? 0xffffffff : 0;
  setQ(cpu, EDX, s, s);
}

/** 0F C8-CF in 64-bit mode: BSWAP r32/r64 (with REX.B). */
export function bswapLong(cpu: Cpu, d: Insn): void {
  const n = opReg(d);
  const sw = (v: number) => ((v >>> 24) | ((v >>> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24)) >>> 0;
  if (d.size === 8) setQ(cpu, n, sw(cpu.r32[(n << 1) + 1]), sw(cpu.r32[n << 1]));
  else if (d.size === 4) cpu.setReg(n, 4, sw(cpu.r32[n << 1]));
  else cpu.setReg(n, 2, 0);
}

/** 8C with REX.W: MOV r64/m16, Sreg (a register gets the zero-extended selector). */
export function movRmSreg64(cpu: Cpu, d: Insn): void {
  if (d.reg > GS) fault(UD);
  const sel = cpu.segSel[d.reg];
  if (d.mod === 3) setQ(cpu, d.rm, sel, 0);
  else cpu.write(cpu.seg(d), cpu.ea(d), 2, sel);
}

/** D7 in 64-bit mode: XLAT (RBX or EBX plus AL). */
export function xlatLong(cpu: Cpu, d: Insn): void {
  const base = d.asize === 8 ? (cpu.r32[(EBX << 1) + 1] | 0) * 2 ** 32 + cpu.r32[EBX << 1] : cpu.r32[EBX << 1];
  const off = d.asize === 8 ? base + cpu.getReg(EAX, 1) : (base + cpu.getReg(EAX, 1)) >>> 0;
  cpu.setReg(EAX, 1, cpu.read(d.seg >= 0 ? d.seg : DS, off, 1));
}

/** 0F B2/B4/B5 in 64-bit mode: LSS, LFS, LGS r, m16:16/32/64. */
export function loadFarLong(cpu: Cpu, d: Insn): void {
  const seg = d.op === 0x1b2 ? SS : d.op === 0x1b4 ? FS : GS;
  const s = cpu.seg(d), off = cpu.ea(d), size = d.size;
  let lo: number, hi = 0;
  if (size === 8) {
    readQ(cpu, s, off);
    [lo, hi] = [qv[0], qv[1]];
  } else lo = cpu.read(s, off, size);
  loadSeg(cpu, seg, cpu.read(s, off + size, 2));
  if (size === 8) setQ(cpu, d.reg, lo, hi);
  else cpu.setReg(d.reg, size, lo);
}
