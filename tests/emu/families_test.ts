/**
 * Instruction families on the emulator, checked against results recorded
 * from the kvm backend on this project's machines (the kernel's emulator,
 * which runs real-mode code there, and the host CPU). Each program is real-
 * mode code that writes (result, masked arithmetic flags) pairs to port
 * 0xe9 and halts; the test compares the stream of dwords.
 *
 * The programs were assembled with nasm from the source in the comments
 * (the EMIT macro is: out 0xe9, eax; pushfd; pop eax; and eax, FMASK;
 * out 0xe9, eax). DAA and AAA/AAS are not emulated by the kernel's
 * emulator (it answers KVM_EXIT_INTERNAL_ERROR), so their expected values
 * come from the SDM's pseudo-code.
 *
 * @module
 */
import { equal } from "node:assert/strict";
import { test } from "../_support/harness.ts";
import { makeGuest, runToHlt } from "../../emu/_testing.ts";

function hex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
}

function dwords(bytes: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i + 3 < bytes.length; i += 4) {
    out.push((bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) >>> 0);
  }
  return out;
}

/** Runs `code` on both personalities; `amd`, where given, is what the AMD one must give instead of `expected`. */
function check(code: string, expected: number[], amd: number[] = expected): void {
  for (const vendor of ["intel", "amd"] as const) {
    const g = makeGuest({ code: hex(code), vendor });
    const { out, last } = runToHlt(g);
    equal(last.reason, 5, "ends with KVM_EXIT_HLT");
    const want = vendor === "amd" ? amd : expected;
    equal(dwords(out).map((x) => x.toString(16)).join(" "), want.map((x) => x.toString(16)).join(" "), vendor);
  }
}

// %define FMASK 0x8d5
// %include "fam.inc"
//   T2 add, 0x7fffffff, 1
//   T2 add, 0xffffffff, 1
//   T2 sub, 0, 1
//   T2 sub, 0x80000000, 1
//   stc
//   T2 adc, 0xfffffffe, 1
//   stc
//   T2 sbb, 5, 5
//   T2 and, 0xf0f0f0f0, 0x0ff00ff0
//   T2 or, 0x80000000, 0x1
//   T2 xor, 0x12345678, 0x12345678
//   T2 cmp, 3, 5
//   mov al, 0x7f
//   inc al
//   EMIT
//   mov ax, 0x8000
//   dec ax
//   EMIT
//   mov al, 5
//   neg al
//   EMIT
//   mov ax, 0x1234
//   not ax
//   EMIT
//   mov eax, 0x10
//   xadd eax, ebx
//   EMIT
//   mov eax, 7
//   mov ecx, 7
//   mov ebx, 9
//   cmpxchg ecx, ebx
//   mov eax, ecx
//   EMIT
//   mov ax, 0xff
//   add al, 1
//   EMIT
//   mov bl, 0x80
//   mov al, 0x7f
//   sub al, bl
//   EMIT
//   hlt
test("emu: ADD/SUB/ADC/SBB/AND/OR/XOR/CMP, INC/DEC/NEG/NOT, XADD, CMPXCHG (32-bit operands in real mode)", () => {
  check(
    "bae90066b8ffffff7f66bb010000006601d866e7e9669c66586625d508000066e7e966b8ffffffff66bb010000006601" +
      "d866e7e9669c66586625d508000066e7e966b80000000066bb010000006629d866e7e9669c66586625d508000066e7e9" +
      "66b80000008066bb010000006629d866e7e9669c66586625d508000066e7e9f966b8feffffff66bb010000006611d866" +
      "e7e9669c66586625d508000066e7e9f966b80500000066bb050000006619d866e7e9669c66586625d508000066e7e966" +
      "b8f0f0f0f066bbf00ff00f6621d866e7e9669c66586625d508000066e7e966b80000008066bb010000006609d866e7e9" +
      "669c66586625d508000066e7e966b87856341266bb785634126631d866e7e9669c66586625d508000066e7e966b80300" +
      "000066bb050000006639d866e7e9669c66586625d508000066e7e9b07ffec066e7e9669c66586625d508000066e7e9b8" +
      "00804866e7e9669c66586625d508000066e7e9b005f6d866e7e9669c66586625d508000066e7e9b83412f7d066e7e966" +
      "9c66586625d508000066e7e966b810000000660fc1d866e7e9669c66586625d508000066e7e966b80700000066b90700" +
      "000066bb09000000660fb1d96689c866e7e9669c66586625d508000066e7e9b8ff00040166e7e9669c66586625d50800" +
      "0066e7e9b380b07f28d866e7e9669c66586625d508000066e7e9f4",
    [
      0x80000000,
      0x894,
      0x0,
      0x55,
      0xffffffff,
      0x95,
      0x7fffffff,
      0x814,
      0x0,
      0x55,
      0xffffffff,
      0x95,
      0xf000f0,
      0x4,
      0x80000001,
      0x80,
      0x0,
      0x44,
      0x3,
      0x91,
      0x80,
      0x890,
      0x7fff,
      0x814,
      0x8fb,
      0x91,
      0xedcb,
      0x0,
      0x15,
      0x0,
      0x9,
      0x44,
      0x0,
      0x55,
      0xff,
      0x885,
    ],
  );
});

