/**
 * What every SSE instruction shares: the availability checks (#UD for
 * CR0.EM or !CR4.OSFXSR, #NM for CR0.TS), 128/64/32-bit memory operands
 * with the 16-byte alignment check, and three 128-bit scratch values that
 * the instructions compute in (A: destination, B: source, R: result).
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { fault, GP, NM, UD } from "../fault.ts";
import type { Insn } from "../insn.ts";
import { CR0_EM, CR0_TS, CR4_OSFXSR } from "../control_bits.ts";

/** #XM, the SIMD floating-point exception. */
export const XM = 19;

/** One 128-bit value with every lane view. */
export class V128 {
  readonly buffer = new ArrayBuffer(16);
  readonly u8 = new Uint8Array(this.buffer);
  readonly i8 = new Int8Array(this.buffer);
  readonly u16 = new Uint16Array(this.buffer);
  readonly i16 = new Int16Array(this.buffer);
  readonly u32 = new Uint32Array(this.buffer);
  readonly i32 = new Int32Array(this.buffer);
  readonly f32 = new Float32Array(this.buffer);
  readonly f64 = new Float64Array(this.buffer);
}

/** Scratch values: A is the destination operand, B the source, R the result. */
export const A = new V128(), B = new V128(), R = new V128();

/** The checks at the start of every SSE instruction. */
export function sseCheck(cpu: Cpu): void {
  if (cpu.cr0 & CR0_EM || !(cpu.cr4 & CR4_OSFXSR)) fault(UD);
  if (cpu.cr0 & CR0_TS) fault(NM);
}

/** The linear address of a memory operand of `size` bytes, with #GP(0) when `align` and it is misaligned. */
function linear(cpu: Cpu, d: Insn, size: number, write: boolean, align: boolean): number {
  const lin = cpu.lin(cpu.seg(d), cpu.ea(d), size, write);
  if (align && lin % size) fault(GP, 0);
  return lin;
}

/** Linear address `lin + k` (wrapping at 4 GiB outside 64-bit mode; 48-bit linear addresses in it). */
function plus(d: Insn, lin: number, k: number): number {
  return d.mode === 8 ? lin + k : (lin + k) >>> 0;
}

/** Reads `n` dwords (1, 2 or 4) of the memory operand into `out.u32[at..]`. */
export function readMem(cpu: Cpu, d: Insn, out: Uint32Array, at: number, n: number, align: boolean): void {
  const lin = linear(cpu, d, 4 * n, false, align);
  for (let i = 0; i < n; i++) out[at + i] = cpu.mem.read32(plus(d, lin, 4 * i));
}

/** Writes `n` dwords (1, 2 or 4) from `src[at..]` to the memory operand; both pages are checked first. */
export function writeMem(cpu: Cpu, d: Insn, src: Uint32Array, at: number, n: number, align: boolean): void {
  const lin = linear(cpu, d, 4 * n, true, align);
  const last = plus(d, lin, 4 * n - 1);
  if (Math.floor(last / 4096) !== Math.floor(lin / 4096)) {
    cpu.translate(lin, true, false);
    cpu.translate(last, true, false);
  }
  for (let i = 0; i < n; i++) cpu.mem.write32(plus(d, lin, 4 * i), src[at + i]);
}

/** Copies XMM register `reg` into `v`. */
export function loadReg(cpu: Cpu, reg: number, v: V128): void {
  const x = cpu.xmm.u32, o = reg << 2;
  v.u32[0] = x[o];
  v.u32[1] = x[o + 1];
  v.u32[2] = x[o + 2];
  v.u32[3] = x[o + 3];
}

/** Copies `v` into XMM register `reg`. */
export function storeReg(cpu: Cpu, reg: number, v: V128): void {
  const x = cpu.xmm.u32, o = reg << 2;
  x[o] = v.u32[0];
  x[o + 1] = v.u32[1];
  x[o + 2] = v.u32[2];
  x[o + 3] = v.u32[3];
}

/** Loads the 128-bit r/m operand (XMM register or memory) into B. */
export function loadB(cpu: Cpu, d: Insn, align: boolean): V128 {
  if (d.mod === 3) loadReg(cpu, d.rm, B);
  else readMem(cpu, d, B.u32, 0, 4, align);
  return B;
}

/** Loads the low `n` dwords of the r/m operand into B (a register supplies all four lanes). */
export function loadBLow(cpu: Cpu, d: Insn, n: number): V128 {
  if (d.mod === 3) loadReg(cpu, d.rm, B);
  else {
    B.u32.fill(0);
    readMem(cpu, d, B.u32, 0, n, false);
  }
  return B;
}

/** The start of the common binary form: checks, A = xmm(reg), B = r/m (aligned memory). */
export function begin(cpu: Cpu, d: Insn): void {
  sseCheck(cpu);
  loadReg(cpu, d.reg, A);
  loadB(cpu, d, true);
}

/** The 64-bit operand of a REX.W/VEX.W form, as halves [low, high]. */
export const Q = new Uint32Array(2);

/** Reads the 64-bit r/m operand (a general register or 8 bytes of memory) into Q. */
export function readRmQ(cpu: Cpu, d: Insn): Uint32Array {
  if (d.mod === 3) {
    Q[0] = cpu.r32[d.rm << 1];
    Q[1] = cpu.r32[(d.rm << 1) + 1];
  } else readMem(cpu, d, Q, 0, 2, false);
  return Q;
}

/** Writes general register `n` as 64 bits. */
export function setRegQ(cpu: Cpu, n: number, lo: number, hi: number): void {
  cpu.r32[n << 1] = lo;
  cpu.r32[(n << 1) + 1] = hi;
}

/** Reads general register `n` as 32 bits. */
export function gpr(cpu: Cpu, n: number): number {
  return cpu.r32[n << 1];
}

/**
 * The destination of MOVD r/m32, mm/xmm (MOVQ r/m64 with REX.W): the low 32 (or 64) bits of the register whose
 * dwords start at `src[at]`, to a general register (a 32-bit one zero-extended) or to memory.
 */
export function storeMovd(cpu: Cpu, d: Insn, src: Uint32Array, at: number): void {
  if (d.osize === 8) {
    if (d.mod === 3) setRegQ(cpu, d.rm, src[at], src[at + 1]);
    else writeMem(cpu, d, src, at, 2, false);
  } else if (d.mod === 3) cpu.setReg(d.rm, 4, src[at]);
  else cpu.write(cpu.seg(d), cpu.ea(d), 4, src[at]);
}
