/**
 * The opcode maps of 64-bit mode, as data derived from the 32-bit maps:
 * each entry gets its 64-bit operand-size semantics (`exec64`), the
 * default-64 operand size of near branches and stack operations (D64),
 * its 64-bit-mode semantics where addressing or the stack differ, and the
 * opcodes removed from 64-bit mode become #UD. An entry without `exec64`
 * decodes to an internal error when REX.W asks for a 64-bit operand.
 *
 * @module
 */
import type { OpMaps } from "../decode.ts";
import { execUd } from "../fault.ts";
import {
  B,
  D64,
  type Exec,
  I64,
  I8,
  I8S,
  IA,
  IE,
  IV,
  IW,
  type JitTemplate,
  M,
  MEMONLY,
  type OpSpec,
  REGONLY,
} from "../insn.ts";
import { OP_MAPS } from "../optable.ts";
import * as alu from "../ops/alu.ts";
import * as md from "../ops/muldiv.ts";
import * as ctl from "../ops/control.ts";
import * as far from "../ops/far.ts";
import * as stk from "../ops/stack.ts";
import * as io from "../ops/io.ts";
import * as mov from "../ops/mov.ts";
import * as bit from "../ops/bit.ts";
import * as sh from "../ops/shift.ts";
import * as str from "../ops/string.ts";
import * as sys from "../ops/system.ts";
import * as cr from "../ops/cr.ts";
import * as fast from "../ops/fastcall.ts";
import { group7Reg2 as xgetbvOr } from "../ops/xsave.ts";
import { group7Reg1 as clacStacOr } from "../ops/system.ts";

const one: (OpSpec | undefined)[] = [...OP_MAPS.one];
const two: (OpSpec | undefined)[] = [...OP_MAPS.two];

/** An entry whose semantics are `exec` at every operand size, with the block compiler's template `jit` (if any). */
function both(exec: Exec, f = 0, jit?: JitTemplate): OpSpec {
  return jit ? { exec, exec64: exec, f, jit, jit64: jit } : { exec, exec64: exec, f };
}

/**
 * Adds 64-bit-operand semantics (and the block compiler's template for them, `jit64`) to an existing entry (to its
 * no-prefix entry when prefixes select).
 */
function wide(map: (OpSpec | undefined)[], op: number, exec64: Exec, jit64?: JitTemplate): void {
  const spec = map[op];
  if (!spec) return;
  const add = jit64 ? { exec64, jit64 } : { exec64 };
  if (spec.pfx) {
    const pfx = [...spec.pfx];
    if (pfx[0]) pfx[0] = { ...pfx[0], ...add };
    map[op] = { ...spec, pfx };
  } else map[op] = { ...spec, ...add };
}

/**
 * Rebuilds a group entry with `execs[reg]` as the 64-bit semantics of each member that has one (and `jit64` as the
 * block compiler's template for them: one for all, or one per member).
 */
function wideGroup(
  map: (OpSpec | undefined)[],
  op: number,
  execs: readonly (Exec | undefined)[],
  jit64?: JitTemplate | readonly JitTemplate[],
): void {
  const spec = map[op];
  if (!spec?.group) return;
  const add = (exec64: Exec, i: number) => {
    const jit = typeof jit64 === "string" ? jit64 : jit64?.[i];
    return jit ? { exec64, jit64: jit } : { exec64 };
  };
  const group = spec.group.map((g, i) => {
    const exec64 = execs[i];
    return g && exec64 ? { ...g, ...add(exec64, i) } : g;
  });
  map[op] = { ...spec, group };
}

/** `exec`, then a 32-bit register destination's upper half cleared even when `exec` left it unwritten. */
function zeroExtended(exec: Exec | undefined): Exec | undefined {
  if (!exec) return exec;
  const wrapper: Exec = (cpu, d) => {
    exec(cpu, d);
    if (d.size === 4 && d.mod === 3) cpu.r32[(d.rm << 1) + 1] = 0;
  };
  return wrapper;
}

/** The block compiler's template of a `zeroExtended` wrapper of semantics whose template is `jit`. */
function zeroExtendedJit(jit: JitTemplate | undefined): JitTemplate | undefined {
  return jit === "shiftGroup" ? "shiftGroupZx" : jit;
}

/** The same semantics (and block compiler's handling) whatever REX.W says. */
function same(map: (OpSpec | undefined)[], op: number): void {
  const spec = map[op];
  if (spec?.exec && !spec.pfx && !spec.group) map[op] = { ...spec, exec64: spec.exec, jit64: spec.jit };
}

// Removed in 64-bit mode.
for (const o of [0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0x62, 0x82, 0x9a]) {
  one[o] = both(execUd);
}
for (const o of [0xc4, 0xc5, 0xce, 0xd4, 0xd5, 0xd6, 0xea]) one[o] = both(execUd);