// %define FMASK 0x8c5
// %include "fam.inc"
//
//   mov cl, 1
//   mov eax, 0x80000001
//   shl eax, cl
//   EMIT
//   mov eax, 0x80000001
//   shr eax, 1
//   EMIT
//   mov eax, 0x80000001
//   sar eax, 4
//   EMIT
//   mov eax, 0x80000001
//   rol eax, 4
//   EMIT
//   mov eax, 0x80000001
//   ror eax, 1
//   EMIT
//   stc
//   mov al, 0x81
//   rcl al, 1
//   EMIT
//   stc
//   mov al, 0x81
//   rcr al, 3
//   EMIT
//   mov ax, 0x8001
//   mov cl, 17
//   rcl ax, cl
//   EMIT
//   mov eax, 0x12345678
//   mov ebx, 0x9abcdef0
//   shld eax, ebx, 8
//   EMIT
//   mov eax, 0x12345678
//   mov ebx, 0x9abcdef0
//   mov cl, 12
//   shrd eax, ebx, cl
//   EMIT
//   mov ax, 0x1234
//   mov bx, 0xabcd
//   shld ax, bx, 4
//   EMIT
//   mov al, 0x40
//   shl al, 2
//   EMIT
//   mov al, 0x80
//   sar al, 7
//   EMIT
//   hlt
// The undefined OF of the multi-bit ROL, RCL, RCR, SHRD and SHL differs by vendor: the AMD stream is what the kvm
// backend gives on this project's AMD EPYC host, the Intel one what it gives on this project's Intel host (family 6
// model 167: its kernel's emulator runs real-mode code, computing shifts with the host's own instructions).
test("emu: SHL/SHR/SAR/ROL/ROR/RCL/RCR, SHLD/SHRD (AF masked: undefined, differs by vendor)", () => {
  check(
    "bae900b10166b80100008066d3e066e7e9669c66586625c508000066e7e966b80100008066d1e866e7e9669c66586625" +
      "c508000066e7e966b80100008066c1f80466e7e9669c66586625c508000066e7e966b80100008066c1c00466e7e9669c" +
      "66586625c508000066e7e966b80100008066d1c866e7e9669c66586625c508000066e7e9f9b081d0d066e7e9669c6658" +
      "6625c508000066e7e9f9b081c0d80366e7e9669c66586625c508000066e7e9b80180b111d3d066e7e9669c66586625c5" +
      "08000066e7e966b87856341266bbf0debc9a660fa4d80866e7e9669c66586625c508000066e7e966b87856341266bbf0" +
      "debc9ab10c660fadd866e7e9669c66586625c508000066e7e9b83412bbcdab0fa4d80466e7e9669c66586625c5080000" +
      "66e7e9b040c0e00266e7e9669c66586625c508000066e7e9b080c0f80766e7e9669c66586625c508000066e7e9f4",
    [
      ...[0x2, 0x801, 0x40000000, 0x805, 0xf8000000, 0x84, 0x18, 0x804, 0xc0000000, 0x1, 0x3, 0x801, 0x870, 0x0],
      ...[0x8001, 0x44, 0x3456789a, 0x4, 0xef012345, 0x80, 0x234a, 0x1, 0x0, 0x845, 0x8ff, 0x84],
    ],
    [
      ...[0x2, 0x801, 0x40000000, 0x805, 0xf8000000, 0x84, 0x18, 0x4, 0xc0000000, 0x1, 0x3, 0x801, 0x870, 0x800],
      ...[0x8001, 0x804, 0x3456789a, 0x4, 0xef012345, 0x80, 0x234a, 0x801, 0x800, 0x845, 0x8ff, 0x84],
    ],
  );
});

