/**
 * Seeded random loops for the template tests (templates64_test.ts, templates_kernel_test.ts): a generator of one mode
 * whose subclass picks the instructions (`step`), with what they share: the free registers, operands through ModRM
 * (a register or [RSI + disp8] in the data area), ALU operations between registers, the PUSHF; POP probe of the flags
 * in the block's locals, a Jcc over one instruction, and the loop around the steps (three times over, DEC ECX; JNZ,
 * then HLT).
 *
 * @module
 */
import type { Prng } from "../../../diff/prng.ts";
import { KSTACK } from "../../_support/sys.ts";
import { LM_STACK } from "../../_support/long_mode.ts";
import { ARITH, type Bits, DATA, GPR, le32, type Op, type Program, rex } from "./_jit.ts";

export const RCX = 1, RSP = 4, RSI = 6, IF = 0x200;
/** Where the programs' memory operands are: [RSI + disp8], RSI = DATA. */
export const DATA_SIZE = 64;
/** Registers the random operations write: not RCX (the loop's counter), RSP or RSI (the data pointer). */
const FREE64 = [0, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15], FREE32 = [0, 2, 3, 5, 7];

/** ModRM byte. */
export const modrm = (mod: number, reg: number, rm: number) => (mod << 6) | ((reg & 7) << 3) | (rm & 7);

/** A random register value: one of `edges`, small, or any. */
export function value(r: Prng, bits: Bits, edges: readonly bigint[]): bigint {
  const v = r.chance(1, 3) ? edges[r.below(edges.length)] : r.chance(1, 4) ? BigInt(r.below(100)) : r.bits(64);
  return bits === 32 ? v & 0xffffffffn : v;
}

/** A generator of loops of one mode; `step` adds one random instruction (or a few) to `ops`. */
export abstract class LoopGenerator {
  readonly ops: Op[] = [];
  constructor(readonly r: Prng, readonly bits: Bits, readonly edges: readonly bigint[]) {}

  /** Adds a random instruction. */
  abstract step(): void;

  /** The initial EFLAGS of a program: random arithmetic flags (and what a subclass adds). */
  protected rflags(): bigint {
    return 2n | BigInt(this.r.u32() & ARITH);
  }

  /** A register the operations may write. */
  protected reg(): number {
    return this.r.pick(this.bits === 64 ? FREE64 : FREE32);
  }

  /** An instruction: prefixes, optional REX (W, reg, rm), opcode bytes, ModRM with register or [RSI + disp8], `tail`. */
  protected emit(
    asm: string,
    w: boolean,
    op: number[],
    reg: number,
    rm: number | "mem",
    tail: number[] = [],
    pre: number[] = [],
  ): void {
    const mem = rm === "mem";
    const disp = 8 * this.r.below(DATA_SIZE / 8);
    const bytes = [
      ...pre,
      ...(this.bits === 64 ? rex(w, reg, mem ? RSI : rm) : []),
      ...op,
      mem ? modrm(1, reg, RSI) : modrm(3, reg, rm),
      ...(mem ? [disp] : []),
      ...tail,
    ];
    this.ops.push({ bytes, asm: mem ? `${asm} [rsi+${disp}]` : asm });
  }

  /** A source operand: memory a third of the time, else a register. */
  protected src(): number | "mem" {
    return this.r.chance(1, 3) ? "mem" : this.reg();
  }

  /** ADD, SUB, CMP, AND or XOR r/m, reg between two registers (flags in the block's locals); `w`: 64 bits. */
  protected alu(w: boolean): void {
    const op = this.r.pick([0x01, 0x29, 0x39, 0x21, 0x31]);
    this.emit(`alu ${op.toString(16)}`, w, [op], this.reg(), this.reg());
  }

  /** PUSHF; POP reg: the flags in the block's locals written out, and kept in a register. */
  protected probe(): void {
    const n = this.reg();
    this.ops.push({ bytes: [0x9c, ...(this.bits === 64 ? rex(false, 0, n) : []), 0x58 | (n & 7)], asm: "pushf; pop" });
  }

  /** A Jcc over the next instruction: a MOV reg, imm32 of 5 or 6 bytes. */
  protected jccSkip(): void {
    const n = this.reg(), mov = [...(this.bits === 64 ? rex(false, 0, n) : []), 0xb8 | (n & 7), ...le32(this.r.u32())];
    this.ops.push({ bytes: [0x70 | this.r.below(16), mov.length], asm: "jcc +1" });
    this.ops.push({ bytes: mov, asm: `mov r${n}d, imm32` });
  }

  /** A loop of `n` random steps, three times over (DEC ECX; JNZ to the start), then HLT. */
  program(n: number): Program {
    const r = this.r;
    for (let i = 0; i < n; i++) this.step();
    const body = this.ops.flatMap((o) => o.bytes);
    const back = [0xff, 0xc9, 0x75, (-(body.length + 4)) & 0xff, 0xf4]; // dec ecx; jnz start; hlt
    this.ops.push({ bytes: back, asm: "dec ecx; jnz start; hlt" });
    const regs = GPR.map(() => value(r, this.bits, this.edges));
    regs[RCX] = 3n;
    regs[RSP] = BigInt(this.bits === 64 ? LM_STACK : KSTACK);
    regs[RSI] = BigInt(DATA);
    const data = Array.from({ length: DATA_SIZE }, () => r.below(256));
    return {
      bits: this.bits,
      ops: this.ops,
      code: [...body, ...back],
      regs,
      rflags: this.rflags(),
      data,
      undefinedFlags: 0,
    };
  }
}
