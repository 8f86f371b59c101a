/**
 * The register side of random_narrow_test.ts's program generator: the instruction encodings (8- and 16-bit
 * operands, REX, immediates, edge values) and {@linkcode NarrowGenerator}, which keeps a program's state and
 * writes the register operations (ALU, TEST, INC/DEC, MOV, MOVZX/MOVSX, SETcc, Jcc and the flag readers).
 *
 * @module
 */
import type { Prng } from "../../../diff/prng.ts";
import { AF, ARITH, CC, CF, COND_READS, GPR, h32, le16, le32, le64, OF, regName, rex, RSP } from "./_jit.ts";
import type { Bits, Op, Program } from "./_jit.ts";
import { KSTACK } from "../../_support/sys.ts";
import { LM_STACK } from "../../_support/long_mode.ts";

// ---------------------------------------------------------------------------------------------------------------
// Encodings

/**
 * The data area the memory operands address: 256 bytes across a page boundary (free in both benches), so that
 * some 16- and 32-bit accesses straddle two pages.
 */
export const DATA_AT = 0x9f80, DATA_SIZE = 256;
/**
 * In 64-bit mode the data area's second page maps another physical page, so that an access across the boundary
 * that took the first page's TLB entry for both would read or write the wrong bytes.
 */
export const REMAP = { linear: 0xa000, physical: 0xe000 };

export const ALU = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
/** The ALU operations with templates: ADD OR AND SUB XOR CMP. */
export const TEMPLATED = [0, 1, 4, 5, 6, 7];
export const SHIFT = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"];
export const PTR = ["", "byte", "word", "", "dword"];

/** A program, and whether it may be compared with KVM (it reads no flag left undefined). */
export interface Program2 extends Program {
  kvm: boolean;
}

/** `v` as an immediate of `size` bytes. */
export function imm(v: number, size: number): number[] {
  return size === 1 ? [v & 0xff] : size === 2 ? le16(v) : le32(v);
}

/** `v` of `size` bytes as a signed number, for the assembly. */
export function signed(v: number, size: number): number {
  return size === 4 ? v | 0 : (v << (32 - 8 * size)) >> (32 - 8 * size);
}

/**
 * `op` with register operands (`reg` in ModRM.reg: a register or an opcode extension; `rm` in ModRM.rm) of
 * `size` bytes: 66 for 16 bits, REX.W for 64, a REX prefix when a register needs one or `rexOn` (byte registers
 * 4-7 are then SPL-DIL), and `tail` (an immediate) after the ModRM.
 */
export function enc(op: number[], reg: number, rm: number, size: number, rexOn = false, tail: number[] = []): number[] {
  const o16 = size === 2 ? [0x66] : [];
  return [...o16, ...rex(size === 8, reg, rm, rexOn), ...op, 0xc0 | ((reg & 7) << 3) | (rm & 7), ...tail];
}

/** A memory operand: its prefix (67 or none), REX.X and REX.B, ModRM/SIB/displacement for a ModRM.reg, assembly. */
export interface Mem {
  prefix: number[];
  x: number;
  b: number;
  /** The registers the address is computed from. */
  regs: number[];
  tail(reg: number): number[];
  text: string;
  /** The address of a RIP-relative operand, whose displacement depends on where the instruction ends. */
  rip?: number;
}

export const modrm = (mod: number, reg: number, rm: number) => (mod << 6) | ((reg & 7) << 3) | (rm & 7);
export const sib = (scale: number, index: number, base: number) => (scale << 6) | ((index & 7) << 3) | (base & 7);
export const M32 = 1n << 32n, M64 = 1n << 64n;
export const mod = (v: bigint, m: bigint) => ((v % m) + m) % m;

/** The flags ALU `kind` writes: all; the logical ones leave AF undefined; ADC and SBB read CF. */
export function aluFlags(kind: number): Pick<Op, "writes" | "undef" | "reads"> {
  const logic = kind === 1 || kind === 4 || kind === 6;
  return { writes: ARITH, undef: logic ? AF : 0, reads: kind === 2 || kind === 3 ? CF : 0 };
}

/** The flags of shift group `kind` by a count that masks to `m` (32 bits), as the manuals define them. */
export function shiftFlags(kind: number, m: number): Pick<Op, "writes" | "undef" | "reads"> {
  if (m === 0) return {};
  const reads = kind === 2 || kind === 3 ? CF : 0;
  if (kind < 4) return { writes: CF | OF, undef: m > 1 ? OF : 0, reads };
  return { writes: ARITH, undef: AF | (m > 1 ? OF : 0) };
}