// %define FMASK 0x801
// %include "fam.inc"
//   mov eax, 0x12345678
//   mov ebx, 0x9abcdef0
//   mul ebx
//   EMIT
//   mov eax, edx
//   EMIT
//   mov eax, -5
//   mov ebx, 7
//   imul ebx
//   EMIT
//   mov eax, edx
//   EMIT
//   mov ax, 300
//   mov bx, 300
//   mul bx
//   EMIT
//   mov eax, edx
//   EMIT
//   mov al, -3
//   mov bl, 100
//   imul bl
//   EMIT
//   mov eax, 1000
//   imul eax, eax, -7
//   EMIT
//   mov ebx, 0x10000
//   imul ebx, ebx
//   mov eax, ebx
//   EMIT
//   mov edx, 1
//   mov eax, 5
//   mov ebx, 3
//   div ebx
//   EMIT
//   mov eax, edx
//   EMIT
//   mov edx, -1
//   mov eax, -100
//   mov ebx, 7
//   idiv ebx
//   EMIT
//   mov eax, edx
//   EMIT
//   mov ax, 1000
//   mov bl, 7
//   div bl
//   EMIT
//   mov ax, -100
//   mov bl, 7
//   idiv bl
//   EMIT
//   hlt
test("emu: MUL/IMUL (1, 2, 3 operands), DIV/IDIV (only CF/OF kept: the rest is undefined)", () => {
  check(
    "bae90066b87856341266bbf0debc9a66f7e366e7e9669c665866250108000066e7e96689d066e7e9669c665866250108" +
      "000066e7e966b8fbffffff66bb0700000066f7eb66e7e9669c665866250108000066e7e96689d066e7e9669c66586625" +
      "0108000066e7e9b82c01bb2c01f7e366e7e9669c665866250108000066e7e96689d066e7e9669c665866250108000066" +
      "e7e9b0fdb364f6eb66e7e9669c665866250108000066e7e966b8e8030000666bc0f966e7e9669c665866250108000066" +
      "e7e966bb00000100660fafdb6689d866e7e9669c665866250108000066e7e966ba0100000066b80500000066bb030000" +
      "0066f7f366e7e9669c665866250108000066e7e96689d066e7e9669c665866250108000066e7e966baffffffff66b89c" +
      "ffffff66bb0700000066f7fb66e7e9669c665866250108000066e7e96689d066e7e9669c665866250108000066e7e9b8" +
      "e803b307f6f366e7e9669c665866250108000066e7e9b89cffb307f6fb66e7e9669c665866250108000066e7e9f4",
    [
      0x242d2080,
      0x801,
      0xb00ea4e,
      0x0,
      0xffffffdd,
      0x0,
      0xffffffff,
      0x0,
      0x5f90,
      0x801,
      0xffff0001,
      0x0,
      0xfed4,
      0x801,
      0xffffe4a8,
      0x0,
      0x0,
      0x801,
      0x55555557,
      0x0,
      0x0,
      0x0,
      0xfffffff2,
      0x0,
      0xfffffffe,
      0x0,
      0x68e,
      0x0,
      0xfef2,
      0x0,
    ],
  );
});

// %define FMASK 0x8d5
// %include "fam.inc"
//   mov al, 0x19
//   add al, 0x28
//   nop
//   EMIT
//   mov al, 0x91
//   add al, 0x19
//   nop
//   EMIT
//   mov al, 0x42
//   sub al, 0x19
//   das
//   EMIT
//   mov ax, 0x0009
//   add al, 8
//   aaa
//   EMIT
//   mov ax, 0x0103
//   sub al, 5
//   aas
//   EMIT
//   mov al, 77
//   aam
//   EMIT
//   mov ax, 0x0705
//   aad
//   EMIT
//   mov eax, 0x00010000
//   bsf ecx, eax
//   mov eax, ecx
//   EMIT
//   mov eax, 0x00010001
//   bsr ecx, eax
//   mov eax, ecx
//   EMIT
//   mov eax, 0x55
//   bt eax, 2
//   EMIT
//   bts eax, 1
//   EMIT
//   btr eax, 0
//   EMIT
//   btc eax, 7
//   EMIT
//   mov dword [0x3000], 0
//   mov ecx, 35
//   bts [0x3000], ecx
//   mov eax, [0x3004]
//   EMIT
//   mov eax, 0x12345678
//   bswap eax
//   EMIT
//   mov eax, 0
//   stc
//   setc al
//   setz ah
//   EMIT
//   mov ebx, 9
//   cmp ebx, 9
//   mov eax, 1
//   cmove eax, ebx
//   EMIT
//   hlt
test("emu: DAS/AAA/AAS/AAM/AAD, BSF/BSR, BT/BTS/BTR/BTC (with a memory bit string), BSWAP, SETcc, CMOVcc", () => {
  check(
    "bae900b01904289066e7e9669c66586625d508000066e7e9b09104199066e7e9669c66586625d508000066e7e9b0422c" +
      "192f66e7e9669c66586625d508000066e7e9b8090004083766e7e9669c66586625d508000066e7e9b803012c053f66e7" +
      "e9669c66586625d508000066e7e9b04dd40a66e7e9669c66586625d508000066e7e9b80507d50a66e7e9669c66586625" +
      "d508000066e7e966b800000100660fbcc86689c866e7e9669c66586625d508000066e7e966b801000100660fbdc86689" +
      "c866e7e9669c66586625d508000066e7e966b855000000660fbae00266e7e9669c66586625d508000066e7e9660fbae8" +
      "0166e7e9669c66586625d508000066e7e9660fbaf00066e7e9669c66586625d508000066e7e9660fbaf80766e7e9669c" +
      "66586625d508000066e7e966c70600300000000066b923000000660fab0e003066a1043066e7e9669c66586625d50800" +
      "0066e7e966b878563412660fc866e7e9669c66586625d508000066e7e966b800000000f90f92c00f94c466e7e9669c66" +
      "586625d508000066e7e966bb090000006683fb0966b801000000660f44c366e7e9669c66586625d508000066e7e9f4",
    [
      0x41,
      0x14,
      0xaa,
      0x84,
      0x23,
      0x10,
      0x107,
      0x15,
      0x8,
      0x91,
      0x707,
      0x0,
      0x4b,
      0x4,
      0x10,
      0x0,
      0x10,
      0x0,
      0x55,
      0x45,
      0x47,
      0x0,
      0x0,
      0x44,
      0xc4,
      0x4,
      0x8,
      0x0,
      0x78563412,
      0x44,
      0x1,
      0x5,
      0x9,
      0x44,
    ],
  );
});

