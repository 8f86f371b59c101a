/**
 * Integer arithmetic and logic at every operand size: ADD OR ADC SBB AND
 * SUB XOR CMP in their six encodings and group 1 (80-83), TEST, INC, DEC,
 * NOT, NEG, XADD, CMPXCHG, CMPXCHG8B and CMPXCHG16B. Operands of 8, 16 and
 * 32 bits are numbers with lazy flags; 64-bit operands (REX.W) are two
 * uint32 halves with flags stored eagerly.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { fault, GP } from "../fault.ts";
import { AF, CF, F_ADC, F_ADD, F_DEC, F_INC, F_LOGIC, F_SBB, F_SUB, MASK, OF, PARITY, PF, SF, ZF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { EAX, EBX, ECX, EDX } from "../state.ts";
import { qv, readQ, readRmQ, setQ, writeQ, writeRmQ } from "../long/access.ts";

/** The ALU operations (`kind`) in their opcode order: bits 5-3 of 00-3F, ModRM.reg of group 1. */
export const ALU_ADD = 0, ALU_OR = 1, ALU_ADC = 2, ALU_SBB = 3, ALU_AND = 4, ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7;

/** Computes ALU operation `kind` (ADD OR ADC SBB AND SUB XOR CMP) and records its flags. */
export function alu(cpu: Cpu, kind: number, a: number, b: number, size: number): number {
  const m = MASK[size];
  let r: number;
  switch (kind) {
    case ALU_ADD:
      r = ((a + b) & m) >>> 0;
      cpu.lazy(F_ADD, a, b, r, size);
      return r;
    case ALU_OR:
      r = ((a | b) & m) >>> 0;
      cpu.lazy(F_LOGIC, a, b, r, size);
      return r;
    case ALU_ADC: {
      const c = cpu.cf();
      r = ((a + b + c) & m) >>> 0;
      cpu.fcin = c;
      cpu.lazy(F_ADC, a, b, r, size);
      return r;
    }
    case ALU_SBB: {
      const c = cpu.cf();
      r = ((a - b - c) & m) >>> 0;
      cpu.fcin = c;
      cpu.lazy(F_SBB, a, b, r, size);
      return r;
    }
    case ALU_AND:
      r = ((a & b) & m) >>> 0;
      cpu.lazy(F_LOGIC, a, b, r, size);
      return r;
    case ALU_XOR:
      r = ((a ^ b) & m) >>> 0;
      cpu.lazy(F_LOGIC, a, b, r, size);
      return r;
    default: // SUB and CMP
      r = ((a - b) & m) >>> 0;
      cpu.lazy(F_SUB, a, b, r, size);
      return r;
  }
}

/** 00/08/.../38: op r/m, reg. */
export function aluRmReg(cpu: Cpu, d: Insn): void {
  const kind = (d.op >> 3) & 7;
  const r = alu(cpu, kind, cpu.readRm(d), cpu.getReg(d.reg, d.size), d.size);
  if (kind !== ALU_CMP) cpu.writeRm(d, r);
}

/** 02/0A/.../3A: op reg, r/m. */
export function aluRegRm(cpu: Cpu, d: Insn): void {
  const kind = (d.op >> 3) & 7;
  const r = alu(cpu, kind, cpu.getReg(d.reg, d.size), cpu.readRm(d), d.size);
  if (kind !== ALU_CMP) cpu.setReg(d.reg, d.size, r);
}

/** 04/0C/.../3C: op AL/eAX, imm. */
export function aluAccImm(cpu: Cpu, d: Insn): void {
  const kind = (d.op >> 3) & 7;
  const r = alu(cpu, kind, cpu.getReg(EAX, d.size), d.imm, d.size);
  if (kind !== ALU_CMP) cpu.setReg(EAX, d.size, r);
}

/** 80-83 (group 1): op r/m, imm. */
export function aluRmImm(cpu: Cpu, d: Insn): void {
  const r = alu(cpu, d.reg, cpu.readRm(d), d.imm & MASK[d.size], d.size);
  if (d.reg !== ALU_CMP) cpu.writeRm(d, r);
}

/** 84/85: TEST r/m, reg. */
export function testRmReg(cpu: Cpu, d: Insn): void {
  alu(cpu, ALU_AND, cpu.readRm(d), cpu.getReg(d.reg, d.size), d.size);
}

