/**
 * The SSE opcode tables: the 0F-map entries selected by mandatory prefix
 * (OpSpec.pfx: [none, 66, F3, F2]), the 0F38 and 0F3A maps, and the VEX maps
 * (BMI1/BMI2). `installSse` adds the 0F entries to the core's 0F map;
 * `SSE_MAPS` holds the rest. The unprefixed integer opcodes are the MMX
 * forms (mmx.ts).
 *
 * @module
 */
import { fault, UD } from "../fault.ts";
import { type Exec, I8, type Insn, M, MEMONLY, type OpSpec } from "../insn.ts";
import type { Cpu } from "../cpu.ts";
import { CF, OF } from "../flags.ts";
import * as mv from "./mov.ts";
import { bin, INT_OPS } from "./int.ts";
import * as sh from "./shuffle.ts";
import * as fpo from "./fp.ts";
import * as cvt from "./cvt.ts";
import { OP_ADD, OP_DIV, OP_MUL, OP_SQRT, OP_SUB } from "./fparith.ts";
import { F32, F64 } from "./round.ts";
import * as s41 from "./sse41.ts";
import { crc32, pcmpstr } from "./sse42.ts";
import * as aes from "./aes.ts";
import * as bmi from "../ops/bmi.ts";
import * as mmx from "./mmx.ts";

type Map = (OpSpec | undefined)[];

/**
 * An entry; the same semantics serve the REX.W forms (`exec64`), which look at `d.osize` where it matters. A compiled
 * block may hold every SSE, MMX and BMI instruction, calling its semantics (`jit`: "call").
 */
function op(exec: Exec, f = M): OpSpec {
  return { exec, exec64: exec, f, jit: "call", jit64: "call" };
}
/** An entry whose ModRM must name a register (#UD otherwise). */
function reg(exec: Exec, f = M): OpSpec {
  return op((cpu: Cpu, d: Insn) => {
    if (d.mod !== 3) fault(UD);
    exec(cpu, d);
  }, f);
}
/** Mandatory-prefix selection: [none, 66, F3, F2]. */
function pfx(none?: OpSpec, p66?: OpSpec, f3?: OpSpec, f2?: OpSpec): OpSpec {
  return { f: 0, pfx: [none, p66, f3, f2] };
}
/** A 66-prefixed integer instruction (the unprefixed MMX form is not implemented). */
function p66(exec: Exec, f = M): OpSpec {
  return pfx(undefined, op(exec, f));
}
/** Integer operations that also have an MMX form (no prefix). */
const MMX_FORMS = new Set([
  ..."punpcklbw punpcklwd punpckldq packsswb pcmpgtb pcmpgtw pcmpgtd packuswb punpckhbw punpckhwd punpckhdq".split(" "),
  ..."packssdw pcmpeqb pcmpeqw pcmpeqd paddq pmullw psubusb psubusw pminub pand paddusb paddusw pmaxub".split(" "),
  ..."pandn pavgb pavgw pmulhuw pmulhw psubsb psubsw pminsw por paddsb paddsw pmaxsw pxor pmuludq pmaddwd".split(" "),
  ..."psadbw psubb psubw psubd psubq paddb paddw paddd pshufb phaddw phaddd phaddsw pmaddubsw phsubw phsubd".split(" "),
  ..."phsubsw psignb psignw psignd pmulhrsw pabsb pabsw pabsd".split(" "),
]);
/** An integer instruction: the 66 form on XMM registers, the unprefixed one (where it exists) on MMX registers. */
const ints = (name: string) =>
  pfx(MMX_FORMS.has(name) ? op(mmx.mmxOp(name)) : undefined, op(bin(INT_OPS[name] ?? sh.SHUFFLE_OPS[name])));

/** 0F38 and 0F3A maps and the VEX maps. */
const three38: Map = new Array(256).fill(undefined);
const three3a: Map = new Array(256).fill(undefined);
const vex1: Map = new Array(256).fill(undefined);
const vex2: Map = new Array(256).fill(undefined);
const vex3: Map = new Array(256).fill(undefined);

/** The maps besides the one-byte and 0F ones. */
export const SSE_MAPS = { three38, three3a, vex: [undefined, vex1, vex2, vex3] };

