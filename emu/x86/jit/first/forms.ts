/**
 * Specialized semantics for the first tier (threaded.ts): for the
 * instruction forms kernel code runs most in 64-bit mode (measured on a PVH
 * boot to "Run /init": MOV r/m, r and r, r/m; JMP, CALL and Jcc rel; LEA;
 * ALU, CMP and TEST; PUSH, POP, RET; MOVSXD, MOVZX, MOV r, imm; INC, DEC;
 * CALL through memory), a closure made once when the block is built whose
 * registers, operand size, segment and effective-address form (base + disp,
 * base + index * scale + disp, a constant for a RIP-relative or absolute
 * operand) are fixed, instead of the generic semantic function that reads
 * them from the `Insn` at each run. Each closure does what the generic
 * function does, in the same order, through the same accessors (`cpu.lin`,
 * the memory's reads and writes, `alu`/`alu64` for the flags),
 * so that faults, lazy flags, MMIO and code writes behave as in the
 * interpreter; any other form (or another mode, operand size or address
 * size) keeps its generic function (`specialize` returns null).
 *
 * `quiet` tells the first tier which of them, and which generic functions
 * with register operands, can neither fault, nor leave the block, nor read
 * EIP, nor touch memory: it may run them without storing EIP and the next
 * EIP first and without the checks after them.
 *
 * @module
 */
import type { Cpu } from "../../cpu.ts";
import type { Exec, Insn, JitTemplate } from "../../insn.ts";
import { fault, GP } from "../../fault.ts";
import { AC, F_DEC, F_INC, MASK } from "../../flags.ts";
import { RIP_BASE } from "../../modrm.ts";
import { AR_L, CS, ESP, FS, SS } from "../../state.ts";
import { EFER_LMA } from "../../control_bits.ts";
import { canonical, ea64, qv, regSigned, setQ, setRegSigned, signed, TWO32, TWO47, TWO48 } from "../../long/access.ts";
import { putHalves, TLB_MASK } from "../../memory.ts";
import * as alu from "../../ops/alu.ts";
import * as mov from "../../ops/mov.ts";
import * as ctl from "../../ops/control.ts";
import * as stk from "../../ops/stack.ts";

/** An effective-address form: a constant (RIP-relative or absolute), base + disp, or base + index * scale + disp. */
const K_CONST = 0, K_BASE = 1, K_SIB = 2;

/** The fixed parts of a memory operand: its form, base and index register (r32 index of the low half), scale, disp. */
interface Addr {
  k: number;
  b2: number;
  i2: number;
  sc: number;
  disp: number;
  seg: number;
}

/**
 * The memory operand of `d` (64-bit address size) with its next instruction at `next`, or null when its form is not
 * one of those `offset` computes.
 */
function addrOf(d: Insn, next: number): Addr | null {
  if (d.asize !== 8 || d.mod === 3) return null;
  const seg = d.seg >= 0 ? d.seg : d.eaSeg;
  // ea64 of a RIP-relative operand: the next RIP plus disp; of an absolute one (SIB, no base, no index): disp.
  if (d.base === RIP_BASE) return { k: K_CONST, b2: -1, i2: -1, sc: 0, disp: next + d.disp, seg };
  if (d.index < 0) {
    return d.base < 0
      ? { k: K_CONST, b2: -1, i2: -1, sc: 0, disp: d.disp, seg }
      : { k: K_BASE, b2: d.base << 1, i2: -1, sc: 0, disp: d.disp, seg };
  }
  return { k: K_SIB, b2: d.base < 0 ? -1 : d.base << 1, i2: d.index << 1, sc: d.scale, disp: d.disp, seg };
}

/**
 * The effective address `ea64` gives for the operand `a` of `d` (a signed number). base + disp: `signed` is exact
 * below 2^53 in magnitude, and a base beyond it stays non-canonical after any disp32, as ea64's exact sum does (both
 * fault alike in `lin`). With an index, the sum is exact while both registers are below 2^53 in magnitude; else
 * ea64 wraps it to 64 bits as the CPU does.
 */
