/**
 * The ALU operations (not CMP) and INC/DEC on a memory destination (a read-modify-write): in place when the write TLB
 * holds the page, else through the semantic function.
 *
 * @module
 */
import { F_ADD, F_DEC, F_INC, F_LOGIC, F_SUB, MASK } from "../flags.ts";
import { TWO32 } from "../long/access.ts";
import { TLB_MASK } from "../memory.ts";
import { CANONICAL_HIGH_TOP, HIGH16, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, PAGES_PER_4G } from "./names.ts";
import type { Insn } from "../insn.ts";
import { eagerOf } from "./eager.ts";
import { canonicalHigh, offset, RELOAD, segmentOf, SPILL } from "./operands.ts";
import { num } from "./pool.ts";
import { ALU_OP, carry, rmwOp } from "./templates_flags.ts";
import { halves, regRead, type Site } from "./templates_site.ts";

/** Reads `size` bytes of the page UC at RK into MV (and MH: the high half of 8). */
function rmwBytes(size: number): string {
  const at = (i: number) => (i === 0 ? "UC[RK]" : `UC[RK + ${i}]`);
  const word = (o: number, n: number) => {
    const parts = Array.from({ length: n }, (_, i) => (i === 0 ? at(o) : `(${at(o + i)} << ${8 * i})`));
    return n === 4 ? `(${parts.join(" | ")}) >>> 0` : parts.join(" | ");
  };
  return size === 8 ? `MV = ${word(0, 4)}; MH = ${word(4, 4)};` : `MV = ${word(0, size)};`;
}

/** Writes V (and H, for 8 bytes) as `size` bytes at RK of the page UC. */
function rmwStore(size: number): string {
  const shifts = ["V", "V >> 8", "V >> 16", "V >> 24", "H", "H >> 8", "H >> 16", "H >> 24"];
  return shifts.slice(0, size).map((x, i) => `UC[RK${i ? ` + ${i}` : ""}] = ${x};`).join(" ");
}

/**
 * The arithmetic of a memory destination's operation `op` (rmwOp) of `size` bytes: the operand read in MV (MH), the
 * other `b` (halves), CF of the flags before in C; the result into V (H); of 64 bits the flags into E, as ops/alu.ts
 * alu64 (of fewer, they stay lazy in the locals, as alu and incdec record them).
 */
function rmwArith(op: number, size: number, b: readonly [string, string]): string {
  const inc = op >= 8;
  const [kind, fop] = inc
    ? [op === 9 ? 5 : 0, op === 9 ? F_DEC : F_INC]
    : [op, [F_ADD, F_LOGIC, F_ADD, F_SUB, F_LOGIC, F_SUB, F_LOGIC, F_SUB][op]];
  const withC = kind === 2 || kind === 3;
  if (size === 8) {
    let body = `A = MV; AH = MH; B = ${inc ? 1 : b[0]}; BH = ${inc ? 0 : b[1]}; `;
    if (kind === 0 || kind === 2) {
      body += `L = A + B${withC ? " + C" : ""}; V = L >>> 0; L = AH + BH + (L > ${MASK[4]} ? 1 : 0); ` +
        `H = L >>> 0; K = L > ${MASK[4]} ? 1 : 0;`;
    } else if (kind === 3 || kind === 5) {
      body += `L = A - B${withC ? " - C" : ""}; V = L >>> 0; L = AH - BH - (L < 0 ? 1 : 0); H = L >>> 0; ` +
        "K = L < 0 ? 1 : 0;";
    } else {
      const o = kind === 1 ? "|" : kind === 4 ? "&" : "^";
      body += `V = (A ${o} B) >>> 0; H = (AH ${o} BH) >>> 0; K = 0;`;
    }
    if (inc) body += " K = C;";
    return `${body} E = ${eagerOf({ fop, size: 8 })};`;
  }
  // 8, 16, 32 bits: lazy flags (rmwKind) from A, B, V and the carry-in or kept CF in C.
  const fit = (x: string) => (size === 4 ? `(${x}) >>> 0` : `(${x}) & ${MASK[size]}`);
  const v = inc
    ? (op === 9 ? "A - 1" : "A + 1")
    : withC
    ? (kind === 2 ? "A + B + C" : "A - B - C")
    : `A ${ALU_OP[kind]} B`;
  return `A = MV; B = ${inc ? 1 : b[0]}; V = ${fit(v)};`;
}