// 0F38: SSSE3, SSE4.1, SSE4.2, AES-NI, MOVBE, CRC32, ADX.
const ssse3 = ["pshufb", "phaddw", "phaddd", "phaddsw", "pmaddubsw", "phsubw", "phsubd", "phsubsw", "psignb"];
ssse3.push("psignw", "psignd", "pmulhrsw");
ssse3.forEach((name, i) => three38[i] = ints(name));
three38[0x10] = p66(s41.blendv(1));
three38[0x14] = p66(s41.blendv(4));
three38[0x15] = p66(s41.blendv(8));
three38[0x17] = p66(s41.ptest);
three38[0x1c] = ints("pabsb");
three38[0x1d] = ints("pabsw");
three38[0x1e] = ints("pabsd");
const widths = [[1, 2], [1, 4], [1, 8], [2, 4], [2, 8], [4, 8]];
widths.forEach(([from, to], i) => {
  three38[0x20 + i] = p66(s41.pmovx(from, to, true));
  three38[0x30 + i] = p66(s41.pmovx(from, to, false));
});
three38[0x28] = ints("pmuldq");
three38[0x29] = ints("pcmpeqq");
three38[0x2a] = p66(mv.movAlignedLoad, M | MEMONLY);
three38[0x2b] = ints("packusdw");
three38[0x37] = ints("pcmpgtq");
const minmax = ["pminsb", "pminsd", "pminuw", "pminud", "pmaxsb", "pmaxsd", "pmaxuw", "pmaxud", "pmulld"];
minmax.forEach((name, i) => three38[0x38 + i] = ints(name));
three38[0x41] = p66(s41.phminposuw);
three38[0xdb] = p66(aes.aesimc);
three38[0xdc] = p66(aes.aesRound(false, false));
three38[0xdd] = p66(aes.aesRound(false, true));
three38[0xde] = p66(aes.aesRound(true, false));
three38[0xdf] = p66(aes.aesRound(true, true));
three38[0xf0] = pfx(op(bmi.movbeLoad, M | MEMONLY), op(bmi.movbeLoad, M | MEMONLY), undefined, op(crc32));
three38[0xf1] = pfx(op(bmi.movbeStore, M | MEMONLY), op(bmi.movbeStore, M | MEMONLY), undefined, op(crc32));
three38[0xf6] = pfx(undefined, op(bmi.adx(CF)), op(bmi.adx(OF)));

// 0F3A: SSSE3 PALIGNR, SSE4.1, SSE4.2 string compares, PCLMULQDQ, AESKEYGENASSIST (all with imm8).
const imm = (exec: Exec) => p66(exec, M | I8);
three3a[0x08] = imm(s41.round(F32, true));
three3a[0x09] = imm(s41.round(F64, true));
three3a[0x0a] = imm(s41.round(F32, false));
three3a[0x0b] = imm(s41.round(F64, false));
three3a[0x0c] = imm(s41.blendps);
three3a[0x0d] = imm(s41.blendpd);
three3a[0x0e] = imm(s41.pblendw);
three3a[0x0f] = pfx(op(mmx.palignrMm, M | I8), op(sh.palignr, M | I8));
three3a[0x14] = imm(s41.pextr(1));
three3a[0x15] = imm(s41.pextr(2));
three3a[0x16] = imm(s41.pextr(4));
three3a[0x17] = imm(s41.pextr(4));
three3a[0x20] = imm(s41.pinsr(1));
three3a[0x21] = imm(s41.insertps);
three3a[0x22] = imm(s41.pinsr(4));
three3a[0x40] = imm(s41.dpps);
three3a[0x41] = imm(s41.dppd);
three3a[0x42] = imm(s41.mpsadbw);
three3a[0x44] = imm(aes.pclmulqdq);
three3a[0x60] = imm(pcmpstr(true, false));
three3a[0x61] = imm(pcmpstr(true, true));
three3a[0x62] = imm(pcmpstr(false, false));
three3a[0x63] = imm(pcmpstr(false, true));
three3a[0xdf] = imm(aes.aeskeygenassist);

