/**
 * Bit instructions: BT, BTS, BTR, BTC (register and immediate bit offsets;
 * a register offset reaches beyond the addressed memory operand), BSF, BSR.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { CF, MASK, ZF } from "../flags.ts";
import type { Insn } from "../insn.ts";

function apply(cpu: Cpu, op: number, v: number, bit: number): number {
  const m = 1 << bit;
  cpu.setArith((cpu.arith() & ~CF) | ((v >>> bit) & 1));
  switch (op) {
    case 1:
      return (v | m) >>> 0;
    case 2:
      return (v & ~m) >>> 0;
    case 3:
      return (v ^ m) >>> 0;
    default:
      return v;
  }
}

/** 0F A3/AB/B3/BB: BT/BTS/BTR/BTC r/m, reg. */
export function btReg(cpu: Cpu, d: Insn): void {
  const op = d.op === 0x1a3 ? 0 : d.op === 0x1ab ? 1 : d.op === 0x1b3 ? 2 : 3;
  const bits = d.size * 8;
  const off = cpu.getReg(d.reg, d.size);
  if (d.mod === 3) {
    const r = apply(cpu, op, cpu.getReg(d.rm, d.size), off & (bits - 1));
    if (op) cpu.setReg(d.rm, d.size, r);
    return;
  }
  // The signed bit offset selects a unit at a displacement from the operand.
  const signed = d.size === 2 ? (off << 16) >> 16 : off | 0;
  const unit = Math.floor(signed / bits);
  const ea = (cpu.ea(d) + unit * d.size) & MASK[d.asize];
  const seg = cpu.seg(d);
  // BTS/BTR/BTC read with write intent: a fault on the write comes before any effect (a #PF then says W).
  const v = op ? cpu.readForWrite(seg, ea >>> 0, d.size) : cpu.read(seg, ea >>> 0, d.size);
  const r = apply(cpu, op, v, signed - unit * bits);
  if (op) cpu.write(seg, ea >>> 0, d.size, r);
}

/** 0F BA /4-/7: BT/BTS/BTR/BTC r/m, imm8. */
export function btImm(cpu: Cpu, d: Insn): void {
  const v = cpu.readRm(d);
  const r = apply(cpu, d.reg - 4, v, d.imm & (d.size * 8 - 1));
  if (d.reg !== 4) cpu.writeRm(d, r);
}

/**
 * The flags of BSF/BSR with a zero source (ZF set, the rest undefined): as for a zero result (ZF and PF, the
 * others clear) on both vendors, as this project's AMD EPYC and Intel hosts compute them.
 */
export function bitScanZeroFlags(cpu: Cpu): void {
  cpu.setResultFlags(0, 4, 0);
}

/**
 * 0F BC/BD: BSF and BSR. A zero source sets ZF and leaves the destination unchanged (its upper half too, in
 * 64-bit mode: both vendors' hosts do so, where the SDM says "undefined").
 */
export function bsf(cpu: Cpu, d: Insn): void {
  const v = cpu.readRm(d);
  if (v === 0) {
    bitScanZeroFlags(cpu);
    return;
  }
  const r = d.op === 0x1bc ? 31 - Math.clz32(v & -v) : 31 - Math.clz32(v);
  cpu.setReg(d.reg, d.size, r);
  cpu.setResultFlags(r, d.size, 0);
  cpu.setArith(cpu.arith() & ~ZF);
}
