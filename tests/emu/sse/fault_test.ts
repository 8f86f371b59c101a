/**
 * SSE exceptions on the emulator, in real mode (faults go through the IVT
 * to handlers that write their vector to port 0xe9): #UD without
 * CR4.OSFXSR or with CR0.EM, #NM with CR0.TS, #GP for a misaligned MOVAPS
 * operand (MOVUPS is fine) and reserved MXCSR bits in LDMXCSR, and #XM (or
 * #UD without CR4.OSXMMEXCPT) for unmasked SIMD exceptions, with the
 * destination unchanged and MXCSR flags as the host CPU leaves them
 * (recorded with a SIGFPE handler reading MXCSR from the signal context).
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { getSregs, makeGuest, runToHlt, setSregs, type TestGuest } from "../../../emu/_testing.ts";
import { getXmm, setXmm } from "./_sse.ts";
import { X86_CR0_EM, X86_CR0_TS, X86_CR4_OSFXSR, X86_CR4_OSXMMEXCPT } from "../../../constants.ts";

const ONES = "3f8000003f8000003f8000003f800000";

// 0x1000: movaps xmm0, [0x3000]; movaps xmm1, [0x3010]; addps xmm0, xmm1; mov al, 0xaa; out 0xe9, al; hlt
const ADD = "0f280600300f280e10300f58c1b0aae6e9f4";
// 0x1000: pxor mm0, mm0; emms; mov al, 0xaa; out 0xe9, al; hlt
const MMX = "0fefc00f77b0aae6e9f4";
// 0x1000: movaps xmm0, [0x3001]; hlt; movups xmm0, [0x3001]; hlt; ldmxcsr [0x3020]; hlt
const ALIGN = "0f28060130f40f10060130f40fae162030f4";

function bytes(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g)!.map((b) => parseInt(b, 16)));
}

/** A real-mode guest with handlers for vectors 6, 7, 13 and 19 (mov al, vec; out 0xe9, al; hlt). */
function guest(code: string, cr0: bigint, cr4: bigint): TestGuest {
  const g = makeGuest({ code: bytes(code) });
  for (const v of [6, 7, 13, 19]) {
    const at = 0x2000 + v * 16;
    g.mem.set([0xb0, v, 0xe6, 0xe9, 0xf4], at);
    g.mem.set([at & 0xff, at >> 8, 0, 0], v * 4);
  }
  const s = getSregs(g);
  s.cr0 = (s.cr0 & ~(X86_CR0_EM | X86_CR0_TS)) | cr0;
  s.cr4 = cr4;
  setSregs(g, s);
  const v = new DataView(g.mem.buffer);
  for (let i = 0; i < 8; i++) v.setUint32(0x3000 + 4 * i, 0x3f800000, true);
  v.setUint32(0x3010, 0x2edbe6ff, true); // 1e-10f
  return g;
}

function vectorOf(g: TestGuest): number[] {
  const { out, last } = runToHlt(g);
  equal(last.reason, 5, "ends with HLT");
  return out;
}

test("emu sse fault: #UD without CR4.OSFXSR, #UD with CR0.EM, #NM with CR0.TS", () => {
  deepEqual(vectorOf(guest(ADD, 0n, 0n)), [6]);
  deepEqual(vectorOf(guest(ADD, X86_CR0_EM, X86_CR4_OSFXSR)), [6]);
  deepEqual(vectorOf(guest(ADD, X86_CR0_TS, X86_CR4_OSFXSR)), [7]);
  deepEqual(vectorOf(guest(ADD, X86_CR0_EM | X86_CR0_TS, X86_CR4_OSFXSR)), [6], "EM is checked before TS");
  deepEqual(vectorOf(guest(ADD, 0n, X86_CR4_OSFXSR)), [0xaa], "runs with OSFXSR");
});

test("emu sse fault: MMX needs no CR4.OSFXSR; #UD with CR0.EM, #NM with CR0.TS", () => {
  deepEqual(vectorOf(guest(MMX, 0n, 0n)), [0xaa]);
  deepEqual(vectorOf(guest(MMX, X86_CR0_EM, 0n)), [6]);
  deepEqual(vectorOf(guest(MMX, X86_CR0_TS, 0n)), [7]);
});

test("emu sse fault: #GP for misaligned MOVAPS and reserved MXCSR bits; MOVUPS is fine", () => {
  const g = guest(ALIGN, 0n, X86_CR4_OSFXSR);
  deepEqual(vectorOf(g), [13]);
  const g2 = guest(ALIGN.slice(12), 0n, X86_CR4_OSFXSR); // from movups
  deepEqual(vectorOf(g2), []);
  new DataView(g2.mem.buffer).setUint32(0x3020, 0x10000, true);
  deepEqual(vectorOf(g2), [13]);
});

/** Runs ADD with `mxcsr` and lane 0 of xmm1 replaced by `b0`; returns the vector stream, xmm0 and MXCSR. */
function unmasked(mxcsr: number, cr4: bigint, a0: number, b0: number): { out: number[]; xmm0: string; mxcsr: number } {
  const g = guest(ADD, 0n, cr4);
  const v = new DataView(g.mem.buffer);
  v.setUint32(0x3000, a0, true);
  v.setUint32(0x3010, b0, true);
  v.setUint32(0x3014, 0x2edbe6ff, true); // lane 1: 1 + 1e-10 is inexact
  setXmm(g, [], mxcsr);
  const out = vectorOf(g);
  const x = getXmm(g);
  return { out, xmm0: x.xmm[0], mxcsr: x.mxcsr };
}

test("emu sse fault: unmasked exceptions raise #XM (or #UD) with the flags the host sets", () => {
  const both = X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
  // Unmasked PE: flags PE, the destination keeps the loaded value (host: fa0).
  let r = unmasked(0x0f80, both, 0x3f800000, 0x3f800000);
  deepEqual([r.out, r.xmm0, r.mxcsr.toString(16)], [[19], ONES, "fa0"]);
  r = unmasked(0x0f80, X86_CR4_OSFXSR, 0x3f800000, 0x3f800000);
  deepEqual([r.out, r.mxcsr.toString(16)], [[6], "fa0"], "#UD without OSXMMEXCPT");
  // inf + -inf in lane 0 and an inexact lane: unmasked IE reports IE alone (host: 1f01).
  r = unmasked(0x1f00, both, 0x7f800000, 0xff800000);
  deepEqual([r.out, r.mxcsr.toString(16)], [[19], "1f01"]);
  // Same with PE unmasked: IE (masked) and PE together (host: fa1).
  r = unmasked(0x0f80, both, 0x7f800000, 0xff800000);
  deepEqual([r.out, r.mxcsr.toString(16)], [[19], "fa1"]);
  // A denormal operand with DE unmasked: DE alone (host: 1e82).
  r = unmasked(0x1e80, both, 0x3f800000, 0x00000001);
  deepEqual([r.out, r.mxcsr.toString(16)], [[19], "1e82"]);
  // A tiny result with UE unmasked faults; lane 1 adds PE (host: 17b0).
  r = unmasked(0x1780, both, 0x00a3d70a, 0x80987c6e);
  deepEqual([r.out, r.mxcsr.toString(16)], [[19], "17b0"]);
  r = unmasked(0x1f80, both, 0x3f800000, 0x3f800000);
  deepEqual([r.out, r.mxcsr.toString(16)], [[0xaa], "1fa0"], "all masked: no fault");
});
