/**
 * The data movement templates: MOV (8 to 64 bits, registers, loads, stores and immediates), MOVZX/MOVSX, MOVSXD,
 * LEA, CMOVcc and SETcc.
 *
 * @module
 */
import { MASK } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { loadInto, offset, segmentOf, storeFrom } from "./operands.ts";
import { cmovCode } from "./templates64.ts";
import { condition } from "./templates_flags.ts";
import {
  at,
  type Emitter,
  halves,
  pure,
  readableMemory,
  reg,
  regRead,
  regWrite,
  setHalves,
  type Site,
  type Template,
} from "./templates_site.ts";

/**
 * LEA with a 32-bit operand, or in 64-bit mode a 32- or 64-bit one (the address computed with the address size, then
 * truncated, as ops/mov.ts leaLong).
 */
export function lea(d: Insn, site: Site): Template | undefined {
  if (d.mode === 8) {
    const o = offset(d, site.next)!, n = d.reg << 1;
    if (d.size === 8) return pure(`${o} r[${n}] = LA; r[${n + 1}] = LH;`);
    return d.size === 4 ? pure(`${o} r[${n}] = LA; r[${n + 1}] = 0;`) : undefined;
  }
  return pure(d.osize === 4 ? mapOffset(offset(d, site.next), (o) => regWrite(d.reg, 4, o)) : undefined);
}

function mapOffset(off: string | undefined, f: (o: string) => string): string | undefined {
  return off === undefined ? undefined : f(off);
}

/** MOV r/m64, r64 (ops/mov.ts movRmReg64): between registers, or an 8-byte store. */
function movRmReg64(d: Insn, site: Site): Template | undefined {
  const [lo, hi] = halves(d.reg);
  if (d.mod === 3) return pure(setHalves(d.rm, lo, hi));
  return pure(storeFrom(segmentOf(d), offset(d, site.next)!, 8, 8, lo, at(site), site.stop, hi));
}

/** MOV r64, r/m64 (ops/mov.ts movRegRm64): between registers, or an 8-byte load. */
function movRegRm64(d: Insn, site: Site): Template | undefined {
  if (d.mod === 3) return pure(setHalves(d.reg, ...halves(d.rm)));
  return pure(`${loadInto(segmentOf(d), offset(d, site.next)!, 8, 8, at(site))} ${setHalves(d.reg, "MV", "MH")}`);
}

/** MOV r/m, reg (8, 16, 32 bits; 64 bits: movRmReg64): between registers, or a store. */
export function movRmReg(d: Insn, site: Site): Template | undefined {
  if (d.size === 8) return movRmReg64(d, site);
  const value = regRead(d.reg, d.size);
  if (d.mod === 3) return pure(regWrite(d.rm, d.size, value));
  return pure(
    mapOffset(offset(d, site.next), (off) => storeFrom(segmentOf(d), off, d.size, d.mode, value, at(site), site.stop)),
  );
}

/** MOV reg, r/m (8, 16, 32 bits; 64 bits: movRegRm64): between registers, or a load. */
export function movRegRm(d: Insn, site: Site): Template | undefined {
  if (d.size === 8) return movRegRm64(d, site);
  if (d.mod === 3) return pure(regWrite(d.reg, d.size, regRead(d.rm, d.size)));
  return pure(
    mapOffset(
      offset(d, site.next),
      (off) => `${loadInto(segmentOf(d), off, d.size, d.mode, at(site))} ${regWrite(d.reg, d.size, "MV")}`,
    ),
  );
}

/**
 * MOV reg, imm (8, 16, 32 bits); in 64-bit mode of 32 or 64 bits, REX.B selecting R8-R15 (ops/mov.ts
 * movRegImmLong).
 */
