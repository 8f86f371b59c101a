/**
 * The emulator's block compiler (emu/x86/jit/) on seeded random straight-line programs of the instructions it
 * writes out inline (MOV, the ALU operations, TEST, INC/DEC, LEA, loads and stores), generic instructions between
 * them (ADC, SBB, ROL, IMUL, SETcc) and Jcc over one instruction, in 32-bit protected mode and 64-bit mode, run
 * with `blockCompiler: "off"`, `"eager"` and, where /dev/kvm opens, on KVM: the 16 registers, RIP, the arithmetic
 * flags and a data area must agree. The programs of 8- and 16-bit operations, memory operands, shifts and IMUL,
 * run on both of the emulator's personalities, are in random_narrow_test.ts; the guests and runners both use are
 * in _jit.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../../../mod.ts";
import { Prng } from "../../../diff/prng.ts";
import { skip, test } from "../../_support/harness.ts";
import {
  AF,
  ARITH,
  type Bits,
  CC,
  CF,
  COND_READS,
  DATA,
  differences,
  GPR,
  h32,
  kvmMissing,
  le32,
  le64,
  OF,
  type Op,
  openEmu,
  type Outcome,
  PF,
  type Program,
  regName,
  report,
  rex,
  rr,
  RSP,
  runner,
  SF,
  ZF,
} from "./_jit.ts";
import { KSTACK } from "../../_support/sys.ts";
import { LM_STACK } from "../../_support/long_mode.ts";

// ---------------------------------------------------------------------------------------------------------------
// Random programs

/** The size of the data area (at DATA) the programs load from and store to. */
const DATA_SIZE = 64;

/** Edge values of registers and immediates (those of 64 bits in 64-bit mode only). */
const EDGES32 = [0n, 1n, 0x7ffffffen, 0x7fffffffn, 0x80000000n, 0x80000001n, 0xfffffffen, 0xffffffffn];
const EDGES64 = [0x100000000n, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffff00000000n, 0xffffffffffffffffn];

/** A generator of random programs in one mode. */
class Generator {
  readonly #r: Prng;
  readonly #bits: Bits;
  readonly #ops: Op[] = [];
  #undefined = 0;
  /** While set, register values and immediates are edge values. */
  #edge = false;

  constructor(r: Prng, bits: Bits) {
    this.#r = r;
    this.#bits = bits;
  }

  /** A program of `n` random steps, then HLT. */
  program(n: number): Program {
    const r = this.#r;
    const regs = GPR.map((_, i) =>
      i === RSP ? BigInt(this.#bits === 64 ? LM_STACK : KSTACK) : this.#value(i < 8 || this.#bits === 64)
    );
    const rflags = 2n | BigInt(r.u32() & ARITH);
    const data = Array.from({ length: DATA_SIZE }, () => r.below(256));
    for (let i = 0; i < n; i++) this.#step();
    this.#emit({ bytes: [0xf4], asm: "hlt" });
    const code = this.#ops.flatMap((o) => o.bytes);
    return { bits: this.#bits, ops: this.#ops, code, regs, rflags, data, undefinedFlags: this.#undefined };
  }

  /** A register value: random, or one of the edge values. In 32-bit mode `wide` is false for EAX-EDI. */
  #value(wide: boolean): bigint {
    const r = this.#r;
    if (this.#edge || r.chance(1, 3)) {
      return r.pick(this.#bits === 64 && wide ? [...EDGES32, ...EDGES64] : EDGES32);
    }
    const lo = BigInt(r.u32());
    return wide && this.#bits === 64 && r.chance(2, 3) ? (BigInt(r.u32()) << 32n) | lo : lo;
  }

  #imm32(): number {
    const r = this.#r;
    return this.#edge || r.chance(1, 3) ? r.pick([...EDGES32.map(Number), 0x7f, 0x80]) : r.u32();
  }

  #imm8(): number {
    const r = this.#r;
    return this.#edge || r.chance(1, 3) ? r.pick([0, 1, 0x7f, 0x80, 0xfe, 0xff]) : r.below(256);
  }