// ALU with 64-bit operands.
for (let k = 0; k < 8; k++) {
  wide(one, k * 8 + 1, alu.aluRmReg64, "aluRmReg64");
  wide(one, k * 8 + 3, alu.aluRegRm64, "aluRegRm64");
  wide(one, k * 8 + 5, alu.aluAccImm64, "aluAccImm64");
}
for (let o = 0x50; o <= 0x57; o++) one[o] = both(stk.pushRegLong, D64, "pushRegLong");
for (let o = 0x58; o <= 0x5f; o++) one[o] = both(stk.popRegLong, D64, "popRegLong");
one[0x63] = { exec: mov.movsxd32, exec64: mov.movsxd, f: M, jit: "call", jit64: "movsxd" };
one[0x68] = both(stk.pushImmLong, IV | D64, "call");
one[0x6a] = both(stk.pushImmLong, I8S | D64, "call");
wide(one, 0x69, md.imul64, "imul2");
wide(one, 0x6b, md.imul64, "imul2");
one[0x6c] = both(io.ins64, B);
one[0x6d] = { exec: io.ins64, f: 0 };
one[0x6e] = both(io.outs64, B);
one[0x6f] = { exec: io.outs64, f: 0 };
for (let o = 0x70; o <= 0x7f; o++) one[o] = both(ctl.jccLong, I8 | D64, "jccLong");
const grp1 = new Array(8).fill(alu.aluRmImm64);
wideGroup(one, 0x81, grp1, "aluRmImm64");
wideGroup(one, 0x83, grp1, "aluRmImm64");
wide(one, 0x85, alu.testRmReg64, "testRmReg");
wide(one, 0x87, mov.xchgRmReg64, "call");
wide(one, 0x89, mov.movRmReg64, "movRmReg");
wide(one, 0x8b, mov.movRegRm64, "movRegRm");
wide(one, 0x8c, mov.movRmSreg64, "call");
one[0x8d] = both(mov.leaLong, M | MEMONLY, "lea");
same(one, 0x8e);
one[0x8f] = { f: M, group: [both(stk.popRmLong, D64, "call")] };
for (let o = 0x90; o <= 0x97; o++) one[o] = both(mov.xchgAccLong, 0, "call");
one[0x90] = both(mov.xchgAccLong, 0, "nop");
wide(one, 0x98, mov.cdqe, "call");
wide(one, 0x99, mov.cqo, "call");
one[0x9c] = both(stk.pushfLong, D64, "call");
one[0x9d] = both(stk.popfLong, D64);
same(one, 0x9e);
same(one, 0x9f);
for (let o = 0xa0; o <= 0xa3; o++) one[o] = both(mov.movMoffsLong, (o & 1 ? 0 : B) | IA, "call");
const strings: [number, Exec][] = [[0xa4, str.movs64], [0xa6, str.cmps64], [0xaa, str.stos64], [0xac, str.lods64]];
strings.push([0xae, str.scas64]);
for (const [o, e] of strings) {
  one[o] = both(e, B);
  one[o + 1] = both(e);
}
wide(one, 0xa9, alu.testAccImm64, "call");
for (let o = 0xb0; o <= 0xb7; o++) one[o] = both(mov.movRegImmLong, B | I8, "movRegImm");
for (let o = 0xb8; o <= 0xbf; o++) one[o] = both(mov.movRegImmLong, IV | I64, "movRegImm");
const grp2 = new Array(8).fill(sh.shiftGroup64);
for (const o of [0xc1, 0xd1, 0xd3]) wideGroup(one, o, grp2, "shiftGroup");
// A 32-bit shift of a register by a count that masks to 0 still zero-extends it.
for (const o of [0xc1, 0xd1, 0xd3]) {
  const spec = one[o];
  if (spec?.group) {
    one[o] = {
      ...spec,
      group: spec.group.map((g) => g && { ...g, exec: zeroExtended(g.exec), jit: zeroExtendedJit(g.jit) }),
    };
  }
}
for (const o of [0xa4, 0xa5, 0xac, 0xad]) {
  const spec = two[o];
  if (spec && !spec.group && !spec.pfx) {
    two[o] = { ...spec, exec: zeroExtended(spec.exec), jit: zeroExtendedJit(spec.jit) };
  }
}
one[0xc2] = both(ctl.retLong, IW | D64, "retLong");
one[0xc3] = both(ctl.retLong, D64, "retLong");
wideGroup(one, 0xc7, [mov.movRmImm64], "movRmImm");
one[0xc8] = both(stk.enterLong, IE | D64, "call");
one[0xc9] = both(stk.leaveLong, D64, "call");
one[0xca] = both(far.retfLong, IW);
one[0xcb] = both(far.retfLong);
for (const o of [0xcc, 0xcd, 0xf1, 0xf4, 0xf5, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0x9b]) same(one, o);
one[0xcf] = both(far.iretLong);
one[0xd7] = both(mov.xlatLong, 0, "call");
for (let o = 0xe0; o <= 0xe3; o++) one[o] = both(ctl.loopLong, I8 | D64, "loopLong");
one[0xe8] = both(ctl.callRelLong, IV | D64, "callRelLong");
one[0xe9] = both(ctl.jmpRelLong, IV | D64, "jmpRelLong");
one[0xeb] = both(ctl.jmpRelLong, I8 | D64, "jmpRelLong");
wideGroup(one, 0xf7, [
  alu.testRmImm64,
  alu.testRmImm64,
  alu.not64,
  alu.neg64,
  md.mulAcc64,
  md.mulAcc64,
  md.div64,
  md.div64,
], ["call", "call", "notNeg", "notNeg", "mulAcc", "mulAcc", "call", "call"]);
one[0xff] = {
  f: M,
  group: [
    { ...OP_MAPS.one[0xff]?.group?.[0], exec64: alu.incDec64, jit64: "incDec64", f: 0 },
    { ...OP_MAPS.one[0xff]?.group?.[1], exec64: alu.incDec64, jit64: "incDec64", f: 0 },
    both(ctl.callRmLong, D64, "callRmLong"),
    both(far.farIndirectLong, MEMONLY),
    both(ctl.jmpRmLong, D64, "jmpRmLong"),
    both(far.farIndirectLong, MEMONLY),
    both(stk.pushRmLong, D64, "call"),
    both(execUd),
  ],
};

