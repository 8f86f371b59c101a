/**
 * x87 programs in 64-bit mode at CPL 3, run on every backend: there this
 * machine's kvm_pvm executes the guest natively, so the host's x87 is the
 * oracle for the emulator. The first divides 1 by 3 under all twelve
 * combinations of rounding and precision control, converts to integers,
 * BCD, single and double precision, and runs FRNDINT, FPREM1, FXTRACT, an
 * invalid FSQRT, a double denormal, FCOMIP, FSIN, a stack underflow and
 * FNSTENV. The second covers memory operands with NaNs (the x87 NaN rules),
 * integer operands, FICOM, an integer store out of range, FBLD, FUCOMI,
 * FCMOVU, FSCALE, unmasked exceptions (PE, ZE) and FXSAVE64/FXRSTOR64.
 * Operands are RIP-relative; each program ends with a write to unbacked
 * memory (an MMIO exit). KVM_GET_FPU is compared afterwards too.
 *
 * FOP, FIP and FDP follow the vendor's rules (tests/emu/x87/_guest.ts `run64`):
 * the kvm variant expects those of the vendor the host presents, and the
 * emulator runs each program once per personality.
 *
 * Not compared: FNSTENV's FCS and FDS (kvm_pvm runs the guest on the host's
 * own selectors, 0x33 and 0, which an AMD x87 saves; an Intel one saves
 * zeros; the emulator saves the guest's on AMD) and FXSAVE's MXCSR_MASK (the host's AMD part reports 0x2ffff,
 * with the misaligned-exception mask this core does not have; it reports
 * 0xffff).
 *
 * @module
 */
import { run64, vendorTest, zeros80 } from "./_guest.ts";