function offset(c: Cpu, d: Insn, a: Addr): number {
  if (a.k === K_CONST) return a.disp;
  const r = c.r32;
  if (a.k === K_BASE) {
    const h = r[a.b2 + 1] | 0;
    return (h < 0x200000 && h >= -0x200000 ? h * TWO32 + r[a.b2] : signed(r[a.b2], h)) + a.disp;
  }
  const bh = a.b2 < 0 ? 0 : r[a.b2 + 1] | 0, ih = r[a.i2 + 1] | 0;
  if (bh >= 0x200000 || bh < -0x200000 || ih >= 0x200000 || ih < -0x200000) return +ea64(c, d);
  return (a.b2 < 0 ? 0 : bh * TWO32 + r[a.b2]) + (ih * TWO32 + r[a.i2]) * (1 << a.sc) + a.disp;
}

/**
 * Whether Cpu.lin takes its second case for `size` bytes at seg:off in 64-bit mode (ES, CS, SS or DS, a canonical
 * access, nothing watched, no alignment check possible): the linear address is then off, plus 2^48 below 0.
 */
function flat(c: Cpu, seg: number, off: number, size: number): boolean {
  return seg < FS && off >= -TWO47 && off + size <= TWO47 && c.watch === 0 && !(c.eflRest & AC) &&
    (c.efer & EFER_LMA) !== 0 && (c.segAr[CS] & AR_L) !== 0;
}

/** Cpu.lin in 64-bit mode: its second case without first trying its first (outside 64-bit mode); else `lin`. */
function lin64(c: Cpu, seg: number, off: number, size: number, write: boolean): number {
  if (flat(c, seg, off, size)) return off < 0 ? off + TWO48 : off;
  return +c.lin(seg, off, size, write);
}

// The loads and stores below take a TLB hit within one page as Memory's first cases do (as the compiled code's
// accesses do) and leave anything else to the Memory call. A kernel address (0xffff8... after lin64) is beyond V8's
// small integers: passed to a function V8 does not inline (read64, or the slow paths of read/write that optimized
// code converts it for before it branches), it is a new heap number at each access.

/** The read TLB's tag for the page of `lin` (Memory's pageOf plus its tagBase). */
function tagOf(c: Cpu, lin: number): number {
  return (lin > 0xffffffff ? Math.floor(lin / 4096) : lin >>> 12) + c.mem.tagBase;
}

/** readQ: 8 bytes at seg:off into `qv`, checked and translated as a write when `rmw`. */
function load64(c: Cpu, seg: number, off: number, rmw: boolean): void {
  if (flat(c, seg, off, 8)) {
    const m = c.mem, lin = off < 0 ? off + TWO48 : off, tag = tagOf(c, lin), i = (tag - m.tagBase) & TLB_MASK;
    const o = lin & 0xfff;
    if (m.rTag[i] === tag && o <= 0xff8 && (!rmw || m.wTag[i] === tag)) {
      const b = m.rBuf[i], k = m.rOff[i] + o;
      qv[0] = b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24);
      qv[1] = b[k + 4] | (b[k + 5] << 8) | (b[k + 6] << 16) | (b[k + 7] << 24);
      return;
    }
  }
  load64Slow(c, seg, off, rmw);
}

/** load64 through Cpu.lin and Memory.read64. */
function load64Slow(c: Cpu, seg: number, off: number, rmw: boolean): void {
  const lin = lin64(c, seg, off, 8, rmw);
  if (rmw) c.mem.probeWrite(lin, 8);
  c.mem.read64(lin, qv);
}

/** writeQ: 8 bytes at seg:off. */
function store64(c: Cpu, seg: number, off: number, lo: number, hi: number): void {
  if (flat(c, seg, off, 8)) {
    const m = c.mem, lin = off < 0 ? off + TWO48 : off, tag = tagOf(c, lin), i = (tag - m.tagBase) & TLB_MASK;
    const o = lin & 0xfff;
    if (m.wTag[i] === tag && o <= 0xff8) {
      putHalves(m.wBuf[i], m.wOff[i] + o, lo, hi);
      return;
    }
  }
  c.mem.write64(lin64(c, seg, off, 8, true), lo >>> 0, hi >>> 0);
}

/** Cpu.readRm's memory half: `size` bytes at seg:off (Cpu.readForWrite when `rmw`). */
function load(c: Cpu, seg: number, off: number, size: number, rmw: boolean): number {
  if (flat(c, seg, off, size)) {
    const m = c.mem, lin = off < 0 ? off + TWO48 : off, tag = tagOf(c, lin), i = (tag - m.tagBase) & TLB_MASK;
    const o = lin & 0xfff;
    if (m.rTag[i] === tag && o + size <= 0x1000 && (!rmw || m.wTag[i] === tag)) {
      const b = m.rBuf[i], k = m.rOff[i] + o;
      return size === 1
        ? b[k]
        : size === 2
        ? b[k] | (b[k + 1] << 8)
        : (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)) >>> 0;
    }
  }
  return loadSlow(c, seg, off, size, rmw);
}