/** A8/A9: TEST AL/eAX, imm. */
export function testAccImm(cpu: Cpu, d: Insn): void {
  alu(cpu, ALU_AND, cpu.getReg(EAX, d.size), d.imm, d.size);
}

/** F6/F7 /0: TEST r/m, imm. */
export function testRmImm(cpu: Cpu, d: Insn): void {
  alu(cpu, ALU_AND, cpu.readRm(d), d.imm, d.size);
}

function incdec(cpu: Cpu, a: number, dec: boolean, size: number): number {
  const r = ((dec ? a - 1 : a + 1) & MASK[size]) >>> 0;
  cpu.fcin = cpu.cf();
  cpu.lazy(dec ? F_DEC : F_INC, a, 1, r, size);
  return r;
}

/** 40-4F: INC/DEC reg. */
export function incDecReg(cpu: Cpu, d: Insn): void {
  const n = d.op & 7;
  cpu.setReg(n, d.size, incdec(cpu, cpu.getReg(n, d.size), d.op >= 0x48, d.size));
}

/** FE/FF /0 /1: INC/DEC r/m. */
export function incDecRm(cpu: Cpu, d: Insn): void {
  cpu.writeRm(d, incdec(cpu, cpu.readRm(d), d.reg === 1, d.size));
}

/** F6/F7 /2: NOT r/m (flags unchanged). */
export function notRm(cpu: Cpu, d: Insn): void {
  cpu.writeRm(d, (~cpu.readRm(d) & MASK[d.size]) >>> 0);
}

/** F6/F7 /3: NEG r/m. */
export function negRm(cpu: Cpu, d: Insn): void {
  cpu.writeRm(d, alu(cpu, ALU_SUB, 0, cpu.readRm(d), d.size));
}

/** 0F C0/C1: XADD r/m, reg. */
export function xadd(cpu: Cpu, d: Insn): void {
  const a = cpu.readRm(d), b = cpu.getReg(d.reg, d.size);
  const r = alu(cpu, ALU_ADD, a, b, d.size);
  cpu.writeRm(d, r);
  // With a register destination equal to the source, the sum wins.
  if (d.mod !== 3 || d.rm !== d.reg) cpu.setReg(d.reg, d.size, a);
}

/** 0F B0/B1: CMPXCHG r/m, reg. */
export function cmpxchg(cpu: Cpu, d: Insn): void {
  const dst = cpu.readRm(d), acc = cpu.getReg(EAX, d.size);
  alu(cpu, ALU_CMP, acc, dst, d.size);
  if (acc === dst) {
    cpu.writeRm(d, cpu.getReg(d.reg, d.size));
  } else {
    // The processor always writes the destination (with its old value).
    cpu.writeRm(d, dst);
    cpu.setReg(EAX, d.size, dst);
  }
}

/** 0F C7 /1: CMPXCHG8B m64. */
export function cmpxchg8b(cpu: Cpu, d: Insn): void {
  const seg = cpu.seg(d), off = cpu.ea(d);
  // Both halves are read with write intent: a fault on either write comes before any effect.
  const lo = cpu.readForWrite(seg, off, 4), hi = cpu.readForWrite(seg, (off + 4) >>> 0, 4);
  const zf = lo === cpu.getReg(EAX, 4) && hi === cpu.getReg(EDX, 4);
  const arith = cpu.arith() & ~ZF;
  if (zf) {
    cpu.write(seg, off, 4, cpu.getReg(EBX, 4));
    cpu.write(seg, (off + 4) >>> 0, 4, cpu.getReg(ECX, 4));
  } else {
    cpu.write(seg, off, 4, lo);
    cpu.write(seg, (off + 4) >>> 0, 4, hi);
    cpu.setReg(EAX, 4, lo);
    cpu.setReg(EDX, 4, hi);
  }
  cpu.setArith(arith | (zf ? ZF : 0));
}

// ---- 64-bit operands (REX.W) and 64-bit mode -------------------------------

/** The result of the last 64-bit operation: [low half, high half]. */
export const res = new Uint32Array(2);

/** Sets the arithmetic flags of a 64-bit result, with CF, OF and AF given as EFLAGS bits. */
export function flags64(cpu: Cpu, lo: number, hi: number, cfofaf: number): void {
  cpu.setArith(
    (cfofaf & (CF | OF | AF)) | (PARITY[lo & 0xff] ? PF : 0) | ((lo | hi) === 0 ? ZF : 0) | (hi >>> 31 ? SF : 0),
  );
}

