/**
 * A differential harness for SSE at CPL 3 in 64-bit mode, where kvm_pvm
 * runs guest code natively on the host CPU: random inputs (special float
 * values, random lanes, every MXCSR rounding mode with DAZ/FTZ) for the
 * instructions of tests/emu/sse/vectors.txt, many cases per guest program, run
 * on the kvm backend (the oracle) and the emulator, and every output byte
 * compared (XMM0-2, MXCSR, RAX/RCX/RDX, the memory operand, the arithmetic
 * flags less the undefined ones).
 *
 * Each case is `PRE` (rbx = the case's record; load XMM0-2, MXCSR, EAX,
 * ECX, EDX, RSI = the memory operand, RFLAGS), the instruction, then `POST`
 * (store RFLAGS, XMM0-2, MXCSR, RAX, RCX, RDX into the record). The program
 * ends with `mov al, 1; hlt`: #GP at CPL 3, reported by the CPL 0 handler.
 *
 * @module
 */
import type { Kvm } from "../../../mod.ts";
import { enterLongMode, longMachine, P, setPte, W } from "../../_support/long_mode.ts";
import { SSE_VECTORS, subjectOf, UNDEFINED_FLAGS } from "./_sse.ts";
import { Sfc32 } from "../../../diff/prng.ts";

// nasm, bits 64: mov ebx, rec / movdqu xmm0, [rbx] / movdqu xmm1, [rbx+16] / movdqu xmm2, [rbx+32] /
// ldmxcsr [rbx+48] / mov eax, [rbx+52] / mov ecx, [rbx+56] / mov edx, [rbx+60] / lea rsi, [rbx+64] /
// push qword [rbx+80] / popfq
const PRE = "bb44332211f30f6f03f30f6f4b10f30f6f53200fae53308b43348b4b388b533c488d7340ff73509d";
// pushfq / pop qword [rbx+88] / movdqu [rbx+96], xmm0 / movdqu [rbx+112], xmm1 / movdqu [rbx+128], xmm2 /
// stmxcsr [rbx+144] / mov [rbx+152], rax / mov [rbx+160], rcx / mov [rbx+168], rdx
const POST = "9c8f4358f30f7f4360f30f7f4b70f30f7f93800000000fae9b900000004889839800000048898ba0000000488993a8000000";
// mov al, 1 / hlt
const END = "b001f4";

const CODE = 0x100000, RECORDS = 0x200000, RECORD = 192, FLAGS_AT = 88;
/** Cases per guest program. */
export const CASES_PER_PROGRAM = 1000;

const F32 = [
  0x00000000,
  0x80000000,
  0x3f800000,
  0xbf800000,
  0x3fc00000,
  0x3dcccccd,
  0x7f7fffff,
  0xff7fffff,
  0x00800000,
  0x80800000,
  0x00000001,
  0x007fffff,
  0x80400000,
  0x7f800000,
  0xff800000,
  0x7fc00000,
  0x7fc12345,
  0xffc00001,
  0x7f800001,
  0xffa00000,
  0x4b800001,
  0x4f000000,
  0xcf000000,
  0x4effffff,
  0x3f000000,
  0x00c00000,
  0x33800000,
];
/**
 * High words of doubles at the ends of the ranges (+0 and -0, +1 and -1, the largest finite, the smallest
 * normal, the largest subnormal), which both the SSE and the x87 generators bias towards.
 */
export const F64_HI_BOUNDS: readonly number[] = [
  0x00000000,
  0x80000000,
  0x3ff00000,
  0xbff00000,
  0x7fefffff,
  0x00100000,
  0x000fffff,
];
const F64_HI = [
  ...F64_HI_BOUNDS,
  0x80080000,
  0x7ff00000,
  0xfff00000,
  0x7ff80000,
  0x7ff00000,
  0xfff40000,
  0x41e00000,
  0xc1e00000,
  0x43e00000,
  0x3fe00000,
  0x36a00000,
  0x3ca00000,
  0x43400000,
  0x00000000,
];
const MXCSRS = [0x1f80, 0x1f80, 0x3f80, 0x5f80, 0x7f80, 0x9fc0, 0x1fc0, 0x9f80, 0xff80, 0xbf80];

/** The sfc32 generator, seeded directly with `seed` (same sequence on every engine). */
export class Prng extends Sfc32 {
  constructor(seed: number) {
    super(seed >>> 0, 0x9e3779b9, 0x85ebca6b);
  }
  /** The next 32-bit value. */
  next(): number {
    return this.u32();
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return this.next() % n;
  }
}

/** One instruction under test: its assembly, bytes, and the kind of values its inputs should be. */
export interface SseForm {
  asm: string;
  bytes: number[];
  kind: "ps" | "pd" | "int";
  mnemonic: string;
}

