/**
 * Templates of the forms the kernel runs most that templates.ts and
 * eager.ts lacked: IMUL r64, r/m64 (and with an immediate), MUL and IMUL
 * r/m32 and r/m64 into rDX:rAX (its multi-precision arithmetic), the shifts and
 * rotates of a 64-bit register by 1 or an immediate, MOV r/m64, imm32,
 * CMOVcc of 32 and 64 bits, and the shifts (not rotates) of a 16-bit
 * register by 1 or an immediate and of a 32-bit register by CL (the XZ
 * decompressor's probabilities are 16 bits, its bit counts in CL).
 * Registers are uint32 halves, as everywhere in the block's code. The
 * multiplies and the shifts leave their flags eager in the local E (as eager.ts's 32-bit
 * forms), their result in V (low) and H (high); they follow ops/muldiv.ts
 * and ops/shift.ts to the bit, vendor differences
 * included (the multiply's SF/ZF/AF/PF, the shifts' AF and OF after a count
 * above 1, Intel's ROL/ROR by an immediate keeping OF in 64-bit mode).
 *
 * These functions only write code: templates.ts decides where they apply
 * and gives them the operands' loads, the condition and the flags of the
 * instruction before (`keep`, an EFLAGS expression).
 *
 * @module
 */
import { AF, MASK, OF, SF, SIGN, ZF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { OF_CF, PF_SHIFT } from "./names.ts";

/** The halves of 64-bit register `n` in the register file. */
function lo(n: number): string {
  return `r[${n << 1}]`;
}
function hi(n: number): string {
  return `r[${(n << 1) + 1}]`;
}

/** ZF, SF and PF of the 64-bit result in V (low) and H (high), as ops/alu.ts flags64. */
const RESULT64 = `(PARITY[V & ${MASK[1]}] << ${PF_SHIFT}) | ((V | H) === 0 ? ${ZF} : 0) | (H >= ${
  SIGN[4]
} ? ${SF} : 0)`;

/**
 * The flags of a multiply whose overflow (CF = OF) is in T1 and whose result's top half is `top`: AMD keeps SF, ZF, AF
 * and PF of those before (`keep`, read into P), Intel sets SF from `top` and PF from V's low byte. When no one sees
 * them (`keep` null: templates.ts flagsDead) only CF and OF are set, and nothing is read.
 */
function mulFlags(amd: boolean, keep: string | null, top: string): string {
  if (keep === null) return `(T1 ? ${OF_CF} : 0)`;
  return amd
    ? `(P & ~${OF_CF}) | (T1 ? ${OF_CF} : 0)`
    : `(T1 ? ${OF_CF} : 0) | (PARITY[V & ${MASK[1]}] << ${PF_SHIFT}) | (${top} >= ${SIGN[4]} ? ${SF} : 0)`;
}

/**
 * IMUL r64, r/m64 (0F AF) or r64, r/m64, imm (69, 6B): the r/m operand's halves are `rm` (registers, or MV/MH after
 * the load `load`), `keep` the flags before (AMD keeps SF, ZF, AF, PF; null: no one sees the flags). Two operands below 2^32 (the kernel's
 * multi-precision code multiplies 32-bit halves so: lib/crypto/mpi's umul_ppmm) multiply inline, the high half from
 * the double product as ops/limbs.ts mul32 finds it, and overflow when the product reaches 2^63; any others go
 * through `MUL64` (ops/limbs.ts mul64, into `WIDE`), and overflow when the high half is not the low half's sign
 * extended.
 */
export function imul64Code(
  d: Insn,
  amd: boolean,
  keep: string | null,
  load: string,
  rm: readonly [string, string],
): string {
  const b = d.op === 0x1af ? [lo(d.reg), hi(d.reg)] : [String(d.imm >>> 0), String(d.imm2 >>> 0)];
  const flags = mulFlags(amd, keep, "H");
  const wide = `MUL64(A, AH, B, BH, true); V = WIDE[0]; H = WIDE[1]; T2 = H >= ${SIGN[4]} ? ${MASK[4]} : 0; ` +
    "T1 = WIDE[2] !== T2 || WIDE[3] !== T2 ? 1 : 0;";
  const narrow = `V = Math.imul(A, B) >>> 0; H = Math.round((A * B - V) / ${2 ** 32}); T1 = H >= ${SIGN[4]} ? 1 : 0;`;
  // An immediate whose high half is set (a negative one) never takes the narrow way.
  const product = b[1] === "0"
    ? `if (AH === 0) { ${narrow} } else { ${wide} }`
    : b[1] === String(MASK[4])
    ? wide
    : `if ((AH | BH) === 0) { ${narrow} } else { ${wide} }`;
  return `${amd && keep !== null ? `P = ${keep}; ` : ""}${load}A = ${rm[0]}; AH = ${rm[1]}; B = ${b[0]}; BH = ${
    b[1]
  }; ${product} ` +
    `E = ${flags}; r[${d.reg << 1}] = V; r[${(d.reg << 1) + 1}] = H;`;
}

/**
 * MUL or IMUL r/m32 or r/m64 (F7 /4, /5) into rDX:rAX, as ops/muldiv.ts mul, imul1 and mulAcc64: the r/m operand's
 * halves are `rm` (registers, or MV/MH after the load `load`), `keep` the flags before (AMD keeps SF, ZF, AF, PF;
 * Intel sets SF from rAX's top bit and PF from its low byte; null: no one sees the flags, mulFlags). CF = OF: MUL's high half is not zero, IMUL's is not the
 * low half's sign extended. 32-bit products and 64-bit ones of operands below 2^32 come from the double product (as
 * ops/limbs.ts mul32 finds the high half); other 64-bit ones go through `MUL64` (ops/limbs.ts mul64, into `WIDE`).
 */
export function mulAccCode(
  d: Insn,
  amd: boolean,
  keep: string | null,
  load: string,
  rm: readonly [string, string],
): string {
  const signed = d.reg === 5;
  const flags = mulFlags(amd, keep, d.size === 8 ? "H" : "V");
  const head = `${amd && keep !== null ? `P = ${keep}; ` : ""}${load}`;
  if (d.size === 4) {
    // The double product of two 32-bit values is within 2^11 of the exact one (2^9 signed): rounded after the low
    // half's subtraction, its high half is exact.
    const [a, b] = signed ? ["(A | 0)", "(B | 0)"] : ["A", "B"];
    const overflow = signed ? `H !== (V >= ${SIGN[4]} ? ${MASK[4]} : 0)` : "H !== 0";
    return `${head}A = r[0]; B = ${rm[0]}; V = Math.imul(A, B) >>> 0; ` +
      `H = Math.round((${a} * ${b} - V) / ${2 ** 32}) >>> 0; T1 = ${overflow} ? 1 : 0; E = ${flags}; ` +
      "r[0] = V; r[1] = 0; r[4] = H; r[5] = 0;";
  }
  // 64 bits: two operands below 2^32 (both non-negative) make a product below 2^64, RDX zero.
  const narrow = `V = Math.imul(A, B) >>> 0; H = Math.round((A * B - V) / ${2 ** 32}); ` +
    `T1 = ${signed ? `H >= ${SIGN[4]} ? 1 : 0` : "0"}; r[4] = 0; r[5] = 0;`;
  const ext = signed ? `H >= ${SIGN[4]} ? ${MASK[4]} : 0` : "0";
  const wide = `MUL64(A, AH, B, BH, ${signed}); V = WIDE[0]; H = WIDE[1]; T2 = ${ext}; ` +
    "T1 = WIDE[2] !== T2 || WIDE[3] !== T2 ? 1 : 0; r[4] = WIDE[2]; r[5] = WIDE[3];";
  return `${head}A = r[0]; AH = r[1]; B = ${rm[0]}; BH = ${rm[1]}; ` +
    `if ((AH | BH) === 0) { ${narrow} } else { ${wide} } E = ${flags}; r[0] = V; r[1] = H;`;
}

/** The count of a 64-bit shift by 1 (D1) or an immediate (C1), or 0 (by CL, or an immediate that masks to 0). */
function count64(d: Insn): number {
  if (d.op === 0xd1) return 1;
  return d.op === 0xc1 ? d.imm & 63 : 0;
}

/**
 * Whether `d` is a shift or rotate of a 64-bit register with a template: by 1 or an immediate (not RCL/RCR), or a
 * shift (SHL, SHR, SAL, SAR) by CL.
 */
export function isShift64(d: Insn): boolean {
  if (d.size !== 8 || d.mod !== 3) return false;
  return d.op === 0xd3 ? d.reg >= 4 : count64(d) !== 0 && d.reg !== 2 && d.reg !== 3;
}

/** Whether `d` (isShift64) reads the flags before it: a rotate keeps some, a shift by CL of 0 keeps them all. */
export function shift64KeepsFlags(d: Insn): boolean {
  return d.reg < 2 || d.op === 0xd3;
}

/** V and H: the halves A (low), AH (high) rotated left by `k` (1-63). */
function rotateLeft(k: number): string {
  if (k === 32) return "V = AH; H = A;";
  const [x, y, j] = k < 32 ? ["A", "AH", k] : ["AH", "A", k - 32];
  return `V = ((${x} << ${j}) | (${y} >>> ${32 - j})) >>> 0; H = ((${y} << ${j}) | (${x} >>> ${32 - j})) >>> 0;`;
}

/** V and H: A, AH shifted left by `k` (1-63); T1 the last bit shifted out (CF). */
function shiftLeft(k: number): string {
  if (k < 32) {
    return `V = (A << ${k}) >>> 0; H = ((AH << ${k}) | (A >>> ${32 - k})) >>> 0; T1 = (AH >>> ${32 - k}) & 1;`;
  }
  if (k === 32) return "V = 0; H = A; T1 = AH & 1;";
  return `V = 0; H = (A << ${k - 32}) >>> 0; T1 = (A >>> ${64 - k}) & 1;`;
}

/** V and H: A, AH shifted right by `k` (1-63), arithmetically (`sar`) or not; T1 the last bit shifted out (CF). */
function shiftRight(k: number, sar: boolean): string {
  const top = sar ? "(AH | 0) >>" : "AH >>>";
  const fill = sar ? "((AH | 0) >> 31) >>> 0" : "0";
  if (k < 32) {
    return `V = ((A >>> ${k}) | (AH << ${32 - k})) >>> 0; H = (${top} ${k}) >>> 0; T1 = (A >>> ${k - 1}) & 1;`;
  }
  if (k === 32) return `V = AH; H = ${fill}; T1 = A >>> 31;`;
  return `V = (${top} ${k - 32}) >>> 0; H = ${fill}; T1 = (${top} ${k - 33}) & 1;`;
}

/** Intel's OF of SHL and ROL by any count: the operand's two top bits XORed (ops/shift.ts topTwo). */
const TOP_TWO = `(((AH >>> 31) ^ (AH >>> 30)) & 1 ? ${OF} : 0)`;

/**
 * A shift or rotate of a 64-bit register by 1 or an immediate (isShift64), as ops/shift.ts shiftGroup64; `keep` is
 * the flags before (a rotate keeps SF, ZF, AF, PF, and Intel's by an immediate above 1 keeps OF).
 */
export function shift64Code(d: Insn, amd: boolean, keep: string): string {
  if (d.op === 0xd3) return shiftByCl(d, amd, keep);
  const k = count64(d), n = d.rm;
  const af = amd ? AF : 0;
  const keepOf = !amd && k > 1 && d.op === 0xc1;
  let body: string;
  switch (d.reg) {
    case 0: { // ROL: CF is the result's bit 0
      const of = keepOf ? `(P & ${OF})` : amd ? `(((H >>> 31) ^ T1) ? ${OF} : 0)` : TOP_TWO;
      body = `${rotateLeft(k)} T1 = V & 1; E = (P & ~${OF_CF}) | T1 | ${of};`;
      break;
    }
    case 1: { // ROR: a rotation left by 64 - k; CF is the result's top bit
      const of = keepOf
        ? `(P & ${OF})`
        : amd
        ? `((T1 ^ ((H >>> 30) & 1)) ? ${OF} : 0)`
        : `((((AH >>> 31) ^ A) & 1) ? ${OF} : 0)`;
      body = `${rotateLeft(64 - k)} T1 = H >>> 31; E = (P & ~${OF_CF}) | T1 | ${of};`;
      break;
    }
    case 5: // SHR: OF is the operand's top bit (AMD: 0 after a count above 1)
      body = `${shiftRight(k, false)} E = T1 | ${k > 1 && amd ? "0" : `(AH >= ${SIGN[4]} ? ${OF} : 0)`} | ${af} | ` +
        `${RESULT64};`;
      break;
    case 7: // SAR: OF clear
      body = `${shiftRight(k, true)} E = T1 | ${af} | ${RESULT64};`;
      break;
    default: // SHL, SAL
      body = `${shiftLeft(k)} E = T1 | ${amd ? `(((H >>> 31) ^ T1) ? ${OF} : 0)` : TOP_TWO} | ${af} | ${RESULT64};`;
  }
  const before = d.reg < 2 ? `P = ${keep}; ` : "";
  return `${before}A = ${lo(n)}; AH = ${hi(n)}; ${body} r[${n << 1}] = V; r[${(n << 1) + 1}] = H;`;
}

/**
 * CMOVcc of 32 or 64 bits in 64-bit mode (ops/mov.ts cmovLong): the source (registers `src`, or MV/MH after `load`,
 * which reads it whatever the condition) moves when `cond` holds; a 32-bit destination is zero-extended either way.
 * Outside 64-bit mode (ops/mov.ts cmov) a false condition writes nothing.
 */
export function cmovCode(d: Insn, cond: string, load: string, src: readonly [string, string]): string {
  const n = d.reg;
  if (d.size === 8) return `${load}if (${cond}) { ${lo(n)} = ${src[0]}; ${hi(n)} = ${src[1]}; }`;
  if (d.mode === 8) return `${load}if (${cond}) { ${lo(n)} = ${src[0]}; } ${hi(n)} = 0;`;
  return `${load}if (${cond}) { ${lo(n)} = ${src[0]}; ${hi(n)} = 0; }`;
}

/**
 * SHL, SHR, SAL or SAR of a 64-bit register by CL (isShift64), the count T2 known only when it runs: a count of 0
 * changes nothing, not even the flags (E keeps those before, `keep`).
 */
function shiftByCl(d: Insn, amd: boolean, keep: string): string {
  const n = d.rm, af = amd ? AF : 0, sar = d.reg === 7;
  let body: string;
  if (d.reg === 4 || d.reg === 6) {
    body = "if (T2 < 32) { V = (A << T2) >>> 0; H = ((AH << T2) | (A >>> (32 - T2))) >>> 0; " +
      "T1 = (AH >>> (32 - T2)) & 1; } else { V = 0; H = (A << (T2 - 32)) >>> 0; " +
      "T1 = T2 === 32 ? AH & 1 : (A >>> (64 - T2)) & 1; } " +
      `E = T1 | ${amd ? `(((H >>> 31) ^ T1) ? ${OF} : 0)` : TOP_TWO} | ${af} | ${RESULT64};`;
  } else {
    const top = sar ? "(AH | 0) >>" : "AH >>>";
    const of = sar ? "0" : amd ? `(T2 === 1 && AH >= ${SIGN[4]} ? ${OF} : 0)` : `(AH >= ${SIGN[4]} ? ${OF} : 0)`;
    body = `if (T2 < 32) { V = ((A >>> T2) | (AH << (32 - T2))) >>> 0; H = (${top} T2) >>> 0; ` +
      `T1 = (A >>> (T2 - 1)) & 1; } else { V = (${top} (T2 - 32)) >>> 0; ` +
      `H = ${sar ? "((AH | 0) >> 31) >>> 0" : "0"}; T1 = T2 === 32 ? A >>> 31 : (${top} (T2 - 33)) & 1; } ` +
      `E = T1 | ${of} | ${af} | ${RESULT64};`;
  }
  return `P = ${keep}; T2 = r[2] & 63; if (T2 === 0) { E = P; } else { A = ${lo(n)}; AH = ${hi(n)}; ${body} ` +
    `r[${n << 1}] = V; r[${(n << 1) + 1}] = H; }`;
}

/** Whether `d` is SHL, SHR, SAL or SAR of a 16-bit register by 1 or an immediate, or of a 32-bit register by CL. */
export function isShiftNarrow(d: Insn): boolean {
  if (d.mod !== 3 || d.reg < 4) return false;
  if (d.size === 2) return d.op === 0xd1 || (d.op === 0xc1 && (d.imm & 0x1f) !== 0);
  return d.size === 4 && d.op === 0xd3;
}

/**
 * A shift of a 16-bit register by 1 or an immediate, or of a 32-bit register by CL (isShiftNarrow), as ops/shift.ts
 * shift: flags eager in E, the result in V. By CL, a count of 0 changes nothing, not even the flags (E keeps those
 * before, `keep`), except that in 64-bit mode (`shiftGroupZx`) the register's high half is cleared.
 */
export function shiftNarrowCode(d: Insn, amd: boolean, keep: string): string {
  const n = d.rm, af = amd ? AF : 0, size = d.size;
  const bits = size * 8, msb = bits - 1, mask = MASK[size], sign = SIGN[size];
  const result = `(PARITY[V & ${MASK[1]}] << ${PF_SHIFT}) | (V === 0 ? ${ZF} : 0) | (V >= ${sign} ? ${SF} : 0)`;
  const topTwo = `((((A >>> ${msb}) ^ (A >>> ${msb - 1})) & 1) ? ${OF} : 0)`;
  const k = d.op === 0xd3 ? "T2" : String(d.op === 0xd1 ? 1 : d.imm & 0x1f);
  let body: string;
  if (d.reg === 5) { // SHR: OF is the operand's top bit (AMD: 0 after a count above 1)
    const of = amd ? `(${k} === 1 && A >= ${sign} ? ${OF} : 0)` : `(A >= ${sign} ? ${OF} : 0)`;
    body = `V = A >>> ${k}; T1 = (A >>> (${k} - 1)) & 1; E = T1 | ${of} | ${af} | ${result};`;
  } else if (d.reg === 7) { // SAR: OF clear
    const sa = size === 4 ? "(A | 0)" : `((A << 16) >> 16)`;
    body = `V = (${sa} >> ${k}) & ${mask}; V = V >>> 0; T1 = (${sa} >> (${k} - 1)) & 1; E = T1 | ${af} | ${result};`;
  } else { // SHL, SAL: CF is the last bit shifted out (none past the operand)
    const cf = size === 4 ? `(A >>> (32 - ${k})) & 1` : `(${k} <= 16 ? (A >>> (16 - ${k})) & 1 : 0)`;
    body = `V = (A << ${k}) & ${mask}; V = V >>> 0; T1 = ${cf}; ` +
      `E = T1 | ${amd ? `((((V >>> ${msb}) & 1) ^ T1) ? ${OF} : 0)` : topTwo} | ${af} | ${result};`;
  }
  const read = size === 4 ? `r[${n << 1}]` : `r16[${n << 2}]`;
  const write = size === 4 ? `r[${n << 1}] = V; r[${(n << 1) + 1}] = 0;` : `r16[${n << 2}] = V;`;
  const shifted = `A = ${read}; ${body} ${write}`;
  if (d.op !== 0xd3) return shifted;
  const zero = d.jit === "shiftGroupZx" ? ` r[${(n << 1) + 1}] = 0;` : "";
  return `T2 = r[2] & 31; if (T2 === 0) { E = ${keep};${zero} } else { ${shifted} }`;
}