/** ALU operation `kind` (ADD OR ADC SBB AND SUB XOR CMP) on 64-bit operands: result in `res`, flags set. */
export function alu64(cpu: Cpu, kind: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  let lo: number, hi: number, cf = 0, of = 0, af = 0;
  if (kind === ALU_ADD || kind === ALU_ADC) {
    const l = aLo + bLo + (kind === ALU_ADC ? cpu.cf() : 0);
    lo = l >>> 0;
    const h = aHi + bHi + (l > 0xffffffff ? 1 : 0);
    hi = h >>> 0;
    cf = h > 0xffffffff ? CF : 0;
    of = ((aHi ^ hi) & (bHi ^ hi)) >>> 31 ? OF : 0;
    af = (aLo ^ bLo ^ lo) & AF;
  } else if (kind === ALU_SBB || kind === ALU_SUB || kind === ALU_CMP) {
    const l = aLo - bLo - (kind === ALU_SBB ? cpu.cf() : 0);
    lo = l >>> 0;
    const h = aHi - bHi - (l < 0 ? 1 : 0);
    hi = h >>> 0;
    cf = h < 0 ? CF : 0;
    of = ((aHi ^ bHi) & (aHi ^ hi)) >>> 31 ? OF : 0;
    af = (aLo ^ bLo ^ lo) & AF;
  } else if (kind === ALU_OR) {
    lo = (aLo | bLo) >>> 0;
    hi = (aHi | bHi) >>> 0;
  } else if (kind === ALU_AND) {
    lo = (aLo & bLo) >>> 0;
    hi = (aHi & bHi) >>> 0;
  } else {
    lo = (aLo ^ bLo) >>> 0;
    hi = (aHi ^ bHi) >>> 0;
  }
  res[0] = lo;
  res[1] = hi;
  flags64(cpu, lo, hi, cf | of | af);
}

/** 01/09/.../39 with REX.W: op r/m64, r64. */
export function aluRmReg64(cpu: Cpu, d: Insn): void {
  const kind = (d.op >> 3) & 7;
  readRmQ(cpu, d);
  alu64(cpu, kind, qv[0], qv[1], cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1]);
  if (kind !== ALU_CMP) writeRmQ(cpu, d, res[0], res[1]);
}

/** 03/0B/.../3B with REX.W: op r64, r/m64. */
export function aluRegRm64(cpu: Cpu, d: Insn): void {
  const kind = (d.op >> 3) & 7;
  readRmQ(cpu, d);
  alu64(cpu, kind, cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1], qv[0], qv[1]);
  if (kind !== ALU_CMP) setQ(cpu, d.reg, res[0], res[1]);
}

/** 05/0D/.../3D with REX.W: op RAX, imm32 (sign-extended). */
export function aluAccImm64(cpu: Cpu, d: Insn): void {
  const kind = (d.op >> 3) & 7;
  alu64(cpu, kind, cpu.r32[0], cpu.r32[1], d.imm, d.imm2);
  if (kind !== ALU_CMP) setQ(cpu, EAX, res[0], res[1]);
}

/** 81/83 with REX.W: op r/m64, imm. */
export function aluRmImm64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  alu64(cpu, d.reg, qv[0], qv[1], d.imm, d.imm2);
  if (d.reg !== ALU_CMP) writeRmQ(cpu, d, res[0], res[1]);
}

/** 85 with REX.W: TEST r/m64, r64. */
export function testRmReg64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  alu64(cpu, ALU_AND, qv[0], qv[1], cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1]);
}

/** A9 with REX.W: TEST RAX, imm32. */
export function testAccImm64(cpu: Cpu, d: Insn): void {
  alu64(cpu, ALU_AND, cpu.r32[0], cpu.r32[1], d.imm, d.imm2);
}

/** F7 /0 with REX.W: TEST r/m64, imm32. */
export function testRmImm64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  alu64(cpu, ALU_AND, qv[0], qv[1], d.imm, d.imm2);
}

/** FF /0 /1 with REX.W: INC/DEC r/m64 (CF unchanged). */
export function incDec64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  const cf = cpu.cf();
  alu64(cpu, d.reg === 1 ? ALU_SUB : ALU_ADD, qv[0], qv[1], 1, 0);
  cpu.setArith((cpu.arith() & ~CF) | cf);
  writeRmQ(cpu, d, res[0], res[1]);
}

/** F7 /2 with REX.W: NOT r/m64. */
export function not64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  writeRmQ(cpu, d, ~qv[0] >>> 0, ~qv[1] >>> 0);
}

