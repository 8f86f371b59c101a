/**
 * Helpers for the SSE tests on the emulator: a flat 32-bit guest with
 * CR4.OSFXSR and CR4.OSXMMEXCPT set, XMM registers and MXCSR loaded and read
 * through KVM_SET_FPU / KVM_GET_FPU, and `runInsn`, which runs one
 * instruction (followed by HLT) from a given register state and returns the
 * state after it. ESI points at a 16-byte aligned memory operand that holds
 * a copy of XMM2.
 *
 * @module
 */
import * as R from "../../../abi/requests.ts";
import { kvmFpu } from "../../../abi/structs.ts";
import { getRegs, getSregs, makeGuest, runOnce, setRegs, setSregs, type TestGuest } from "../../../emu/_testing.ts";
import { readVectors } from "../../_support/vectors.ts";

/** The SSE vectors recorded on the host (vectors.txt, whose comments give the fields), one case per string. */
export const SSE_VECTORS: readonly string[] = readVectors(new URL("./vectors.txt", import.meta.url));

/** Flags the architecture leaves undefined, by mnemonic (OF 0x800, SF 0x80, ZF 0x40, AF 0x10, PF 4, CF 1). */
export const UNDEFINED_FLAGS: Record<string, number> = {
  lzcnt: 0x894,
  tzcnt: 0x894,
  andn: 0x14,
  bextr: 0x94,
  blsi: 0x14,
  blsmsk: 0x14,
  blsr: 0x14,
  bzhi: 0x14,
};

/** Where the memory operand lives in the guest. */
export const MEM_ADDR = 0x3000;
/** Where the instruction is placed. */
export const CODE_ADDR = 0x1000;

const XMM = kvmFpu.offsetOf("xmm"), MXCSR = kvmFpu.offsetOf("mxcsr");

/** Register state in and out of one instruction (XMM registers as 32 hex digits, most significant first). */
export interface SseState {
  xmm: string[];
  mxcsr: number;
  eax: number;
  ecx: number;
  edx: number;
  flags: number;
  /** The 16 bytes at ESI, as 32 hex digits (most significant first). */
  mem: string;
  /** The high halves of RAX, RCX, RDX (outputs only). */
  high?: number[];
}

/** A guest for `runInsn`, in flat 32-bit protected mode (or 64-bit mode) at CPL 0 with SSE enabled. */
export function sseGuest(options: { vendor?: "intel" | "amd"; long?: boolean } = {}): TestGuest {
  const g = makeGuest({ mode: "flat32", vendor: options.vendor ?? "amd" });
  const s = getSregs(g);
  s.cr4 |= 0x600n;
  if (options.long) {
    // 4-level paging: PML4 0xa000, PDPT 0xb000, PD 0xc000 with one 2 MiB page at 0.
    const v = new DataView(g.mem.buffer);
    v.setUint32(0xa000, 0xb000 | 7, true);
    v.setUint32(0xb000, 0xc000 | 7, true);
    v.setUint32(0xc000, 0x87, true);
    s.cs = { ...s.cs, l: 1, db: 0 };
    s.cr3 = 0xa000n;
    s.cr4 |= 0x20n;
    s.efer = 0x500n;
    s.cr0 |= 0x80000001n;
  }
  if (setSregs(g, s) !== 0) throw new Error("KVM_SET_SREGS");
  return g;
}

/** 16 bytes (little endian) from 32 hex digits, most significant first. */
export function hexToBytes(h: string): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[15 - i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return b;
}

/** 32 hex digits, most significant first, from 16 little-endian bytes. */
export function bytesToHex(b: Uint8Array): string {
  let s = "";
  for (let i = 15; i >= 0; i--) s += b[i].toString(16).padStart(2, "0");
  return s;
}

/** Loads XMM0-7 and MXCSR (KVM_SET_FPU). */
export function setXmm(g: TestGuest, xmm: readonly string[], mxcsr: number): void {
  const fpu = new Uint8Array(kvmFpu.size);
  if (g.k.ioctl(g.vcpu, R.KVM_GET_FPU, fpu) !== 0) throw new Error("KVM_GET_FPU");
  xmm.forEach((h, i) => fpu.set(hexToBytes(h), XMM + 16 * i));
  new DataView(fpu.buffer).setUint32(MXCSR, mxcsr, true);
  if (g.k.ioctl(g.vcpu, R.KVM_SET_FPU, fpu) !== 0) throw new Error("KVM_SET_FPU");
}

/** Reads XMM0-7 and MXCSR (KVM_GET_FPU). */
export function getXmm(g: TestGuest): { xmm: string[]; mxcsr: number } {
  const fpu = new Uint8Array(kvmFpu.size);
  if (g.k.ioctl(g.vcpu, R.KVM_GET_FPU, fpu) !== 0) throw new Error("KVM_GET_FPU");
  const xmm = [];
  for (let i = 0; i < 8; i++) xmm.push(bytesToHex(fpu.subarray(XMM + 16 * i, XMM + 16 * i + 16)));
  return { xmm, mxcsr: new DataView(fpu.buffer).getUint32(MXCSR, true) };
}

/** Runs `code` (one instruction) then HLT from state `s`; returns the exit reason and the state after. */
export function runInsn(g: TestGuest, code: Uint8Array, s: SseState): { reason: number; out: SseState } {
  g.mem.set(code, CODE_ADDR);
  g.mem[CODE_ADDR + code.length] = 0xf4;
  g.mem.set(hexToBytes(s.mem), MEM_ADDR);
  setXmm(g, s.xmm, s.mxcsr);
  setRegs(g, {
    ...getRegs(g),
    rax: BigInt(s.eax),
    rcx: BigInt(s.ecx),
    rdx: BigInt(s.edx),
    rsi: BigInt(MEM_ADDR),
    rip: BigInt(CODE_ADDR),
    rflags: BigInt(s.flags | 2),
  });
  const e = runOnce(g);
  const r = getRegs(g);
  const x = getXmm(g);
  return {
    reason: e.reason,
    out: {
      xmm: x.xmm,
      mxcsr: x.mxcsr,
      eax: Number(r.rax & 0xffffffffn),
      ecx: Number(r.rcx & 0xffffffffn),
      edx: Number(r.rdx & 0xffffffffn),
      high: [r.rax, r.rcx, r.rdx].map((x) => Number(x >> 32n)),
      flags: Number(r.rflags),
      mem: bytesToHex(g.mem.subarray(MEM_ADDR, MEM_ADDR + 16)),
    },
  };
}

/** Setup steps of the multi-instruction cases (operands moved in and out), left out when naming a case. */
const SETUP = /^(movdq2q mm[01], xmm[01]|movq2dq xmm0, mm0|emms|movq r[cda]x, xmm[012])$/;

/** The mnemonic a case tests: the last instruction of its sequence that is not a setup step. */
export function subjectOf(asm: string): string {
  const parts = asm.split("; ").filter((p) => !SETUP.test(p));
  return (parts.at(-1) ?? asm).split(" ")[0];
}
