/**
 * Three small families: bswap (BSWAP with 32- and 64-bit operands; the
 * 16-bit form is undefined and not generated), lahf (LAHF, SAHF) and flagop
 * (CLC, STC, CMC, CLD, STD, CLI, STI; at CPL 3 with IOPL 0 CLI and STI raise
 * #GP).
 *
 * @module
 */
import { defineForms } from "../encodings.ts";

/** The bswap family. */
export const BSWAP = defineForms("bswap", [
  { mnemonic: "bswap", opcode: [0x0f, 0xc8], operands: ["Zy"] },
]);

/** The lahf family. */
export const LAHF = defineForms("lahf", [
  { mnemonic: "lahf", opcode: [0x9f], operands: [], flags: { reads: "SZAPC" } },
  { mnemonic: "sahf", opcode: [0x9e], operands: [], flags: { writes: "SZAPC" } },
]);

/** The flagop family. */
export const FLAGOP = defineForms("flagop", [
  { mnemonic: "clc", opcode: [0xf8], operands: [], flags: { writes: "C" } },
  { mnemonic: "stc", opcode: [0xf9], operands: [], flags: { writes: "C" } },
  { mnemonic: "cmc", opcode: [0xf5], operands: [], flags: { reads: "C", writes: "C" } },
  { mnemonic: "cld", opcode: [0xfc], operands: [], flags: { writes: "D" } },
  { mnemonic: "std", opcode: [0xfd], operands: [], flags: { writes: "D" } },
  { mnemonic: "cli", opcode: [0xfa], operands: [], weight: 1 },
  { mnemonic: "sti", opcode: [0xfb], operands: [], weight: 1 },
]);