/** The instructions of the host-recorded vectors, once each (LDMXCSR left out: its input would be random). */
export function sseForms(): SseForm[] {
  const seen = new Map<string, SseForm>();
  for (const v of SSE_VECTORS) {
    const [asm, hex] = v.split("|");
    if (seen.has(asm) || asm.includes("ldmxcsr")) continue;
    const mnemonic = subjectOf(asm);
    const ps = /(ps|ss)\b/.test(mnemonic) || /^(cvtss|cvttss)/.test(mnemonic);
    const pd = /(pd|sd)\b/.test(mnemonic) || /^(cvtsd|cvttsd)/.test(mnemonic);
    seen.set(asm, {
      asm,
      bytes: hex.match(/../g)!.map((b) => parseInt(b, 16)),
      kind: ps ? "ps" : pd ? "pd" : "int",
      mnemonic,
    });
  }
  return [...seen.values()];
}

function lane32(r: Prng, kind: string, odd: boolean): number {
  const k = r.below(8);
  if (kind === "ps") return k < 5 ? F32[r.below(F32.length)] : r.next();
  if (kind === "pd") return odd ? (k < 5 ? F64_HI[r.below(F64_HI.length)] : r.next()) : k < 4 ? 0 : r.next();
  return k < 2 ? [0, 0xffffffff, 0x80000000, 0x7fffffff, 0x80008000, 0x00ff00ff][r.below(6)] : r.next();
}

/** Writes the inputs of one case into its record. */
function fillRecord(v: DataView, at: number, r: Prng, kind: string): void {
  for (let x = 0; x < 3; x++) {
    for (let i = 0; i < 4; i++) v.setUint32(at + 16 * x + 4 * i, lane32(r, kind, (i & 1) === 1), true);
  }
  v.setUint32(at + 48, MXCSRS[r.below(MXCSRS.length)], true);
  for (let i = 0; i < 3; i++) v.setUint32(at + 52 + 4 * i, lane32(r, "int", false), true);
  for (let i = 0; i < 16; i++) v.setUint8(at + 64 + i, v.getUint8(at + 32 + i));
  v.setBigUint64(at + 80, BigInt((r.next() & 0x8d5) | 2), true);
}

/** A program of `n` random cases: its code, its initial records, and the form of each case. */
export function buildProgram(forms: readonly SseForm[], n: number, r: Prng): {
  code: Uint8Array;
  records: Uint8Array;
  cases: SseForm[];
} {
  const pre = PRE.match(/../g)!.map((b) => parseInt(b, 16));
  const post = POST.match(/../g)!.map((b) => parseInt(b, 16));
  const code: number[] = [], cases: SseForm[] = [];
  const records = new Uint8Array(n * RECORD);
  const v = new DataView(records.buffer);
  for (let i = 0; i < n; i++) {
    const f = forms[r.below(forms.length)];
    cases.push(f);
    fillRecord(v, i * RECORD, r, f.kind);
    const rec = RECORDS + i * RECORD;
    code.push(
      0xbb,
      rec & 0xff,
      (rec >> 8) & 0xff,
      (rec >> 16) & 0xff,
      rec >>> 24,
      ...pre.slice(5),
      ...f.bytes,
      ...post,
    );
  }
  code.push(...END.match(/../g)!.map((b) => parseInt(b, 16)));
  return { code: Uint8Array.from(code), records, cases };
}

/** Runs a program on one backend; returns the records after it, or a description of how it ended otherwise. */
export function runOn(kvm: Kvm, code: Uint8Array, records: Uint8Array): Uint8Array | string {
  using m = longMachine(kvm);
  setPte(m.mem, 0, P | W);
  m.mem.bytes.set(code, CODE);
  m.mem.bytes.set(records, RECORDS);
  enterLongMode(m.vcpu, BigInt(CODE), { cpl: 3, cr4: 0x600n });
  const e = m.vcpu.run();
  if (e.reason !== "io" || e.port !== 0xe9 || e.data[0] !== 1) {
    return `${e.reason} at rip 0x${m.vcpu.getRegs().rip.toString(16)}`;
  }
  return m.mem.bytes.slice(RECORDS, RECORDS + records.length);
}

/** The differences between two runs' records, described per case (at most `max`). */
export function compareRecords(cases: readonly SseForm[], a: Uint8Array, b: Uint8Array, max = 10): string[] {
  const out: string[] = [];
  const va = new DataView(a.buffer, a.byteOffset), vb = new DataView(b.buffer, b.byteOffset);
  for (let i = 0; i < cases.length && out.length < max; i++) {
    const at = i * RECORD, mask = 0x8d5 & ~(UNDEFINED_FLAGS[cases[i].mnemonic] ?? 0);
    let bad = (va.getUint32(at + FLAGS_AT, true) & mask) !== (vb.getUint32(at + FLAGS_AT, true) & mask);
    for (let k = 0; k < RECORD && !bad; k++) {
      if (k >= FLAGS_AT && k < FLAGS_AT + 8) continue;
      if (a[at + k] !== b[at + k]) bad = true;
    }
    if (bad) {
      const hex = (x: Uint8Array) =>
        Array.from(x.subarray(at, at + 176), (y) => y.toString(16).padStart(2, "0")).join("");
      out.push(`case ${i} ${cases[i].asm}:\n  kvm ${hex(a)}\n  emu ${hex(b)}`);
    }
  }
  return out;
}
