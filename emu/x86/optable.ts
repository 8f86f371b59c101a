/**
 * The opcode maps as data: for each byte of the one-byte and 0F maps, the
 * semantics and how to decode the operands (ModRM, immediates, byte size,
 * ModRM.reg groups). Unlisted opcodes decode to an internal error.
 *
 * @module
 */
import { B, I8, I8S, IA, IE, IP, IV, IW, M, MEMONLY, type OpSpec, REGONLY } from "./insn.ts";
import type { Exec, JitTemplate } from "./insn.ts";
import type { OpMaps } from "./decode.ts";
import { execUd } from "./fault.ts";
import * as alu from "./ops/alu.ts";
import * as bcd from "./ops/bcd.ts";
import * as bit from "./ops/bit.ts";
import * as ctl from "./ops/control.ts";
import * as far from "./ops/far.ts";
import * as cr from "./ops/cr.ts";
import * as io from "./ops/io.ts";
import * as md from "./ops/muldiv.ts";
import * as mov from "./ops/mov.ts";
import * as sh from "./ops/shift.ts";
import * as stk from "./ops/stack.ts";
import * as str from "./ops/string.ts";
import * as sys from "./ops/system.ts";
import { installSse, SSE_MAPS } from "./sse/optable.ts";
import * as seginfo from "./ops/seginfo.ts";
import * as fast from "./ops/fastcall.ts";
import { bound } from "./ops/bound.ts";
import { fwait } from "./ops/x87_core.ts";
import { X87_ESCAPES } from "./ops/x87_table.ts";
import { fxrstor, fxsave } from "./ops/fxsave.ts";
import * as xs from "./ops/xsave.ts";

const one: (OpSpec | undefined)[] = new Array(256).fill(undefined);
const two: (OpSpec | undefined)[] = new Array(256).fill(undefined);

/** An entry: semantics `exec`, decoder flags `f`, and the block compiler's template `jit` (insn.ts JitTemplate). */
function op(exec: Exec, f = 0, jit?: JitTemplate): OpSpec {
  return jit ? { exec, f, jit } : { exec, f };
}
/** Seven #UD group members: the undefined ModRM.reg values of a group (/1-/7). */
const UD7: OpSpec[] = new Array(7).fill({ exec: execUd, f: 0 });
function set(map: (OpSpec | undefined)[], from: number, to: number, spec: OpSpec): void {
  for (let i = from; i <= to; i++) map[i] = spec;
}