/** load through Cpu.lin and Memory.read. */
function loadSlow(c: Cpu, seg: number, off: number, size: number, rmw: boolean): number {
  const lin = lin64(c, seg, off, size, rmw);
  if (rmw) c.mem.probeWrite(lin, size);
  return c.mem.read(lin, size);
}

/** Cpu.write: `size` bytes at seg:off. */
function store(c: Cpu, seg: number, off: number, size: number, v: number): void {
  if (flat(c, seg, off, size)) {
    const m = c.mem, lin = off < 0 ? off + TWO48 : off, tag = tagOf(c, lin), i = (tag - m.tagBase) & TLB_MASK;
    const o = lin & 0xfff;
    if (m.wTag[i] === tag && o + size <= 0x1000) {
      const b = m.wBuf[i], k = m.wOff[i] + o;
      b[k] = v;
      if (size > 1) {
        b[k + 1] = v >> 8;
        if (size > 2) {
          b[k + 2] = v >> 16;
          b[k + 3] = v >> 24;
        }
      }
      return;
    }
  }
  c.mem.write(lin64(c, seg, off, size, true), size, v);
}

/**
 * The block compiler's templates (Insn.jit) whose generic semantics, with a register operand (ModRM.mod 3), touch
 * only registers and flags: no memory, no fault, no jump, no exit, neither EIP nor the next EIP read.
 */
const REGISTER_FORMS: ReadonlySet<JitTemplate> = new Set<JitTemplate>([
  "aluRmReg",
  "aluRegRm",
  "aluRmImm",
  "testRmReg",
  "testRmImm",
  "incDecRm",
  "movRmReg",
  "movRegRm",
  "movRmImm",
  "movzx",
  "movsx",
  "movsxd",
  "cmov",
  "setcc",
  "notNeg",
  "imul2",
  "mulAcc",
  "shiftGroup",
  "shiftGroupZx",
  "aluRmReg64",
  "aluRegRm64",
  "aluRmImm64",
  "incDec64",
]);

/**
 * The templates whose generic semantics never access memory and are as REGISTER_FORMS' (NOP: 0F 0D/18-1F and 90;
 * LEA, quiet too, only computes its address).
 */
const OPERANDLESS_FORMS: ReadonlySet<JitTemplate> = new Set<JitTemplate>([
  "aluAccImm",
  "aluAccImm64",
  "testAccImm",
  "incDecReg",
  "movRegImm",
  "nop",
]);

/**
 * True when what the first tier runs for `d`, its specialized closure or its generic semantics, can neither fault,
 * nor change the next RIP, nor read EIP or the next EIP, nor access memory, nor queue an exit: the first tier may run
 * it without setting EIP first and without checking after it. (A specialized form is quiet exactly when it is one of
 * these: its register forms, LEA, MOV r32, imm.)
 */
export function quiet(d: Insn): boolean {
  // (F3 90 is PAUSE, which tells the devices.)
  if (d.lock || d.rep !== 0) return false;
  return OPERANDLESS_FORMS.has(d.jit) || d.jit === "lea" || (d.mod === 3 && REGISTER_FORMS.has(d.jit));
}

/** The target of the relative branch `d` whose next instruction is at `next` (64-bit operand size). */
function relTarget(d: Insn, next: number): number {
  const rel = d.op < 0x100 && d.op !== 0xe8 && d.op !== 0xe9 ? (d.imm << 24) >> 24 : d.imm | 0;
  return next + rel;
}

