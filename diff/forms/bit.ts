/**
 * The bit family: BT, BTS, BTR, BTC (register and immediate bit offsets),
 * BSF and BSR.
 *
 * Flags: BT* set CF to the selected bit; ZF is unaffected (SDM); OF, SF, AF
 * and PF are undefined. BSF/BSR set ZF when the source is 0; CF, OF, SF, AF
 * and PF are undefined. With a zero source the SDM leaves the destination
 * undefined, the APM leaves it unchanged: the oracle here is AMD.
 *
 * @module
 */
import { defineForms } from "../encodings.ts";

const BT = { writes: "C", undefined: "OSAP", note: "SDM: ZF unaffected" };
const BSX = { writes: "Z", undefined: "OSAPC" };

/** The bit family. */
export const BIT = defineForms("bit", [
  { mnemonic: "bt", opcode: [0x0f, 0xa3], operands: ["Ev", "Gv"], flags: BT, writes: [], special: "bitOffset" },
  { mnemonic: "bts", opcode: [0x0f, 0xab], operands: ["Ev", "Gv"], flags: BT, lock: true, special: "bitOffset" },
  { mnemonic: "btr", opcode: [0x0f, 0xb3], operands: ["Ev", "Gv"], flags: BT, lock: true, special: "bitOffset" },
  { mnemonic: "btc", opcode: [0x0f, 0xbb], operands: ["Ev", "Gv"], flags: BT, lock: true, special: "bitOffset" },
  { mnemonic: "bt", opcode: [0x0f, 0xba], ext: 4, operands: ["Ev", "Ib"], flags: BT, writes: [] },
  { mnemonic: "bts", opcode: [0x0f, 0xba], ext: 5, operands: ["Ev", "Ib"], flags: BT, lock: true },
  { mnemonic: "btr", opcode: [0x0f, 0xba], ext: 6, operands: ["Ev", "Ib"], flags: BT, lock: true },
  { mnemonic: "btc", opcode: [0x0f, 0xba], ext: 7, operands: ["Ev", "Ib"], flags: BT, lock: true },
  { mnemonic: "bsf", opcode: [0x0f, 0xbc], operands: ["Gv", "Ev"], flags: BSX },
  { mnemonic: "bsr", opcode: [0x0f, 0xbd], operands: ["Gv", "Ev"], flags: BSX },
]);