  /** A destination register: never ESP/RSP. */
  #dst(): number {
    const n = this.#bits === 64 ? 16 : 8;
    for (;;) {
      const d = this.#r.below(n);
      if (d !== RSP) return d;
    }
  }

  #src(): number {
    return this.#r.below(this.#bits === 64 ? 16 : 8);
  }

  #size(): number {
    return this.#bits === 64 && this.#r.chance(1, 2) ? 8 : 4;
  }

  #emit(op: Op): void {
    this.#ops.push(op);
    this.#undefined = (this.#undefined & ~(op.writes ?? 0)) | (op.undef ?? 0);
  }

  /** Makes sure the flags `reads` are defined: else a CMP, which sets them all, goes first. */
  #define(reads: number): void {
    if ((this.#undefined & reads) !== 0) this.#emit(this.#alu(7, this.#dst(), this.#src(), 4, false));
  }

  #step(): void {
    const r = this.#r;
    const kind = r.weighted<string>([
      ["movImm", 3],
      ["aluRR", 5],
      ["aluImm", 5],
      ["test", 2],
      ["incDec", 3],
      ["movRR", 2],
      ["lea", 1],
      ["memory", 2],
      ["adcSbb", 2],
      ["rol", 1],
      ["imul", 1],
      ["setcc", 1],
      ["jcc", 4],
      ["probe", 4],
    ]);
    const size = this.#size(), d = this.#dst();
    switch (kind) {
      case "movImm":
        return this.#emit(this.#movImm(d, size));
      case "aluRR":
        return this.#emit(this.#alu(r.pick([0, 1, 4, 5, 6, 7]), d, this.#src(), size, r.chance(1, 2)));
      case "aluImm":
        return this.#emit(this.#aluImm(r.pick([0, 1, 4, 5, 6, 7]), d, size));
      case "test":
        return this.#emit(this.#test(d, size));
      case "incDec":
        return this.#emit(this.#incDec(r.chance(1, 2), d, size));
      case "movRR": {
        const s = this.#src(), load = r.chance(1, 2);
        const bytes = rr([load ? 0x8b : 0x89], load ? d : s, load ? s : d, size);
        return this.#emit({ bytes, asm: `mov ${regName(d, size)}, ${regName(s, size)}` });
      }
      case "lea":
        return this.#emit(this.#lea(d));
      case "memory":
        return this.#emit(this.#memory(d, size));
      case "adcSbb":
        this.#define(CF);
        return r.chance(1, 2)
          ? this.#emit(this.#alu(r.pick([2, 3]), d, this.#src(), size, r.chance(1, 2)))
          : this.#emit(this.#aluImm(r.pick([2, 3]), d, size, true));
      case "rol":
        return this.#emit(this.#rol(d, size));
      case "imul":
        return this.#emit(this.#imul(d, size));
      case "setcc":
        return this.#setcc(d);
      case "probe":
        return this.#probe(d, size);
      default:
        return this.#jcc();
    }
  }

  /**
   * Edge values into a flag producer (an ALU operation, TEST, INC or DEC), sometimes followed by an INC or DEC,
   * whose flags a Jcc or SETcc reads at once: where the compiler evaluates the condition from its locals.
   */
  #probe(d: number, size: number): void {
    const r = this.#r, s = this.#dst(), kind = r.pick([0, 1, 4, 5, 6, 7]);
    this.#edge = true;
    this.#emit(this.#movImm(d, size));
    if (s !== d) this.#emit(this.#movImm(s, size));
    const producer = r.below(4);
    if (producer === 0) this.#emit(this.#aluImm(kind, d, size));
    else if (producer === 1) this.#emit(this.#alu(kind, d, s, size, r.chance(1, 2)));
    else if (producer === 2) this.#emit(this.#test(d, size));
    else this.#emit(this.#incDec(r.chance(1, 2), d, size));
    // INC and DEC keep the carry of the producer before them.
    if (r.chance(1, 3)) this.#emit(this.#incDec(r.chance(1, 2), this.#dst(), this.#size()));
    this.#edge = false;
    if (r.chance(1, 4)) this.#setcc(this.#dst());
    else this.#jcc();
  }

  /** SETcc to a byte register (never SPL; AH-BH in 32-bit mode). */
  #setcc(d: number): void {
    const cc = this.#r.below(16);
    this.#define(COND_READS[cc >> 1]);
    const long = this.#bits === 64;
    const bytes = [...rex(false, 0, d, long), 0x0f, 0x90 + cc, 0xc0 | (d & 7)];
    this.#emit({ bytes, asm: `set${CC[cc]} ${regName(d, 1, long)}`, reads: COND_READS[cc >> 1] });
  }

  #movImm(d: number, size: number): Op {
    const r = this.#r;
    if (size === 8 && r.chance(1, 2)) {
      const v = BigInt.asUintN(64, this.#value(true));
      return {
        bytes: [...rex(true, 0, d), 0xb8 + (d & 7), ...le64(v)],
        asm: `mov ${regName(d, 8)}, 0x${v.toString(16)}`,
      };
    }
    const v = this.#imm32();
    if (size === 8) return { bytes: rr([0xc7], 0, d, 8).concat(le32(v)), asm: `mov ${regName(d, 8)}, ${h32(v)} (sx)` };
    if (r.chance(1, 4)) return { bytes: rr([0xc7], 0, d, 4).concat(le32(v)), asm: `mov ${regName(d, 4)}, ${h32(v)}` };
    return { bytes: [...rex(false, 0, d), 0xb8 + (d & 7), ...le32(v)], asm: `mov ${regName(d, 4)}, ${h32(v)}` };
  }

  /** ALU `kind` (ADD OR ADC SBB AND SUB XOR CMP) register to register; `load`: the 03-form (reg <- rm). */
  #alu(kind: number, d: number, s: number, size: number, load: boolean): Op {
    const op = (kind << 3) | (load ? 3 : 1);
    const bytes = load ? rr([op], d, s, size) : rr([op], s, d, size);
    const name = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"][kind];
    return {
      bytes,
      asm: `${name} ${regName(d, size)}, ${regName(s, size)}`,
      ...aluFlags(kind),
    };
  }

  /** ALU `kind` with an immediate: imm8 (83), imm32 (81) or the accumulator form. */
  #aluImm(kind: number, d: number, size: number, short = false): Op {
    const r = this.#r;
    const name = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"][kind];
    const flags = aluFlags(kind);
    if (short || r.chance(1, 2)) {
      const v = this.#imm8();
      return {
        bytes: rr([0x83], kind, d, size).concat(v),
        asm: `${name} ${regName(d, size)}, ${(v << 24) >> 24}`,
        ...flags,
      };
    }
    const v = this.#imm32(), asm = `${name} ${regName(d, size)}, ${h32(v)}`;
    if (d === 0 && r.chance(1, 2)) {
      return { bytes: [...rex(size === 8, 0, 0), (kind << 3) | 5, ...le32(v)], asm, ...flags };
    }
    return { bytes: rr([0x81], kind, d, size).concat(le32(v)), asm, ...flags };
  }

  #test(d: number, size: number): Op {
    const r = this.#r, flags = { writes: ARITH, undef: AF };
    if (r.chance(1, 4)) {
      const v = this.#imm32();
      return {
        bytes: [...rex(size === 8, 0, 0), 0xa9, ...le32(v)],
        asm: `test ${regName(0, size)}, ${h32(v)}`,
        ...flags,
      };
    }
    const s = this.#src();
    return { bytes: rr([0x85], s, d, size), asm: `test ${regName(d, size)}, ${regName(s, size)}`, ...flags };
  }

  #incDec(dec: boolean, d: number, size: number): Op {
    const asm = `${dec ? "dec" : "inc"} ${regName(d, size)}`, flags = { writes: ARITH & ~CF };
    // 40+r / 48+r exist outside 64-bit mode only.
    if (this.#bits === 32 && this.#r.chance(1, 2)) return { bytes: [(dec ? 0x48 : 0x40) + d], asm, ...flags };
    return { bytes: rr([0xff], dec ? 1 : 0, d, size), asm, ...flags };
  }

  /** LEA r32, [base + index*scale + disp32] (in 64-bit mode the address is 64-bit, the result its low half). */
  #lea(d: number): Op {
    const r = this.#r;
    const base = this.#src();
    let index = this.#src();
    if (index === RSP) index = 0; // index 4 without REX.X means none
    const scale = r.below(4), disp = this.#imm32();
    const bytes = rex(false, d, base, false, index);
    bytes.push(0x8d, 0x84 | ((d & 7) << 3), (scale << 6) | ((index & 7) << 3) | (base & 7), ...le32(disp));
    const asm = `lea ${regName(d, 4)}, [${regName(base, this.#bits === 64 ? 8 : 4)} + ${
      regName(index, this.#bits === 64 ? 8 : 4)
    }*${1 << scale} + ${h32(disp)}]`;
    return { bytes, asm };
  }

  /** A load or store of a register, or a store of an immediate, at an absolute address in the data area. */
  #memory(d: number, size: number): Op {
    const r = this.#r;
    const at = DATA + r.below(DATA_SIZE - size + 1);
    // [disp32]: ModRM mod 0 rm 5 in 32-bit mode; in 64-bit mode (where that is RIP-relative) a SIB with no base.
    const mem = (reg: number) =>
      this.#bits === 32 ? [(reg & 7) << 3 | 5, ...le32(at)] : [(reg & 7) << 3 | 4, 0x25, ...le32(at)];
    const ptr = `${size === 8 ? "qword" : "dword"} [${h32(at)}]`;
    const w = rex(size === 8, d, 0);
    switch (r.below(3)) {
      case 0:
        return { bytes: [...w, 0x8b, ...mem(d)], asm: `mov ${regName(d, size)}, ${ptr}` };
      case 1: {
        const s = this.#src();
        return { bytes: [...rex(size === 8, s, 0), 0x89, ...mem(s)], asm: `mov ${ptr}, ${regName(s, size)}` };
      }
      default: {
        const v = this.#imm32();
        return { bytes: [...rex(size === 8, 0, 0), 0xc7, ...mem(0), ...le32(v)], asm: `mov ${ptr}, ${h32(v)}` };
      }
    }
  }

  /** ROL by 1 (D1) or by an immediate (C1): OF is undefined unless the masked count is 1; count 0 changes nothing. */
  #rol(d: number, size: number): Op {
    const r = this.#r;
    if (r.chance(1, 3)) return { bytes: rr([0xd1], 0, d, size), asm: `rol ${regName(d, size)}, 1`, writes: CF | OF };
    const count = r.pick([0, 1, 2, 7, 31, 32, 33, 63, r.below(256)]);
    const masked = count & (size === 8 ? 63 : 31);
    const flags = masked === 0 ? {} : { writes: CF | OF, undef: masked === 1 ? 0 : OF };
    return { bytes: rr([0xc1], 0, d, size).concat(count), asm: `rol ${regName(d, size)}, ${count}`, ...flags };
  }

  /** IMUL r, r/m (0F AF) or r, r/m, imm8 (6B): CF and OF defined, SF ZF AF PF undefined. */
  #imul(d: number, size: number): Op {
    const r = this.#r, s = this.#src(), flags = { writes: ARITH, undef: SF | ZF | AF | PF };
    if (r.chance(1, 2)) {
      return { bytes: rr([0x0f, 0xaf], d, s, size), asm: `imul ${regName(d, size)}, ${regName(s, size)}`, ...flags };
    }
    const v = this.#imm8();
    const asm = `imul ${regName(d, size)}, ${regName(s, size)}, ${(v << 24) >> 24}`;
    return { bytes: rr([0x6b], d, s, size).concat(v), asm, ...flags };
  }

  /**
   * Jcc (short, sometimes near) over a `xor reg, imm32`, so that the two paths leave different registers and
   * flags; sometimes a JMP short over it instead.
   */
  #jcc(): void {
    const r = this.#r;
    const x = this.#dst(), size = this.#size(), v = this.#imm32();
    const skipped = { bytes: rr([0x81], 6, x, size).concat(le32(v)), asm: `xor ${regName(x, size)}, ${h32(v)}` };
    const len = skipped.bytes.length, cc = r.below(16);
    const jmp = r.chance(1, 12);
    if (!jmp) this.#define(COND_READS[cc >> 1]);
    const before = this.#undefined;
    if (jmp) {
      this.#emit({ bytes: [0xeb, len], asm: `jmp short +${len}` });
    } else {
      const near = r.chance(1, 6);
      const bytes = near ? [0x0f, 0x80 + cc, ...le32(len)] : [0x70 + cc, len];
      this.#emit({ bytes, asm: `j${CC[cc]}${near ? " near" : ""} +${len}`, reads: COND_READS[cc >> 1] });
    }
    // Taken: the flags of before; not taken: the XOR's. Either may be the state at the end.
    this.#emit({ ...skipped, writes: ARITH, undef: AF });
    this.#undefined |= before;
  }
}