// VEX: BMI1 and BMI2.
vex2[0xf2] = pfx(op(bmi.andn));
vex2[0xf3] = pfx({ f: M, group: [undefined, op(bmi.blsGroup), op(bmi.blsGroup), op(bmi.blsGroup)] });
vex2[0xf5] = pfx(op(bmi.bzhi), undefined, op(bmi.pdepPext(false)), op(bmi.pdepPext(true)));
vex2[0xf6] = pfx(undefined, undefined, undefined, op(bmi.mulx));
vex2[0xf7] = pfx(op(bmi.bextr), op(bmi.shiftx("shl")), op(bmi.shiftx("sar")), op(bmi.shiftx("shr")));
vex3[0xf0] = pfx(undefined, undefined, undefined, op(bmi.rorx, M | I8));

/** A row of the four float forms by mandatory prefix (PS, PD, SS, SD): `form(format, packed)` makes each. */
function floatRow(form: (format: number, packed: boolean) => Exec): OpSpec {
  return pfx(op(form(F32, true)), op(form(F64, true)), op(form(F32, false)), op(form(F64, false)));
}

/** The arithmetic row 0F 51-5F: op in PS/PD/SS/SD forms. */
function arithRow(o: number): OpSpec {
  return floatRow((format, packed) => fpo.arithOp(o, format, packed));
}

/** MINPS/MINPD/MINSS/MINSD (or the MAX row). */
function minMaxRow(max: boolean): OpSpec {
  return floatRow((format, packed) => fpo.minMax(max, format, packed));
}

