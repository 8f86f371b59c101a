/**
 * The x87 register file: eight 80-bit physical registers R0-R7 (significand
 * halves in a typed array, sign/exponent words in another), the control
 * and status words, TOP, the tags (kept abridged, one "valid" bit per
 * physical register as FXSAVE stores them; the full two-bit tags are
 * computed from the contents when FSTENV/FSAVE need them), and the last
 * instruction and data pointers and opcode.
 *
 * @module
 */
import { classify, DENORMAL, type F80, f80, INF, isNan, NORMAL, UNSUPPORTED, ZERO } from "./f80.ts";

/** Status word bits. */
export const SW_ES = 0x80, SW_C0 = 0x100, SW_C1 = 0x200, SW_C2 = 0x400, SW_C3 = 0x4000, SW_B = 0x8000;
/** The condition-code bits C0-C3. */
export const SW_CC = SW_C0 | SW_C1 | SW_C2 | SW_C3;

/** The x87 unit's state. */
export class FpuState {
  /** Significand of physical register i: low half at [2i], high half at [2i+1]. */
  readonly sig = new Uint32Array(16);
  /** Sign (bit 15) and biased exponent of physical register i. */
  readonly se = new Uint16Array(8);
  /** The control word. */
  cw = 0x37f;
  /** The status word without TOP (bits 11-13 kept zero). */
  sw = 0;
  /** The stack top (0-7). */
  top = 0;
  /** Bit i set when physical register i is not empty (the abridged tag word). */
  valid = 0;
  /** Last instruction pointer (the offset; 64 bits in 64-bit mode), its CS selector, and the 11-bit opcode. */
  fip = 0;
  fcs = 0;
  fop = 0;
  /** Last data pointer (the operand's offset) and its segment selector. */
  fdp = 0;
  fds = 0;
  /**
   * FOP and FDP/FDS are recorded only by a non-control instruction that incurs an unmasked exception (FIP
   * and FCS by every one): Intel's rule, for FOP since the Pentium 4 outside the FOP compatibility mode,
   * for FDP where CPUID.(EAX=7,ECX=0):EBX[6] (FDP_EXCPTN_ONLY) is set. False: every non-control
   * instruction records them (AMD).
   */
  exceptionPointers = false;
  /** FCS and FDS are saved as zeros (CPUID.(EAX=7,ECX=0):EBX[13], Intel); they are still kept for real mode's linear FIP. */
  zeroSelectors = false;
  /** With `exceptionPointers`: the current instruction's opcode and data pointer, recorded if it incurs an unmasked exception. */
  nextFop = 0;
  nextFdp = 0;
  nextFds = 0;
  nextHasData = false;

  /** FNINIT: the state after initialization. */
  init(): void {
    this.cw = 0x37f;
    this.sw = 0;
    this.top = 0;
    this.valid = 0;
    this.fip =
      this.fcs =
      this.fop =
      this.fdp =
      this.fds =
        0;
  }

  /** FCS as FNSTENV, FNSAVE, FXSAVE and XSAVE store it. */
  get savedFcs(): number {
    return this.zeroSelectors ? 0 : this.fcs;
  }

  /** FDS as FNSTENV, FNSAVE, FXSAVE and XSAVE store it. */
  get savedFds(): number {
    return this.zeroSelectors ? 0 : this.fds;
  }

  /** The status word with TOP. */
  get status(): number {
    return (this.sw & ~0x3800) | (this.top << 11);
  }

  /** Sets the status word, TOP included. */
  set status(v: number) {
    this.sw = v & ~0x3800 & 0xffff;
    this.top = (v >> 11) & 7;
  }

  /** Physical register number of ST(i). */
  phys(i: number): number {
    return (this.top + i) & 7;
  }

  /** True when ST(i) is empty. */
  isEmpty(i: number): boolean {
    return (this.valid & (1 << ((this.top + i) & 7))) === 0;
  }

  /** Reads physical register r. */
  getPhys(r: number): F80 {
    const se = this.se[r];
    return f80(se >> 15, se & 0x7fff, this.sig[2 * r + 1], this.sig[2 * r]);
  }

  /** Writes physical register r (its tag becomes valid). */
  setPhys(r: number, v: F80): void {
    this.se[r] = (v.sign << 15) | v.exp;
    this.sig[2 * r] = v.lo;
    this.sig[2 * r + 1] = v.hi;
    this.valid |= 1 << r;
  }

  /** Reads ST(i). */
  st(i: number): F80 {
    return this.getPhys((this.top + i) & 7);
  }

  /** Writes ST(i). */
  setSt(i: number, v: F80): void {
    this.setPhys((this.top + i) & 7, v);
  }

  /** Marks ST(i) empty. */
  free(i: number): void {
    this.valid &= ~(1 << ((this.top + i) & 7));
  }

  /** Pops the stack: ST(0) becomes empty and TOP moves up. */
  pop(): void {
    this.free(0);
    this.top = (this.top + 1) & 7;
  }

  /** Pushes `v`: TOP moves down and the new ST(0) holds v. */
  push(v: F80): void {
    this.top = (this.top - 1) & 7;
    this.setSt(0, v);
  }

  /** The full two-bit tag of physical register r: 0 valid, 1 zero, 2 special, 3 empty. */
  tagOf(r: number): number {
    if (!(this.valid & (1 << r))) return 3;
    const c = classify(this.getPhys(r));
    if (c === ZERO) return 1;
    if (c === NORMAL) return 0;
    return c === DENORMAL || c === INF || isNan(c) || c === UNSUPPORTED ? 2 : 0;
  }

  /** The full 16-bit tag word (FSTENV, FSAVE). */
  get tagWord(): number {
    let t = 0;
    for (let r = 0; r < 8; r++) t |= this.tagOf(r) << (2 * r);
    return t;
  }

  /** Loads a full tag word: only "empty" is kept; the other tags follow the contents. */
  set tagWord(t: number) {
    let v = 0;
    for (let r = 0; r < 8; r++) if (((t >> (2 * r)) & 3) !== 3) v |= 1 << r;
    this.valid = v;
  }
}