/** MOV, ALU, TEST and friends: the r/m, reg forms at operand size 8. */
function wide(d: Insn, next: number): Exec | null {
  const e = d.exec, g2 = d.reg << 1, m2 = d.rm << 1, rmw = d.rmw;
  const a = addrOf(d, next);
  if (d.mod !== 3 && a === null) return null;
  const kind = (d.op >> 3) & 7;
  if (e === mov.movRmReg64) {
    if (a === null) {
      return (c) => {
        const r = c.r32;
        r[m2] = r[g2];
        r[m2 + 1] = r[g2 + 1];
      };
    }
    return (c, d) => {
      const r = c.r32;
      store64(c, a.seg, offset(c, d, a), r[g2], r[g2 + 1]);
    };
  }
  if (e === mov.movRegRm64) {
    if (a === null) {
      return (c) => {
        const r = c.r32;
        r[g2] = r[m2];
        r[g2 + 1] = r[m2 + 1];
      };
    }
    return (c, d) => {
      load64(c, a.seg, offset(c, d, a), rmw);
      const r = c.r32;
      r[g2] = qv[0];
      r[g2 + 1] = qv[1];
    };
  }
  if (e === alu.aluRmReg64 || e === alu.testRmReg64) {
    const k = e === alu.testRmReg64 ? alu.ALU_AND : kind, write = e === alu.aluRmReg64 && k !== alu.ALU_CMP;
    if (a === null) {
      return (c) => {
        const r = c.r32;
        alu.alu64(c, k, r[m2], r[m2 + 1], r[g2], r[g2 + 1]);
        if (write) {
          r[m2] = alu.res[0];
          r[m2 + 1] = alu.res[1];
        }
      };
    }
    return (c, d) => {
      const off = offset(c, d, a);
      load64(c, a.seg, off, rmw);
      const r = c.r32;
      alu.alu64(c, k, qv[0], qv[1], r[g2], r[g2 + 1]);
      if (write) store64(c, a.seg, off, alu.res[0], alu.res[1]);
    };
  }
  if (e === alu.aluRegRm64) {
    const write = kind !== alu.ALU_CMP;
    if (a === null) {
      return (c) => {
        const r = c.r32;
        alu.alu64(c, kind, r[g2], r[g2 + 1], r[m2], r[m2 + 1]);
        if (write) {
          r[g2] = alu.res[0];
          r[g2 + 1] = alu.res[1];
        }
      };
    }
    return (c, d) => {
      load64(c, a.seg, offset(c, d, a), rmw);
      const r = c.r32;
      alu.alu64(c, kind, r[g2], r[g2 + 1], qv[0], qv[1]);
      if (write) {
        r[g2] = alu.res[0];
        r[g2 + 1] = alu.res[1];
      }
    };
  }
  if (e === alu.aluRmImm64) {
    const k = d.reg, write = k !== alu.ALU_CMP, lo = d.imm, hi = d.imm2;
    if (a === null) {
      return (c) => {
        const r = c.r32;
        alu.alu64(c, k, r[m2], r[m2 + 1], lo, hi);
        if (write) {
          r[m2] = alu.res[0];
          r[m2 + 1] = alu.res[1];
        }
      };
    }
    return (c, d) => {
      const off = offset(c, d, a);
      load64(c, a.seg, off, rmw);
      alu.alu64(c, k, qv[0], qv[1], lo, hi);
      if (write) store64(c, a.seg, off, alu.res[0], alu.res[1]);
    };
  }
  if (e === mov.movRmImm64) {
    const lo = d.imm, hi = d.imm2, rm = d.rm;
    if (a === null) return (c) => setQ(c, rm, lo, hi);
    return (c, d) => store64(c, a.seg, offset(c, d, a), lo, hi);
  }
  if (e === mov.movsxd) {
    const reg = d.reg;
    if (a === null) {
      return (c) => {
        const v = c.r32[m2];
        setQ(c, reg, v, v & 0x80000000 ? 0xffffffff : 0);
      };
    }
    return (c, d) => {
      const v = load(c, a.seg, offset(c, d, a), 4, false);
      setQ(c, reg, v, v & 0x80000000 ? 0xffffffff : 0);
    };
  }
  if (e === ctl.callRmLong && d.osize === 8) {
    const retLo = next >>> 0, retHi = Math.floor(next / TWO32) >>> 0;
    if (a === null) {
      return (c) => {
        const t = signed(c.r32[m2], c.r32[m2 + 1]);
        if (!canonical(t)) fault(GP, 0);
        c.nextEip = t;
        push64(c, retLo, retHi);
      };
    }
    return (c, d) => {
      load64(c, a.seg, offset(c, d, a), rmw);
      const t = signed(qv[0], qv[1]);
      if (!canonical(t)) fault(GP, 0);
      c.nextEip = t;
      push64(c, retLo, retHi);
    };
  }
  return null;
}