// ALU: 00-3F (less prefixes and the BCD/segment opcodes between).
for (let k = 0; k < 8; k++) {
  const b = k * 8;
  one[b] = op(alu.aluRmReg, M | B, "aluRmReg");
  one[b + 1] = op(alu.aluRmReg, M, "aluRmReg");
  one[b + 2] = op(alu.aluRegRm, M | B, "aluRegRm");
  one[b + 3] = op(alu.aluRegRm, M, "aluRegRm");
  one[b + 4] = op(alu.aluAccImm, B | I8, "aluAccImm");
  one[b + 5] = op(alu.aluAccImm, IV, "aluAccImm");
}
for (const o of [0x06, 0x0e, 0x16, 0x1e]) one[o] = op(stk.pushSeg);
for (const o of [0x07, 0x17, 0x1f]) one[o] = op(stk.popSeg);
one[0x27] = op(bcd.daa, 0, "call");
one[0x2f] = op(bcd.das, 0, "call");
one[0x37] = op(bcd.aaa, 0, "call");
one[0x3f] = op(bcd.aaa, 0, "call");
set(one, 0x40, 0x4f, op(alu.incDecReg, 0, "incDecReg"));
set(one, 0x50, 0x57, op(stk.pushReg, 0, "pushReg"));
set(one, 0x58, 0x5f, op(stk.popReg, 0, "popReg"));
one[0x60] = op(stk.pusha, 0, "call");
one[0x61] = op(stk.popa, 0, "call");
one[0x62] = op(bound, M | MEMONLY);
one[0x63] = op(seginfo.arpl, M);
one[0x68] = op(stk.pushImm, IV, "call");
one[0x69] = op(md.imul2, M | IV, "imul2");
one[0x6a] = op(stk.pushImm, I8S, "call");
one[0x6b] = op(md.imul2, M | I8S, "imul2");
one[0x6c] = op(io.ins, B);
one[0x6d] = op(io.ins);
one[0x6e] = op(io.outs, B);
one[0x6f] = op(io.outs);
set(one, 0x70, 0x7f, op(ctl.jcc, I8, "jcc"));
const grp1 = new Array(8).fill(op(alu.aluRmImm, 0, "aluRmImm"));
one[0x80] = { f: M | B | I8, group: grp1 };
one[0x81] = { f: M | IV, group: grp1 };
one[0x82] = { f: M | B | I8, group: grp1 };
one[0x83] = { f: M | I8S, group: grp1 };
one[0x84] = op(alu.testRmReg, M | B, "testRmReg");
one[0x85] = op(alu.testRmReg, M, "testRmReg");
one[0x86] = op(mov.xchgRmReg, M | B, "call");
one[0x87] = op(mov.xchgRmReg, M, "call");
one[0x88] = op(mov.movRmReg, M | B, "movRmReg");
one[0x89] = op(mov.movRmReg, M, "movRmReg");
one[0x8a] = op(mov.movRegRm, M | B, "movRegRm");
one[0x8b] = op(mov.movRegRm, M, "movRegRm");
one[0x8c] = op(mov.movRmSreg, M, "call");
one[0x8d] = op(mov.lea, M | MEMONLY, "lea");
one[0x8e] = op(mov.movSregRm, M);
one[0x8f] = { f: M, group: [op(stk.popRm, 0, "call"), ...UD7] };
set(one, 0x90, 0x97, op(mov.xchgAcc, 0, "call"));
one[0x90] = op(mov.xchgAcc, 0, "nop");
one[0x98] = op(mov.cbw, 0, "call");
one[0x99] = op(mov.cwd, 0, "call");
one[0x9a] = op(far.callFar, IP);
one[0x9b] = op(fwait);
one[0x9c] = op(stk.pushf, 0, "call");
one[0x9d] = op(stk.popf);
one[0x9e] = op(mov.sahf, 0, "call");
one[0x9f] = op(mov.lahf, 0, "call");
one[0xa0] = op(mov.movMoffs, B | IA, "call");
one[0xa1] = op(mov.movMoffs, IA, "call");
one[0xa2] = op(mov.movMoffs, B | IA, "call");
one[0xa3] = op(mov.movMoffs, IA, "call");
// MOVS CMPS STOS LODS SCAS: the byte form at the even opcode, the word/dword form after it.
const strings: [number, Exec][] = [
  [0xa4, str.movs],
  [0xa6, str.cmps],
  [0xaa, str.stos],
  [0xac, str.lods],
  [0xae, str.scas],
];
for (const [o, exec] of strings) {
  one[o] = op(exec, B);
  one[o + 1] = op(exec);
}
one[0xa8] = op(alu.testAccImm, B | I8, "testAccImm");
one[0xa9] = op(alu.testAccImm, IV, "testAccImm");
set(one, 0xb0, 0xb7, op(mov.movRegImm, B | I8, "movRegImm"));
set(one, 0xb8, 0xbf, op(mov.movRegImm, IV, "movRegImm"));
const grp2 = new Array(8).fill(op(sh.shiftGroup, 0, "shiftGroup"));
one[0xc0] = { f: M | B | I8, group: grp2 };
one[0xc1] = { f: M | I8, group: grp2 };
one[0xc2] = op(ctl.ret, IW, "ret");
one[0xc3] = op(ctl.ret, 0, "ret");
one[0xc4] = op(mov.loadFarPointer, M | MEMONLY);
one[0xc5] = op(mov.loadFarPointer, M | MEMONLY);
one[0xc6] = { f: M | B | I8, group: [op(mov.movRmImm, 0, "movRmImm"), ...UD7] };
one[0xc7] = { f: M | IV, group: [op(mov.movRmImm, 0, "movRmImm"), ...UD7] };
one[0xc8] = op(stk.enter, IE, "call");
one[0xc9] = op(stk.leave, 0, "call");
one[0xca] = op(far.retf, IW);
one[0xcb] = op(far.retf);
one[0xcc] = op(ctl.int3);
one[0xcd] = op(ctl.intN, I8);
one[0xce] = op(ctl.into);
one[0xcf] = op(far.iret);
one[0xd0] = { f: M | B, group: grp2 };
one[0xd1] = { f: M, group: grp2 };
one[0xd2] = { f: M | B, group: grp2 };
one[0xd3] = { f: M, group: grp2 };
one[0xd4] = op(bcd.aam, I8, "call");
one[0xd5] = op(bcd.aad, I8, "call");
one[0xd6] = op(bcd.salc, 0, "call");
one[0xd7] = op(mov.xlat, 0, "call");
for (let i = 0; i < 8; i++) one[0xd8 + i] = X87_ESCAPES[i]; // x87 escapes (ops/x87_table.ts)
set(one, 0xe0, 0xe3, op(ctl.loop, I8, "loop"));
one[0xe4] = op(io.inPort, B | I8, "call");
one[0xe5] = op(io.inPort, I8, "call");
one[0xe6] = op(io.outPort, B | I8, "call");
one[0xe7] = op(io.outPort, I8, "call");
one[0xe8] = op(ctl.callRel, IV, "callRel");
one[0xe9] = op(ctl.jmpRel, IV, "jmpRel");
one[0xea] = op(far.jmpFar, IP);
one[0xeb] = op(ctl.jmpRel, I8, "jmpRel");
one[0xec] = op(io.inPort, B, "call");
one[0xed] = op(io.inPort, 0, "call");
one[0xee] = op(io.outPort, B, "call");
one[0xef] = op(io.outPort, 0, "call");
one[0xf1] = op(ctl.int1);
one[0xf4] = op(sys.hlt);
one[0xf5] = op(sys.flagOp, 0, "call");
/** Group 3 (F6 with byte operands, F7): TEST r/m, imm (/0, /1), NOT, NEG, MUL, IMUL, DIV, IDIV; `imm` is TEST's immediate. */
function group3(f: number, imm: number): OpSpec {
  const test = op(alu.testRmImm, imm, "testRmImm");
  const call = (exec: Exec) => op(exec, 0, "call");
  return {
    f,
    group: [
      test,
      test,
      op(alu.notRm, 0, "notNeg"),
      op(alu.negRm, 0, "notNeg"),
      op(md.mul, 0, "mulAcc"),
      op(md.imul1, 0, "mulAcc"),
      call(md.div),
      call(md.div),
    ],
  };
}
one[0xf6] = group3(M | B, I8);
one[0xf7] = group3(M, IV);
set(one, 0xf8, 0xf9, op(sys.flagOp, 0, "call"));
one[0xfa] = op(sys.cli, 0, "call");
one[0xfb] = op(sys.sti);
set(one, 0xfc, 0xfd, op(sys.flagOp, 0, "call"));
one[0xfe] = { f: M | B, group: [op(alu.incDecRm, 0, "incDecRm"), op(alu.incDecRm, 0, "incDecRm"), ...UD7.slice(1)] };
one[0xff] = {
  f: M,
  group: [
    op(alu.incDecRm, 0, "incDecRm"),
    op(alu.incDecRm, 0, "incDecRm"),
    op(ctl.callRm, 0, "callRm"),
    op(far.farIndirect, MEMONLY),
    op(ctl.jmpRm, 0, "jmpRm"),
    op(far.farIndirect, MEMONLY),
    op(stk.pushRm, 0, "call"),
    op(execUd),
  ],
};