// %define FMASK 0x8d5
// %include "fam.inc"
//   mov si, src
//   mov di, 0x3000
//   mov cx, 4
//   cld
//   rep movsb
//   mov eax, [0x3000]
//   EMIT
//   mov di, 0x3000
//   mov al, 'c'
//   mov cx, 10
//   repne scasb
//   mov eax, ecx
//   EMIT
//   mov eax, edi
//   EMIT
//   mov si, src
//   mov di, 0x3000
//   mov cx, 4
//   repe cmpsb
//   mov eax, ecx
//   EMIT
//   std
//   mov di, 0x3103
//   mov cx, 4
//   mov al, 0x5a
//   rep stosb
//   cld
//   mov eax, [0x3100]
//   EMIT
//   mov si, src
//   lodsw
//   EMIT
//   mov eax, 0x11223344
//   push eax
//   push word 0x5566
//   pop bx
//   pop ecx
//   mov eax, ecx
//   EMIT
//   mov eax, ebx
//   EMIT
//   mov ax, 1
//   mov cx, 2
//   mov bp, 3
//   pusha
//   mov ax, 0
//   mov cx, 0
//   mov bp, 0
//   popa
//   mov eax, ebp
//   EMIT
//   enter 8, 0
//   mov eax, esp
//   EMIT
//   leave
//   mov eax, esp
//   EMIT
//   call sub1
//   EMIT
//   mov cx, 5
//   xor ax, ax
// .l: add ax, cx
//   loop .l
//   EMIT
//   push word 0
//   popf
//   pushf
//   pop ax
//   EMIT
//   hlt
// sub1: mov eax, 0xcafe
//   ret
// src: db "abcd"
test("emu: REP MOVSB, REPNE SCASB, REPE CMPSB, STD+REP STOSB, LODSW, PUSH/POP, PUSHA/POPA, ENTER/LEAVE, CALL/RET, LOOP, POPF/PUSHF", () => {
  check(
    "bae900be7411bf0030b90400fcf3a466a1003066e7e9669c66586625d508000066e7e9bf0030b063b90a00f2ae6689c8" +
      "66e7e9669c66586625d508000066e7e96689f866e7e9669c66586625d508000066e7e9be7411bf0030b90400f3a66689" +
      "c866e7e9669c66586625d508000066e7e9fdbf0331b90400b05af3aafc66a1003166e7e9669c66586625d508000066e7" +
      "e9be7411ad66e7e9669c66586625d508000066e7e966b84433221166506866555b66596689c866e7e9669c66586625d5" +
      "08000066e7e96689d866e7e9669c66586625d508000066e7e9b80100b90200bd030060b80000b90000bd0000616689e8" +
      "66e7e9669c66586625d508000066e7e9c80800006689e066e7e9669c66586625d508000066e7e9c96689e066e7e9669c" +
      "66586625d508000066e7e9e83f0066e7e9669c66586625d508000066e7e9b9050031c001c8e2fc66e7e9669c66586625" +
      "d508000066e7e96a009d9c5866e7e9669c66586625d508000066e7e9f466b8feca0000c361626364",
    [
      0x64636261,
      0x0,
      0x7,
      0x44,
      0x3003,
      0x4,
      0x0,
      0x44,
      0x5a5a5a5a,
      0x4,
      0x6261,
      0x0,
      0x11223344,
      0x44,
      0x5566,
      0x4,
      0x3,
      0x0,
      0x7ff6,
      0x44,
      0x8000,
      0x4,
      0xcafe,
      0x0,
      0xf,
      0x4,
      0x2,
      0x0,
    ],
  );
});
