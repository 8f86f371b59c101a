/**
 * The architectural state of one x86 CPU, owned by one `Cpu` object:
 * general registers as 32-bit halves in a typed array (with 16- and 8-bit
 * views over the same bytes), segment descriptor caches, control and debug
 * registers. No BigInt here: it appears only at the ABI boundary.
 *
 * @module
 */

import { MXCSR_RESET, XmmFile } from "./sse/xmm.ts";
import { FpuState } from "./fpu/state.ts";

/** Segment register numbers, in the order of the ModRM `sreg` field. */
export const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5, TR = 6, LDTR = 7;
/** General register numbers. */
export const EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;

/** Segment access rights, packed like VMX's access-rights field. */
export const AR_TYPE = 0xf, AR_S = 1 << 4, AR_P = 1 << 7, AR_AVL = 1 << 12, AR_L = 1 << 13, AR_DB = 1 << 14;
export const AR_G = 1 << 15, AR_UNUSABLE = 1 << 16;
/** AR_DPL is two bits at 5-6. */
export const AR_DPL_SHIFT = 5;

/**
 * Byte index into `r8` of 8-bit register n: 0-7 AL, CL, DL, BL, AH, CH, DH, BH; 8-15 R8B-R15B; 16-23 the
 * registers a REX prefix selects with 0-7 (AL, CL, DL, BL, SPL, BPL, SIL, DIL).
 */
export const R8_INDEX = new Uint8Array([
  ...[0, 8, 16, 24, 1, 9, 17, 25],
  ...[64, 72, 80, 88, 96, 104, 112, 120],
  ...[0, 8, 16, 24, 32, 40, 48, 56],
]);

/** The register file and system state. */
export class State {
  readonly regBuffer = new ArrayBuffer(16 * 8);
  /** r32[2n] is the low half of register n, r32[2n+1] the high half. */
  readonly r32 = new Uint32Array(this.regBuffer);
  /** r16[4n] is the low word of register n. */
  readonly r16 = new Uint16Array(this.regBuffer);
  /** r8[8n] is the low byte of register n, r8[8n+1] its second byte. */
  readonly r8 = new Uint8Array(this.regBuffer);
  eip = 0;
  ripHigh = 0;

  readonly segSel = new Uint16Array(8);
  readonly segBase = new Float64Array(8);
  readonly segLimit = new Uint32Array(8);
  readonly segAr = new Uint32Array(8);

  cr0 = 0x60000010;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  cr8 = 0;
  efer = 0;
  apicBase = 0xfee00900;
  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0xffff;
  /** DR0-DR3: dr[n] is the low half of DRn, drHigh[n] the high half (64-bit in long mode). */
  readonly dr = new Uint32Array(4);
  readonly drHigh = new Uint32Array(4);
  dr6 = 0xffff0ff0;
  dr7 = 0x400;
  xcr0 = 1;
  #cpl = 0;
  /** Current privilege level (a change is announced to `cplChanged`). */
  get cpl(): number {
    return this.#cpl;
  }
  set cpl(level: number) {
    const from = this.#cpl;
    this.#cpl = level;
    if (from !== level) this.cplChanged(from, level);
  }
  /** Called when the CPL changes (the CPU moves its software TLB to the new level's entries). */
  protected cplChanged(_from: number, _to: number): void {}
  /** NMIs waiting for delivery (the kernel's nmiPending: at most 2, or 1 while NMIs are masked or one is injected). */
  nmiPending = 0;
  /** An NMI whose delivery is under way (the kernel's nmiInjected, from KVM_SET_VCPU_EVENTS): delivered first. */
  nmiInjected = false;
  /** NMIs are blocked: from the delivery of one until the next IRET. */
  nmiMasked = false;
  /** Values of MSRs without a dedicated field. */
  readonly msrs = new Map<number, bigint>();
  /** TSC = guest time (irqchip/clock.ts: host monotonic time less what was stolen, in ms) x tscKhz + tscOffset. */
  tscOffset = 0n;
  /** The guest TSC's frequency in kHz (KVM_SET_TSC_KHZ). */
  tscKhz = 1_000_000;
  /** XMM0-XMM15 (sse/xmm.ts). */
  readonly xmm = new XmmFile();
  /** The SSE control and status register. */
  mxcsr = MXCSR_RESET;
  /** The x87 unit: registers, control/status/tag words, last pointers (fpu/state.ts). */
  readonly fpu = new FpuState();

  /** Reads register n with `size` bytes (1, 2 or 4). */
  getReg(n: number, size: number): number {
    if (size === 4) return this.r32[n << 1];
    if (size === 2) return this.r16[n << 2];
    return this.r8[R8_INDEX[n]];
  }

  /** Writes register n with `size` bytes: a 32-bit write zeroes the upper half, narrower ones preserve the rest. */
  setReg(n: number, size: number, v: number): void {
    if (size === 4) {
      this.r32[n << 1] = v;
      this.r32[(n << 1) + 1] = 0;
    } else if (size === 2) this.r16[n << 2] = v;
    else this.r8[R8_INDEX[n]] = v;
  }

  /** Loads a segment register in real mode (or virtual-8086 mode): base = selector * 16. */
  loadSegReal(seg: number, sel: number): void {
    this.segSel[seg] = sel;
    this.segBase[seg] = sel * 16;
  }

  /** True when CR0.PE is set. */
  get protectedMode(): boolean {
    return (this.cr0 & 1) !== 0;
  }
}