/** Edge values: of registers and immediates, of shifted and multiplied values. */
export const EDGES: Record<number, readonly number[]> = {
  1: [0, 1, 0x7f, 0x80, 0x81, 0xfe, 0xff],
  2: [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff],
  4: [0, 1, 0x7f, 0x80, 0x7ffffffe, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff],
};
export const SHIFTED = [0, 1, 2, 0x40000000, 0x7fffffff, 0x80000000, 0x80000001, 0xc0000000, 0xffffffff, 0x55555555];
/** Factors whose signed products lie at the edges of 32 bits: just inside, at, or just beyond -2^31 and 2^31 - 1. */
export const PRODUCTS: readonly (readonly [number, number])[] = [
  [0x7fffffff, 1],
  [0x7fffffff, -1],
  [0x80000000, 1],
  [0x80000000, -1],
  [0x10000, 0x8000],
  [-0x10000, 0x8000],
  [0x8000, 0xffff],
  [-0x8000, 0x10001],
  [0xb504, 0xb505],
  [0xb505, 0xb505],
  [0x40000000, 2],
  [0xc0000000, 2],
  [0x3fffffff, 2],
  [-1, -1],
  [0, -1],
  [-0x40000000, -2],
  [0x55555556, 3],
  [-0x2aaaaaab, 3],
  [0x1000000, 0x7f],
  [0x1000001, 0x80],
  [-0x1000000, -0x80],
];

/** The state and register operations of the random-program generator; the test adds memory operands and eager flags. */
export abstract class NarrowGenerator {
  protected readonly r: Prng;
  protected readonly bits: Bits;
  protected readonly ops: Op[] = [];
  /** The code's length so far: where the next instruction starts, from the program's start. */
  protected at = 0;
  protected undefinedFlags = 0;
  /** While set, register values and immediates are edge values. */
  protected edge = false;
  /** The program may read flags left undefined (it is then compared between eager and off only). */
  protected readonly lax: boolean;
  protected readsUndefined = false;

  constructor(r: Prng, bits: Bits) {
    this.r = r;
    this.bits = bits;
    this.lax = r.chance(1, 3);
  }

  /** A program of `n` random steps, then HLT. */
  program(n: number): Program2 {
    const r = this.r, long = this.bits === 64;
    const regs = GPR.map((_, i) => {
      if (i === RSP) return BigInt(long ? LM_STACK : KSTACK);
      const lo = BigInt(r.chance(1, 4) ? r.pick(EDGES[4]) : r.u32());
      return long && r.chance(1, 2) ? (BigInt(r.u32()) << 32n) | lo : lo;
    });
    const rflags = 2n | BigInt(r.u32() & ARITH);
    const data = Array.from({ length: DATA_SIZE }, () => r.below(256));
    for (let i = 0; i < n; i++) this.step();
    this.emit({ bytes: [0xf4], asm: "hlt" });
    const code = this.ops.flatMap((o) => o.bytes);
    return {
      bits: this.bits,
      ops: this.ops,
      code,
      regs,
      rflags,
      data,
      dataAt: DATA_AT,
      undefinedFlags: this.undefinedFlags,
      kvm: !this.readsUndefined,
    };
  }

  protected emit(op: Op): void {
    this.ops.push(op);
    this.at += op.bytes.length;
    if ((op.reads ?? 0) & this.undefinedFlags) this.readsUndefined = true;
    this.undefinedFlags = (this.undefinedFlags & ~(op.writes ?? 0)) | (op.undef ?? 0);
  }

  /** Makes sure the flags `reads` are defined (unless the program is lax): else a CMP, which sets them all. */
  protected define(reads: number): void {
    if (this.lax || (this.undefinedFlags & reads) === 0) return;
    const a = this.reg(4, false), b = this.reg(4, false);
    this.emit({ bytes: enc([0x39], b, a, 4), asm: `cmp ${regName(a, 4)}, ${regName(b, 4)}`, writes: ARITH });
  }

  /** A condition code for a reader right after a producer: one whose flags are defined, unless lax. */
  protected cc(): number {
    const r = this.r;
    if (this.lax) return r.below(16);
    const ok = [...Array(16).keys()].filter((cc) => (COND_READS[cc >> 1] & this.undefinedFlags) === 0);
    if (ok.length) return r.pick(ok);
    const cc = r.below(16);
    this.define(COND_READS[cc >> 1]);
    return cc;
  }