vendorTest("x87 in 64-bit mode at CPL 3: rounding and precision control, conversions, FNSTENV", (kvm, vendor) => {
  // deno-fmt-ignore
  const code = [
      0xdb, 0xe3, // fninit
      0x48, 0x8d, 0x35, 0xb7, 0x00, 0x00, 0x00, // lea rsi, [cws]
      0x48, 0x8d, 0x3d, 0xf0, 0x0f, 0x00, 0x00, // lea rdi, [res]
      0x31, 0xc9, // xor ecx, ecx
      0xd9, 0x2c, 0x4e, // fldcw [rsi + rcx*2]
      0xd9, 0xe8, // fld1
      0xda, 0x35, 0xbd, 0x00, 0x00, 0x00, // fidiv dword [three]
      0xdb, 0x3f, // fstp tword [rdi]
      0xdd, 0x7f, 0x0a, // fnstsw [rdi + 10]
      0xdb, 0xe2, // fnclex
      0x48, 0x83, 0xc7, 0x0c, // add rdi, 12
      0xff, 0xc1, // inc ecx
      0x83, 0xf9, 0x0c, // cmp ecx, 12
      0x72, 0xe3, // jb div_loop
      0xd9, 0x2d, 0xa3, 0x00, 0x00, 0x00, // fldcw [cw_near]
      0xdb, 0x2d, 0xa3, 0x00, 0x00, 0x00, // fld tword [val]             ; -1234.5678
      0xd9, 0xc0, // fld st0
      0xdb, 0x1f, // fistp dword [rdi]           ; -1235
      0xd9, 0xc0, // fld st0
      0xdd, 0x4f, 0x04, // fisttp qword [rdi + 4]      ; -1234
      0xd9, 0xc0, // fld st0
      0xdf, 0x77, 0x0c, // fbstp tword [rdi + 12]
      0xd9, 0xc0, // fld st0
      0xd9, 0x5f, 0x16, // fstp dword [rdi + 22]
      0xd9, 0xc0, // fld st0
      0xdd, 0x5f, 0x1a, // fstp qword [rdi + 26]
      0xd9, 0xc0, // fld st0
      0xd9, 0xfc, // frndint
      0xdb, 0x7f, 0x22, // fstp tword [rdi + 34]
      0xd9, 0xeb, // fldpi
      0xd9, 0xc9, // fxch st1
      0xd9, 0xf5, // fprem1                      ; -1234.5678 rem pi
      0xdd, 0x7f, 0x2c, // fnstsw [rdi + 44]
      0xdb, 0x7f, 0x2e, // fstp tword [rdi + 46]
      0xdb, 0x2d, 0x72, 0x00, 0x00, 0x00, // fld tword [val]
      0xd9, 0xf4, // fxtract
      0xdb, 0x7f, 0x38, // fstp tword [rdi + 56]
      0xdb, 0x7f, 0x42, // fstp tword [rdi + 66]
      0xdb, 0x2d, 0x64, 0x00, 0x00, 0x00, // fld tword [val]
      0xd9, 0xfa, // fsqrt                       ; invalid: indefinite, IE
      0xdd, 0x7f, 0x4c, // fnstsw [rdi + 76]
      0xdb, 0x7f, 0x4e, // fstp tword [rdi + 78]
      0xdb, 0xe2, // fnclex
      0xdd, 0x05, 0x5e, 0x00, 0x00, 0x00, // fld qword [tiny]            ; a double denormal: DE
      0xd9, 0xc0, // fld st0
      0xd8, 0xc9, // fmul st0, st1               ; its square (PE)
      0xdd, 0x7f, 0x58, // fnstsw [rdi + 88]
      0xdb, 0x7f, 0x5a, // fstp tword [rdi + 90]
      0xdf, 0xf1, // fcomip st0, st1
      0x0f, 0x92, 0x47, 0x64, // setc [rdi + 100]
      0x0f, 0x94, 0x47, 0x65, // setz [rdi + 101]
      0xdd, 0xd8, // fstp st0
      0xd9, 0xe8, // fld1
      0xdb, 0x2d, 0x36, 0x00, 0x00, 0x00, // fld tword [val]
      0xd9, 0xfe, // fsin
      0xdb, 0x7f, 0x66, // fstp tword [rdi + 102]
      0xd9, 0xf3, // fpatan                      ; ST(1) is empty: stack underflow
      0xdb, 0x7f, 0x70, // fstp tword [rdi + 112]
      0xdd, 0x7f, 0x7a, // fnstsw [rdi + 122]
      0xd9, 0x77, 0x7c, // fnstenv [rdi + 124]         ; 28 bytes
      0xc6, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00, 0x01, // mov byte [mmio], 1          ; exit: an MMIO write
      0x7f, 0x00, 0x7f, 0x04, 0x7f, 0x08, 0x7f, 0x0c, 0x7f, 0x02, 0x7f, 0x06, 0x7f, 0x0a, 0x7f, 0x0e, 0x7f, 0x03, // cws: dw 0x007f, 0x047f, 0x087f, 0x0c7f, 0x027f, 0x067f, 0x0a7f, 0x0e7f, 0x037f, 0x077f, 0x0b7f, 0x0f7f
      0x7f, 0x07, 0x7f, 0x0b, 0x7f, 0x0f, // (continued)
      0x7f, 0x03, // cw_near: dw 0x037f
      0x03, 0x00, 0x00, 0x00, // three: dd 3
      0xcf, 0x66, 0xd5, 0xe7, 0x6a, 0x2b, 0x52, 0x9a, 0x09, // val: dt -1234.5678
      0xc0, // (continued)
      0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, 0x00, // tiny: dq 0x000123456789abcd
      ...new Array(3856).fill(0x00), // times 0x1000 - ($ - $$) db 0
  ];
  run64(kvm, code, [
    [0, "0000000000abaaaafd3f2000"], // 1/3 and FSW: nearest, 24-bit precision
    [12, "0000000000aaaaaafd3f2000"], // down, 24
    [24, "0000000000abaaaafd3f2000"], // up, 24
    [36, "0000000000aaaaaafd3f2000"], // toward zero, 24
    [48, "00a8aaaaaaaaaaaafd3f2000"], // nearest, 53
    [60, "00a8aaaaaaaaaaaafd3f2000"], // down, 53
    [72, "00b0aaaaaaaaaaaafd3f2000"], // up, 53
    [84, "00a8aaaaaaaaaaaafd3f2000"], // toward zero, 53
    [96, "abaaaaaaaaaaaaaafd3f2000"], // nearest, 64
    [108, "aaaaaaaaaaaaaaaafd3f2000"], // down, 64
    [120, "abaaaaaaaaaaaaaafd3f2000"], // up, 64
    [132, "aaaaaaaaaaaaaaaafd3f2000"], // toward zero, 64
    [144, "2dfbffff"], // FISTP m32: -1235
    [148, "2efbffffffffffff"], // FISTTP m64: -1234
    [156, "35120000000000000080"], // FBSTP: -1235
    [166, "2b529ac4"], // FST m32
    [170, "adfa5c6d454a93c0"], // FST m64
    [178, "000000000000609a09c0"], // FRNDINT
    [188, "2032"], // FSW after FPREM1 (C3 C0: quotient bits)
    [190, "a0ab90e0b3a2f99ffb3f"], // FPREM1 by pi
    [200, "cf66d5e76a2b529affbf"], // FXTRACT: significand
    [210, "00000000000000a00240"], // FXTRACT: exponent (10)
    [220, "2130"], // FSW after FSQRT of a negative: IE, PE
    [222, "00000000000000c0ffff"], // the real indefinite
    [232, "2228"], // FSW after loading a double denormal (DE) and squaring it (PE)
    [234, "655e55fb196eb3a5fb37"], // the square
    [244, "0100"], // CF and ZF after FCOMIP
    [246, "f9e96a774200d09ffbbf"], // FSIN
    [256, "00000000000000c0ffff"], // FPATAN with ST(1) empty: stack underflow, the indefinite
    [266, "6308"], // FSW: IE, SF, C1 clear
    [268, "7f03ffff6308ffffffffffffaf100000"], // FNSTENV: FCW, FSW, FTW (all empty), FIP (the FSTP m80)
    // FOP and FDP: on AMD the FSTP m80's (DB 7F) and its operand; on Intel still FNINIT's zeros, as no
    // instruction incurred an unmasked exception.
    [286, { amd: "7f0300210000", intel: "000000000000" }],
  ], {
    fsw: 0x863,
    st: [...zeros80(4), "655e55fb196eb3a5fb37", "f9e96a774200d09ffbbf", "0000000000000080ff3f", "00000000000000c0ffff"],
    intel: { fop: 0, fip: 0x10afn, fdp: 0n },
  }, vendor);
});

