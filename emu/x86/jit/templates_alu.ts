/**
 * The ALU templates: ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST, INC/DEC and NEG/NOT of 8, 16, 32 (`producer`) and
 * 64 bits (`producer64`) on registers or a memory source they only read; a memory destination goes to
 * templates_rmw.ts.
 *
 * @module
 */
import { F_DEC, F_INC, MASK } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { loadInto, MASK_TEXT, offset, segmentOf } from "./operands.ts";
import { num } from "./pool.ts";
import { ALU_OP, carry, producerOf } from "./templates_flags.ts";
import { rmw } from "./templates_rmw.ts";
import {
  at,
  halves,
  type Producer,
  pure,
  readsMemory,
  reg,
  regRead,
  regWrite,
  setHalves,
  type Site,
  type Template,
} from "./templates_site.ts";

/** An ALU, TEST or INC/DEC template (producerOf); of a memory destination, rmw. */
export function flags(d: Insn, site: Site): Template | undefined {
  const p = producerOf(d);
  if (p === null) return undefined;
  if (d.mod !== 3 && d.rmw) return pure(rmw(d, site));
  return pure(d.size === 8 ? producer64(d, site) : producer(d, p, site));
}

/** NOT or NEG (F7 /2, /3; ops/alu.ts notRm, not64, negRm, neg64) of a 32- or 64-bit register; NEG sets SUB's flags. */
export function notNeg(d: Insn, site: Site): Template | undefined {
  if (d.mod !== 3 || (d.size !== 4 && d.size !== 8)) return undefined;
  if (d.reg === 3) return flags(d, site);
  const [lo, hi] = halves(d.rm);
  return pure(d.size === 8 ? setHalves(d.rm, `~${lo} >>> 0`, `~${hi} >>> 0`) : regWrite(d.rm, 4, `~${lo} >>> 0`));
}

/** An ALU, TEST or INC/DEC template of 8, 16 or 32 bits: register operands, or a memory source it only reads. */
function producer(d: Insn, p: Producer, site: Site): string {
  const e = d.jit, size = p.size, mask = MASK_TEXT[size];
  const fit = (x: string) => (size === 4 ? `(${x}) >>> 0` : `(${x}) & ${mask}`);
  const mem = readsMemory(d);
  const at = mem
    ? `${loadInto(segmentOf(d), offset(d, site.next)!, size, d.mode, `c.eip = ${num(site.eip)};${site.sync} `)} `
    : "";
  const rm = mem ? "MV" : regRead(d.rm, size);
  if (p.fop === F_INC || p.fop === F_DEC) {
    const n = e === "incDecReg" ? d.op & 7 : d.rm;
    const v = fit(p.fop === F_INC ? "A + 1" : "A - 1");
    return `C = ${carry(site.producer)}; A = ${regRead(n, size)}; B = 1; V = ${v}; ${regWrite(n, size, "V")}`;
  }
  const imm = String((d.imm & MASK[size]) >>> 0);
  let dst: number, a: string, b: string, kind: number;
  if (e === "notNeg") {
    // NEG: 0 - r/m.
    [dst, kind, a, b] = [d.rm, 5, "0", rm];
  } else if (e === "testRmReg" || e === "testRmImm" || e === "testAccImm") {
    [dst, kind] = [-1, 4];
    [a, b] = e === "testRmReg" ? [rm, regRead(d.reg, size)] : e === "testRmImm" ? [rm, imm] : [regRead(0, size), imm];
  } else if (e === "aluRmImm") {
    [dst, kind, a, b] = [d.rm, d.reg, rm, imm];
  } else if (e === "aluAccImm") {
    [dst, kind, a, b] = [0, (d.op >> 3) & 7, regRead(0, size), String(d.imm >>> 0)];
  } else if (e === "aluRmReg") {
    [dst, kind, a, b] = [d.rm, (d.op >> 3) & 7, rm, regRead(d.reg, size)];
  } else {
    [dst, kind, a, b] = [d.reg, (d.op >> 3) & 7, regRead(d.reg, size), rm];
  }
  const write = kind === 7 || dst < 0 ? "" : ` ${regWrite(dst, size, "V")}`;
  if (kind === 2 || kind === 3) return `${at}${carried32(kind, a, b, site)}${write}`;
  return `${at}A = ${a}; B = ${b}; V = ${fit(`A ${ALU_OP[kind]} B`)};${write}`;
}

