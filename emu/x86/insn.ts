/**
 * The decoded-instruction record and the opcode-table entry type. A record
 * is produced once per instruction address by the decoder and cached; the
 * interpreter calls `exec(cpu, insn)`.
 *
 * @module
 */
import type { Cpu } from "./cpu.ts";

/** An instruction's semantics. */
export type Exec = (cpu: Cpu, d: Insn) => void;

/** Decoder flags of an opcode-table entry. */
export const M = 1, B = 2, I8 = 4, I8S = 8, IV = 16, IW = 32, IA = 64, IP = 128, IE = 256, MEMONLY = 1024;
/** Register-only ModRM (mod must be 3; MOV to/from CR/DR ignore mod). */
export const REGONLY = 2048;
/** In 64-bit mode with a 64-bit operand size, the IV immediate is 8 bytes (MOV r64, imm64). */
export const I64 = 4096;
/** In 64-bit mode the operand size defaults to 64 bits (near branches, PUSH, POP...); 66 makes it 16. */
export const D64 = 8192;

/**
 * How the block compiler (jit/) handles an instruction: the name of its template there (which reads the operands from
 * the decoded record), "call" when a block may hold it and calls its semantic function, or "" when a block cannot hold
 * it (the interpreter runs it: jit/safe.ts).
 * `shiftGroupZx` is the shift group wrapped to zero-extend a 32-bit register (64-bit mode, long/optable64.ts).
 * `nop` is a NOP (0F 0D, 0F 18-1F, and 90, whose template falls back to the call for PAUSE and XCHG r8, rAX).
 */
export type JitTemplate =
  | ""
  | "call"
  | "aluRmReg"
  | "aluRegRm"
  | "aluAccImm"
  | "aluRmImm"
  | "testRmReg"
  | "testRmImm"
  | "testAccImm"
  | "incDecReg"
  | "incDecRm"
  | "lea"
  | "movRmReg"
  | "movRegRm"
  | "cmov"
  | "movRegImm"
  | "movRmImm"
  | "movzx"
  | "movsx"
  | "movsxd"
  | "setcc"
  | "notNeg"
  | "nop"
  | "imul2"
  | "mulAcc"
  | "shiftGroup"
  | "shiftGroupZx"
  | "pushReg"
  | "popReg"
  | "jcc"
  | "loop"
  | "jmpRel"
  | "callRel"
  | "ret"
  | "jmpRm"
  | "callRm"
  | "aluRmReg64"
  | "aluRegRm64"
  | "aluAccImm64"
  | "aluRmImm64"
  | "incDec64"
  | "pushRegLong"
  | "popRegLong"
  | "jccLong"
  | "loopLong"
  | "jmpRelLong"
  | "callRelLong"
  | "retLong"
  | "jmpRmLong"
  | "callRmLong";

/** One opcode-table entry: semantics, decoder flags, or a ModRM.reg group. */
export interface OpSpec {
  readonly exec?: Exec;
  readonly f: number;
  /** The block compiler's template for `exec` (JitTemplate); none when absent. */
  readonly jit?: JitTemplate;
  /** The block compiler's template for `exec64`; none when absent. */
  readonly jit64?: JitTemplate;
  /** A group selected by ModRM.reg (80-83, C0, D0, F6, FE, FF, 0F00, 0F01, 0FBA, 0FC7). */
  readonly group?: readonly (OpSpec | undefined)[];
  /** The instruction's mnemonic, for diagnostics. */
  readonly name?: string;
  /** The semantics with a 64-bit operand size (64-bit mode); without it such an encoding is an internal error. */
  readonly exec64?: Exec;
  /** Entries selected by the mandatory prefix: [none, 66, F3, F2] (VEX: by VEX.pp, same order). */
  readonly pfx?: readonly (OpSpec | undefined)[];
  /** With mod = 3, the entry selected by ModRM bits 0-5 (reg and rm) instead of `group`: the x87 escapes D8-DF. */
  readonly regForm?: readonly (OpSpec | undefined)[];
}

/** A decoded instruction. Fields are numbers so that the record stays monomorphic. */
export class Insn {
  exec: Exec;
  /** The block compiler's template for `exec` (the table entry's `jit` or `jit64`), or "". */
  jit: JitTemplate = "";
  /** Opcode: 0x00-0xff one-byte map, 0x100-0x1ff the 0F map, 0x200-0x2ff 0F38, 0x300-0x3ff 0F3A. */
  op = 0;
  len = 0;
  /** Operand size in bytes (1, 2 or 4). */
  size = 4;
  /** Operand-size attribute (2 or 4), also for byte instructions. */
  osize = 4;
  /** Address size (2 or 4). */
  asize = 4;
  /** Segment override, or -1. */
  seg = -1;
  /** Default segment of the memory operand (DS, or SS for BP/SP-based addresses). */
  eaSeg = 3;
  /** 0 none, 0xf3 REP/REPE, 0xf2 REPNE. */
  rep = 0;
  lock = false;
  mod = 0;
  reg = 0;
  rm = 0;
  base = -1;
  index = -1;
  scale = 0;
  disp = 0;
  imm = 0;
  imm2 = 0;
  /** The code-segment default size it was decoded for (2 or 4; 8 in 64-bit mode). */
  mode = 0;
  /** The REX prefix (0x40-0x4f) in 64-bit mode, or 0. */
  rex = 0;
  /** The memory operand is read, then written (rmw.ts): its read is done with write intent. */
  rmw = false;
  /** 1 for a VEX-encoded instruction (then vvvv, vexL and vexW hold its fields). */
  vex = 0;
  /** VEX.vvvv, un-inverted: the extra register operand. */
  vvvv = 0;
  vexL = 0;
  vexW = 0;
  /** The bytes it was decoded from (a cached record), to notice writes by the host between runs; or null. */
  raw: Uint8Array | null = null;
  /**
   * The KVM_RUN (Cpu.runEpoch) in which `raw` was last compared with memory; fetch.ts SHARED for a record that more
   * than one address holds (compared at each use).
   */
  checked = 0;

  constructor(exec: Exec) {
    this.exec = exec;
  }
}
