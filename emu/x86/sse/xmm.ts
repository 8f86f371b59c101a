/**
 * The SSE register file: sixteen 128-bit XMM registers in one buffer, seen
 * as 32-bit lanes (`u32[4n..4n+3]` is XMMn, lane 0 the low dword) and as
 * byte, word, float32 and float64 views of the same bytes. MXCSR lives
 * beside it in `State`.
 *
 * @module
 */

/** MXCSR bits: the six exception flags, DAZ, the six masks, the rounding control, FTZ. */
export const MXCSR_IE = 1, MXCSR_DE = 2, MXCSR_ZE = 4, MXCSR_OE = 8, MXCSR_UE = 16, MXCSR_PE = 32;
export const MXCSR_DAZ = 0x40, MXCSR_MASK_SHIFT = 7, MXCSR_RC_SHIFT = 13, MXCSR_FTZ = 0x8000;
/** MXCSR after reset: every exception masked, round to nearest. */
export const MXCSR_RESET = 0x1f80;
/** The bits of MXCSR that LDMXCSR and FXRSTOR may set (MXCSR_MASK with DAZ). */
export const MXCSR_WRITABLE = 0xffff;

/** Sixteen XMM registers. */
export class XmmFile {
  readonly buffer = new ArrayBuffer(16 * 16);
  /** Dword lanes: register n is u32[4n] (bits 0-31) to u32[4n+3] (bits 96-127). */
  readonly u32 = new Uint32Array(this.buffer);
  readonly u16 = new Uint16Array(this.buffer);
  readonly u8 = new Uint8Array(this.buffer);
  readonly f32 = new Float32Array(this.buffer);
  readonly f64 = new Float64Array(this.buffer);
}