/** MOV, ALU, TEST, MOVZX, INC and DEC: the r/m forms at operand sizes 1, 2 and 4 (a 32-bit register write clears the high half). */
function narrow(d: Insn, next: number): Exec | null {
  const e = d.exec, size = d.size, reg = d.reg, rm = d.rm, rmw = d.rmw;
  const a = addrOf(d, next);
  if (d.mod !== 3 && a === null) return null;
  const kind = (d.op >> 3) & 7;
  if (e === mov.movRmReg) {
    if (a === null) return (c) => c.setReg(rm, size, c.getReg(reg, size));
    return (c, d) => store(c, a.seg, offset(c, d, a), size, c.getReg(reg, size));
  }
  if (e === mov.movRegRm) {
    if (a === null) return (c) => c.setReg(reg, size, c.getReg(rm, size));
    return (c, d) => c.setReg(reg, size, load(c, a.seg, offset(c, d, a), size, rmw));
  }
  if (e === alu.aluRmReg || e === alu.testRmReg) {
    const k = e === alu.testRmReg ? alu.ALU_AND : kind, write = e === alu.aluRmReg && k !== alu.ALU_CMP;
    if (a === null) {
      return (c) => {
        const v = alu.alu(c, k, c.getReg(rm, size), c.getReg(reg, size), size);
        if (write) c.setReg(rm, size, v);
      };
    }
    return (c, d) => {
      const off = offset(c, d, a);
      const v = alu.alu(c, k, load(c, a.seg, off, size, rmw), c.getReg(reg, size), size);
      if (write) store(c, a.seg, off, size, v);
    };
  }
  if (e === alu.aluRegRm) {
    const write = kind !== alu.ALU_CMP;
    if (a === null) {
      return (c) => {
        const v = alu.alu(c, kind, c.getReg(reg, size), c.getReg(rm, size), size);
        if (write) c.setReg(reg, size, v);
      };
    }
    return (c, d) => {
      const v = alu.alu(c, kind, c.getReg(reg, size), load(c, a.seg, offset(c, d, a), size, rmw), size);
      if (write) c.setReg(reg, size, v);
    };
  }
  if (e === alu.aluRmImm || e === alu.testRmImm) {
    const k = e === alu.testRmImm ? alu.ALU_AND : reg, write = e === alu.aluRmImm && k !== alu.ALU_CMP;
    const imm = e === alu.testRmImm ? d.imm : d.imm & MASK[size];
    if (a === null) {
      return (c) => {
        const v = alu.alu(c, k, c.getReg(rm, size), imm, size);
        if (write) c.setReg(rm, size, v);
      };
    }
    return (c, d) => {
      const off = offset(c, d, a);
      const v = alu.alu(c, k, load(c, a.seg, off, size, rmw), imm, size);
      if (write) store(c, a.seg, off, size, v);
    };
  }
  if (e === mov.movRmImm) {
    const imm = d.imm;
    if (a === null) return (c) => c.setReg(rm, size, imm);
    return (c, d) => store(c, a.seg, offset(c, d, a), size, imm);
  }
  if (e === mov.movzx) {
    const from = d.op & 1 ? 2 : 1, osize = d.osize;
    if (a === null) return (c) => c.setReg(reg, osize, c.getReg(rm, from));
    return (c, d) => c.setReg(reg, osize, load(c, a.seg, offset(c, d, a), from, false));
  }
  if (e === alu.incDecRm) {
    const dec = reg === 1, m = MASK[size];
    if (a === null) {
      return (c) => {
        const v = c.getReg(rm, size), r = ((dec ? v - 1 : v + 1) & m) >>> 0;
        c.fcin = c.cf();
        c.lazy(dec ? F_DEC : F_INC, v, 1, r, size);
        c.setReg(rm, size, r);
      };
    }
    return (c, d) => {
      const off = offset(c, d, a);
      const v = load(c, a.seg, off, size, rmw), r = ((dec ? v - 1 : v + 1) & m) >>> 0;
      c.fcin = c.cf();
      c.lazy(dec ? F_DEC : F_INC, v, 1, r, size);
      store(c, a.seg, off, size, r);
    };
  }
  return null;
}

