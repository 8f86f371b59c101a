/**
 * Integer arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP in their
 * six encodings and group 1 (80-83), TEST, INC, DEC, NOT, NEG, XADD,
 * CMPXCHG, CMPXCHG8B.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { F_ADC, F_ADD, F_DEC, F_INC, F_LOGIC, F_SBB, F_SUB, MASK } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { EAX, EBX, ECX, EDX } from "../state.ts";

/** Computes ALU operation `kind` (ADD OR ADC SBB AND SUB XOR CMP) and records its flags. */
export function alu(cpu: Cpu, kind: number, a: number, b: number, size: number): number {
  const m = MASK[size];
  let r: number;
  switch (kind) {
    case 0:
      r = ((a + b) & m) >>> 0;
      cpu.lazy(F_ADD, a, b, r, size);
      return r;
    case 1:
      r = ((a | b) & m) >>> 0;
      cpu.lazy(F_LOGIC, a, b, r, size);
      return r;
    case 2: {
      const c = cpu.cf();
      r = ((a + b + c) & m) >>> 0;
      cpu.fcin = c;
      cpu.lazy(F_ADC, a, b, r, size);
      return r;
    }
    case 3: {
      const c = cpu.cf();
      r = ((a - b - c) & m) >>> 0;
      cpu.fcin = c;
      cpu.lazy(F_SBB, a, b, r, size);
      return r;
    }
    case 4:
      r = ((a & b) & m) >>> 0;
      cpu.lazy(F_LOGIC, a, b, r, size);
      return r;
    case 6:
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
  if (kind !== 7) cpu.writeRm(d, r);
}

/** 02/0A/.../3A: op reg, r/m. */
export function aluRegRm(cpu: Cpu, d: Insn): void {
  const kind = (d.op >> 3) & 7;
  const r = alu(cpu, kind, cpu.getReg(d.reg, d.size), cpu.readRm(d), d.size);
  if (kind !== 7) cpu.setReg(d.reg, d.size, r);
}

/** 04/0C/.../3C: op AL/eAX, imm. */
export function aluAccImm(cpu: Cpu, d: Insn): void {
  const kind = (d.op >> 3) & 7;
  const r = alu(cpu, kind, cpu.getReg(EAX, d.size), d.imm, d.size);
  if (kind !== 7) cpu.setReg(EAX, d.size, r);
}

/** 80-83 (group 1): op r/m, imm. */
export function aluRmImm(cpu: Cpu, d: Insn): void {
  const r = alu(cpu, d.reg, cpu.readRm(d), d.imm & MASK[d.size], d.size);
  if (d.reg !== 7) cpu.writeRm(d, r);
}

/** 84/85: TEST r/m, reg. */
export function testRmReg(cpu: Cpu, d: Insn): void {
  alu(cpu, 4, cpu.readRm(d), cpu.getReg(d.reg, d.size), d.size);
}

/** A8/A9: TEST AL/eAX, imm. */
export function testAccImm(cpu: Cpu, d: Insn): void {
  alu(cpu, 4, cpu.getReg(EAX, d.size), d.imm, d.size);
}

/** F6/F7 /0: TEST r/m, imm. */
export function testRmImm(cpu: Cpu, d: Insn): void {
  alu(cpu, 4, cpu.readRm(d), d.imm, d.size);
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
  cpu.writeRm(d, alu(cpu, 5, 0, cpu.readRm(d), d.size));
}

/** 0F C0/C1: XADD r/m, reg. */
export function xadd(cpu: Cpu, d: Insn): void {
  const a = cpu.readRm(d), b = cpu.getReg(d.reg, d.size);
  const r = alu(cpu, 0, a, b, d.size);
  cpu.writeRm(d, r);
  // With a register destination equal to the source, the sum wins.
  if (d.mod !== 3 || d.rm !== d.reg) cpu.setReg(d.reg, d.size, a);
}

/** 0F B0/B1: CMPXCHG r/m, reg. */
export function cmpxchg(cpu: Cpu, d: Insn): void {
  const dst = cpu.readRm(d), acc = cpu.getReg(EAX, d.size);
  alu(cpu, 7, acc, dst, d.size);
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
  const arith = cpu.arith() & ~0x40;
  if (zf) {
    cpu.write(seg, off, 4, cpu.getReg(EBX, 4));
    cpu.write(seg, (off + 4) >>> 0, 4, cpu.getReg(ECX, 4));
  } else {
    cpu.write(seg, off, 4, lo);
    cpu.write(seg, (off + 4) >>> 0, 4, hi);
    cpu.setReg(EAX, 4, lo);
    cpu.setReg(EDX, 4, hi);
  }
  cpu.setArith(arith | (zf ? 0x40 : 0));
}