/**
 * An ALU operation (not CMP) or INC/DEC on memory (a read-modify-write): when the write TLB holds the page (the last
 * page stored to, or a look-up) and the operand lies inside it, the bytes are read, changed and written there, the
 * flags lazy in the locals (of 64 bits eager in E); anything else (a segment check, a watchpoint, a miss, a page's
 * end) calls the semantic function, which reads with write intent, faults as the interpreter does, and leaves the
 * flags in the CPU (read back into the locals or E).
 * The write TLB holds no code or MMIO page, so only the semantic function may queue an exit or write code: the block
 * then leaves after it.
 */
export function rmw(d: Insn, site: Site): string {
  const size = d.size, seg = segmentOf(d), mode = d.mode, op = rmwOp(d);
  const [reg, sz] = [d.reg, size === 8 ? 4 : size];
  const b: [string, string] = d.jit === "aluRmImm" || d.jit === "aluRmImm64"
    ? [String((d.imm & MASK[sz]) >>> 0), size === 8 ? String(d.imm2 >>> 0) : "0"]
    : size === 8
    ? halves(reg)
    : [regRead(reg, size), "0"];
  const withC = op === 2 || op === 3 || op >= 8;
  let fast: string, linear: string;
  if (mode === 8) {
    fast = seg >= 4
      ? "false"
      : `(${canonicalHigh("LH", false)} || (LH === ${CANONICAL_HIGH_TOP} && LA <= ${TWO32 - size})) && FA`;
    linear = `PG = (LH & ${HIGH16}) * ${PAGES_PER_4G} + (LA >>> ${PAGE_SHIFT});`;
  } else {
    fast = `GW${seg} && LA <= GL${seg} - ${size - 1}`;
    linear = `LA = (GB${seg} + LA) >>> 0; PG = LA >>> ${PAGE_SHIFT};`;
  }
  // The page it last changed (UT: its tag, UC: its bytes, UO: its offset in them), else the write TLB's look-up.
  const hit = `(UT === PG + TB || ((TI = (LA >>> ${PAGE_SHIFT}) & ${TLB_MASK}), wTag[TI] === PG + TB && ` +
    "((UT = PG + TB), (UC = wBuf[TI]), (UO = wOff[TI]), true)))";
  const off = offset(d, site.next)!;
  const setOff = mode === 8 ? off : `LA = ${off};`;
  const next = site.next;
  const ip = mode === 8
    ? `c.eip = ${num(next >>> 0)}; c.ripHigh = ${num(Math.floor(next / 2 ** 32) >>> 0)};`
    : `c.eip = ${num(next)};`;
  // Not the block's last instruction (site.stop): after the semantic function, leave when it queued an exit or wrote
  // code, as codegen.ts does after a call.
  // The semantic function leaves the flags in the CPU: eager ones (64 bits) are read back into E, the lazy record of
  // the others into the locals (ops/alu.ts alu and incdec record the operands, the result and C as these do).
  const stop = site.stop === ""
    ? ""
    : ` if (c.exits.length !== 0 || c.codeGen !== g) { ${ip}${SPILL} return ((n + 1) << 6) | 2; }`;
  const back = size === 8 ? "E = c.arith();" : `A = c.fa; B = c.fb; V = c.fres;${withC ? " C = c.fcin;" : ""}`;
  const slow = `${site.sync} c.eip = ${num(site.eip)}; c.nextEip = ${num(next)}; ${site.fn}(c, ${site.name}); ` +
    `${RELOAD} ${back}${stop}`;
  return `var UT, UC, UO; ${withC ? `C = ${carry(site.producer)}; ` : ""}${setOff} OK = 0; if (${fast}) { ${linear} ` +
    `if (${hit} && (LA & ${PAGE_MASK}) <= ${PAGE_SIZE - size}) { OK = 1; RK = UO + (LA & ${PAGE_MASK}); ` +
    `${rmwBytes(size)} ${rmwArith(op, size, b)} ${rmwStore(size)} } } if (OK === 0) { ${slow} }`;
}
