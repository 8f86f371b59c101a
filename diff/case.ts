/**
 * A case: an environment, a short stream of instructions grouped with the
 * setup instructions that aim them (each group is kept or dropped as a
 * whole), and the initial register, flag and memory state. Cases are plain
 * data; {@linkcode layoutCode} turns one into the bytes the guest runs.
 *
 * @module
 */
import { type Env, segmentBase } from "./env.ts";
import { CODE, DATA, DONE_PORT } from "./layout.ts";

/** One encoded instruction of a case. */
export interface Insn {
  /** The encoded bytes. */
  bytes: number[];
  /** The id of its form in the encoding table (`setup.mov`, `setup.cmp` for setup instructions). */
  form: string;
  /** Operand size in bits (flag rules depend on it). */
  size: number;
  /** The shift or rotate count it uses, where the generator knows it (immediate, 1, or CL set by a setup). */
  count?: number;
  /** A RIP-relative memory operand: where its disp32 is in `bytes`, and the effective address it must reach. */
  ripRel?: { at: number; target: number };
  /** What it does to, and assumes of, the stack pointer (as an offset into the data area). */
  stack?: StackNote;
}

/**
 * An instruction's stack-pointer bookkeeping, offsets into the data area:
 * it moves the pointer by `delta` bytes or sets it to `set`; it needs the
 * pointer to be exactly `expect` (an rsp-based address) or inside `zone`.
 */
export interface StackNote {
  delta?: number;
  set?: number;
  expect?: number;
  zone?: [number, number];
}

/** Setup instructions followed by one instruction of the case's family (the last). */
export interface Group {
  insns: Insn[];
}

// deno-fmt-ignore: a row per half (REX.B or REX.R clear, set), in encoding order
/** The general registers by x86 encoding number: 0 rax, 1 rcx, 2 rdx, 3 rbx, 4 rsp, 5 rbp, 6 rsi, 7 rdi, 8-15 r8-r15. */
export const GPR = [
  "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
  "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
] as const;

/** A general register's name. */
export type GprName = (typeof GPR)[number];

/** A generated case. */
export interface Case {
  env: Env;
  family: string;
  groups: Group[];
  /** Initial general registers, by encoding number (0 rax, 1 rcx, 2 rdx, 3 rbx, 4 rsp, ...; 8 in modes 16 and 32 are unused but kept). */
  regs: bigint[];
  /** Initial status flags and DF (the machine adds the fixed bits). */
  rflags: bigint;
  /** Seed of the data area's initial bytes; 0 means all zeros. */
  memory: number;
  /** Where it came from: the run's seed and the case's index. */
  seed: number;
  index: number;
}

/** The code of a case and where each instruction starts (offsets from the start of the code). */
export interface Layout {
  code: Uint8Array;
  /** The start offset of each instruction, in group order, then the final `out`. */
  starts: number[];
  /** The instructions in the same order (the final `out` is not included). */
  insns: Insn[];
}

/** The bytes that end every case: `out DONE_PORT, al`. */
export const END_BYTES: readonly number[] = [0xe6, DONE_PORT];

/** The linear address of the code's first byte (in mode 16 the code segment's base). */
export const CODE_LINEAR = CODE;

/** Concatenates a case's instructions and the final `out`, patching RIP-relative displacements. */
export function layoutCode(c: Case): Layout {
  const insns = c.groups.flatMap((g) => g.insns);
  const starts: number[] = [];
  const out: number[] = [];
  for (const insn of insns) {
    starts.push(out.length);
    const bytes = insn.bytes.slice();
    if (insn.ripRel) {
      const next = CODE_LINEAR + out.length + bytes.length;
      const disp = (insn.ripRel.target - next) | 0;
      for (let i = 0; i < 4; i++) bytes[insn.ripRel.at + i] = (disp >>> (8 * i)) & 0xff;
    }
    out.push(...bytes);
  }
  starts.push(out.length);
  out.push(...END_BYTES);
  return { code: Uint8Array.from(out), starts, insns };
}

/** The initial stack pointer of `c` as an offset into the data area. */
export function initialSp(c: Case): number {
  const rsp = Number(BigInt.asUintN(32, c.regs[4] ?? 0n));
  const sp = c.env.mode === "16" ? rsp & 0xffff : rsp;
  return sp + segmentBase(c.env, "ss") - DATA;
}