export function movRegImm(d: Insn): Template | undefined {
  if (d.mode === 8) {
    const n = (d.op & 7) | ((d.rex & 1) << 3);
    if (d.size === 8) return pure(setHalves(n, String(d.imm >>> 0), String(d.imm2 >>> 0)));
    return d.size === 4 ? pure(setHalves(n, String(d.imm >>> 0), "0")) : undefined;
  }
  return d.size === 8 ? undefined : pure(regWrite(d.op & 7, d.size, String(d.imm >>> 0)));
}

/** MOV r/m, imm (8, 16, 32 bits): to a register, or a store. */
export function movRmImm(d: Insn, site: Site): Template | undefined {
  if (d.size === 8) {
    const [lo, hi] = [String(d.imm >>> 0), String(d.imm2 >>> 0)];
    if (d.mod === 3) return pure(setHalves(d.rm, lo, hi));
    return pure(storeFrom(segmentOf(d), offset(d, site.next)!, 8, 8, lo, at(site), site.stop, hi));
  }
  const value = String(d.imm >>> 0);
  if (d.mod === 3) return pure(regWrite(d.rm, d.size, value));
  return pure(
    mapOffset(offset(d, site.next), (off) => storeFrom(segmentOf(d), off, d.size, d.mode, value, at(site), site.stop)),
  );
}

/** MOVZX or MOVSX (`signed`) to a 32-bit register, from a register or memory. */
export function movExtend(signed: boolean): Emitter {
  return (d, site) => {
    if (d.size === 8 || d.osize !== 4) return undefined;
    const n = d.op & 1 ? 2 : 1;
    const widen = (v: string) => signed ? extend(v, n) : v;
    if (d.mod === 3) return pure(regWrite(d.reg, 4, widen(regRead(d.rm, n))));
    return pure(
      mapOffset(
        offset(d, site.next),
        (off) => `${loadInto(segmentOf(d), off, n, d.mode, at(site))} ${regWrite(d.reg, 4, widen("MV"))}`,
      ),
    );
  };
}

/** CMOVcc of 32 or 64 bits (templates64.ts), from a register or memory: a MOV reg, r/m made under a condition. */
export function cmov(d: Insn, site: Site): Template | undefined {
  if (d.size !== 8 && d.size !== 4) return undefined;
  if (d.mod === 3) return pure(cmovCode(d, condition(d.op & 0xf, site.producer), "", halves(d.rm)));
  if (!readableMemory(d)) return undefined;
  const load = `${loadInto(segmentOf(d), offset(d, site.next)!, d.size, d.mode, at(site))} `;
  return pure(cmovCode(d, condition(d.op & 0xf, site.producer), load, ["MV", "MH"]));
}

/** MOVSXD r64, r/m32 (ops/mov.ts movsxd): the source's sign in the high half. */
export function movsxd(d: Insn, site: Site): Template | undefined {
  const n = d.reg << 1;
  const widen = (v: string) => `T1 = ${v}; r[${n}] = T1 >>> 0; r[${n + 1}] = (T1 | 0) < 0 ? ${MASK[4]} : 0;`;
  if (d.mod === 3) return pure(widen(reg(d.rm)));
  return pure(`${loadInto(segmentOf(d), offset(d, site.next)!, 4, 8, at(site))} ${widen("MV")}`);
}

/** SETcc (ops/mov.ts setcc): 1 or 0 to a byte register, or a byte store. */
export function setcc(d: Insn, site: Site): Template | undefined {
  const v = `(${condition(d.op & 0xf, site.producer)} ? 1 : 0)`;
  if (d.mod === 3) return pure(regWrite(d.rm, 1, v));
  return pure(
    mapOffset(offset(d, site.next), (off) => storeFrom(segmentOf(d), off, 1, d.mode, v, at(site), site.stop)),
  );
}

/** Sign-extends an 8- or 16-bit value to 32 bits, unsigned. */
function extend(v: string, size: number): string {
  return `((${v} << ${32 - 8 * size}) >> ${32 - 8 * size}) >>> 0`;
}