  /** Whether a byte instruction has a REX prefix (half of them in 64-bit mode): registers 4-7 are SPL-DIL then. */
  protected rexOn(): boolean {
    return this.bits === 64 && this.r.chance(1, 2);
  }

  /** A register of `size` bytes (byte registers: AH-BH for 4-7 unless `rexOn`); `write`: never (E/R)SP or SPL. */
  protected reg(size: number, rexOn: boolean, write = true): number {
    const n = this.bits === 64 && (size !== 1 || rexOn) ? 16 : 8;
    for (;;) {
      const d = this.r.below(n);
      if (!write || d !== RSP || (size === 1 && !rexOn)) return d;
    }
  }

  protected name(n: number, size: number, rexOn: boolean): string {
    return regName(n, size, rexOn);
  }

  protected imm(size: number): number {
    const r = this.r;
    if (this.edge || r.chance(1, 3)) return r.pick(EDGES[size]);
    return size === 4 ? r.u32() : r.below(1 << (8 * size));
  }

  protected size(): number {
    return this.r.pick([1, 1, 2, 2, 4]);
  }

  // Register operations --------------------------------------------------------------------------------------

  /** MOV reg, imm of `size` bytes: B0+r / (66) B8+r, or C6 / (66) C7 /0 with a register operand. */
  protected movImm(d: number, size: number, rexOn: boolean, v = this.imm(size)): Op {
    const asm = `mov ${this.name(d, size, rexOn)}, ${h32(v)}`;
    if (this.r.chance(1, 3)) return { bytes: enc([size === 1 ? 0xc6 : 0xc7], 0, d, size, rexOn, imm(v, size)), asm };
    const o16 = size === 2 ? [0x66] : [];
    return { bytes: [...o16, ...rex(false, 0, d, rexOn), (size === 1 ? 0xb0 : 0xb8) + (d & 7), ...imm(v, size)], asm };
  }

  /** A 32-bit register set to `v` (64-bit mode: the whole register, by the shortest MOV that does it). */
  protected set(n: number, v: bigint): void {
    if (v < M32) {
      const x = Number(v);
      return this.emit({
        bytes: [...rex(false, 0, n), 0xb8 + (n & 7), ...le32(x)],
        asm: `mov ${regName(n, 4)}, ${h32(x)}`,
      });
    }
    const name = regName(n, 8);
    if (v >= M64 - 0x80000000n) {
      return this.emit({
        bytes: enc([0xc7], 0, n, 8, false, le32(Number(v & 0xffffffffn))),
        asm: `mov ${name}, ${v - M64}`,
      });
    }
    this.emit({ bytes: [...rex(true, 0, n), 0xb8 + (n & 7), ...le64(v)], asm: `mov ${name}, 0x${v.toString(16)}` });
  }

  /** ALU `kind` register to register, either direction (00-3B). */
  protected alu(kind: number, size: number): Op {
    const r = this.r, rexOn = size === 1 && this.rexOn();
    const d = this.reg(size, rexOn), s = this.reg(size, rexOn, false), load = r.chance(1, 2);
    const op = (kind << 3) | (size === 1 ? 0 : 1) | (load ? 2 : 0);
    const bytes = load ? enc([op], d, s, size, rexOn) : enc([op], s, d, size, rexOn);
    const asm = `${ALU[kind]} ${this.name(d, size, rexOn)}, ${this.name(s, size, rexOn)}`;
    return { bytes, asm, ...aluFlags(kind) };
  }

  /**
   * ALU `kind` with an immediate (`value` if given): 80 (and 82 in 32-bit mode), 81, 83 (sign-extended imm8), or
   * AL/AX, imm.
   */
  protected aluImm(kind: number, size: number, d = -1, rexOn = size === 1 && this.rexOn(), value?: number): Op {
    const r = this.r;
    if (d < 0) d = this.reg(size, rexOn);
    const flags = aluFlags(kind), name = `${ALU[kind]} ${this.name(d, size, rexOn)}`;
    if (size !== 1 && value === undefined && r.chance(1, 3)) {
      const v = this.imm(1);
      return { bytes: enc([0x83], kind, d, size, rexOn, [v]), asm: `${name}, ${signed(v, 1)}`, ...flags };
    }
    const v = value ?? this.imm(size), asm = `${name}, ${h32(v)}`;
    if (d === 0 && r.chance(1, 3)) {
      const bytes = [...(size === 2 ? [0x66] : []), (kind << 3) | (size === 1 ? 4 : 5), ...imm(v, size)];
      return { bytes, asm, ...flags };
    }
    const op = size !== 1 ? 0x81 : this.bits === 32 && r.chance(1, 4) ? 0x82 : 0x80;
    return { bytes: enc([op], kind, d, size, rexOn, imm(v, size)), asm, ...flags };
  }

