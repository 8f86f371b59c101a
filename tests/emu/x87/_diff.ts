/**
 * A differential harness for the x87 at CPL 3 in 64-bit mode, where
 * kvm_pvm runs guest code natively on the host CPU (an AMD EPYC at first,
 * an Intel Sapphire Rapids since): random x87 instruction streams from a
 * random initial state, run on the kvm backend (the oracle) and on the
 * emulator presenting the host's vendor, and every output compared.
 *
 * A case is a record of {@linkcode RECORD} bytes and a stretch of code:
 * `PRE` (rbx = the record; FXRSTOR64 of the random initial state; rsi = the
 * operand slots, rdi = the save area; RAX and RFLAGS from the record), the
 * stream, then `POST` (RFLAGS and RAX into the record, FXSAVE64, FNSTENV).
 * Every exception vector goes to a CPL 0 handler `mov dx, 0x7700 + vector;
 * out dx, al; hlt`, so the host sees which vector was raised. An unmasked
 * x87 exception raises #MF (CR0.NE is set) at the next waiting x87
 * instruction: the host writes the vector and the faulting instruction's
 * offset into the record and resumes the program at the case's `POST`, so
 * the state at the fault is compared too. The program ends with `hlt` (#GP
 * at CPL 3).
 *
 * Compared: FCW, FSW (TOP, C0-C3, ES, B, SF and the flags), the abridged
 * tag byte, FOP, FIP and FDP (FXSAVE64), ST(0)-ST(7) with their 80 bits,
 * MXCSR, the full tag word and the pointers of FNSTENV, RFLAGS (the
 * arithmetic flags), RAX (FNSTSW AX), the operand slots and the save area
 * (what the stores wrote), and the #MF vector and faulting instruction.
 * FOP, FIP and FDP follow the vendor the emulator presents (see
 * tests/emu/x87/diff_test.ts). Not compared: MXCSR_MASK (the AMD host
 * reports 0x2ffff, the emulator
 * 0xffff), the FCS and FDS selectors that FNSTENV, FNSAVE and FXSAVE (no
 * REX.W) store (kvm_pvm runs the guest on the host's own selectors, which
 * the x87 records).
 *
 * @module
 */
import type { Kvm } from "../../../mod.ts";
import { enterLongMode, LM_RSP0, longMachine, setGate, view } from "../../_support/long_mode.ts";
import {
  hexBytes,
  IN_RFLAGS,
  MEM,
  MF_INFO,
  OUT_ENV,
  OUT_FX,
  OUT_RAX,
  OUT_RFLAGS,
  RECORD,
  SAVE,
  SAVE_END,
  type X87Case,
} from "./_gen.ts";

const CODE = 0x100000, RECORDS = 0x200000, HANDLERS = 0x3100;
/** Cases per guest program (the records fill the 2 MiB page at 2 MiB). */
export const CASES_PER_PROGRAM = 1000;

// mov ebx, rec / fxrstor64 [rbx] / lea rsi, [rbx+0x400] / lea rdi, [rbx+0x500] / mov rax, [rbx+0x488] /
// push qword [rbx+0x480] / popfq
const PRE = "bb00000000480fae0b488db300040000488dbb00050000488b8388040000ffb3800400009d";
// pushfq / pop qword [rbx+0x490] / mov [rbx+0x498], rax / fxsave64 [rbx+0x200] / fnstenv [rbx+0x4a0]
const POST = "9c8f839004000048898398040000480fae8300020000d9b3a0040000";
const END = "f4";

export interface X87Program {
  code: Uint8Array;
  records: Uint8Array;
  cases: X87Case[];
  starts: number[];
  posts: number[];
  end: number;
}

/** Lays out `cases` as one program. */
export function buildProgram(cases: X87Case[]): X87Program {
  const pre = hexBytes(PRE), post = hexBytes(POST);
  const code: number[] = [], starts: number[] = [], posts: number[] = [];
  const records = new Uint8Array(cases.length * RECORD);
  cases.forEach((c, i) => {
    records.set(c.record, i * RECORD);
    const rec = RECORDS + i * RECORD;
    starts.push(CODE + code.length);
    code.push(0xbb, rec & 0xff, (rec >> 8) & 0xff, (rec >> 16) & 0xff, rec >>> 24, ...pre.slice(5));
    for (const x of c.insns) code.push(...x.bytes);
    posts.push(CODE + code.length);
    code.push(...post);
  });
  const end = CODE + code.length;
  code.push(...hexBytes(END));
  return { code: Uint8Array.from(code), records, cases, starts, posts, end };
}