// The 0F map.
wideGroup(two, 0x00, [sys.storeSel64, sys.storeSel64]);
const g7 = OP_MAPS.two[0x01]?.group ?? [];
const group7 = [
  both(sys.descTableLong, MEMONLY),
  both(clacStacOr(sys.descTableLong)),
  both(xgetbvOr(sys.descTableLong)),
  both(sys.descTableLong, MEMONLY),
  g7[4] && { ...g7[4], exec64: cr.smsw64 },
  g7[5],
  g7[6],
  both(sys.group7Long),
];
// With mod 3 the same members, but 0F 01 F9 (RDTSCP) has an entry of its own: a block may hold it (it reads the TSC
// and TSC_AUX and changes nothing a block depends on), while the other forms of /7 (SWAPGS; INVLPG) stay the
// interpreter's.
const rdtscp = both(sys.rdtscp, 0, "call");
two[0x01] = {
  f: M,
  group: group7,
  regForm: group7.flatMap((g, reg) => [0, 1, 2, 3, 4, 5, 6, 7].map((rm) => (reg === 7 && rm === 1 ? rdtscp : g))),
};
two[0x05] = both(fast.syscall);
two[0x07] = both(fast.sysret);
for (const o of [0x06, 0x08, 0x09, 0x0b, 0x0d, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f]) same(two, o);
for (const o of [0x30, 0x31, 0x32, 0x33, 0xa2]) same(two, o);
two[0x21] = both(cr.movDrLong, M | REGONLY);
two[0x23] = both(cr.movDrLong, M | REGONLY);
two[0x20] = both(cr.movCrLong, M | REGONLY);
two[0x22] = both(cr.movCrLong, M | REGONLY);
two[0x34] = both(fast.sysenterLong);
two[0x35] = both(fast.sysexitLong);
// CMOVcc: the MOV reg, r/m template under the condition (jit/templates64.ts).
for (let o = 0x40; o <= 0x4f; o++) two[o] = both(mov.cmovLong, M, "cmov");
for (let o = 0x80; o <= 0x8f; o++) two[o] = both(ctl.jccLong, IV | D64, "jccLong");
two[0xa0] = both(stk.pushSegLong, D64);
two[0xa8] = both(stk.pushSegLong, D64);
two[0xa1] = both(stk.popSegLong, D64);
two[0xa9] = both(stk.popSegLong, D64);
for (const o of [0xa3, 0xab, 0xb3, 0xbb]) two[o] = both(bit.btRegLong, M, "call");
for (const o of [0xa4, 0xa5, 0xac, 0xad]) wide(two, o, sh.shiftDouble64, "call");
wide(two, 0xaf, md.imul64, "imul2");
two[0xb0] = both(alu.cmpxchgLong, M | B, "call");
two[0xb1] = { exec: alu.cmpxchgLong, exec64: alu.cmpxchg64, f: M, jit: "call", jit64: "call" };
for (const o of [0xb2, 0xb4, 0xb5]) two[o] = both(mov.loadFarLong, M | MEMONLY);
for (const o of [0xb6, 0xb7, 0xbe, 0xbf]) wide(two, o, mov.movx64, "call");
wideGroup(two, 0xba, [undefined, undefined, undefined, undefined, ...new Array(4).fill(bit.btImm64)], "call");
wide(two, 0xbc, bit.bsf64, "call");
wide(two, 0xbd, bit.bsf64, "call");
wide(two, 0xc1, alu.xadd64, "call");
two[0xc7] = {
  f: M,
  group: [
    undefined,
    { exec: alu.cmpxchg8bLong, exec64: alu.cmpxchg16b, f: MEMONLY, jit: "call", jit64: "call" },
    ...(OP_MAPS.two[0xc7]?.group ?? []).slice(2),
  ],
};
for (let o = 0xc8; o <= 0xcf; o++) two[o] = both(mov.bswapLong, 0, "call");

/** The opcode maps of 64-bit mode (the 0F38, 0F3A and VEX maps are shared with the other modes). */
export const OP_MAPS64: OpMaps = { ...OP_MAPS, one, two };
