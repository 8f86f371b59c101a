/**
 * SSE/SSE2/SSE3 instructions on the emulator against the host CPU: every
 * case of tests/emu/sse/vectors.txt (recorded on the host by
 * tools/sse_vectors.py: one instruction, its inputs and the state the
 * host left) is run in a flat 32-bit guest (cases that need REX: in a
 * 64-bit guest), and the XMM registers, MXCSR, RAX/RCX/RDX, the arithmetic
 * flags and the memory operand are compared. Cases are grouped into one
 * test per mnemonic (of the last instruction of a sequence).
 *
 * @module
 */
import { equal } from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { runInsn, SSE_VECTORS, sseGuest, type SseState, subjectOf, UNDEFINED_FLAGS } from "./_sse.ts";

function hex(n: number): string {
  return n.toString(16);
}

/** Runs one vector and returns a description of the first difference, or "". */
export function runVector(g: ReturnType<typeof sseGuest>, v: string): string {
  const f = v.split("|");
  const [asm, bytes, , x0, x1, x2] = f;
  const [mxcsr, eax, ecx, edx, flags] = f.slice(6, 11).map((x) => parseInt(x, 16));
  const code = Uint8Array.from(bytes.match(/../g)!.map((b) => parseInt(b, 16)));
  const zero = "0".repeat(32);
  const s: SseState = { xmm: [x0, x1, x2, zero, zero, zero, zero, zero], mxcsr, eax, ecx, edx, flags, mem: x2 };
  const { reason, out: o } = runInsn(g, code, s);
  const same = [x0, x1, x2, hex(mxcsr), hex(eax), hex(ecx), hex(edx), "", x2, "0", "0", "0"];
  const exp = f.slice(11).map((e, i) => e === "=" ? same[i] : e);
  const mnemonic = subjectOf(asm);
  const defined = UNDEFINED_FLAGS[mnemonic] === undefined ? 0x8d5 : 0x8d5 & ~UNDEFINED_FLAGS[mnemonic];
  exp[7] = hex(parseInt(exp[7], 16) & defined);
  const got = [
    o.xmm[0],
    o.xmm[1],
    o.xmm[2],
    hex(o.mxcsr),
    hex(o.eax),
    hex(o.ecx),
    hex(o.edx),
    hex(o.flags & defined),
    o.mem,
    ...o.high!.map(hex),
  ];
  const names = ["xmm0", "xmm1", "xmm2", "mxcsr", "eax", "ecx", "edx", "flags", "mem", "rax.hi", "rcx.hi", "rdx.hi"];
  if (reason !== 5) return `${asm}: exit ${reason}`;
  for (let i = 0; i < names.length; i++) {
    if (got[i] !== exp[i]) {
      return `${asm} [xmm0=${x0} xmm1=${x1} xmm2=${x2} mxcsr=${hex(mxcsr)} eax=${hex(eax)}]: ${names[i]} ${
        got[i]
      }, host ${exp[i]}`;
    }
  }
  return "";
}

const groups = new Map<string, string[]>();
for (const v of SSE_VECTORS) {
  const f = v.split("|");
  const mmx = /\bmm[0-7]\b/.test(f[0]);
  const m = `${subjectOf(f[0])}${mmx ? " (MMX)" : f[2] === "64" ? " (64-bit)" : ""}`;
  if (!groups.has(m)) groups.set(m, []);
  groups.get(m)!.push(v);
}

const guest32 = sseGuest(), guest64 = sseGuest({ long: true });
for (const [m, vs] of groups) {
  test(`emu sse: ${m} (${vs.length} host cases)`, () => {
    const bad = vs.map((v) => runVector(v.split("|")[2] === "64" ? guest64 : guest32, v)).filter((x) => x);
    equal(bad.length, 0, bad.slice(0, 5).join("\n"));
  });
}
