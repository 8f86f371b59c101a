/**
 * The flag effects of an instruction, from its form's FlagSpec, its operand
 * size and (for shifts and rotates) its count; and the "poison" analysis
 * built on them: which status flags are undefined before each instruction
 * of a case. The generator uses it to avoid reading an undefined flag, the
 * compare masks what is still undefined when the case stops, and the
 * minimiser rejects reductions that would read an undefined flag.
 *
 * @module
 */
import { type Case, initialSp, type Insn } from "./case.ts";
import type { Form } from "./encodings.ts";
import { AF, CF, flagMask, OF, PF, SF, STATUS, ZF } from "./flags.ts";
import { formById } from "./table.ts";

/** What one instruction does to the flags: reads, writes with a defined value, leaves undefined. */
export interface FlagEffect {
  reads: number;
  writes: number;
  undefined: number;
}

const NONE: FlagEffect = { reads: 0, writes: 0, undefined: 0 };

/** The flag effect of `form` with operand size `size` bits and shift/rotate `count` (undefined: unknown). */
export function flagEffect(form: Form, size: number, count?: number): FlagEffect {
  const spec = form.flags;
  if (!spec) return NONE;
  const reads = spec.reads ? flagMask(spec.reads) : 0;
  if (!spec.rule) {
    return {
      reads,
      writes: spec.writes ? flagMask(spec.writes) : 0,
      undefined: spec.undefined ? flagMask(spec.undefined) : 0,
    };
  }
  const worst = spec.rule === "doubleShift" ? STATUS : spec.rule === "shift" ? OF | AF | CF : OF;
  if (count === undefined) return { reads, writes: 0, undefined: worst };
  const c = count & (size === 64 ? 63 : 31);
  if (c === 0) return { reads, writes: 0, undefined: 0 };
  let writes = 0, undef = 0;
  switch (spec.rule) {
    case "shift":
      writes = SF | ZF | PF | CF | OF;
      undef = AF;
      if ((form.mnemonic === "shl" || form.mnemonic === "shr") && c >= size) undef |= CF;
      break;
    case "rotate":
      writes = CF | OF;
      break;
    case "rotateCarry": {
      const turn = size < 32 ? c % (size + 1) : c;
      writes = (turn !== 0 ? CF : 0) | OF;
      break;
    }
    case "doubleShift":
      if (c > size) return { reads, writes: 0, undefined: STATUS };
      writes = SF | ZF | PF | CF | OF;
      undef = AF;
      break;
  }
  if (c !== 1) undef |= OF;
  return { reads, writes: writes & ~undef, undefined: undef };
}

/** The flag effect of an encoded instruction. */
export function insnFlagEffect(insn: Insn): FlagEffect {
  return flagEffect(formById(insn.form), insn.size, insn.count);
}

/** Poison after an instruction: flags it defines are no longer undefined, flags it leaves undefined are. */
export function applyEffect(poison: number, e: FlagEffect): number {
  return (poison & ~e.writes) | e.undefined;
}

/** The undefined-flag set before each instruction of `insns`, and after the last (length + 1 entries). */
export function poisonTrace(insns: readonly Insn[]): number[] {
  const out = [0];
  let p = 0;
  for (const insn of insns) {
    p = applyEffect(p, insnFlagEffect(insn));
    out.push(p);
  }
  return out;
}

/** Why `c` is not a valid case (an instruction reads an undefined flag, a stack assumption broke), or undefined. */
export function invalidReason(c: Case): string | undefined {
  let poison = 0;
  let sp: number | undefined = initialSp(c);
  const insns = c.groups.flatMap((g) => g.insns);
  for (const [i, insn] of insns.entries()) {
    const e = insnFlagEffect(insn);
    if (e.reads & poison & STATUS) return `instruction ${i} (${insn.form}) reads an undefined flag`;
    poison = applyEffect(poison, e);
    if (setupRegister(insn) === 4 && insn.stack?.set === undefined) {
      return `instruction ${i} (${insn.form}) moves the stack pointer without saying where`;
    }
    const s = insn.stack;
    if (!s) continue;
    if (s.expect !== undefined && sp !== s.expect) {
      return `instruction ${i} (${insn.form}) expects sp 0x${s.expect.toString(16)}`;
    }
    if (s.zone && (sp === undefined || sp < s.zone[0] || sp > s.zone[1])) {
      return `instruction ${i} (${insn.form}) needs the stack pointer in its zone`;
    }
    if (s.set !== undefined) sp = s.set;
    else if (sp !== undefined) sp += s.delta ?? 0;
  }
  return undefined;
}

/** The register a `setup.mov` instruction writes (prefixes 66 and REX, then B8+r), or undefined for any other. */
export function setupRegister(insn: Insn): number | undefined {
  if (!insn.form.startsWith("setup.mov.")) return undefined;
  let rexB = 0;
  for (const b of insn.bytes) {
    if (b === 0x66) continue;
    if ((b & 0xf0) === 0x40) {
      rexB = b & 1;
      continue;
    }
    return (b & 7) | (rexB << 3);
  }
  return undefined;
}
