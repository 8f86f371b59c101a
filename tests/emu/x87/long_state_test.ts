/**
 * An x87 program in 64-bit mode at CPL 3, run on every backend (kvm_pvm
 * executes it natively: the host's x87 is the oracle): FNSAVE/FRSTOR in
 * the 32-bit format with a denormal, a zero and normals on the stack, FXAM
 * of each class, a partial FPREM (C2) and an FPREM stack fault, FSCALE,
 * FISTP in the four rounding modes, FSQRT under 24-bit precision control,
 * masked and unmasked underflow (the wrapped exponent), FUCOMPP and FTST.
 * FNSAVE's FCS and FDS are not compared (see tests/emu/x87/long_test.ts).
 *
 * @module
 */
import { run64, vendorTest, zeros80 } from "./_guest.ts";

vendorTest(
  "x87 in 64-bit mode at CPL 3: FNSAVE/FRSTOR, FXAM, partial FPREM, FIST rounding, underflow",
  (kvm, vendor) => {
    // deno-fmt-ignore
    const code = [
      0xdb, 0xe3, // fninit
      0x48, 0x8d, 0x3d, 0xf7, 0x0f, 0x00, 0x00, // lea rdi, [res]
      0xd9, 0xe8, // fld1
      0xd9, 0xeb, // fldpi
      0xd9, 0xee, // fldz
      0xdb, 0x2d, 0x13, 0x01, 0x00, 0x00, // fld tword [den]
      0xd9, 0xe5, // fxam                        ; a denormal: C3 C2 C0 = 110
      0xdd, 0x3f, // fnstsw [rdi]
      0xdd, 0x77, 0x02, // fnsave [rdi + 2]            ; 108 bytes, then FNINIT
      0xdd, 0x67, 0x02, // frstor [rdi + 2]
      0xd9, 0xe5, // fxam
      0xdd, 0x7f, 0x6e, // fnstsw [rdi + 110]
      0xdd, 0xd8, // fstp st0
      0xd9, 0xe5, // fxam                        ; zero: 100
      0xdd, 0x7f, 0x70, // fnstsw [rdi + 112]
      0xdd, 0xd8, // fstp st0
      0xd9, 0xe5, // fxam                        ; normal: 010
      0xdd, 0x7f, 0x72, // fnstsw [rdi + 114]
      0xdb, 0xe3, // fninit
      0xdb, 0x05, 0xea, 0x00, 0x00, 0x00, // fild dword [three]
      0xdb, 0x2d, 0xf2, 0x00, 0x00, 0x00, // fld tword [huge]
      0xd9, 0xf8, // fprem                       ; partial: C2 set
      0xdd, 0x7f, 0x74, // fnstsw [rdi + 116]
      0xdb, 0x7f, 0x76, // fstp tword [rdi + 118]
      0xd9, 0xf8, // fprem                       ; continue
      0xdd, 0xbf, 0x80, 0x00, 0x00, 0x00, // fnstsw [rdi + 128]
      0xdb, 0xbf, 0x82, 0x00, 0x00, 0x00, // fstp tword [rdi + 130]
      0xdd, 0xd8, // fstp st0
      0xdb, 0x05, 0xc6, 0x00, 0x00, 0x00, // fild dword [three]
      0xdb, 0x2d, 0xce, 0x00, 0x00, 0x00, // fld tword [huge]
      0xd9, 0xfd, // fscale                      ; overflow (masked): infinity, OE PE C1
      0xdd, 0xbf, 0x8c, 0x00, 0x00, 0x00, // fnstsw [rdi + 140]
      0xdb, 0xbf, 0x8e, 0x00, 0x00, 0x00, // fstp tword [rdi + 142]
      0xdd, 0xd8, // fstp st0
      0xdb, 0xe2, // fnclex
      0x48, 0x8d, 0x35, 0x9b, 0x00, 0x00, 0x00, // lea rsi, [cws]
      0x31, 0xc9, // xor ecx, ecx
      0xd9, 0x2c, 0x4e, // fldcw [rsi + rcx*2]
      0xdb, 0x2d, 0xb4, 0x00, 0x00, 0x00, // fld tword [m25]
      0xdf, 0x9c, 0x8f, 0x98, 0x00, 0x00, 0x00, // fistp word [rdi + 152 + rcx*4]
      0xdb, 0x2d, 0xa7, 0x00, 0x00, 0x00, // fld tword [m25]
      0xd9, 0xe0, // fchs
      0xdf, 0x9c, 0x8f, 0x9a, 0x00, 0x00, 0x00, // fistp word [rdi + 154 + rcx*4]
      0xff, 0xc1, // inc ecx
      0x83, 0xf9, 0x04, // cmp ecx, 4
      0x72, 0xda, // jb round_loop
      0xd9, 0x2d, 0x75, 0x00, 0x00, 0x00, // fldcw [cw_pc24]
      0xdb, 0x2d, 0x81, 0x00, 0x00, 0x00, // fld tword [huge]
      0xd9, 0xfa, // fsqrt                       ; precision control applies to FSQRT
      0xdb, 0xbf, 0xa8, 0x00, 0x00, 0x00, // fstp tword [rdi + 168]
      0xdb, 0x2d, 0x87, 0x00, 0x00, 0x00, // fld tword [tinyx]
      0xdc, 0xc8, // fmul st0, st0               ; masked underflow: a denormal, UE PE
      0xdd, 0xbf, 0xb2, 0x00, 0x00, 0x00, // fnstsw [rdi + 178]
      0xdb, 0xbf, 0xb4, 0x00, 0x00, 0x00, // fstp tword [rdi + 180]
      0xdb, 0xe2, // fnclex
      0xd9, 0x2d, 0x4d, 0x00, 0x00, 0x00, // fldcw [cw_um]
      0xdb, 0x2d, 0x6b, 0x00, 0x00, 0x00, // fld tword [tinyx]
      0xdc, 0xc8, // fmul st0, st0               ; unmasked underflow: the exponent wrapped by +24576
      0xdd, 0xbf, 0xbe, 0x00, 0x00, 0x00, // fnstsw [rdi + 190]
      0xdb, 0xe2, // fnclex
      0xdb, 0xbf, 0xc0, 0x00, 0x00, 0x00, // fstp tword [rdi + 192]
      0xdb, 0xe3, // fninit
      0xdb, 0x2d, 0x3f, 0x00, 0x00, 0x00, // fld tword [huge]
      0xdb, 0x2d, 0x4d, 0x00, 0x00, 0x00, // fld tword [tinyx]
      0xda, 0xe9, // fucompp
      0xdd, 0xbf, 0xca, 0x00, 0x00, 0x00, // fnstsw [rdi + 202]
      0xd9, 0xe8, // fld1
      0xd9, 0xe0, // fchs
      0xd9, 0xe4, // ftst
      0xdd, 0xbf, 0xcc, 0x00, 0x00, 0x00, // fnstsw [rdi + 204]
      0xdd, 0xd8, // fstp st0
      0xc6, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00, 0x01, // mov byte [mmio], 1          ; exit: an MMIO write
      0x90, // align 2
      0x7f, 0x03, 0x7f, 0x07, 0x7f, 0x0b, 0x7f, 0x0f, // cws: dw 0x037f, 0x077f, 0x0b7f, 0x0f7f
      0x7f, 0x00, // cw_pc24: dw 0x007f
      0x6f, 0x03, // cw_um: dw 0x036f
      0x03, 0x00, 0x00, 0x00, // three: dd 3
      0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00, 0x00, // den: dq 0x0000000012345678
      0x00, 0x80, // dw 0x8000
      0x61, 0x8c, 0x55, 0xfe, 0x23, 0x83, 0xba, 0xd1, 0xe6, // huge: dt 1.0e4000
      0x73, // (continued)
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x00, // m25: dt -2.5
      0xc0, // (continued)
      0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, // tinyx: dq 0x8000000000000001
      0x00, 0x01, // dw 0x0100
      ...new Array(3760).fill(0x00), // times 0x1000 - ($ - $$) db 0
  ];
    run64(kvm, code, [
      [0, "0066"], // FSW after FXAM of a negative denormal: C3 C2 C0 = 110, C1 = sign
      [2, "7f03ffff0066ffffff06ffff15100000"], // FNSAVE: FCW, FSW, FTW (R4 special, R5 zero, R6 R7 valid), FIP
      // FOP and FDP: on AMD the FXAM's (D9 E5) and the FLD m80's operand; on Intel FNINIT's zeros (no unmasked
      // exception yet).
      [20, { amd: "e501", intel: "0000" }],
      [22, { amd: "28110000", intel: "00000000" }],
      [30, "78563412000000000080"], // ST(0): the denormal
      [40, "00000000000000000000"], // ST(1): zero
      [50, "35c26821a2da0fc90040"], // ST(2): pi
      [60, "0000000000000080ff3f"], // ST(3): 1
      [70, "00000000000000000000000000000000000000000000000000000000000000000000000000000000"], // ST(4)-ST(7)
      [110, "0066"], // FXAM after FRSTOR: the denormal again
      [112, "0068"], // FXAM: zero (100)
      [114, "0034"], // FXAM: normal (010)
      [116, "0034"], // FSW after a partial FPREM of 1e4000 by 3: C2
      [118, "0000000040186395c073"], // the partial remainder
      [128, "4138"], // FSW after FPREM with ST(1) empty: IE SF, C2 cleared
      [130, "00000000000000c0ffff"], // the indefinite
      [140, "4138"], // FSW after FSCALE (the flags are sticky; C2 stays clear)
      [142, "618c55fe2383bad1e973"], // 1e4000 * 2^3
      [152, "feff0200fdff0200feff0300feff0200"], // FISTP of -2.5 and 2.5: nearest, down, up, toward zero
      [168, "00000000004eb6e7f259"], // FSQRT of 1e4000 with 24-bit precision control
      [178, "3000"], // FSW after a masked underflow: UE PE
      [180, "00000000000000000000"], // the product underflows to +0
      [190, "b080"], // FSW after an unmasked underflow: B ES PE UE
      [192, "02000000000000800122"], // the product with its exponent wrapped by +24576
      [202, "0001"], // FSW after FUCOMPP: less (C0)
      [204, "0039"], // FSW after FTST of -1: less (C0)
    ], {
      fsw: 0x100,
      st: [
        "02000000000000800122",
        "00000000000000000000",
        "00000000000000000000",
        "00000000000000000000",
        "78563412000000000080",
        "00000000000000000000",
        "01000000000000800001",
        "0000000000000080ffbf",
      ],
      intel: { fop: 0, fip: 0x110dn, fdp: 0n },
    }, vendor);
  },
);

