/**
 * RFLAGS bits by name, and the letter notation the encoding table uses for
 * sets of status flags: "OSZAPC" is OF, SF, ZF, AF, PF and CF.
 *
 * @module
 */

/** The status flags and DF. */
export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const DF = 0x400;
export const OF = 0x800;
/** The six arithmetic status flags. */
export const STATUS = CF | PF | AF | ZF | SF | OF;

const LETTERS: Readonly<Record<string, number>> = { O: OF, S: SF, Z: ZF, A: AF, P: PF, C: CF, D: DF };

/** The mask of a letter set: `flagMask("OSZAPC")`. Throws on an unknown letter. */
export function flagMask(letters: string): number {
  let m = 0;
  for (const ch of letters) {
    const bit = LETTERS[ch];
    if (bit === undefined) throw new RangeError(`flag letters "${letters}": unknown flag "${ch}"`);
    m |= bit;
  }
  return m;
}

const NAMES: readonly (readonly [number, string])[] = [
  [OF, "OF"],
  [SF, "SF"],
  [ZF, "ZF"],
  [AF, "AF"],
  [PF, "PF"],
  [CF, "CF"],
  [DF, "DF"],
];

/** The names of the flags in `mask`, e.g. ["OF", "AF"]. */
export function flagNames(mask: number): string[] {
  return NAMES.filter(([bit]) => (mask & bit) !== 0).map(([, name]) => name);
}

/** The flags each pair of condition codes reads, by cc >> 1 (a condition and its negation read the same). */
const CONDITION_READS: readonly number[] = [
  OF, // O, NO
  CF, // B, AE
  ZF, // E, NE
  CF | ZF, // BE, A
  SF, // S, NS
  PF, // P, NP
  SF | OF, // L, GE
  ZF | SF | OF, // LE, G
];

/** The flags condition code `cc` (0-15, as in Jcc/SETcc/CMOVcc) reads. */
export function conditionReads(cc: number): number {
  return CONDITION_READS[(cc >> 1) & 7];
}

/** Condition-code mnemonic suffixes, by cc. */
export const CONDITIONS: readonly string[] = [
  "o",
  "no",
  "b",
  "ae",
  "e",
  "ne",
  "be",
  "a",
  "s",
  "ns",
  "p",
  "np",
  "l",
  "ge",
  "le",
  "g",
];
