/**
 * SSE guest programs at CPL 3 on both backends through the public API.
 * kvm_pvm (the KVM here) runs user-mode code natively on the host CPU only
 * in 64-bit mode: in legacy protected mode and in compatibility mode it
 * emulates CPL 3 code too, and its emulator has no SSE arithmetic (#UD).
 * So the programs are 64-bit CPL 3 code (tests/_support/long_mode.ts; 32-bit
 * operands, no REX, absolute addresses through SIB), and the expected
 * results, recorded from the kvm backend, are the hardware's; the emulator
 * must produce the same bytes. Each program stores its results at 0x5000
 * and ends with `mov al, n; hlt`: #GP at CPL 3, whose CPL 0 handler does
 * `out 0xe9, al`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest } from "../../_support/harness.ts";
import { runToOut } from "../../_support/guests.ts";
import { enterLongMode, longMachine, P, setPte, W } from "../../_support/long_mode.ts";
import type { Kvm } from "../../../mod.ts";
import { X86_CR4_OSFXSR, X86_CR4_OSXMMEXCPT } from "../../../constants.ts";

function bytes(h: string): number[] {
  return h.match(/../g)!.map((b) => parseInt(b, 16));
}

/** Inputs at 0x4000: four float32, then float64 pairs, then integer and string data. */
function inputs(): Uint8Array {
  const b = new Uint8Array(0x60);
  const v = new DataView(b.buffer);
  [1, 2, 10, 7].forEach((x, i) => v.setFloat32(4 * i, x, true));
  [3, 7, 3, 0.1].forEach((x, i) => v.setFloat32(16 + 4 * i, x, true));
  [1, 2].forEach((x, i) => v.setFloat64(32 + 8 * i, x, true));
  [3, 10].forEach((x, i) => v.setFloat64(48 + 8 * i, x, true));
  // Program B reads 0x4000-0x403f as integers too; 0x4030 doubles as a PSHUFB mask (low nibbles).
  b.set(new TextEncoder().encode("az09"), 0x40);
  b.set(new TextEncoder().encode("Hello, World 42!"), 0x50);
  return b;
}

/** Runs 64-bit `code` at 0x1000 at CPL 3 with SSE enabled; returns `len` bytes at 0x5000. */
function runProgram(kvm: Kvm, code: string, port: number, len: number): string {
  using m = longMachine(kvm);
  // The descriptor tables live in page 0: map it (supervisor) so that the #GP that ends the program is delivered.
  setPte(m.mem, 0, P | W);
  m.mem.bytes.set(bytes(code), 0x1000);
  m.mem.bytes.set(inputs(), 0x4000);
  enterLongMode(m.vcpu, 0x1000n, { cpl: 3, cr4: X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT });
  assert.equal(runToOut(m.vcpu, 0xe9), port);
  return Array.from(m.mem.bytes.subarray(0x5000, 0x5000 + len), (x) => x.toString(16).padStart(2, "0")).join("");
}

// Program A (nasm: bits 64, default abs), for mode (RC) 0-3: mxcsr = 0x1f80 | RC << 13; edi = 0x5000 + 0x80 * RC;
//   xmm2 = a / b (divps) -> [edi]; xmm3 = sqrtps(xmm2 * b + a) -> [edi+16]; cvtps2dq xmm3 -> [edi+32];
//   xmm5 = [1, 2] / [3, 10] (divpd) -> [edi+48]; cvtpd2ps xmm5 -> [edi+64];
//   haddps xmm6, xmm3; minps xmm6, a -> [edi+80]; sqrtsd(RC * 3.0) -> [edi+96]; stmxcsr [edi+112];
//   comiss a, b; pushfq -> [rdi+116]; then mov al, 1; hlt.
const PROGRAM_A =
  "31db89d8c1e00d0d801f0000890425004100000fae14250041000089dfc1e70781c7005000000f280425004000000f280c25104000000f" +
  "28d00f5ed10f29170f59d10f58d00f51da0f295f10660f5be3660f7f6720660f282c2520400000660f5e2c2530400000660f296f30660f" +
  "5af50f297740f20f7cf30f5df00f297750f20f2afbf20f593c2530400000f20f51fff20f117f600fae5f700f2fc19c8f4774ffc383fb04" +
  "0f8557ffffffb001f4";