vendorTest("x87 in 64-bit mode at CPL 3: NaN operands, integers, unmasked exceptions, FXSAVE64", (kvm, vendor) => {
  // deno-fmt-ignore
  const code = [
      0xdb, 0xe3, // fninit
      0x48, 0x8d, 0x3d, 0xf7, 0x0f, 0x00, 0x00, // lea rdi, [res]
      0xdb, 0x2d, 0xe1, 0x00, 0x00, 0x00, // fld tword [qnan]
      0xd8, 0x05, 0xc3, 0x00, 0x00, 0x00, // fadd dword [snan32]         ; QNaN + SNaN (m32): the QNaN operand, IE
      0xdb, 0x3f, // fstp tword [rdi]
      0xdd, 0x7f, 0x0a, // fnstsw [rdi + 10]
      0xdb, 0xe2, // fnclex
      0xd9, 0xe8, // fld1
      0xdc, 0x05, 0xbc, 0x00, 0x00, 0x00, // fadd qword [snan64]         ; 1 + SNaN (m64): the SNaN made quiet, IE
      0xdb, 0x7f, 0x0c, // fstp tword [rdi + 12]
      0xdb, 0x05, 0xaf, 0x00, 0x00, 0x00, // fild dword [big32]
      0xde, 0x05, 0xa1, 0x00, 0x00, 0x00, // fiadd word [m16]
      0xda, 0x0d, 0xa3, 0x00, 0x00, 0x00, // fimul dword [big32]
      0xde, 0x25, 0x95, 0x00, 0x00, 0x00, // fisub word [m16]
      0xda, 0x3d, 0x97, 0x00, 0x00, 0x00, // fidivr dword [big32]
      0xdb, 0x7f, 0x16, // fstp tword [rdi + 22]
      0xdf, 0x2d, 0x9a, 0x00, 0x00, 0x00, // fild qword [big64]
      0xda, 0x15, 0x88, 0x00, 0x00, 0x00, // ficom dword [big32]
      0xdd, 0x7f, 0x20, // fnstsw [rdi + 32]
      0xdf, 0x5f, 0x22, // fistp word [rdi + 34]       ; too big: the integer indefinite, IE
      0xdd, 0x7f, 0x24, // fnstsw [rdi + 36]
      0xdb, 0xe2, // fnclex
      0xdf, 0x25, 0x9f, 0x00, 0x00, 0x00, // fbld [bcd]
      0xdb, 0x2d, 0x85, 0x00, 0x00, 0x00, // fld tword [qnan]
      0xdb, 0xe9, // fucomi st0, st1             ; unordered: ZF PF CF, no IE for a QNaN
      0x9c, // pushfq
      0x58, // pop rax
      0x88, 0x47, 0x26, // mov [rdi + 38], al
      0xda, 0xd9, // fcmovu st0, st1             ; PF set: ST(0) = ST(1)
      0xdb, 0x7f, 0x28, // fstp tword [rdi + 40]
      0xdf, 0x05, 0x57, 0x00, 0x00, 0x00, // fild word [m16]
      0xd9, 0xc9, // fxch st1
      0xd9, 0xfd, // fscale                      ; the BCD value * 2^-7
      0xdb, 0x7f, 0x32, // fstp tword [rdi + 50]
      0xdd, 0xd8, // fstp st0
      0xd9, 0x2d, 0x44, 0x00, 0x00, 0x00, // fldcw [cw_unmask]           ; PE and UE unmasked
      0xdb, 0x2d, 0x68, 0x00, 0x00, 0x00, // fld tword [huge]
      0xdc, 0xc8, // fmul st0, st0               ; OE masked, PE unmasked: infinity stored, ES set
      0xdd, 0x7f, 0x3c, // fnstsw [rdi + 60]
      0xdb, 0xe2, // fnclex
      0xdb, 0x7f, 0x3e, // fstp tword [rdi + 62]
      0xd9, 0x2d, 0x30, 0x00, 0x00, 0x00, // fldcw [cw_zm]               ; ZE unmasked
      0xd9, 0xe8, // fld1
      0xd9, 0xee, // fldz
      0xde, 0xf9, // fdivp st1                   ; unmasked ZE: nothing stored or popped, ES
      0xdd, 0x7f, 0x48, // fnstsw [rdi + 72]
      0xd9, 0x77, 0x4a, // fnstenv [rdi + 74]          ; 28 bytes: the FOP/FIP/FDP of the FDIVP
      0xdb, 0xe2, // fnclex
      0xdb, 0xe3, // fninit
      0xd9, 0xe8, // fld1
      0xd9, 0xeb, // fldpi
      0x48, 0x0f, 0xae, 0x47, 0x70, // fxsave64 [rdi + 112]        ; at an aligned address (res + 112 = 0x2070)
      0xdb, 0xe3, // fninit
      0x48, 0x0f, 0xae, 0x4f, 0x70, // fxrstor64 [rdi + 112]
      0xde, 0xe9, // fsubp st1                   ; pi - 1... ST(1) - ST(0) = 1 - pi
      0xdb, 0x7f, 0x66, // fstp tword [rdi + 102]
      0xc6, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00, 0x01, // mov byte [mmio], 1          ; exit: an MMIO write
      0x90, // align 2
      0x4f, 0x03, // cw_unmask: dw 0x034f
      0x7b, 0x03, // cw_zm: dw 0x037b
      0xf9, 0xff, // m16: dw -7
      0x90, 0x90, // align 4
      0x45, 0x23, 0x81, 0x7f, // snan32: dd 0x7f812345
      0x15, 0xcd, 0x5b, 0x07, // big32: dd 123456789
      0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, // snan64: dq 0x7ff0000000000001
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, // big64: dq 0x7fffffffffffffff
      0xbc, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, // qnan: dq 0xc000000000000abc
      0xff, 0x7f, // dw 0x7fff
      0x61, 0x8c, 0x55, 0xfe, 0x23, 0x83, 0xba, 0xd1, 0xe6, // huge: dt 1.0e4000
      0x73, // (continued)
      0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00, 0x00, // bcd: dq 0x0000000012345678
      0x00, 0x80, // dw 0x8000
      ...new Array(3826).fill(0x00), // times 0x1000 - ($ - $$) db 0
  ];
  run64(kvm, code, [
    [0, "bc0a0000000000c0ff7f0100"], // QNaN + SNaN m32: the QNaN operand; FSW: IE
    [12, "00080000000000c0ff7f"], // 1 + SNaN m64: the SNaN made quiet
    [22, "36a62c73d82d288be43f"], // 123456789 / ((123456789 - 7) * 123456789 - (-7))
    [32, "2138"], // FSW after FICOM (greater: C3 C2 C0 clear)
    [34, "0080"], // FISTP m16 of 2^63 - 1: the integer indefinite
    [36, "2100"], // FSW: IE (C1 clear)
    [38, "47"], // EFLAGS after FUCOMI with a QNaN: ZF PF CF
    [40, "00000000004e61bc16c0"], // FCMOVU took ST(1): -12345678 from FBLD
    [50, "00000000004e61bc0fc0"], // FSCALE by -7
    [60, "a8ba"], // FSW after an overflow with PE unmasked: B, ES, C1, PE, OE
    [62, "0000000000000080ff7f"], // infinity, stored
    [72, "84b0"], // FSW after FDIVP by zero with ZE unmasked: B, ES, ZE, nothing popped (TOP 6)
    [74, "7b03ffff84b0ffffff1fffffa6100000"], // FNSTENV: FCW, FSW, FTW, FIP (the FDIVP)
    // FOP (DE F9) and FDP: on AMD the last memory operand's (the FLDCW's is not recorded); on Intel the last
    // memory operand of an instruction with an unmasked exception, which none had (the FMUL and FDIVP that
    // had one are register forms).
    [92, { amd: "f9063e200000", intel: "f90600000000" }],
    [102, "35c26821a2da0f8900c0"], // 1 - pi after FXSAVE64, FNINIT, FXRSTOR64
    // FXSAVE64: FOP/FIP/FDP zero on AMD (ES clear); on Intel FOP and FDP zero (FNINIT) and FIP the FLDPI's.
    [112, {
      amd: "7f030030c000000000000000000000000000000000000000801f0000",
      intel: "7f030030c0000000b4100000000000000000000000000000801f0000",
    }],
    [144, "35c26821a2da0fc900400000000000000000000000000080ff3f000000000000"], // ST(0) = pi, ST(1) = 1
  ], {
    fsw: 0,
    st: [...zeros80(6), "35c26821a2da0fc90040", "35c26821a2da0f8900c0"],
    intel: { fop: 0, fip: 0x10c4n, fdp: 0n },
  }, vendor);
});
