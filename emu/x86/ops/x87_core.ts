/**
 * What every x87 instruction shares: the device-not-available and pending-
 * exception checks at entry (#NM on CR0.EM/TS, #MF for an unmasked
 * exception left pending when CR0.NE is set; with CR0.NE clear the external
 * FERR# path is not modelled and the instruction proceeds), the last
 * instruction/data pointer and opcode, stack faults, merging an operation's
 * flags into the status word, and multi-byte memory operands.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { fault, MF, NM } from "../fault.ts";
import type { Insn } from "../insn.ts";
import { CS } from "../state.ts";
import { type F80, indefinite } from "../fpu/f80.ts";
import { DE, FpEnv, IE, SF, ZE } from "../fpu/round.ts";
import { type FpuState, SW_B, SW_C1, SW_ES } from "../fpu/state.ts";
import { CR0_EM, CR0_MP, CR0_NE, CR0_TS } from "../control_bits.ts";

/** The one scratch environment of the x87 instructions (they never nest). */
export const ENV = new FpEnv();

/**
 * Entry of an x87 instruction: #NM when CR0.EM or CR0.TS is set, then, for
 * a waiting instruction, #MF when an unmasked exception is pending and
 * CR0.NE is set. Returns the x87 state.
 */
export function enter(cpu: Cpu, waiting: boolean): FpuState {
  if (cpu.cr0 & (CR0_EM | CR0_TS)) fault(NM);
  const fpu = cpu.fpu;
  if (waiting && fpu.sw & SW_ES && cpu.cr0 & CR0_NE) fault(MF);
  return fpu;
}

/** WAIT/FWAIT (9B): #NM when CR0.MP and CR0.TS are both set, then pending unmasked exceptions. */
export function fwait(cpu: Cpu): void {
  if ((cpu.cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) fault(NM);
  if (cpu.fpu.sw & SW_ES && cpu.cr0 & CR0_NE) fault(MF);
}

/**
 * Entry of a non-control instruction: the checks, then the last instruction pointer and opcode (with
 * `FpuState.exceptionPointers`, the opcode only if the instruction incurs an unmasked exception: `commit`).
 */
export function begin(cpu: Cpu, d: Insn): FpuState {
  const fpu = enter(cpu, true);
  fpu.fip = d.mode === 8 ? cpu.eip + cpu.ripHigh * 2 ** 32 : cpu.eip;
  fpu.fcs = cpu.segSel[CS];
  const fop = ((d.op & 7) << 8) | (d.mod << 6) | ((d.reg & 7) << 3) | (d.rm & 7);
  if (fpu.exceptionPointers) {
    fpu.nextFop = fop;
    fpu.nextHasData = false;
  } else fpu.fop = fop;
  ENV.reset(fpu.cw);
  return fpu;
}

/**
 * The memory operand's segment and offset, recorded as the last data pointer unless `control` (with
 * `FpuState.exceptionPointers`, only if the instruction incurs an unmasked exception).
 */
export function operand(cpu: Cpu, d: Insn, control = false): [number, number] {
  const seg = cpu.seg(d), off = cpu.ea(d);
  if (!control) {
    const fpu = cpu.fpu;
    if (fpu.exceptionPointers) {
      fpu.nextFdp = off;
      fpu.nextFds = cpu.segSel[seg];
      fpu.nextHasData = true;
    } else {
      fpu.fdp = off;
      fpu.fds = cpu.segSel[seg];
    }
  }
  return [seg, off];
}

/** The offset n bytes after `off`, wrapped to the address size. */
export function next(d: Insn, off: number, n: number): number {
  if (d.mode === 8) return off + n;
  return d.asize === 2 ? (off + n) & 0xffff : (off + n) >>> 0;
}

/** Reads `n` bytes (an even count) into a new array. */
export function readBytes(cpu: Cpu, d: Insn, seg: number, off: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = cpu.read(seg, next(d, off, i), 4);
    b[i] = v;
    b[i + 1] = v >>> 8;
    b[i + 2] = v >>> 16;
    b[i + 3] = v >>> 24;
  }
  for (; i < n; i += 2) {
    const v = cpu.read(seg, next(d, off, i), 2);
    b[i] = v;
    b[i + 1] = v >>> 8;
  }
  return b;
}

/** Faults (#GP/#SS/#PF) now if any byte of a write of `n` bytes could not be done, so that nothing is half written. */
export function probeWrite(cpu: Cpu, d: Insn, seg: number, off: number, n: number): void {
  const lin = cpu.lin(seg, off, n, true);
  cpu.translate(lin, true, false);
  cpu.translate(d.mode === 8 ? lin + n - 1 : (lin + n - 1) >>> 0, true, false);
}

/** Writes bytes (an even count) after probing the whole range. */
export function writeBytes(cpu: Cpu, d: Insn, seg: number, off: number, b: Uint8Array): void {
  const n = b.length;
  if (n > 4) probeWrite(cpu, d, seg, off, n);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    cpu.write(seg, next(d, off, i), 4, (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0);
  }
  for (; i < n; i += 2) cpu.write(seg, next(d, off, i), 2, b[i] | (b[i + 1] << 8));
}

/** Writes up to three little-endian words: n bytes of w0, w1, w2. */
export function writeWords(cpu: Cpu, d: Insn, seg: number, off: number, n: number, w: readonly number[]): void {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = w[i >> 2] >>> (8 * (i & 3));
  writeBytes(cpu, d, seg, off, b);
}

/** A stack underflow (an empty register read): IE|SF with C1 = 0. Returns the masked response. */
export function underflow(): F80 {
  ENV.flags |= IE | SF;
  ENV.c1 = 0;
  return indefinite();
}

/** A stack overflow (a push onto a full stack): IE|SF with C1 = 1. Returns the masked response. */
export function overflow(): F80 {
  ENV.flags |= IE | SF;
  ENV.c1 = 1;
  return indefinite();
}

/** True when the operation's result may be stored: no unmasked IE, DE or ZE. */
export function storable(fpu: FpuState): boolean {
  return (ENV.flags & ~fpu.cw & (IE | DE | ZE)) === 0;
}

/**
 * Merges the operation's flags into the status word and sets C1 from it
 * (C1 is cleared when nothing rounded up); ES and B when an exception is
 * unmasked, and then, with `FpuState.exceptionPointers`, the instruction's
 * opcode and data pointer (a register form keeps the old data pointer).
 * `cc` replaces the condition codes in `ccMask` (C0, C2 and C3 unless
 * told) when given; the others keep their values, as on the host.
 */
export function commit(fpu: FpuState, cc = -1, ccMask = 0x4500): void {
  let sw = (fpu.sw & ~SW_C1) | ENV.flags | (ENV.c1 ? SW_C1 : 0);
  if (cc >= 0) sw = (sw & ~ccMask) | cc;
  if (ENV.flags & ~fpu.cw & 0x3f) {
    sw |= SW_ES | SW_B;
    if (fpu.exceptionPointers) {
      fpu.fop = fpu.nextFop;
      if (fpu.nextHasData) {
        fpu.fdp = fpu.nextFdp;
        fpu.fds = fpu.nextFds;
      }
    }
  }
  fpu.sw = sw;
}

/** Recomputes ES and B after the control word or the status word was loaded. */
export function syncSummary(fpu: FpuState): void {
  if (fpu.sw & ~fpu.cw & 0x3f) fpu.sw |= SW_ES | SW_B;
  else fpu.sw &= ~(SW_ES | SW_B);
}