// The 0F map.
two[0x00] = {
  f: M,
  group: [
    op(sys.storeSel),
    op(sys.storeSel),
    op(sys.loadSystemSeg),
    op(sys.loadSystemSeg),
    op(seginfo.verify),
    op(seginfo.verify),
  ],
};
two[0x02] = op(seginfo.lar, M);
two[0x03] = op(seginfo.lsl, M);
const group7 = [
  op(sys.descTable, MEMONLY),
  op(sys.group7Reg1(sys.descTable)),
  op(xs.group7Reg2(sys.descTable)),
  op(sys.descTable, MEMONLY),
  op(cr.smsw),
  undefined,
  op(cr.lmsw),
  op(cr.invlpg, MEMONLY),
];
// With mod 3 the same members, but 0F 01 F9 (RDTSCP) has an entry of its own: /7 is otherwise INVLPG, memory only
// (SWAPGS, F8, is 64-bit mode's). A block may hold it, as in the 64-bit table.
const rdtscp = op(sys.rdtscp, 0, "call");
two[0x01] = {
  f: M,
  group: group7,
  regForm: group7.flatMap((g, reg) => [0, 1, 2, 3, 4, 5, 6, 7].map((rm) => (reg === 7 && rm === 1 ? rdtscp : g))),
};
two[0x05] = op(fast.syscall);
two[0x06] = op(cr.clts);
two[0x07] = op(fast.sysret);
two[0x08] = op(sys.invd);
two[0x09] = op(sys.invd);
two[0x0b] = op(execUd);
two[0x0d] = op(sys.nopRm, M, "nop");
set(two, 0x18, 0x1f, op(sys.nopRm, M, "nop"));
two[0x20] = op(cr.movCr, M | REGONLY);
two[0x21] = op(cr.movDr, M | REGONLY);
two[0x22] = op(cr.movCr, M | REGONLY);
two[0x23] = op(cr.movDr, M | REGONLY);
two[0x30] = op(sys.wrmsr);
two[0x31] = op(sys.rdtsc, 0, "call");
two[0x32] = op(sys.rdmsr);
two[0x33] = op(fast.rdpmc);
two[0x34] = op(fast.sysenter);
two[0x35] = op(fast.sysexit);
// CMOVcc: the MOV reg, r/m template under the condition (jit/templates64.ts).
set(two, 0x40, 0x4f, op(mov.cmov, M, "cmov"));
set(two, 0x80, 0x8f, op(ctl.jcc, IV, "jcc"));
set(two, 0x90, 0x9f, op(mov.setcc, M | B, "setcc"));
two[0xa0] = op(stk.pushSeg);
two[0xa1] = op(stk.popSeg);
two[0xa2] = op(sys.cpuid, 0, "call");
two[0xa3] = op(bit.btReg, M, "call");
two[0xa4] = op(sh.shiftDouble, M | I8, "call");
two[0xa5] = op(sh.shiftDouble, M, "call");
two[0xa8] = op(stk.pushSeg);
two[0xa9] = op(stk.popSeg);
two[0xab] = op(bit.btReg, M, "call");
two[0xac] = op(sh.shiftDouble, M | I8, "call");
two[0xad] = op(sh.shiftDouble, M, "call");
two[0xaf] = op(md.imul2, M, "imul2");
two[0xb0] = op(alu.cmpxchg, M | B, "call");
two[0xb1] = op(alu.cmpxchg, M, "call");
two[0xb2] = op(mov.loadFarPointer, M | MEMONLY);
two[0xb3] = op(bit.btReg, M, "call");
two[0xb4] = op(mov.loadFarPointer, M | MEMONLY);
two[0xb5] = op(mov.loadFarPointer, M | MEMONLY);
two[0xb6] = op(mov.movzx, M, "movzx");
two[0xb7] = op(mov.movzx, M, "movzx");
two[0xba] = {
  f: M | I8,
  group: [undefined, undefined, undefined, undefined, ...new Array(4).fill(op(bit.btImm, 0, "call"))],
};
two[0xbb] = op(bit.btReg, M, "call");
two[0xbc] = op(bit.bsf, M, "call");
two[0xbd] = op(bit.bsf, M, "call");
two[0xbe] = op(mov.movsx, M, "movsx");
two[0xbf] = op(mov.movsx, M, "movsx");
two[0xc0] = op(alu.xadd, M | B, "call");
two[0xc1] = op(alu.xadd, M, "call");
two[0xc7] = { f: M, group: [undefined, op(alu.cmpxchg8b, MEMONLY, "call")] };
set(two, 0xc8, 0xcf, op(mov.bswap, 0, "call"));

