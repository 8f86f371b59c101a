/**
 * The x87 escape opcodes D8-DF as decoder data: for each, the memory forms
 * by ModRM.reg (`group`) and the register forms by ModRM bits 0-5
 * (`regForm`, used when mod = 3). Encodings left undefined decode to an
 * internal error: the undocumented aliases (FCOM2, FCOMP3, FXCH4, FSTP1...)
 * and the reserved D9 D1-D7, D9 E2-E3, D9 E6-E7, D9 EF forms.
 *
 * @module
 */
import { M, type OpSpec } from "../insn.ts";
import type { Exec } from "../insn.ts";
import * as a from "./x87_arith.ts";
import * as c from "./x87_control.ts";
import * as m from "./x87_move.ts";
import * as t from "./x87_trans.ts";

/** An entry; a compiled block may hold every x87 instruction, calling its semantics (`jit`: "call"). */
function op(exec: Exec, f = 0): OpSpec {
  return { exec, f, jit: "call" };
}

/** A register-form map with entries `from`..`to` (ModRM & 0x3f) set to `spec`. */
function regs(entries: readonly [number, number, OpSpec][]): (OpSpec | undefined)[] {
  const t: (OpSpec | undefined)[] = new Array(64).fill(undefined);
  for (const [from, to, spec] of entries) for (let i = from; i <= to; i++) t[i] = spec;
  return t;
}

const arithMem = op(a.arithMem);
const load = op(m.loadMem);
const store = op(m.storeMem);

const d8: OpSpec = { f: M, group: new Array(8).fill(arithMem), regForm: regs([[0x00, 0x3f, op(a.arithSt0)]]) };

const d9: OpSpec = {
  f: M,
  group: [load, undefined, store, store, op(c.fldenv), op(c.fldcw), op(c.fnstenv), op(c.fnstcw)],
  regForm: regs([
    [0x00, 0x07, op(m.loadSt)],
    [0x08, 0x0f, op(m.fxch)],
    [0x10, 0x10, op(m.fnop)],
    [0x20, 0x21, op(a.unary)],
    [0x24, 0x24, op(a.ftst)],
    [0x25, 0x25, op(a.fxam)],
    [0x28, 0x2e, op(m.loadConst)],
    [0x30, 0x30, op(t.f2xm1Op)],
    [0x31, 0x31, op(t.fbinary)],
    [0x32, 0x32, op(t.ftrig)],
    [0x33, 0x33, op(t.fbinary)],
    [0x34, 0x34, op(m.fxtract)],
    [0x35, 0x35, op(a.unary)],
    [0x36, 0x37, op(m.moveTop)],
    [0x38, 0x38, op(a.unary)],
    [0x39, 0x39, op(t.fbinary)],
    [0x3a, 0x3a, op(a.unary)],
    [0x3b, 0x3b, op(t.ftrig)],
    [0x3c, 0x3d, op(a.unary)],
    [0x3e, 0x3f, op(t.ftrig)],
  ]),
};

const da: OpSpec = {
  f: M,
  group: new Array(8).fill(arithMem),
  regForm: regs([[0x00, 0x1f, op(m.fcmov)], [0x29, 0x29, op(a.fcomReg)]]),
};

const db: OpSpec = {
  f: M,
  group: [load, store, store, store, undefined, load, undefined, store],
  regForm: regs([
    [0x00, 0x1f, op(m.fcmov)],
    [0x20, 0x21, op(c.fnop287)],
    [0x22, 0x22, op(c.fnclex)],
    [0x23, 0x23, op(c.fninit)],
    [0x24, 0x24, op(c.fnop287)],
    [0x28, 0x37, op(a.fcomi)],
  ]),
};

const dc: OpSpec = {
  f: M,
  group: new Array(8).fill(arithMem),
  regForm: regs([[0x00, 0x0f, op(a.arithSti)], [0x20, 0x3f, op(a.arithSti)]]),
};

const dd: OpSpec = {
  f: M,
  group: [load, store, store, store, op(c.fldenv), undefined, op(c.fnstenv), op(c.fnstsw)],
  regForm: regs([
    [0x00, 0x07, op(m.ffree)],
    [0x10, 0x1f, op(m.storeSt)],
    [0x20, 0x2f, op(a.fcomReg)],
  ]),
};

const de: OpSpec = {
  f: M,
  group: new Array(8).fill(arithMem),
  regForm: regs([[0x00, 0x0f, op(a.arithSti)], [0x19, 0x19, op(a.fcomReg)], [0x20, 0x3f, op(a.arithSti)]]),
};

const df: OpSpec = {
  f: M,
  group: [load, store, store, store, load, load, store, store],
  regForm: regs([
    [0x00, 0x07, op(m.ffree)],
    [0x20, 0x20, op(c.fnstsw)],
    [0x28, 0x37, op(a.fcomi)],
  ]),
};

/** The entries of opcodes D8-DF, in order. */
export const X87_ESCAPES: readonly OpSpec[] = [d8, d9, da, db, dc, dd, de, df];