/** Adds the SSE entries of the 0F map to `two`. */
export function installSse(two: Map): void {
  two[0x10] = pfx(op(mv.movUnalignedLoad), op(mv.movUnalignedLoad), op(mv.movScalarLoad), op(mv.movScalarLoad));
  two[0x11] = pfx(op(mv.movUnalignedStore), op(mv.movUnalignedStore), op(mv.movScalarStore), op(mv.movScalarStore));
  two[0x12] = pfx(op(mv.movLowLoad), op(mv.movLowLoad, M | MEMONLY), op(mv.movsxdup), op(mv.movddup));
  two[0x13] = pfx(op(mv.movLowStore, M | MEMONLY), op(mv.movLowStore, M | MEMONLY));
  two[0x14] = pfx(op(bin(sh.SHUFFLE_OPS.punpckldq)), op(bin(sh.SHUFFLE_OPS.punpcklqdq)));
  two[0x15] = pfx(op(bin(sh.SHUFFLE_OPS.punpckhdq)), op(bin(sh.SHUFFLE_OPS.punpckhqdq)));
  two[0x16] = pfx(op(mv.movHighLoad), op(mv.movHighLoad, M | MEMONLY), op(mv.movsxdup));
  two[0x17] = pfx(op(mv.movHighStore, M | MEMONLY), op(mv.movHighStore, M | MEMONLY));
  two[0x28] = pfx(op(mv.movAlignedLoad), op(mv.movAlignedLoad));
  two[0x29] = pfx(op(mv.movAlignedStore), op(mv.movAlignedStore));
  two[0x2a] = pfx(op(mmx.cvtpi2p(F32)), op(mmx.cvtpi2p(F64)), op(cvt.cvtsi2s(F32)), op(cvt.cvtsi2s(F64)));
  two[0x2b] = pfx(op(mv.movAlignedStore, M | MEMONLY), op(mv.movAlignedStore, M | MEMONLY));
  two[0x2c] = pfx(
    op(mmx.cvtp2pi(F32, true)),
    op(mmx.cvtp2pi(F64, true)),
    op(cvt.cvts2si(F32, true)),
    op(cvt.cvts2si(F64, true)),
  );
  two[0x2d] = pfx(
    op(mmx.cvtp2pi(F32, false)),
    op(mmx.cvtp2pi(F64, false)),
    op(cvt.cvts2si(F32, false)),
    op(cvt.cvts2si(F64, false)),
  );
  two[0x2e] = pfx(op(fpo.comis(F32, false)), op(fpo.comis(F64, false)));
  two[0x2f] = pfx(op(fpo.comis(F32, true)), op(fpo.comis(F64, true)));
  two[0x50] = pfx(reg(mv.movmskps), reg(mv.movmskpd));
  two[0x51] = arithRow(OP_SQRT);
  two[0x54] = pfx(op(bin(INT_OPS.pand)), op(bin(INT_OPS.pand)));
  two[0x55] = pfx(op(bin(INT_OPS.pandn)), op(bin(INT_OPS.pandn)));
  two[0x56] = pfx(op(bin(INT_OPS.por)), op(bin(INT_OPS.por)));
  two[0x57] = pfx(op(bin(INT_OPS.pxor)), op(bin(INT_OPS.pxor)));
  two[0x58] = arithRow(OP_ADD);
  two[0x59] = arithRow(OP_MUL);
  two[0x5a] = pfx(op(cvt.cvtps2pd), op(cvt.cvtpd2ps), op(cvt.cvtScalar(F32)), op(cvt.cvtScalar(F64)));
  two[0x5b] = pfx(op(cvt.cvtdq2ps), op(cvt.cvtps2dq(false)), op(cvt.cvtps2dq(true)));
  two[0x5c] = arithRow(OP_SUB);
  two[0x5d] = minMaxRow(false);
  two[0x5e] = arithRow(OP_DIV);
  two[0x5f] = minMaxRow(true);
  const row6 = [
    "punpcklbw",
    "punpcklwd",
    "punpckldq",
    "packsswb",
    "pcmpgtb",
    "pcmpgtw",
    "pcmpgtd",
    "packuswb",
    "punpckhbw",
    "punpckhwd",
    "punpckhdq",
    "packssdw",
    "punpcklqdq",
    "punpckhqdq",
  ];
  row6.forEach((name, i) => two[0x60 + i] = ints(name));
  two[0x6e] = pfx(op(mmx.movdToMm), op(mv.movdToXmm));
  two[0x6f] = pfx(op(mmx.movqToMm), op(mv.movAlignedLoad), op(mv.movUnalignedLoad));
  two[0x70] = pfx(op(mmx.pshufw, M | I8), op(sh.pshufd, M | I8), op(sh.pshufhw, M | I8), op(sh.pshuflw, M | I8));
  const mmxShifts = (size: number): OpSpec => ({
    f: M | I8,
    group: [
      undefined,
      undefined,
      reg(mmx.mmxShift(size, 0, true), M | I8),
      undefined,
      size === 8 ? undefined : reg(mmx.mmxShift(size, 1, true), M | I8),
      undefined,
      reg(mmx.mmxShift(size, 2, true), M | I8),
      undefined,
    ],
  });
  const shifts = (size: number): OpSpec =>
    pfx(mmxShifts(size), {
      f: M | I8,
      group: [
        undefined,
        undefined,
        reg(sh.shiftByImm(size, 0), M | I8),
        size === 8 ? reg(sh.shiftBytes, M | I8) : undefined,
        size === 8 ? undefined : reg(sh.shiftByImm(size, 1), M | I8),
        undefined,
        reg(sh.shiftByImm(size, 2), M | I8),
        size === 8 ? reg(sh.shiftBytes, M | I8) : undefined,
      ],
    });
  two[0x71] = shifts(2);
  two[0x72] = shifts(4);
  two[0x73] = shifts(8);
  two[0x74] = ints("pcmpeqb");
  two[0x75] = ints("pcmpeqw");
  two[0x76] = ints("pcmpeqd");
  two[0x7c] = pfx(undefined, op(fpo.horizontal(OP_ADD, F64)), undefined, op(fpo.horizontal(OP_ADD, F32)));
  two[0x7d] = pfx(undefined, op(fpo.horizontal(OP_SUB, F64)), undefined, op(fpo.horizontal(OP_SUB, F32)));
  two[0x77] = pfx(op(mmx.emms, 0));
  two[0x7e] = pfx(op(mmx.movdFromMm), op(mv.movdFromXmm), op(mv.movqLoad));
  two[0x7f] = pfx(op(mmx.movqFromMm), op(mv.movAlignedStore), op(mv.movUnalignedStore));
  // 0F AE: LDMXCSR /2, STMXCSR /3, fences; other members (FXSAVE, XSAVE...) are kept if present.
  const ae = two[0xae]?.group ? [...two[0xae].group] : new Array<OpSpec | undefined>(8).fill(undefined);
  ae[2] ??= op(mv.ldmxcsr, M | MEMONLY);
  ae[3] ??= op(mv.stmxcsr, M | MEMONLY);
  for (const r of [5, 6, 7]) ae[r] ??= op(mv.fence);
  two[0xae] = { f: two[0xae]?.f ?? M, group: ae };
  two[0xc2] = pfx(
    op(fpo.cmp(F32, true), M | I8),
    op(fpo.cmp(F64, true), M | I8),
    op(fpo.cmp(F32, false), M | I8),
    op(fpo.cmp(F64, false), M | I8),
  );
  two[0xc3] = pfx(op(mv.movnti, M | MEMONLY));
  two[0xc4] = pfx(op(mmx.pinsrwMm, M | I8), op(sh.pinsrw, M | I8));
  two[0xc5] = pfx(reg(mmx.pextrwMm, M | I8), reg(sh.pextrw, M | I8));
  two[0xc6] = pfx(op(sh.shufps, M | I8), op(sh.shufpd, M | I8));
  two[0xd0] = pfx(undefined, op(fpo.addsub(F64)), undefined, op(fpo.addsub(F32)));
  two[0xd1] = pfx(op(mmx.mmxShift(2, 0, false)), op(sh.shiftByXmm(2, 0)));
  two[0xd2] = pfx(op(mmx.mmxShift(4, 0, false)), op(sh.shiftByXmm(4, 0)));
  two[0xd3] = pfx(op(mmx.mmxShift(8, 0, false)), op(sh.shiftByXmm(8, 0)));
  two[0xd4] = ints("paddq");
  two[0xd5] = ints("pmullw");
  two[0xd6] = pfx(undefined, op(mv.movqStore), reg(mmx.movq2dq), reg(mmx.movdq2q));
  two[0xd7] = pfx(reg(mmx.pmovmskbMm), reg(mv.pmovmskb));
  const rowD8 = ["psubusb", "psubusw", "pminub", "pand", "paddusb", "paddusw", "pmaxub", "pandn"];
  rowD8.forEach((name, i) => two[0xd8 + i] = ints(name));
  two[0xe0] = ints("pavgb");
  two[0xe1] = pfx(op(mmx.mmxShift(2, 1, false)), op(sh.shiftByXmm(2, 1)));
  two[0xe2] = pfx(op(mmx.mmxShift(4, 1, false)), op(sh.shiftByXmm(4, 1)));
  two[0xe3] = ints("pavgw");
  two[0xe4] = ints("pmulhuw");
  two[0xe5] = ints("pmulhw");
  two[0xe6] = pfx(undefined, op(cvt.cvtpd2dq(true)), op(cvt.cvtdq2pd), op(cvt.cvtpd2dq(false)));
  two[0xe7] = pfx(op(mmx.movqFromMm, M | MEMONLY), op(mv.movAlignedStore, M | MEMONLY));
  const rowE8 = ["psubsb", "psubsw", "pminsw", "por", "paddsb", "paddsw", "pmaxsw", "pxor"];
  rowE8.forEach((name, i) => two[0xe8 + i] = ints(name));
  two[0xf0] = pfx(undefined, undefined, undefined, op(mv.movUnalignedLoad, M | MEMONLY));
  two[0xf1] = pfx(op(mmx.mmxShift(2, 2, false)), op(sh.shiftByXmm(2, 2)));
  two[0xf2] = pfx(op(mmx.mmxShift(4, 2, false)), op(sh.shiftByXmm(4, 2)));
  two[0xf3] = pfx(op(mmx.mmxShift(8, 2, false)), op(sh.shiftByXmm(8, 2)));
  const rowF4 = ["pmuludq", "pmaddwd", "psadbw"];
  rowF4.forEach((name, i) => two[0xf4 + i] = ints(name));
  two[0xf7] = pfx(reg(mmx.maskmovq), reg(mv.maskmovdqu));
  two[0xb8] = pfx(undefined, undefined, op(bmi.popcnt));
  const bsf = two[0xbc], bsr = two[0xbd];
  if (!bsf?.pfx) two[0xbc] = pfx(bsf, bsf, op(bmi.tzcnt), bsf);
  if (!bsr?.pfx) two[0xbd] = pfx(bsr, bsr, op(bmi.lzcnt), bsr);
  const rowF8 = ["psubb", "psubw", "psubd", "psubq", "paddb", "paddw", "paddd"];
  rowF8.forEach((name, i) => two[0xf8 + i] = ints(name));
}