/** The disp32 of a RIP-relative operand at `target` in an instruction that ends at code offset `end`. */
function rel(target: number, end: number): number[] {
  const d = target - (0x1000 + end);
  return [d & 0xff, (d >> 8) & 0xff, (d >> 16) & 0xff, (d >>> 24) & 0xff];
}

vendorTest("x87 in 64-bit mode at CPL 3: FPREM/FPREM1 of a denormal by an infinity with UE unmasked", (kvm, vendor) => {
  // The data follow the code at 0x1040: cw (dw 0x036f), inf (dt +infinity), den (dt a denormal), pden (dt a
  // pseudo-denormal). res is 0x2000.
  const CW = 0x1040, INF = 0x1042, DEN = 0x104c, PDEN = 0x1056;
  // deno-fmt-ignore
  const code = [
    0xdb, 0xe3, // fninit
    0x48, 0x8d, 0x3d, ...rel(0x2000, 9), // lea rdi, [res]
    0xd9, 0x2d, ...rel(CW, 15), // fldcw [cw]                 ; 0x036f: UE unmasked
    0xdb, 0x2d, ...rel(INF, 21), // fld tword [inf]
    0xdb, 0x2d, ...rel(DEN, 27), // fld tword [den]
    0xd9, 0xf8, // fprem
    0xdd, 0x3f, // fnstsw [rdi]
    0xdb, 0xe2, // fnclex
    0xdb, 0x7f, 0x02, // fstp tword [rdi + 2]
    0xdb, 0x2d, ...rel(PDEN, 42), // fld tword [pden]
    0xd9, 0xf5, // fprem1
    0xdd, 0x7f, 0x0c, // fnstsw [rdi + 12]
    0xdb, 0xe2, // fnclex
    0xdb, 0x7f, 0x0e, // fstp tword [rdi + 14]
    0xdd, 0xd8, // fstp st0
    0xdb, 0xe3, // fninit                      ; FCW 0x37f again (the registers keep their contents)
    0xc6, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00, 0x01, // mov byte [mmio], 1          ; exit: an MMIO write
  ];
  code.push(...new Array(CW - 0x1000 - code.length).fill(0x90));
  code.push(0x6f, 0x03); // cw
  code.push(0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x7f); // inf
  code.push(0x91, 0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0, 0); // den: 0x0000001234567891 * 2^-16445
  code.push(0x23, 0x01, 0, 0, 0, 0, 0, 0x80, 0, 0); // pden: exponent 0 with the integer bit
  code.push(...new Array(0x1000 - code.length).fill(0));
  run64(kvm, code, [
    // FPREM: DE; on Intel the dividend as it is and no UE (checked natively on the Sapphire Rapids host too); on
    // AMD the unmasked UE delivers it normalised with its exponent biased by 24576 (B, ES, UE, DE).
    [0, { amd: "92b0", intel: "0230" }],
    [2, { amd: "00000088c4b3a291e65f", intel: "91785634120000000000" }],
    // FPREM1 of a pseudo-denormal: the same value with exponent 1, DE only, on both.
    [12, "0230"],
    [14, "23010000000000800100"],
  ], {
    fsw: 0,
    st: [...zeros80(6), "23010000000000800100", "0000000000000080ff7f"],
    intel: { fop: 0, fip: 0n, fdp: 0n },
  }, vendor);
});