// 0F AE /0 /1: FXSAVE, FXRSTOR (ops/fxsave.ts); installSse keeps them and adds its members.
two[0xae] = {
  f: M,
  group: [
    { exec: fxsave, exec64: fxsave, f: MEMONLY, jit: "call", jit64: "call" },
    { exec: fxrstor, exec64: fxrstor, f: MEMONLY, jit: "call", jit64: "call" },
    ...(two[0xae]?.group?.slice(2) ?? []),
  ],
};
// SSE through SSE4.2 and the other extensions (sse/optable.ts).
installSse(two);
// 66 0F 38 82: INVPCID (ops/cr.ts), in the SSE module's 0F38 map.
SSE_MAPS.three38[0x82] = {
  f: 0,
  pfx: [undefined, { exec: cr.invpcid, exec64: cr.invpcid, f: M | MEMONLY, jit: "call", jit64: "call" }],
};
// 0F AE /4 /5 /6 memory forms: XSAVE, XRSTOR, XSAVEOPT (ops/xsave.ts); the other forms keep their entries.
{
  const ae = [...(two[0xae]?.group ?? [])];
  [xs.xsave, xs.xrstor, xs.xsave].forEach((e, i) => {
    const x = xs.groupAe(e, ae[4 + i]?.exec, i === 2);
    ae[4 + i] = { exec: x, exec64: x, f: 0, jit: "call", jit64: "call" };
  });
  two[0xae] = { f: M, group: ae };
}

// Encodings that are invalid on the processors the emulator presents: #UD, not an internal error.
// (Only slots nothing else has claimed are filled.)
for (const o of [0x04, 0x0a, 0x0c, 0x24, 0x25, 0x26, 0x27, 0x36, 0x37, 0x39, 0xa6, 0xa7, 0xb9, 0xff]) {
  two[o] ??= op(execUd, o === 0xb9 || o === 0xff ? M : 0);
}
for (const g of [two[0x00], two[0x01], two[0xba], two[0xc7]]) {
  const members = g?.group as (OpSpec | undefined)[] | undefined;
  if (members) {
    for (let r = 0; r < 8; r++) members[r] ??= op(execUd);
  }
}

/** The one-byte, 0F, 0F38, 0F3A and VEX opcode maps. */
export const OP_MAPS: OpMaps = { one, two, ...SSE_MAPS };
