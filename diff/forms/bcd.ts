/**
 * The BCD family (invalid in 64-bit mode): DAA, DAS, AAA, AAS, AAM, AAD.
 *
 * Flags: DAA/DAS set CF, AF, SF, ZF, PF and leave OF undefined; AAA/AAS set
 * AF and CF and leave OF, SF, ZF, PF undefined; AAM/AAD set SF, ZF, PF and
 * leave OF, AF, CF undefined. AAM with an immediate of 0 raises #DE.
 *
 * @module
 */
import { defineForms } from "../encodings.ts";

const LEGACY = ["16", "32"] as const;
/** DAA and DAS adjust AL by AF and CF: every flag but OF (undefined) is written. */
const DECIMAL_ADJUST = { reads: "AC", writes: "SZAPC", undefined: "O" };
/** AAA and AAS adjust AL by AF: AF and CF are written, the rest undefined. */
const ASCII_ADJUST = { reads: "A", writes: "AC", undefined: "OSZP" };

/** The bcd family. */
export const BCD = defineForms("bcd", [
  { mnemonic: "daa", opcode: [0x27], operands: [], modes: LEGACY, flags: DECIMAL_ADJUST },
  { mnemonic: "das", opcode: [0x2f], operands: [], modes: LEGACY, flags: DECIMAL_ADJUST },
  { mnemonic: "aaa", opcode: [0x37], operands: [], modes: LEGACY, flags: ASCII_ADJUST },
  { mnemonic: "aas", opcode: [0x3f], operands: [], modes: LEGACY, flags: ASCII_ADJUST },
  { mnemonic: "aam", opcode: [0xd4], operands: ["Ib"], modes: LEGACY, flags: { writes: "SZP", undefined: "OAC" } },
  { mnemonic: "aad", opcode: [0xd5], operands: ["Ib"], modes: LEGACY, flags: { writes: "SZP", undefined: "OAC" } },
]);