/** F7 /3 with REX.W: NEG r/m64. */
export function neg64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  alu64(cpu, ALU_SUB, 0, 0, qv[0], qv[1]);
  writeRmQ(cpu, d, res[0], res[1]);
}

/** 0F C1 with REX.W: XADD r/m64, r64. */
export function xadd64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  const aLo = qv[0], aHi = qv[1];
  alu64(cpu, ALU_ADD, aLo, aHi, cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1]);
  writeRmQ(cpu, d, res[0], res[1]);
  if (d.mod !== 3 || d.rm !== d.reg) setQ(cpu, d.reg, aLo, aHi);
}

/** 0F B1 with REX.W: CMPXCHG r/m64, r64. */
export function cmpxchg64(cpu: Cpu, d: Insn): void {
  readRmQ(cpu, d);
  const lo = qv[0], hi = qv[1];
  alu64(cpu, ALU_CMP, cpu.r32[0], cpu.r32[1], lo, hi);
  if (lo === cpu.r32[0] && hi === cpu.r32[1]) writeRmQ(cpu, d, cpu.r32[d.reg << 1], cpu.r32[(d.reg << 1) + 1]);
  else {
    writeRmQ(cpu, d, lo, hi);
    setQ(cpu, EAX, lo, hi);
  }
}

/** 0F C7 /1 with REX.W: CMPXCHG16B m128 (#GP unless 16-byte aligned). */
export function cmpxchg16b(cpu: Cpu, d: Insn): void {
  const seg = cpu.seg(d), off = cpu.ea(d);
  if (((off % 16) + 16) % 16 !== 0) fault(GP, 0);
  cpu.mem.probeWrite(cpu.lin(seg, off, 16, true), 16);
  readQ(cpu, seg, off, true);
  const l0 = qv[0], h0 = qv[1];
  readQ(cpu, seg, off + 8, true);
  const l1 = qv[0], h1 = qv[1];
  const r = cpu.r32;
  const equal = l0 === r[0] && h0 === r[1] && l1 === r[EDX << 1] && h1 === r[(EDX << 1) + 1];
  const arith = cpu.arith() & ~ZF;
  if (equal) {
    cpu.lin(seg, off, 16, true);
    writeQ(cpu, seg, off, r[EBX << 1], r[(EBX << 1) + 1]);
    writeQ(cpu, seg, off + 8, r[ECX << 1], r[(ECX << 1) + 1]);
  } else {
    writeQ(cpu, seg, off, l0, h0);
    writeQ(cpu, seg, off + 8, l1, h1);
    setQ(cpu, EAX, l0, h0);
    setQ(cpu, EDX, l1, h1);
  }
  cpu.setArith(arith | (equal ? ZF : 0));
}

/** 0F C7 /1 in 64-bit mode: CMPXCHG8B m64 (EDX:EAX against memory; ECX:EBX stored on a match). */
export function cmpxchg8bLong(cpu: Cpu, d: Insn): void {
  const seg = cpu.seg(d), off = cpu.ea(d);
  readQ(cpu, seg, off, true);
  const lo = qv[0], hi = qv[1];
  const equal = lo === cpu.r32[0] && hi === cpu.r32[EDX << 1];
  const arith = cpu.arith() & ~ZF;
  if (equal) writeQ(cpu, seg, off, cpu.r32[EBX << 1], cpu.r32[ECX << 1]);
  else {
    writeQ(cpu, seg, off, lo, hi);
    cpu.setReg(EAX, 4, lo);
    cpu.setReg(EDX, 4, hi);
  }
  cpu.setArith(arith | (equal ? ZF : 0));
}

/**
 * 0F B0/B1 in 64-bit mode (8-, 16-, 32-bit operands): CMPXCHG. On a mismatch neither vendor writes a register
 * destination: a 32-bit one keeps its upper half (this project's EPYC and Intel hosts both show it; the SDM's
 * "written back" holds for memory, which is written with its own value).
 */
export function cmpxchgLong(cpu: Cpu, d: Insn): void {
  const dst = cpu.readRm(d), acc = cpu.getReg(EAX, d.size);
  alu(cpu, ALU_CMP, acc, dst, d.size);
  if (acc === dst) cpu.writeRm(d, cpu.getReg(d.reg, d.size));
  else {
    if (d.mod !== 3) cpu.writeRm(d, dst);
    cpu.setReg(EAX, d.size, dst);
  }
}