/** The flags ALU `kind` writes: all; the logical ones leave AF undefined; ADC and SBB read CF. */
function aluFlags(kind: number): Pick<Op, "writes" | "undef" | "reads"> {
  const logic = kind === 1 || kind === 4 || kind === 6;
  return { writes: ARITH, undef: logic ? AF : 0, reads: kind === 2 || kind === 3 ? CF : 0 };
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Differential: compiler vs interpreter vs KVM

/** Programs per mode, and the seed of the whole run. */
const PROGRAMS = 500, SEED = 0xb10c;

for (const bits of [32, 64] as const) {
  const name = `block compiler differential, ${bits}-bit: random programs, eager = off = kvm`;
  const missing = kvmMissing();
  if (missing !== undefined) skip(`${name}: the comparison with kvm`, missing);
  test(name, () => {
    using kvmOff = openEmu("off");
    using kvmEager = openEmu("eager");
    using off = runner("off", kvmOff, bits);
    using eager = runner("eager", kvmEager, bits);
    using real = missing === undefined ? Kvm.open({ backend: "kvm" }) : undefined;
    using hw = real ? runner("kvm", real, bits) : undefined;
    const failures: string[] = [];
    for (let i = 0; i < PROGRAMS; i++) {
      const r = new Prng(SEED + bits, i);
      const p = new Generator(r, bits).program(r.range(8, 40));
      const a = off.run(p), b = eager.run(p);
      const results: [string, Outcome][] = [["off", a], ["eager", b]];
      let diff = differences(a, b, ARITH).map((d) => `eager vs off: ${d}`);
      if (a.exit !== "hlt") diff.push(`off did not halt`);
      if (hw) {
        const c = hw.run(p);
        results.push(["kvm", c]);
        diff = diff.concat(differences(a, c, ARITH & ~p.undefinedFlags).map((d) => `kvm vs off: ${d}`));
      }
      if (diff.length) failures.push(`${diff.join(", ")}\n${report(p, `program ${i}`, results)}`);
    }
    assert.equal(
      failures.length,
      0,
      `${failures.length} of ${PROGRAMS} programs differ; the first:\n${failures.slice(0, 3).join("\n\n")}`,
    );
  });
}