/**
 * A 32-bit ADC (`kind` 2) or SBB (3) of `a` and `b`: the carry-in into C (after any load, whose slow path writes out
 * the flags of the locals as they were), the result in V; its flags lazy (F_ADC, F_SBB), from A, B, V and C.
 */
function carried32(kind: number, a: string, b: string, site: Site): string {
  return `C = ${carry(site.producer)}; A = ${a}; B = ${b}; V = (A ${kind === 2 ? "+ B +" : "- B -"} C) >>> 0;`;
}

/**
 * A 64-bit ALU, TEST or INC/DEC template on registers or a memory source it only reads, as alu64: the operands in
 * A/AH and B/BH, the result in V (low) and H (high), CF in K; the other flags are computed from them only where they
 * are used (eager.ts eagerOf).
 */
function producer64(d: Insn, site: Site): string {
  const e = d.jit;
  const hi = (n: number) => `r[${(n << 1) + 1}]`;
  const mem = readsMemory(d);
  let dst: number, kind: number, a: [string, string], b: [string, string];
  let pre = mem ? `${loadInto(segmentOf(d), offset(d, site.next)!, 8, 8, at(site))} ` : "";
  const rm: [string, string] = mem ? ["MV", "MH"] : [reg(d.rm), hi(d.rm)];
  if (e === "notNeg") {
    // NEG: 0 - r/m.
    [dst, kind, a, b] = [d.rm, 5, ["0", "0"], rm];
  } else if (e === "testRmReg") {
    [dst, kind, a, b] = [-1, 4, rm, [reg(d.reg), hi(d.reg)]];
  } else if (e === "incDec64") {
    [dst, kind, a, b] = [d.rm, d.reg === 1 ? 5 : 0, [reg(d.rm), hi(d.rm)], ["1", "0"]];
    pre = `C = ${carry(site.producer)}; `;
  } else if (e === "aluRmImm64") {
    [dst, kind, a, b] = [d.rm, d.reg, rm, [String(d.imm >>> 0), String(d.imm2 >>> 0)]];
  } else if (e === "aluAccImm64") {
    [dst, kind, a, b] = [0, (d.op >> 3) & 7, [reg(0), hi(0)], [String(d.imm >>> 0), String(d.imm2 >>> 0)]];
  } else if (e === "aluRmReg64") {
    [dst, kind, a, b] = [d.rm, (d.op >> 3) & 7, rm, [reg(d.reg), hi(d.reg)]];
  } else {
    [dst, kind, a, b] = [d.reg, (d.op >> 3) & 7, [reg(d.reg), hi(d.reg)], rm];
  }
  // ADC and SBB read CF (into C) after the load, whose slow path writes out the flags of the locals as they were.
  if (kind === 2 || kind === 3) pre += `C = ${carry(site.producer)}; `;
  let body = `${pre}A = ${a[0]}; AH = ${a[1]}; B = ${b[0]}; BH = ${b[1]}; `;
  if (kind === 0 || kind === 2) {
    body += `L = A + B${kind === 2 ? " + C" : ""}; V = L >>> 0; L = AH + BH + (L > ${MASK[4]} ? 1 : 0); H = L >>> 0; ` +
      `K = L > ${MASK[4]} ? 1 : 0;`;
  } else if (kind === 3 || kind === 5 || kind === 7) {
    body += `L = A - B${kind === 3 ? " - C" : ""}; V = L >>> 0; L = AH - BH - (L < 0 ? 1 : 0); H = L >>> 0; ` +
      "K = L < 0 ? 1 : 0;";
  } else {
    const op = kind === 1 ? "|" : kind === 4 ? "&" : "^";
    body += `V = (A ${op} B) >>> 0; H = (AH ${op} BH) >>> 0; K = 0;`;
  }
  if (e === "incDec64") body += " K = C;";
  if (kind !== 7 && dst >= 0) body += ` r[${dst << 1}] = V; r[${(dst << 1) + 1}] = H;`;
  return body;
}
