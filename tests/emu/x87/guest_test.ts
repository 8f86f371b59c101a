/**
 * x87 guest programs through the public API on the emulator: arithmetic
 * and conversions through memory, comparisons into EFLAGS, FPREM, the
 * constants in every rounding mode, stack overflow and underflow with their
 * masked responses, the transcendentals, and an encoding that still exits
 * with an internal error. Expected values come from the host's x87 (the
 * same sequences run there; see tests/emu/x87/_guest.ts for why these run on
 * the emulator only).
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { load, machine, protectedMode, view } from "../../_support/guests.ts";
import { bytes, hex, run32, x87Test } from "./_guest.ts";

x87Test("x87 guest: arithmetic, conversions, FCOMI/FUCOMIP, FPREM, FNSTENV, FNSAVE", (kvm, vendor) => {
  // deno-fmt-ignore
  const code = [
    0xdb, 0xe3, // fninit
    0xd9, 0x05, 0x84, 0x10, 0x00, 0x00, // fld dword [a]
    0xdd, 0x05, 0x88, 0x10, 0x00, 0x00, // fld qword [b]
    0xde, 0xc1, // faddp st1
    0xdd, 0x15, 0xa2, 0x10, 0x00, 0x00, // fst qword [r0]
    0xd9, 0xeb, // fldpi
    0xde, 0xc9, // fmulp st1
    0xd9, 0xfa, // fsqrt
    0xdb, 0x1d, 0xaa, 0x10, 0x00, 0x00, // fistp dword [r1]
    0xdf, 0x05, 0x90, 0x10, 0x00, 0x00, // fild word [c]
    0xdf, 0x35, 0xae, 0x10, 0x00, 0x00, // fbstp tword [r2]
    0xdb, 0x2d, 0x98, 0x10, 0x00, 0x00, // fld tword [d]
    0xd9, 0x1d, 0xb8, 0x10, 0x00, 0x00, // fstp dword [r3]
    0xd9, 0xe8, // fld1
    0xd9, 0xee, // fldz
    0xdb, 0xf1, // fcomi st0, st1
    0x0f, 0x92, 0x05, 0xbc, 0x10, 0x00, 0x00, // setb byte [r4]
    0xdf, 0xe9, // fucomip st0, st1
    0x0f, 0x97, 0x05, 0xbd, 0x10, 0x00, 0x00, // seta byte [r4+1]
    0xd9, 0xea, // fldl2e
    0xd9, 0xc9, // fxch st1
    0xd9, 0xf8, // fprem
    0xdf, 0xe0, // fnstsw ax
    0x66, 0xa3, 0xbe, 0x10, 0x00, 0x00, // mov [r4+2], ax
    0xd9, 0x35, 0xc4, 0x10, 0x00, 0x00, // fnstenv [r5]
    0xd9, 0x2d, 0x92, 0x10, 0x00, 0x00, // fldcw [cw]
    0xd9, 0xe8, // fld1
    0xd8, 0x35, 0x94, 0x10, 0x00, 0x00, // fdiv dword [zero]
    0xdf, 0xe0, // fnstsw ax
    0x66, 0xa3, 0xc0, 0x10, 0x00, 0x00, // mov [r4+4], ax
    0xdd, 0x35, 0xe0, 0x10, 0x00, 0x00, // fnsave [r6]
    0xe6, 0x10, // out 0x10, al
    0x90, 0x90, // align 4
    0x00, 0x00, 0xc0, 0x3f, // a: dd 1.5
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x40, // b: dq 2.25
    0x2e, 0xfb, // c: dw -1234
    0x7b, 0x0c, // cw: dw 0x0c7b
    0x00, 0x00, 0x00, 0x00, // zero: dd 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0xf9, 0x02, 0x95, 0x20, // d: dt 1.0e10
    0x40, // (d, continued)
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // r0: dq 0
    0x00, 0x00, 0x00, 0x00, // r1: dd 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // r2: times 10 db 0
    0x00, 0x00, 0x00, 0x00, // r3: dd 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // r4: dd 0, 0
    ...new Array(28).fill(0x00), // r5: times 28 db 0
    ...new Array(108).fill(0x00), // r6: times 108 db 0
  ];
  using m = run32(kvm, code);
  equal(bytes(m, 0x10a2, 8), "0000000000000e40"); // 1.5 + 2.25 = 3.75
  equal(bytes(m, 0x10aa, 4), "03000000"); // (int)sqrt(3.75 * pi), rounded to nearest
  equal(bytes(m, 0x10ae, 10), "34120000000000000080"); // -1234 in packed BCD
  equal(bytes(m, 0x10b8, 4), "f9021550"); // 1e10 as a float
  equal(bytes(m, 0x10bc, 6), "01002030a4a8"); // CF after FCOMI, !above after FUCOMIP, FSW after FPREM and FDIV by 0
  // FNSTENV, 32-bit protected format: FCW, FSW, FTW, FIP 0x1054 (FPREM), then on AMD FCS 0x1b with FOP 0x1f8,
  // FDP 0x10b8 (the FSTP m32, the last memory operand), FDS 0x23; on Intel FCS and FDS zero (deprecated) and
  // FOP and FDP still FNINIT's zeros (no unmasked exception yet). Reserved halves all ones.
  const env = vendor === "amd" ? "1b00f801b8100000" + "2300ffff" : "0000000000000000" + "0000ffff";
  equal(bytes(m, 0x10c4, 28), "7f03ffff2030ffffff0fffff54100000" + env);
  // FNSAVE: the environment with ZE unmasked and pending (ES, B): FIP, FOP (D8 35) and FDP of the FDIV m32
  // by zero on both vendors (it incurred the unmasked exception), then ST(0)-ST(7) in stack order.
  const sel = vendor === "amd" ? ["1b00", "2300"] : ["0000", "0000"];
  equal(bytes(m, 0x10e0, 28), `7b0cffffa4a8ffffff03ffff6c100000${sel[0]}350094100000${sel[1]}ffff`);
  equal(bytes(m, 0x10fc, 30), "0000000000000080ff3f" + "0000000000000080ff3f" + "bcf0175c293baab8ff3f");
  // FNSAVE ends with FNINIT.
  const fpu = m.vcpu.getFpu();
  deepEqual([fpu.fcw, fpu.fsw, fpu.ftwx, fpu.lastOpcode, fpu.lastIp, fpu.lastDp], [0x37f, 0, 0, 0, 0n, 0n]);
});

x87Test("x87 guest: stack overflow and underflow, FXAM of an empty register (as on the host)", (kvm) => {
  // deno-fmt-ignore
  const code = [
    0xdb, 0xe3, // fninit
    0xd9, 0xe8, // fld1
    0xd9, 0xe8, // fld1
    0xd9, 0xe8, // fld1
    0xd9, 0xe8, // fld1
    0xd9, 0xe8, // fld1
    0xd9, 0xe8, // fld1
    0xd9, 0xe8, // fld1
    0xd9, 0xe8, // fld1
    0xd9, 0xeb, // fldpi
    0xdd, 0x3d, 0x60, 0x10, 0x00, 0x00, // fnstsw [s0]
    0xdb, 0x3d, 0x70, 0x10, 0x00, 0x00, // fstp tword [v0]
    0xdb, 0xe2, // fnclex
    0xdd, 0xd8, // fstp st0
    0xdd, 0xd8, // fstp st0
    0xdd, 0xd8, // fstp st0
    0xdd, 0xd8, // fstp st0
    0xdd, 0xd8, // fstp st0
    0xdd, 0xd8, // fstp st0
    0xdd, 0xd8, // fstp st0
    0xd9, 0xe5, // fxam
    0xdd, 0x3d, 0x62, 0x10, 0x00, 0x00, // fnstsw [s1]
    0xd8, 0xc1, // fadd st0, st1
    0xdd, 0x3d, 0x64, 0x10, 0x00, 0x00, // fnstsw [s2]
    0xd9, 0x1d, 0x6c, 0x10, 0x00, 0x00, // fstp dword [v1]
    0xdd, 0x3d, 0x66, 0x10, 0x00, 0x00, // fnstsw [s3]
    0xdf, 0x1d, 0x6a, 0x10, 0x00, 0x00, // fistp word [v2]
    0xdd, 0x3d, 0x68, 0x10, 0x00, 0x00, // fnstsw [s4]
    0xd9, 0x35, 0x7c, 0x10, 0x00, 0x00, // fnstenv [e0]
    0xe6, 0x10, // out 0x10, al
    0x00, 0x00, // s0: dw 0
    0x00, 0x00, // s1: dw 0
    0x00, 0x00, // s2: dw 0
    0x00, 0x00, // s3: dw 0
    0x00, 0x00, // s4: dw 0
    0x00, 0x00, // v2: dw 0
    0x00, 0x00, 0x00, 0x00, // v1: dd 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // v0: times 10 db 0
    0x90, 0x90, // align 4
    ...new Array(28).fill(0x00), // e0: times 28 db 0
  ];
  using m = run32(kvm, code);
  // The same sequence on the host: 3a41 7b00 7941 4141 4941, 8000, ffc00000, indefinite, tag ffff.
  equal(bytes(m, 0x1060, 10), "413a007b417941414149");
  equal(bytes(m, 0x106a, 6), "0080" + "0000c0ff");
  equal(bytes(m, 0x1070, 10), "00000000000000c0ffff");
  equal(bytes(m, 0x1084, 4), "ffffffff"); // FTW: all empty
});

x87Test("x87 guest: the constants' last bit follows the rounding mode", (kvm) => {
  for (const [rc, want] of CONSTANTS) {
    const code = [
      0xd9,
      0x2d,
      0x00,
      0x11,
      0x00,
      0x00, // fldcw [0x1100]
      0xd9,
      0xe8,
      0xd9,
      0xe9,
      0xd9,
      0xea,
      0xd9,
      0xeb, // fld1, fldl2t, fldl2e, fldpi
      0xd9,
      0xec,
      0xd9,
      0xed,
      0xd9,
      0xee, // fldlg2, fldln2, fldz
      ...[6, 5, 4, 3, 2, 1, 0].flatMap((i) => [0xdb, 0x3d, 0x00 + 10 * i, 0x12, 0x00, 0x00]), // fstp tword [0x1200 + 10i]
      0xe6,
      0x10, // out 0x10, al
    ];
    using m = machine(kvm);
    load(m.mem, 0x1000, code);
    view(m.mem).setUint16(0x1100, 0x37f | (rc << 10), true);
    protectedMode(m.vcpu, m.mem, 0x1000, 3);
    equal(m.vcpu.run({ timeoutMs: 5000 }).reason, "io");
    const got: string[] = [];
    for (let i = 0; i < 7; i++) {
      const b = m.mem.bytes.subarray(0x1200 + 10 * i, 0x120a + 10 * i);
      got.push(hex(b.slice().reverse()));
    }
    deepEqual(got, want, `rounding control ${rc}`);
  }
});

x87Test("x87 guest: FSIN, FCOS, FPTAN, FPATAN, FYL2X, F2XM1, FSINCOS of simple operands (as on the host)", (kvm) => {
  // fld tword [half] and fstp tword [out + 10 * k], the program's operand and its k-th result
  const fldHalf = [0xdb, 0x2d, 0x7a, 0x10, 0x00, 0x00],
    fstpOut = (k: number) => [0xdb, 0x3d, 0x88 + 10 * k, 0x10, 0, 0];
  // deno-fmt-ignore
  const code = [
    0xdb, 0xe3, // fninit
    ...fldHalf, 0xd9, 0xfe, ...fstpOut(0), // fsin
    ...fldHalf, 0xd9, 0xff, ...fstpOut(1), // fcos
    ...fldHalf, 0xd9, 0xf2, ...fstpOut(2), ...fstpOut(3), // fptan
    0xd9, 0xe8, ...fldHalf, 0xd9, 0xf3, ...fstpOut(4), // fld1, fpatan
    0xdf, 0x05, 0x84, 0x10, 0x00, 0x00, // fild word [three]
    0xdf, 0x05, 0x86, 0x10, 0x00, 0x00, // fild word [ten]
    0xd9, 0xf1, ...fstpOut(5), // fyl2x
    ...fldHalf, 0xd9, 0xf0, ...fstpOut(6), // f2xm1
    ...fldHalf, 0xd9, 0xfb, ...fstpOut(7), ...fstpOut(8), // fsincos
    0xe6, 0x10, // out 0x10, al
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0xfe, // half: dt 0.5
    0x3f, // 
    0x03, 0x00, // three: dw 3
    0x0a, 0x00, // ten: dw 10
    ...new Array(90).fill(0x00), // out: times 90 db 0
  ];
  using m = run32(kvm, code);
  const got: string[] = [];
  for (let i = 0; i < 9; i++) got.push(hex(m.mem.bytes.slice(0x1088 + 10 * i, 0x1092 + 10 * i).reverse()));
  // The same sequence on the host: sin 0.5, cos 0.5, 1 and tan 0.5, atan(1 / 0.5), 3 log2 10, 2^0.5 - 1,
  // cos 0.5 and sin 0.5.
  deepEqual(got, [
    "3ffdf57743a2582f7f44",
    "3ffee0a94032dbea7cee",
    "3fff8000000000000000",
    "3ffe8bda7adf9a3a5219",
    "3fff8db70c975df22363",
    "40029f73da38d9d4a83f",
    "3ffdd413cccfe7799211",
    "3ffee0a94032dbea7cee",
    "3ffdf57743a2582f7f44",
  ]);
});

x87Test("x87 guest: an undocumented alias (D9 D8, FSTP1) exits with an internal error", (kvm) => {
  const code = [
    0xd9,
    0xe8, // fld1
    0xd9,
    0xd8, // fstp1 st0 (an undocumented alias of FSTP ST(0), not implemented)
    0xe6,
    0x10, // out 0x10, al
  ];
  using m = machine(kvm);
  load(m.mem, 0x1000, code);
  protectedMode(m.vcpu, m.mem, 0x1000, 3);
  equal(m.vcpu.run({ timeoutMs: 5000 }).reason, "internal_error");
  equal(m.vcpu.getRegs().rip, 0x1002n);
});

/** The constants rounded down (rounding control 1) and toward zero (3), the same as they are all positive. */
const ROUNDED_DOWN = [
  "3fff8000000000000000",
  "4000d49a784bcd1b8afe",
  "3fffb8aa3b295c17f0bb",
  "4000c90fdaa22168c234",
  "3ffd9a209a84fbcff798",
  "3ffeb17217f7d1cf79ab",
  "00000000000000000000",
];

/** FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ by rounding control, recorded on the host. */
const CONSTANTS: readonly [number, string[]][] = [
  [0, [
    "3fff8000000000000000",
    "4000d49a784bcd1b8afe",
    "3fffb8aa3b295c17f0bc",
    "4000c90fdaa22168c235",
    "3ffd9a209a84fbcff799",
    "3ffeb17217f7d1cf79ac",
    "00000000000000000000",
  ]],
  [1, ROUNDED_DOWN],
  [2, [
    "3fff8000000000000000",
    "4000d49a784bcd1b8aff",
    "3fffb8aa3b295c17f0bc",
    "4000c90fdaa22168c235",
    "3ffd9a209a84fbcff799",
    "3ffeb17217f7d1cf79ac",
    "00000000000000000000",
  ]],
  [3, ROUNDED_DOWN],
];
