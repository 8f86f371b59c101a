/**
 * The condition family: SETcc and CMOVcc for all sixteen conditions. Each
 * reads the flags of its condition (flags.ts) and changes none. CMOVcc with
 * a 32-bit operand in 64-bit mode zero-extends its destination even when
 * the condition is false.
 *
 * @module
 */
import { defineForms, type FormSpec } from "../encodings.ts";
import { conditionReads, CONDITIONS, flagNames } from "../flags.ts";

function letters(mask: number): string {
  return flagNames(mask).map((n) => n[0]).join("");
}

function conditional(): FormSpec[] {
  const out: FormSpec[] = [];
  CONDITIONS.forEach((cc, n) => {
    const flags = { reads: letters(conditionReads(n)) };
    out.push({ mnemonic: `set${cc}`, opcode: [0x0f, 0x90 + n], ext: 0, operands: ["Eb"], flags });
    out.push({ mnemonic: `cmov${cc}`, opcode: [0x0f, 0x40 + n], operands: ["Gv", "Ev"], flags });
  });
  return out;
}

/** The cond family. */
export const COND = defineForms("cond", conditional());