/** The index of the case whose code holds `rip`. */
function caseAt(p: X87Program, rip: number): number {
  let i = 0;
  while (i + 1 < p.starts.length && p.starts[i + 1] <= rip) i++;
  return i;
}

/** Runs a program on one backend; returns the records after it, or how it ended otherwise. */
export function runOn(kvm: Kvm, p: X87Program): Uint8Array | string {
  using m = longMachine(kvm);
  const mv = view(m.mem);
  for (let vec = 0; vec < 32; vec++) {
    const at = HANDLERS + 8 * vec;
    m.mem.bytes.set([0x66, 0xba, vec, 0x77, 0xee, 0xf4], at); // mov dx, 0x77vv / out dx, al / hlt
    setGate(m.mem, vec, BigInt(at));
  }
  m.mem.bytes.set(p.code, CODE);
  m.mem.bytes.set(p.records, RECORDS);
  enterLongMode(m.vcpu, BigInt(CODE), { cpl: 3, cr4: 0x600n });
  for (let faults = 0; faults <= p.cases.length; faults++) {
    const e = m.vcpu.run({ timeoutMs: 20000 });
    if (e.reason !== "io" || e.port >> 8 !== 0x77) {
      return `${e.reason} at rip 0x${m.vcpu.getRegs().rip.toString(16)}`;
    }
    const vector = e.port & 0xff, rip = Number(mv.getBigUint64(LM_RSP0 - 40, true));
    if (vector === 13 && rip === p.end) return m.mem.bytes.slice(RECORDS, RECORDS + p.records.length);
    const i = caseAt(p, rip);
    if (vector !== 16 || rip >= p.posts[i]) return `vector ${vector} at rip 0x${rip.toString(16)} (case ${i})`;
    mv.setUint32(RECORDS + i * RECORD + MF_INFO, vector, true);
    mv.setUint32(RECORDS + i * RECORD + MF_INFO + 4, rip - p.starts[i], true);
    enterLongMode(m.vcpu, BigInt(p.posts[i]), {
      cpl: 3,
      cr4: 0x600n,
      rsp: mv.getBigUint64(LM_RSP0 - 16, true),
      rflags: mv.getBigUint64(LM_RSP0 - 24, true),
    });
  }
  return "too many faults";
}

/** How many of the first `n` cases in a run's records ended in #MF. */
export function faultCount(records: Uint8Array, n: number): number {
  const v = new DataView(records.buffer, records.byteOffset);
  let k = 0;
  for (let i = 0; i < n; i++) if (v.getUint32(i * RECORD + MF_INFO, true) === 16) k++;
  return k;
}

/** A named stretch of the record, for reports. */
const FIELDS: readonly [number, number, string][] = [
  [OUT_FX, 2, "FCW"],
  [OUT_FX + 2, 2, "FSW"],
  [OUT_FX + 4, 1, "FTW (abridged)"],
  [OUT_FX + 6, 2, "FOP"],
  [OUT_FX + 8, 8, "FIP"],
  [OUT_FX + 16, 8, "FDP"],
  [OUT_FX + 24, 4, "MXCSR"],
  ...Array.from({ length: 8 }, (_, i): [number, number, string] => [OUT_FX + 32 + 16 * i, 16, `ST(${i})`]),
  [OUT_FX + 160, 352, "FXSAVE64 XMM/reserved"],
  [MEM, 128, "operand slots"],
  [OUT_RFLAGS, 8, "RFLAGS"],
  [OUT_RAX, 8, "RAX"],
  [OUT_ENV, 28, "FNSTENV"],
  [MF_INFO, 8, "#MF (vector, offset)"],
  [SAVE, SAVE_END - SAVE, "save area"],
];

/** The bytes of record `c` not compared: MXCSR_MASK, FNSTENV's selectors, selectors stored in the save area. */
function ignored(c: X87Case): Set<number> {
  const s = new Set([OUT_FX + 28, OUT_FX + 29, OUT_FX + 30, OUT_FX + 31]);
  for (const k of [16, 17, 24, 25]) s.add(OUT_ENV + k);
  for (const x of c.insns) for (const k of x.selectors ?? []) s.add(SAVE + k);
  return s;
}