/** LEA with a 64-bit address size: the exact halves of ea64's sum (not necessarily canonical), truncated to size. */
function lea(d: Insn, next: number): Exec | null {
  if (d.asize !== 8 || (d.size !== 8 && d.size !== 4)) return null;
  const reg = d.reg, g2 = reg << 1, wide = d.size === 8;
  if (d.base === RIP_BASE) {
    const v = next + d.disp, lo = v >>> 0, hi = wide ? Math.floor(v / TWO32) >>> 0 : 0;
    return (c) => {
      c.r32[g2] = lo;
      c.r32[g2 + 1] = hi;
    };
  }
  const disp = d.disp, b2 = d.base < 0 ? -1 : d.base << 1, i2 = d.index < 0 ? -1 : d.index << 1, sc = d.scale;
  return (c) => {
    const r = c.r32;
    let lo = disp, hi = 0;
    if (b2 >= 0) {
      lo += r[b2];
      hi += r[b2 + 1] | 0;
    }
    if (i2 >= 0) {
      lo += (r[i2] << sc) >>> 0;
      hi += sc ? (r[i2 + 1] << sc) | (r[i2] >>> (32 - sc)) : r[i2 + 1] | 0;
    }
    const carry = Math.floor(lo / TWO32);
    r[g2] = lo - carry * TWO32;
    r[g2 + 1] = wide ? hi + carry : 0;
  };
}

/** Near branches and the stack with a 64-bit operand size: targets and return addresses are constants. */
function flow(d: Insn, next: number): Exec | null {
  const e = d.exec;
  if (d.osize !== 8) return null;
  if (e === ctl.jccLong || e === ctl.jmpRelLong || e === ctl.callRelLong) {
    // A non-canonical target keeps the generic function (its #GP).
    const t = relTarget(d, next);
    if (!canonical(t)) return null;
    if (e === ctl.jmpRelLong) {
      return (c) => {
        c.nextEip = t;
      };
    }
    if (e === ctl.jccLong) {
      const cc = d.op & 0xf;
      return (c) => {
        if (c.cond(cc)) c.nextEip = t;
      };
    }
    const retLo = next >>> 0, retHi = Math.floor(next / TWO32) >>> 0;
    return (c) => {
      c.nextEip = t;
      push64(c, retLo, retHi);
    };
  }
  if (e === ctl.retLong && d.op === 0xc3) {
    return (c) => {
      // popAddress: the 8 bytes at RSP, a canonical target, then RSP + 8.
      const lo = popPeek(c);
      const t = signed(lo, qv[1]);
      if (!canonical(t)) fault(GP, 0);
      c.nextEip = t;
      setRegSigned(c, ESP, regSigned(c, ESP) + 8);
    };
  }
  if (e === stk.pushRegLong) {
    const n2 = mov.opReg(d) << 1;
    return (c) => push64(c, c.r32[n2], c.r32[n2 + 1]);
  }
  if (e === stk.popRegLong) {
    const n2 = mov.opReg(d) << 1;
    return (c) => {
      // popLong: the 8 bytes at RSP, RSP + 8, then the register (POP RSP loads what it read).
      const lo = popPeek(c), hi = qv[1];
      setRegSigned(c, ESP, regSigned(c, ESP) + 8);
      c.r32[n2] = lo;
      c.r32[n2 + 1] = hi;
    };
  }
  return null;
}

/** pushLong(c, lo, 8, hi): RSP - 8, the 8 bytes written there, then RSP set. */
function push64(c: Cpu, lo: number, hi: number): void {
  const sp = regSigned(c, ESP) - 8;
  store64(c, SS, sp, lo, hi);
  setRegSigned(c, ESP, sp);
}

/** peekLong(c, 0, 8): the 8 bytes at RSP into `qv`, the low half returned. */
function popPeek(c: Cpu): number {
  load64(c, SS, regSigned(c, ESP), false);
  return qv[0];
}

/**
 * The specialized semantics of `d` (decoded for 64-bit mode) whose next instruction is at `next` (the whole RIP), or
 * null when it has none: then the first tier calls `d.exec`.
 */
export function specialize(d: Insn, next: number): Exec | null {
  if (d.mode !== 8 || d.lock || d.rep !== 0 || d.vex !== 0) return null;
  const e = d.exec;
  if (e === mov.leaLong) return lea(d, next);
  if (e === mov.movRegImmLong) {
    if (d.size !== 4) return null;
    const n = mov.opReg(d), imm = d.imm;
    return (c) => c.setReg(n, 4, imm);
  }
  const f = flow(d, next);
  if (f !== null) return f;
  if (d.size === 8) return wide(d, next);
  return narrow(d, next);
}