  /** TEST reg, reg (84/85), AL/AX, imm (A8/A9) or reg, imm (F6/F7 /0). */
  protected test(size: number, d = -1, rexOn = size === 1 && this.rexOn()): Op {
    const r = this.r, flags = { writes: ARITH, undef: AF };
    if (d < 0) d = this.reg(size, rexOn, false);
    const how = r.below(3);
    if (how === 0) {
      const s = this.reg(size, rexOn, false);
      const asm = `test ${this.name(d, size, rexOn)}, ${this.name(s, size, rexOn)}`;
      return { bytes: enc([size === 1 ? 0x84 : 0x85], s, d, size, rexOn), asm, ...flags };
    }
    const v = this.imm(size);
    if (how === 1) {
      const bytes = [...(size === 2 ? [0x66] : []), size === 1 ? 0xa8 : 0xa9, ...imm(v, size)];
      return { bytes, asm: `test ${regName(0, size)}, ${h32(v)}`, ...flags };
    }
    const asm = `test ${this.name(d, size, rexOn)}, ${h32(v)}`;
    return { bytes: enc([size === 1 ? 0xf6 : 0xf7], 0, d, size, rexOn, imm(v, size)), asm, ...flags };
  }

  /** INC/DEC: FE /0 /1, (66) FF /0 /1, and 66 40+r / 48+r in 32-bit mode. CF is kept. */
  protected incDec(size: number, d = -1, rexOn = size === 1 && this.rexOn()): Op {
    const r = this.r, dec = r.chance(1, 2);
    if (d < 0) d = this.reg(size, rexOn);
    const asm = `${dec ? "dec" : "inc"} ${this.name(d, size, rexOn)}`, flags = { writes: ARITH & ~CF };
    if (size !== 1 && this.bits === 32 && r.chance(1, 2)) {
      return { bytes: [...(size === 2 ? [0x66] : []), (dec ? 0x48 : 0x40) + d], asm, ...flags };
    }
    return { bytes: enc([size === 1 ? 0xfe : 0xff], dec ? 1 : 0, d, size, rexOn), asm, ...flags };
  }

  /** MOV reg, reg (88-8B) or reg, imm. */
  protected mov(size: number): Op {
    const r = this.r, rexOn = size === 1 && this.rexOn(), d = this.reg(size, rexOn);
    if (r.chance(1, 3)) return this.movImm(d, size, rexOn);
    const s = this.reg(size, rexOn, false), load = r.chance(1, 2);
    const op = (size === 1 ? 0x88 : 0x89) | (load ? 2 : 0);
    const bytes = load ? enc([op], d, s, size, rexOn) : enc([op], s, d, size, rexOn);
    return { bytes, asm: `mov ${this.name(d, size, rexOn)}, ${this.name(s, size, rexOn)}` };
  }

  /** MOVZX/MOVSX r32, r8/r16 (0F B6 B7 BE BF). */
  protected movx(): Op {
    const r = this.r, from = r.pick([1, 2]), sx = r.chance(1, 2), rexOn = from === 1 && this.rexOn();
    const d = this.reg(4, false), s = this.reg(from, rexOn, false);
    const op = 0xb6 | (sx ? 8 : 0) | (from === 2 ? 1 : 0);
    const asm = `mov${sx ? "sx" : "zx"} ${regName(d, 4)}, ${this.name(s, from, rexOn)}`;
    return { bytes: enc([0x0f, op], d, s, 4, rexOn), asm };
  }

  /** ADC or SBB of 8, 16 or 32 bits, register or immediate: reads CF. */
  protected adcSbb(): void {
    const r = this.r, kind = r.pick([2, 3]), size = this.size();
    this.define(CF);
    this.emit(r.chance(1, 2) ? this.alu(kind, size) : this.aluImm(kind, size));
  }

  /** SETcc to a byte register (never SPL; AH-BH without REX). */
  protected setcc(): void {
    const cc = this.cc(), rexOn = this.rexOn(), d = this.reg(1, rexOn);
    const bytes = enc([0x0f, 0x90 + cc], 0, d, 1, rexOn);
    this.emit({ bytes, asm: `set${CC[cc]} ${this.name(d, 1, rexOn)}`, reads: COND_READS[cc >> 1] });
  }