const EXPECTED_A =
  "abaaaa3e2549923e5555554000008c42f304b53f00000040bd1b8f4051776f4001000000020000000400000004000000555555555555d5" +
  "3f9a9999999999c93fabaaaa3ecdcc4c3e00000000000000008988083f000000007a825a400000e0400000000000000000000000000000" +
  "0000a01f0000030200000000000000000000aaaaaa3e2449923e55555540ffff8b42f204b53fffffff3fbc1b8f4050776f400100000001" +
  "0000000400000003000000555555555555d53f999999999999c93faaaaaa3ecccc4c3e00000000000000008888083f0000000078825a40" +
  "0000e040aa4c58e87ab6fb3f0000000000000000a03f0000030200000000000000000000abaaaa3e2549923e5655554000008c42f404b5" +
  "3f01000040be1b8f4052776f4002000000030000000500000004000000565555555555d53f9a9999999999c93fabaaaa3ecdcc4c3e0000" +
  "0000000000008988083f000000007b825a400000e0402f2109148e9803400000000000000000a05f0000030200000000000000000000aa" +
  "aaaa3e2449923e55555540ffff8b42f204b53fffffff3fbc1b8f4050776f4001000000010000000400000003000000555555555555d53f" +
  "999999999999c93faaaaaa3ecccc4c3e00000000000000008888083f0000000078825a400000e040000000000000084000000000000000" +
  "00a07f0000030200000000000000000000";

// Program B (bits 64, default abs): crc32 over 0x4000-0x403f -> [edi]; psadbw, pmaddwd, pshufb -> [edi+16..63];
//   pcmpistri xmm4 ("az09" ranges), "Hello, World 42!", 0x04 -> ecx, flags; pcmpistrm 0x44 -> xmm0;
//   aesenc + aesdeclast, pclmulqdq 0x11 -> [edi+96..127]; popcnt, lzcnt, tzcnt, andn, pext, pdep, mulx, rorx,
//   movbe, adcx -> [edi+128..171]; pmovsxbw, pmulld + phminposuw, ptest flags -> [edi+176..211];
//   then mov al, 2; hlt.
const PROGRAM_B =
  "bf0050000031c0f7d0be00400000b910000000f20f38f10683c604e2f68907660f6f042500400000660fefc9660ff6c8660f7f4f10660f" +
  "6f142510400000660ff5d0660f7f5720660f6f1c2520400000660f38001c2530400000660f7f5f30660f6f242540400000660f3a632425" +
  "5040000004894f409c8f4744660f3a6224255040000044660f7f4750660f6f2c2500400000660f38dc2c2510400000660f38df2c252040" +
  "0000660f7f6f60660f6f342500400000660f3a4434251040000011660f7f77708b0425004000008b0c2504400000f30fb8d08997800000" +
  "00f30fbdd1899784000000f30fbcd1899788000000c4e278f2d189978c000000c4e27af5d1899790000000c4e27bf5d1899794000000c4" +
  "e26bf6f089b79800000089979c000000c4e37bf0d0078997a00000000f38f01425084000008997a4000000f9660f38f6c18987a8000000" +
  "660f38203c2508400000660f7fbfb0000000660f6f3c2500400000660f38403c2510400000660f3841cf660f7f8fc0000000660f38173c" +
  "25204000009c8f87d0000000b002f4";
const EXPECTED_B =
  "3468573f000000000000000000000000ff00000000000000810100000000000000e0ef0f00003810004858108012a90f00000000000000" +
  "0000000000000000000100000083020000000000000000000000ffffffff000000ffffffff00ffff00c9927ab42645172a89c8c367b6a0" +
  "c572000000000048f804667e0193ff1f650f07000000010000001e000000000000400000000000000000000000000000000000007f0041" +
  "2000000100807f00000000000000002000410000000000e0ff4000000000000000000000000000000000000202000000000000";

backendTest("sse guest at CPL 3: float arithmetic in the four rounding modes", (kvm) => {
  const got = runProgram(kvm, PROGRAM_A, 1, 0x200);
  assert.equal(got, EXPECTED_A);
});

backendTest("sse guest at CPL 3: integer SIMD, strings, CRC32, AES, PCLMUL, BMI", (kvm) => {
  const got = runProgram(kvm, PROGRAM_B, 2, 216);
  assert.equal(got, EXPECTED_B);
});
