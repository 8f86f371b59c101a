/**
 * The encoding table: instruction forms grouped by family, as data. A form
 * gives its opcode bytes, its operands in the vendor manuals' notation
 * (Eb/Ev r/m, Gv ModRM.reg, Zv register in the opcode, Ib/Iz immediates, Ov
 * moffs, ...), the modes it is valid in, the flags it reads, writes and
 * leaves undefined, and what the generator must set up for it. Families are
 * modules under forms/; a new family (sse, x87) is a new list of forms plus,
 * where its operands are new, a new operand kind.
 *
 * @module
 */
import type { Mode } from "./env.ts";

/**
 * Operand kinds, in the notation of the Intel SDM / AMD APM opcode maps:
 * E = ModRM r/m (register or memory), M = ModRM memory only, G = ModRM.reg,
 * Z = register in the opcode's low three bits, I = immediate, O = moffs;
 * size letters b (8), w (16), d (32), q (64), v (operand size), z (16 or 32),
 * y (32 or 64), dq (128). "Ibs" is an 8-bit immediate sign-extended to the
 * operand size. AL, rAX, CL and "1" are implicit operands.
 */
export type Operand =
  | "Eb"
  | "Ew"
  | "Ed"
  | "Ev"
  | "Ey"
  | "M"
  | "Mq"
  | "Mdq"
  | "Gb"
  | "Gv"
  | "Gy"
  | "Zb"
  | "Zv"
  | "Zy"
  | "Ib"
  | "Ibs"
  | "Iw"
  | "Iz"
  | "Iv"
  | "Ob"
  | "Ov"
  | "AL"
  | "rAX"
  | "CL"
  | "1";

/**
 * What the generator must arrange beyond the operands:
 * - string: rsi/rdi aimed at the data area, rcx a small count under REP;
 * - xlat: rbx aimed so that rbx + al stays in the data area;
 * - count: a shift count in CL, set by a `mov cl, imm8` (so its flags are known);
 * - div: sometimes a zero high half (rdx or ah), so that not every division faults;
 * - bitOffset: a small bit offset in the G register when the bit base is memory;
 * - popf: a `push imm` of the flags image first;
 * - enter, leave: rbp aimed at the stack zone;
 * - align16: the memory operand 16-byte aligned most of the time (cmpxchg16b).
 */
export type Special = "string" | "xlat" | "count" | "div" | "bitOffset" | "popf" | "enter" | "leave" | "align16";

/**
 * How a count-dependent instruction treats the flags (see effects.ts):
 * shift (SHL/SHR/SAR), rotate (ROL/ROR), rotateCarry (RCL/RCR), doubleShift (SHLD/SHRD).
 */
export type FlagRule = "shift" | "rotate" | "rotateCarry" | "doubleShift";

/** The flags a form reads, writes with a defined value, and leaves undefined (letters OSZAPC, D). */
export interface FlagSpec {
  reads?: string;
  writes?: string;
  /** Flags the vendor manuals (Intel SDM, AMD APM) leave undefined after this instruction. */
  undefined?: string;
  /** For counted shifts and rotates: the writes/undefined sets follow from the count. */
  rule?: FlagRule;
  /** Manual references and vendor differences worth keeping next to the data. */
  note?: string;
}

/** One instruction form. */
export interface Form {
  /** Unique id: family.mnemonic.opcode[/ext]. Set by {@linkcode defineForms}. */
  id: string;
  family: string;
  mnemonic: string;
  /** Opcode bytes after prefixes and REX; for Z operands the register is added to the last byte. */
  opcode: readonly number[];
  /** The ModRM.reg opcode extension (/digit), for forms whose reg field is not an operand. */
  ext?: number;
  operands: readonly Operand[];
  /** Modes the form is valid in; default all. */
  modes?: readonly Mode[];
  flags?: FlagSpec;
  /** Indices of the operands it writes; default [0]. */
  writes?: readonly number[];
  /** LOCK is legal with a memory destination. */
  lock?: boolean;
  /** REP prefixes it takes: "rep" (F3) or "repcc" (F3 REPE and F2 REPNE). */
  rep?: "rep" | "repcc";
  /** Operand size defaults to 64 bits in 64-bit mode (and cannot be 32). */
  d64?: boolean;
  /** How often the generator picks it relative to its family's other forms (default 4). */
  weight?: number;
  /** REX.W is part of the opcode (CMPXCHG16B). */
  rexW?: boolean;
  /** The operand-size class when the operands do not show it (implicit operands: "v" for MOVS, PUSHA). */
  size?: "v";
  /** Stack pointer change in units of the operand size (push -1, pop +1). */
  stack?: number;
  special?: Special;
}

/** A form as written in a family's table, before its id is derived. */
export type FormSpec = Omit<Form, "id" | "family">;

/** Derives ids and attaches the family name. */
export function defineForms(family: string, specs: readonly FormSpec[]): Form[] {
  return specs.map((s) => {
    const op = s.opcode.map((b) => b.toString(16).padStart(2, "0")).join("");
    return { ...s, family, id: `${family}.${s.mnemonic}.${op}${s.ext === undefined ? "" : `/${s.ext}`}` };
  });
}

/** The size letter of an operand kind ("Ev" -> "v", "Mdq" -> "dq", "AL" -> "b"). */
export function sizeLetter(op: Operand): string {
  if (op === "AL" || op === "CL") return "b";
  if (op === "rAX") return "v";
  if (op === "1" || op === "M") return "";
  return op.slice(1);
}

/** The operand's size in bits given the instruction's operand size (16, 32 or 64). */
export function operandBits(op: Operand, osize: number): number {
  const s = sizeLetter(op);
  switch (s) {
    case "b":
    case "bs":
      return 8;
    case "w":
      return 16;
    case "d":
      return 32;
    case "q":
      return 64;
    case "dq":
      return 128;
    case "z":
      return Math.min(osize, 32);
    default:
      return osize;
  }
}

/** How a form's operand size is chosen: fixed, 16/32/64 ("v"), 32/64 ("y"), or default-64 ("d64"). */
export function sizeClass(form: Form): "fixed" | "v" | "y" | "d64" {
  if (form.d64) return "d64";
  if (form.size) return form.size;
  if (form.operands.some((o) => sizeLetter(o) === "y")) return "y";
  if (
    form.operands.some((o) => {
      const s = sizeLetter(o);
      return s === "v" || s === "z";
    })
  ) return "v";
  return "fixed";
}

/** The form's operand kinds that are memory-capable ModRM operands (E or M). */
export function isModrmRm(op: Operand): boolean {
  return op[0] === "E" || op[0] === "M";
}

/** Whether the form has a ModRM byte. */
export function hasModrm(form: Form): boolean {
  return form.ext !== undefined || form.operands.some((o) => isModrmRm(o) || o[0] === "G");
}