  /**
   * Jcc (short, sometimes near) over an ALU operation with an immediate (8, 16 or 32 bits), so that the two paths
   * leave different registers and flags; sometimes a JMP short over it instead.
   */
  protected jcc(): void {
    const r = this.r, jmp = r.chance(1, 12);
    const cc = jmp ? 0 : this.cc();
    const before = this.undefinedFlags;
    const skipped = this.aluImm(r.pick([0, 1, 4, 5, 6]), this.size());
    const len = skipped.bytes.length;
    if (jmp) {
      this.emit({ bytes: [0xeb, len], asm: `jmp short +${len}` });
    } else {
      const near = r.chance(1, 6);
      const bytes = near ? [0x0f, 0x80 + cc, ...le32(len)] : [0x70 + cc, len];
      this.emit({ bytes, asm: `j${CC[cc]}${near ? " near" : ""} +${len}`, reads: COND_READS[cc >> 1] });
    }
    // Taken: the flags of before; not taken: the skipped operation's. Either may be the state at the end.
    this.emit(skipped);
    this.undefinedFlags |= before;
  }

  /** A reader of the flags just produced: Jcc, SETcc, ADC/SBB, RCL/RCR (which read CF), or PUSHF. */
  protected read(): void {
    const r = this.r;
    const how = r.weighted<string>([["jcc", 4], ["setcc", 2], ["adcSbb", 2], ["flags", 2], ["rcx", 1]]);
    if (how === "jcc") return this.jcc();
    if (how === "setcc") return this.setcc();
    if (how === "adcSbb") return this.adcSbb();
    if (how === "flags") return this.flags();
    this.define(CF);
    this.emit(this.shift(this.reg(4, false), r.pick([2, 3])));
  }

  /**
   * PUSHF, then POP into a register and AND it with the arithmetic flags, but (unless the program is lax) those
   * left undefined: the flags as a value the comparisons see.
   */
  protected flags(): void {
    const long = this.bits === 64, d = this.reg(4, false), mask = ARITH & ~(this.lax ? 0 : this.undefinedFlags);
    this.emit({ bytes: [0x9c], asm: "pushf", reads: mask });
    this.emit({ bytes: [...rex(false, 0, d), 0x58 + (d & 7)], asm: `pop ${regName(d, long ? 8 : 4)}` });
    const asm = `and ${regName(d, 4)}, ${h32(mask)}`;
    this.emit({ bytes: enc([0x81], 4, d, 4, false, le32(mask)), asm, ...aluFlags(4) });
  }

  /**
   * Edge values into an 8- or 16-bit flag producer (ALU, TEST, INC/DEC, on registers or with a memory source),
   * sometimes followed by an INC or DEC, whose flags a Jcc, SETcc or ADC/SBB reads at once.
   */
  protected narrowProbe(): void {
    const r = this.r, size = r.pick([1, 2]), rexOn = size === 1 && this.rexOn();
    const d = this.reg(size, rexOn), kind = r.pick(TEMPLATED);
    this.edge = true;
    // The second operand is sometimes the same value (equal operands: ZF, BE and LE with CF and SF clear).
    const v = this.imm(size), same = () => (r.chance(1, 3) ? v : this.imm(size));
    this.emit(this.movImm(d, size, rexOn, v));
    const producer = r.below(5);
    if (producer === 0) this.emit(this.aluImm(kind, size, d, rexOn, same()));
    else if (producer === 1) {
      const s = this.reg(size, rexOn);
      if (s !== d) this.emit(this.movImm(s, size, rexOn, same()));
      const op = (kind << 3) | (size === 1 ? 2 : 3);
      const asm = `${ALU[kind]} ${this.name(d, size, rexOn)}, ${this.name(s, size, rexOn)}`;
      this.emit({ bytes: enc([op], d, s, size, rexOn), asm, ...aluFlags(kind) });
    } else if (producer === 2) this.emit(this.test(size, d, rexOn));
    else if (producer === 3) this.emit(this.incDec(size, d, rexOn));
    else this.memory(size, true);
    // INC and DEC keep the carry of the producer before them.
    if (r.chance(1, 3)) this.emit(this.incDec(this.size()));
    this.edge = false;
    this.read();
  }

  /** One random step of the program. */
  protected abstract step(): void;
  /** A shift or rotate of the 32-bit register `d`; `kind` is the group's ModRM.reg. */
  protected abstract shift(d: number, kind?: number): Op;
  /** An instruction with a memory operand of `size` bytes; `probe`: an edge value stored there first. */
  protected abstract memory(size?: number, probe?: boolean): void;
}
