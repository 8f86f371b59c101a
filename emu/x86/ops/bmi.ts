/**
 * Bit-manipulation extensions on general registers: POPCNT, LZCNT, TZCNT,
 * BMI1 (ANDN, BEXTR, BLSI, BLSMSK, BLSR), BMI2 (BZHI, MULX, PDEP, PEXT,
 * RORX, SARX, SHLX, SHRX; VEX-encoded, with the extra register in
 * VEX.vvvv), MOVBE and ADX (ADCX, ADOX). Operands are 16 or 32 bits.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { fault, UD } from "../fault.ts";
import { CF, SF, VM, ZF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { EDX } from "../state.ts";
import { mulU32 } from "../sse/int.ts";
import { readRmQ, setRegQ, writeMem } from "../sse/common.ts";

/** The checks of every VEX-encoded GPR instruction: protected mode and VEX.L = 0. */
function vexCheck(cpu: Cpu, d: Insn): void {
  if (!(cpu.cr0 & 1) || cpu.eflRest & VM || d.vexL) fault(UD);
}

function bitCount(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/** F3 0F B8: POPCNT (ZF for a zero source, the other flags cleared). */
export function popcnt(cpu: Cpu, d: Insn): void {
  if (d.size === 8) {
    const q = readRmQ(cpu, d), n = bitCount(q[0]) + bitCount(q[1]);
    cpu.setArith(q[0] === 0 && q[1] === 0 ? ZF : 0);
    return setRegQ(cpu, d.reg, n, 0);
  }
  const v = cpu.readRm(d);
  cpu.setReg(d.reg, d.size, bitCount(v));
  cpu.setArith(v === 0 ? ZF : 0);
}

/** F3 0F BD: LZCNT (CF for a zero source, ZF for a zero result). */
export function lzcnt(cpu: Cpu, d: Insn): void {
  if (d.size === 8) {
    const q = readRmQ(cpu, d), r = q[1] ? Math.clz32(q[1]) : 32 + Math.clz32(q[0]);
    cpu.setArith((r === 64 ? CF : 0) | (r === 0 ? ZF : 0));
    return setRegQ(cpu, d.reg, r, 0);
  }
  const v = cpu.readRm(d), bits = d.size * 8;
  const r = v === 0 ? bits : Math.clz32(v) - (32 - bits);
  cpu.setReg(d.reg, d.size, r);
  cpu.setArith((v === 0 ? CF : 0) | (r === 0 ? ZF : 0));
}

/** F3 0F BC: TZCNT. */
export function tzcnt(cpu: Cpu, d: Insn): void {
  if (d.size === 8) {
    const q = readRmQ(cpu, d);
    const r = q[0] ? 31 - Math.clz32(q[0] & -q[0]) : q[1] ? 63 - Math.clz32(q[1] & -q[1]) : 64;
    cpu.setArith((r === 64 ? CF : 0) | (r === 0 ? ZF : 0));
    return setRegQ(cpu, d.reg, r, 0);
  }
  const v = cpu.readRm(d), bits = d.size * 8;
  const r = v === 0 ? bits : 31 - Math.clz32(v & -v);
  cpu.setReg(d.reg, d.size, r);
  cpu.setArith((v === 0 ? CF : 0) | (r === 0 ? ZF : 0));
}

/** A 64-bit register as a BigInt (the REX.W/VEX.W forms only: not a hot path). */
function big(cpu: Cpu, n: number): bigint {
  return (BigInt(cpu.r32[(n << 1) + 1]) << 32n) | BigInt(cpu.r32[n << 1]);
}
/** The 64-bit r/m operand as a BigInt. */
function bigRm(cpu: Cpu, d: Insn): bigint {
  const q = readRmQ(cpu, d);
  return (BigInt(q[1]) << 32n) | BigInt(q[0]);
}
const M64 = (1n << 64n) - 1n;
/** Writes a BigInt (taken modulo 2^64) to 64-bit register n; returns it masked. */
function setBig(cpu: Cpu, n: number, v: bigint): bigint {
  v &= M64;
  setRegQ(cpu, n, Number(v & 0xffffffffn), Number(v >> 32n));
  return v;
}
function bigFlags(r: bigint, cf: boolean): number {
  return (r === 0n ? ZF : 0) | (r >> 63n ? SF : 0) | (cf ? CF : 0);
}

/** The 64-bit (VEX.W = 1 in 64-bit mode) forms of the BMI instructions. */
function bmi64(cpu: Cpu, d: Insn, kind: string): void {
  const src = bigRm(cpu, d), v = big(cpu, d.vvvv);
  switch (kind) {
    case "andn": {
      const r = setBig(cpu, d.reg, ~v & src);
      return cpu.setArith(bigFlags(r, false));
    }
    case "bls": {
      const r = d.reg === 1 ? (src - 1n) & src : d.reg === 2 ? (src - 1n) ^ src : -src & src;
      const m = setBig(cpu, d.vvvv, r);
      return cpu.setArith(bigFlags(m, d.reg === 3 ? src !== 0n : src === 0n));
    }
    case "bextr": {
      const start = v & 0xffn, len = (v >> 8n) & 0xffn;
      const r = setBig(cpu, d.reg, start > 63n ? 0n : (src >> start) & ((1n << (len > 64n ? 64n : len)) - 1n));
      return cpu.setArith(r === 0n ? ZF : 0);
    }
    case "bzhi": {
      const n = v & 0xffn;
      const r = setBig(cpu, d.reg, n > 63n ? src : src & ((1n << n) - 1n));
      return cpu.setArith(bigFlags(r, n > 63n));
    }
    case "pdep":
    case "pext": {
      let r = 0n, k = 0n;
      for (let i = 0n; i < 64n; i++) {
        if (!((src >> i) & 1n)) continue;
        if (kind === "pdep") r |= ((v >> k) & 1n) << i;
        else r |= ((v >> i) & 1n) << k;
        k++;
      }
      setBig(cpu, d.reg, r);
      return;
    }
    case "mulx": {
      const p = big(cpu, EDX) * src;
      setBig(cpu, d.vvvv, p);
      setBig(cpu, d.reg, p >> 64n);
      return;
    }
    case "rorx": {
      const n = BigInt(d.imm & 63);
      setBig(cpu, d.reg, (src >> n) | (src << (64n - n)));
      return;
    }
    default: {
      const n = v & 63n;
      const r = kind === "shl" ? src << n : kind === "shr" ? src >> n : BigInt.asIntN(64, src) >> n;
      setBig(cpu, d.reg, r);
    }
  }
}

function resultFlags(r: number, cf: boolean): number {
  return (r === 0 ? ZF : 0) | (r & 0x80000000 ? SF : 0) | (cf ? CF : 0);
}

/** VEX 0F38 F2: ANDN r32, vvvv, r/m32. */
export function andn(cpu: Cpu, d: Insn): void {
  vexCheck(cpu, d);
  if (d.osize === 8) return bmi64(cpu, d, "andn");
  const r = (~cpu.r32[d.vvvv << 1] & cpu.readRmSize(d, 4)) >>> 0;
  cpu.setReg(d.reg, 4, r);
  cpu.setArith(resultFlags(r, false));
}

/** VEX 0F38 F3 /1 /2 /3: BLSR / BLSMSK / BLSI vvvv, r/m32. */
export function blsGroup(cpu: Cpu, d: Insn): void {
  vexCheck(cpu, d);
  if (d.osize === 8) return bmi64(cpu, d, "bls");
  const s = cpu.readRmSize(d, 4);
  let r: number;
  if (d.reg === 1) r = (s - 1) & s;
  else if (d.reg === 2) r = (s - 1) ^ s;
  else r = -s & s;
  r >>>= 0;
  cpu.setReg(d.vvvv, 4, r);
  cpu.setArith(resultFlags(r, d.reg === 3 ? s !== 0 : s === 0));
}

/** VEX 0F38 F7: BEXTR r32, r/m32, vvvv (start in bits 0-7, length in bits 8-15). */
export function bextr(cpu: Cpu, d: Insn): void {
  vexCheck(cpu, d);
  if (d.osize === 8) return bmi64(cpu, d, "bextr");
  const ctl = cpu.r32[d.vvvv << 1], start = ctl & 0xff, len = (ctl >> 8) & 0xff;
  const s = cpu.readRmSize(d, 4);
  let r = start > 31 ? 0 : s >>> start;
  if (len < 32) r = len === 0 ? 0 : r & (0xffffffff >>> (32 - len));
  r >>>= 0;
  cpu.setReg(d.reg, 4, r);
  cpu.setArith(r === 0 ? ZF : 0);
}

/** VEX 0F38 F5: BZHI r32, r/m32, vvvv (CF when the index is past the operand). */
export function bzhi(cpu: Cpu, d: Insn): void {
  vexCheck(cpu, d);
  if (d.osize === 8) return bmi64(cpu, d, "bzhi");
  const n = cpu.r32[d.vvvv << 1] & 0xff, s = cpu.readRmSize(d, 4);
  const r = n > 31 ? s : n === 0 ? 0 : (s & (0xffffffff >>> (32 - n))) >>> 0;
  cpu.setReg(d.reg, 4, r);
  cpu.setArith(resultFlags(r, n > 31));
}

/** VEX F2 0F38 F5 / F3 0F38 F5: PDEP / PEXT r32, vvvv, r/m32 (flags untouched). */
export function pdepPext(deposit: boolean): (cpu: Cpu, d: Insn) => void {
  return (cpu, d) => {
    vexCheck(cpu, d);
    if (d.osize === 8) return bmi64(cpu, d, deposit ? "pdep" : "pext");
    const src = cpu.r32[d.vvvv << 1], mask = cpu.readRmSize(d, 4);
    let r = 0, k = 0;
    for (let i = 0; i < 32; i++) {
      if (!((mask >>> i) & 1)) continue;
      if (deposit) r |= ((src >>> k) & 1) << i;
      else r |= ((src >>> i) & 1) << k;
      k++;
    }
    cpu.setReg(d.reg, 4, r >>> 0);
  };
}

const MULX_OUT = new Uint32Array(2);

/** VEX F2 0F38 F6: MULX r32 (high), vvvv (low), r/m32: EDX times r/m32, flags untouched. */
export function mulx(cpu: Cpu, d: Insn): void {
  vexCheck(cpu, d);
  if (d.osize === 8) return bmi64(cpu, d, "mulx");
  const out = MULX_OUT;
  mulU32(cpu.r32[EDX << 1], cpu.readRmSize(d, 4), out, 0);
  cpu.setReg(d.vvvv, 4, out[0]);
  cpu.setReg(d.reg, 4, out[1]);
}

/** VEX F2 0F3A F0: RORX r32, r/m32, imm8. */
export function rorx(cpu: Cpu, d: Insn): void {
  vexCheck(cpu, d);
  if (d.osize === 8) return bmi64(cpu, d, "rorx");
  const s = cpu.readRmSize(d, 4), n = d.imm & 31;
  cpu.setReg(d.reg, 4, n ? ((s >>> n) | (s << (32 - n))) >>> 0 : s);
}

/** VEX 66/F3/F2 0F38 F7: SHLX / SARX / SHRX r32, r/m32, vvvv (flags untouched). */
export function shiftx(kind: "shl" | "sar" | "shr"): (cpu: Cpu, d: Insn) => void {
  return (cpu, d) => {
    vexCheck(cpu, d);
    if (d.osize === 8) return bmi64(cpu, d, kind);
    const s = cpu.readRmSize(d, 4), n = cpu.r32[d.vvvv << 1] & 31;
    cpu.setReg(d.reg, 4, (kind === "shl" ? s << n : kind === "sar" ? s >> n : s >>> n) >>> 0);
  };
}

const MOVBE_Q = new Uint32Array(2);

function bswap(v: number, size: number): number {
  if (size === 2) return ((v & 0xff) << 8) | ((v >> 8) & 0xff);
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

/** 0F38 F0: MOVBE r, m (byte-swapped load). */
export function movbeLoad(cpu: Cpu, d: Insn): void {
  if (d.osize === 8) {
    const q = readRmQ(cpu, d);
    return setRegQ(cpu, d.reg, bswap(q[1], 4), bswap(q[0], 4));
  }
  cpu.setReg(d.reg, d.osize, bswap(cpu.read(cpu.seg(d), cpu.ea(d), d.osize), d.osize));
}

/** 0F38 F1: MOVBE m, r (byte-swapped store). */
export function movbeStore(cpu: Cpu, d: Insn): void {
  if (d.osize === 8) {
    const lo = cpu.r32[d.reg << 1], hi = cpu.r32[(d.reg << 1) + 1];
    MOVBE_Q[0] = bswap(hi, 4);
    MOVBE_Q[1] = bswap(lo, 4);
    return writeMem(cpu, d, MOVBE_Q, 0, 2, false);
  }
  cpu.write(cpu.seg(d), cpu.ea(d), d.osize, bswap(cpu.getReg(d.reg, d.osize), d.osize));
}

/** 66 0F38 F6 / F3 0F38 F6: ADCX / ADOX r32, r/m32: add with carry through CF / OF only. */
export function adx(flag: number): (cpu: Cpu, d: Insn) => void {
  return (cpu, d) => {
    if (d.osize === 8) {
      const rest = cpu.arith(), q = readRmQ(cpu, d), n = d.reg << 1;
      const lo = cpu.r32[n] + q[0] + (rest & flag ? 1 : 0), c = lo > 0xffffffff ? 1 : 0;
      const hi = cpu.r32[n + 1] + q[1] + c;
      setRegQ(cpu, d.reg, lo >>> 0, hi >>> 0);
      return cpu.setArith((rest & ~flag) | (hi > 0xffffffff ? flag : 0));
    }
    const a = cpu.r32[d.reg << 1], b = cpu.readRmSize(d, 4), rest = cpu.arith();
    const sum = a + b + (rest & flag ? 1 : 0);
    cpu.setReg(d.reg, 4, sum >>> 0);
    cpu.setArith((rest & ~flag) | (sum > 0xffffffff ? flag : 0));
  };
}