function hexOf(b: Uint8Array, at: number, n: number): string {
  return Array.from(b.subarray(at, at + n), (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A field for reading: words and quadwords as numbers, 80-bit values as exponent:significand, else bytes. */
function field(b: Uint8Array, at: number, n: number): string {
  const v = new DataView(b.buffer, b.byteOffset);
  if (n === 2 || n === 1) return (n === 2 ? v.getUint16(at, true) : b[at]).toString(16).padStart(2 * n, "0");
  if (n === 8) return v.getBigUint64(at, true).toString(16);
  if (n === 16) return `${v.getUint16(at + 8, true).toString(16)}:${v.getBigUint64(at, true).toString(16)}`;
  return hexOf(b, at, Math.min(n, 32));
}

/** The differences in case `i` of two runs' records, one line per field, or [] when they agree. */
export function compareCase(c: X87Case, a: Uint8Array, b: Uint8Array, i = 0): string[] {
  const at = i * RECORD, skip = ignored(c), out: string[] = [];
  const flagsMask = 0x8d5;
  for (const [off, n, name] of FIELDS) {
    let bad = false;
    for (let k = off; k < off + n && !bad; k++) {
      if (skip.has(k)) continue;
      let x = a[at + k], y = b[at + k];
      if (off === OUT_RFLAGS && k < off + 2) {
        x &= k === off ? flagsMask & 0xff : flagsMask >> 8;
        y &= k === off ? flagsMask & 0xff : flagsMask >> 8;
      }
      if (x !== y) bad = true;
    }
    if (!bad) continue;
    out.push(`${name}: kvm ${field(a, at + off, n)} emu ${field(b, at + off, n)}`);
  }
  return out;
}

/** The case as text: the initial state (FXRSTOR image fields and registers), operand slots, stream. */
export function describe(c: X87Case): string {
  const v = new DataView(c.record.buffer), r = c.record;
  const st = Array.from({ length: 8 }, (_, i) => hexOf(r, 32 + 16 * i, 10)).join(" ");
  const lines = [
    `  initial FCW ${v.getUint16(0, true).toString(16)} FSW ${v.getUint16(2, true).toString(16)} FTW ${
      r[4].toString(16)
    } RFLAGS ${v.getUint32(IN_RFLAGS, true).toString(16)}`,
    `  ST(0..7) (memory order) ${st}`,
    `  slots ${Array.from({ length: 8 }, (_, i) => hexOf(r, MEM + 16 * i, 10)).join(" ")}`,
  ];
  if (c.insns.some((x) => /ldenv|rstor/.test(x.asm))) lines.push(`  save area ${hexOf(r, SAVE, 108)}`);
  lines.push(`  stream: ${c.insns.map((x) => x.asm).join("; ")}`);
  return lines.join("\n");
}

/** Runs one case alone on both kernels; the differences, or a line saying how a run ended otherwise. */
export function diffOne(kvm: Kvm, emu: Kvm, c: X87Case): string[] {
  const p = buildProgram([c]);
  const a = runOn(kvm, p), b = runOn(emu, p);
  if (typeof a === "string" || typeof b === "string") {
    return String(a) === String(b)
      ? []
      : [`kvm ${typeof a === "string" ? a : "ok"}, emu ${typeof b === "string" ? b : "ok"}`];
  }
  return compareCase(c, a, b);
}

/**
 * Whether a case that disagreed inside its program disagrees again when run alone, twice. On an AMD host
 * FOP, FIP and FDP are lost (zeros) whenever KVM saves and restores the guest's x87 state while no unmasked
 * exception is pending, which a host interrupt can do between any two guest instructions: a disagreement that
 * goes away on a rerun is that, not the emulator. (An Intel host keeps them: there no rerun is needed.)
 */
export function reproduces(kvm: Kvm, emu: Kvm, c: X87Case): boolean {
  return diffOne(kvm, emu, c).length > 0 && diffOne(kvm, emu, c).length > 0;
}

/** Shrinks a disagreeing case: drops instructions while the two kernels still disagree. */
export function minimize(kvm: Kvm, emu: Kvm, c: X87Case): X87Case {
  let cur = c;
  for (let changed = true; changed;) {
    changed = false;
    for (let i = 0; i < cur.insns.length && cur.insns.length > 1; i++) {
      const t: X87Case = { record: cur.record, insns: cur.insns.filter((_, k) => k !== i) };
      if (reproduces(kvm, emu, t)) {
        cur = t;
        changed = true;
        i--;
      }
    }
  }
  return cur;
}
