/**
 * The block compiler's stack templates on recursion (tests/emu/jit/_stack.ts runs the cases):
 *
 * 1. recursion (call/ret/push/pop) with a 32-bit stack, also in compatibility mode; PUSH ESP and POP ESP;
 * 2. 32-bit code on a 16-bit stack segment (SP wraps at 64 KiB), run before and after the same blocks ran on a
 *    32-bit stack;
 * 3. 64-bit recursion with RSP aligned, misaligned by 4 and by 1, in the upper canonical half; PUSH/POP of
 *    R8-R15, PUSH RSP, POP RSP.
 *
 * @module
 */
import type { Sregs } from "../../../mod.ts";
import { CODE } from "../../_support/sys.ts";
import { CODE32_0, LM_CODE } from "../../_support/long_mode.ts";
import { add64, type Case, type Expect, HIGH, listing, M32, M64, PF, stackTests, START } from "./_stack.ts";

// 1. Recursion on a 32-bit stack ---------------------------------------------------------------------------------

/** fib(10) and sum(400) by recursion, then PUSH ESP / POP ESP; position-independent (the stack is absolute). */
const RECURSION32 = listing(`
start:
  b9 0a 00 00 00  mov ecx, 10  (+0x0)
  e8 17 00 00 00  call fib  (+0x5)
  89 c2           mov edx, eax  (+0xa)
  b9 90 01 00 00  mov ecx, 400  (+0xc)
  e8 28 00 00 00  call sum  (+0x11)
  54              push esp  (+0x16)
  5e              pop esi  (+0x17)
  68 00 6f 00 00  push dword 0x6f00  (+0x18)
  5c              pop esp  (+0x1d)
  54              push esp  (+0x1e)
  5f              pop edi  (+0x1f)
  f4              hlt  (+0x20)
fib: ecx -> eax, keeps ecx and ebx
  83 f9 02        cmp ecx, 2  (+0x21)
  72 15           jb .small  (+0x24)
  51              push ecx  (+0x26)
  53              push ebx  (+0x27)
  49              dec ecx  (+0x28)
  e8 f3 ff ff ff  call fib  (+0x29)
  89 c3           mov ebx, eax  (+0x2e)
  49              dec ecx  (+0x30)
  e8 eb ff ff ff  call fib  (+0x31)
  01 d8           add eax, ebx  (+0x36)
  5b              pop ebx  (+0x38)
  59              pop ecx  (+0x39)
  c3              ret  (+0x3a)
.small:
  89 c8           mov eax, ecx  (+0x3b)
  c3              ret  (+0x3d)
sum: ecx -> eax = 1 + 2 + ... + ecx
  85 c9           test ecx, ecx  (+0x3e)
  74 0b           jz .zero  (+0x40)
  51              push ecx  (+0x42)
  49              dec ecx  (+0x43)
  e8 f5 ff ff ff  call sum  (+0x44)
  59              pop ecx  (+0x49)
  01 c8           add eax, ecx  (+0x4a)
  c3              ret  (+0x4c)
.zero:
  31 c0           xor eax, eax  (+0x4d)
  c3              ret  (+0x4f)
`);

/** What {@linkcode RECURSION32} leaves when started at `at` with ESP = `sp`. */
function recursion32(at: number, sp: number): Expect {
  const s = START[32];
  return {
    rip: BigInt(at + 0x21),
    // The last ADD: 79800 + 400.
    flags: PF,
    regs: {
      rax: 80200n,
      rcx: 400n,
      rdx: 55n,
      rbx: s.rbx,
      rsp: 0x6f00n,
      rbp: s.rbp,
      rsi: BigInt(sp),
      rdi: 0x6f00n,
      r8: s.r8,
      r15: s.r15,
    },
    // PUSH ESP at 0x6f00 stored 0x6f00; PUSH 0x6f00 overwrote what PUSH ESP had stored at sp - 4 (then the
    // return address of the first call); below it what the outermost sum pushed: ECX and a return address.
    memory: [[0x6efc, 4, 0x6f00n], [sp - 4, 4, 0x6f00n], [sp - 8, 4, 400n], [sp - 12, 4, BigInt(at + 0x49)]],
  };
}

const RECURSION_32: Case = {
  name: "32-bit code, 32-bit stack (SS.B = 1): fib(10) and sum(400) by recursion, PUSH ESP, POP ESP",
  bits: 32,
  code: RECURSION32,
  windows: [[0x6000, 0x7010]],
  compiled: ["push", "pop", "call", "ret"],
  phases: [
    { what: "ESP = 0x7000", regs: { rsp: 0x7000n }, expect: recursion32(CODE, 0x7000) },
    { what: "ESP = 0x7003 (no alignment asked)", regs: { rsp: 0x7003n }, expect: recursion32(CODE, 0x7003) },
  ],
};

const RECURSION_COMPAT: Case = {
  name: "compatibility mode, 32-bit stack: fib(10) and sum(400) by recursion, PUSH ESP, POP ESP",
  bits: 64,
  start: 32,
  code: RECURSION32,
  windows: [[0x6000, 0x7010]],
  compiled: ["push", "pop", "call", "ret"],
  phases: [
    {
      what: "CS.L = 0, CS.D = 1, ESP = 0x7000",
      sregs: (s) => void (s.cs = CODE32_0),
      regs: { rsp: 0x7000n },
      expect: recursion32(LM_CODE, 0x7000),
    },
    {
      what: "CS.L = 0, CS.D = 1, ESP = 0x7002",
      sregs: (s) => void (s.cs = CODE32_0),
      regs: { rsp: 0x7002n },
      expect: recursion32(LM_CODE, 0x7002),
    },
  ],
};

// 2. A 16-bit stack segment in 32-bit code -----------------------------------------------------------------------

const SMALL_STACK = listing(`
start:
  66 50           push ax  (+0x0)
  66 53           push bx  (+0x2)
  51              push ecx  (+0x4)
  e8 08 00 00 00  call f  (+0x5)
  5a              pop edx  (+0xa)
  66 5e           pop si  (+0xb)
  66 5f           pop di  (+0xd)
  01 c8           add eax, ecx  (+0xf)
  f4              hlt  (+0x11)
f:
  50              push eax  (+0x12)
  53              push ebx  (+0x13)
  e8 03 00 00 00  call g  (+0x14)
  5b              pop ebx  (+0x19)
  58              pop eax  (+0x1a)
  c3              ret  (+0x1b)
g:
  51              push ecx  (+0x1c)
  5d              pop ebp  (+0x1d)
  c3              ret  (+0x1e)
`);

/** A 16-bit expand-up stack segment: base 0x10000, limit 0xffff, B = 0. */
const SS16 = (s: Sregs) => void (s.ss = { ...s.ss, base: 0x10000n, limit: 0xffff, db: 0, g: 0 });

/**
 * What {@linkcode SMALL_STACK} leaves with the stack pointer `sp` on a stack whose item at offset `o` is at
 * guest-physical `lin(o)`; `mask` is the stack's width.
 */
function smallStack(sp: bigint, lin: (o: number) => number, mask: number): Expect {
  const s = START[32];
  const at = (below: number) => lin((Number(sp & 0xffffn) - below) & mask);
  return {
    rip: BigInt(CODE + 0x12),
    regs: {
      rax: (s.rax + s.rcx) & M32,
      rcx: s.rcx,
      rdx: s.rcx,
      rbx: s.rbx,
      rsp: sp,
      rbp: s.rcx,
      rsi: (s.rsi & ~0xffffn) | (s.rbx & 0xffffn),
      rdi: (s.rdi & ~0xffffn) | (s.rax & 0xffffn),
    },
    memory: [
      [at(2), 2, s.rax & 0xffffn],
      [at(4), 2, s.rbx & 0xffffn],
      [at(8), 4, s.rcx],
      [at(12), 4, BigInt(CODE + 0xa)],
      [at(16), 4, s.rax],
      [at(20), 4, s.rbx],
      [at(24), 4, BigInt(CODE + 0x19)],
      [at(28), 4, s.rcx],
    ],
  };
}

const SMALL_STACK_CASE: Case = {
  name: "32-bit code, 16-bit stack segment (SS.B = 0): PUSH, POP, CALL and RET use SP, which wraps at 64 KiB",
  bits: 32,
  code: SMALL_STACK,
  windows: [[0x7f00, 0x8010], [0x10000, 0x10010], [0x1ff00, 0x20000]],
  compiled: ["push", "pop", "call", "ret"],
  phases: [
    {
      what: "SS.B = 0, base 0x10000, ESP = 0xabcd0002: the pushes wrap to 0xfffe, the pops back to 2",
      sregs: SS16,
      regs: { rsp: 0xabcd0002n },
      expect: smallStack(0xabcd0002n, (o) => 0x10000 + o, 0xffff),
    },
    {
      what: "the same blocks on a flat 32-bit stack, ESP = 0x8002",
      regs: { rsp: 0x8002n },
      expect: smallStack(0x8002n, (o) => o, 0xffffffff),
    },
    {
      what: "back on the 16-bit stack, ESP = 0x0002",
      sregs: SS16,
      regs: { rsp: 0x0002n },
      expect: smallStack(0x0002n, (o) => 0x10000 + o, 0xffff),
    },
  ],
};

// 3. Recursion on a 64-bit stack ---------------------------------------------------------------------------------

const RECURSION64 = listing(`
start:
  b9 0a 00 00 00           mov ecx, 10  (+0x0)
  e8 42 00 00 00           call fib  (+0x5)
  48 89 c2                 mov rdx, rax  (+0xa)
  b9 2c 01 00 00           mov ecx, 300  (+0xd)
  e8 5a 00 00 00           call sum  (+0x12)
  41 50                    push r8  (+0x17)
  41 51                    push r9  (+0x19)
  41 52                    push r10  (+0x1b)
  41 53                    push r11  (+0x1d)
  41 54                    push r12  (+0x1f)
  41 55                    push r13  (+0x21)
  41 56                    push r14  (+0x23)
  41 57                    push r15  (+0x25)
  41 58                    pop r8  (+0x27)
  41 59                    pop r9  (+0x29)
  41 5a                    pop r10  (+0x2b)
  41 5b                    pop r11  (+0x2d)
  41 5c                    pop r12  (+0x2f)
  41 5d                    pop r13  (+0x31)
  41 5e                    pop r14  (+0x33)
  41 5f                    pop r15  (+0x35)
  66 50                    push ax  (+0x37)
  53                       push rbx  (+0x39)
  5b                       pop rbx  (+0x3a)
  66 5b                    pop bx  (+0x3b)
  54                       push rsp  (+0x3d)
  5e                       pop rsi  (+0x3e)
  48 8d ac 24 00 ff ff ff  lea rbp, [rsp - 0x100]  (+0x3f)
  55                       push rbp  (+0x47)
  5c                       pop rsp  (+0x48)
  54                       push rsp  (+0x49)
  5f                       pop rdi  (+0x4a)
  f4                       hlt  (+0x4b)
fib: rcx -> rax, keeps rcx and rbx
  48 83 f9 02              cmp rcx, 2  (+0x4c)
  72 1b                    jb .small  (+0x50)
  51                       push rcx  (+0x52)
  53                       push rbx  (+0x53)
  48 ff c9                 dec rcx  (+0x54)
  e8 f0 ff ff ff           call fib  (+0x57)
  48 89 c3                 mov rbx, rax  (+0x5c)
  48 ff c9                 dec rcx  (+0x5f)
  e8 e5 ff ff ff           call fib  (+0x62)
  48 01 d8                 add rax, rbx  (+0x67)
  5b                       pop rbx  (+0x6a)
  59                       pop rcx  (+0x6b)
  c3                       ret  (+0x6c)
.small:
  48 89 c8                 mov rax, rcx  (+0x6d)
  c3                       ret  (+0x70)
sum: rcx -> rax = (1 + r9) + (2 + r9) + ... + (rcx + r9)
  48 85 c9                 test rcx, rcx  (+0x71)
  74 11                    jz .zero  (+0x74)
  51                       push rcx  (+0x76)
  48 ff c9                 dec rcx  (+0x77)
  e8 f2 ff ff ff           call sum  (+0x7a)
  59                       pop rcx  (+0x7f)
  48 01 c8                 add rax, rcx  (+0x80)
  4c 01 c8                 add rax, r9  (+0x83)
  c3                       ret  (+0x86)
.zero:
  31 c0                    xor eax, eax  (+0x87)
  c3                       ret  (+0x89)
`);

/** What {@linkcode RECURSION64} leaves when started at `at` with RSP = `sp` (both as 64-bit values). */
function recursion64(at: bigint, sp: bigint): Expect {
  const s = START[64], n = 300n;
  // The last ADD adds r9 to 299 * 300 / 2 + 299 * r9 + 300.
  const before = (n * (n + 1n) / 2n + (n - 1n) * s.r9) & M64;
  const { sum, flags } = add64(before, s.r9);
  const low = (sp - 0x100n) & M64;
  return {
    rip: (at + 0x4cn) & M64,
    flags,
    regs: {
      rax: sum,
      rcx: n,
      rdx: 55n,
      rbx: (s.rbx & ~0xffffn) | (sum & 0xffffn),
      rsp: low,
      rbp: low,
      rsi: sp,
      rdi: low,
      r8: s.r15,
      r9: s.r14,
      r10: s.r13,
      r11: s.r12,
      r12: s.r11,
      r13: s.r10,
      r14: s.r9,
      r15: s.r8,
    },
  };
}

const RECURSION_64: Case = {
  name: "64-bit mode: fib(10) and sum(300) by recursion, R8-R15, PUSH RSP, POP RSP, RSP aligned or not",
  bits: 64,
  code: RECURSION64,
  windows: [[0x5000, 0x7010]],
  compiled: ["push", "pop", "call", "ret"],
  phases: [
    { what: "RSP = 0x7000 (aligned)", regs: { rsp: 0x7000n }, expect: recursion64(0x4000n, 0x7000n) },
    { what: "RSP = 0x7004 (misaligned by 4)", regs: { rsp: 0x7004n }, expect: recursion64(0x4000n, 0x7004n) },
    { what: "RSP = 0x7001 (misaligned by 1)", regs: { rsp: 0x7001n }, expect: recursion64(0x4000n, 0x7001n) },
    {
      what: "in the upper half: RIP and RSP = 0xffffff8000000000 + 0x4000 and + 0x7000",
      entry: HIGH + 0x4000n,
      regs: { rsp: HIGH + 0x7000n },
      expect: recursion64(HIGH + 0x4000n, HIGH + 0x7000n),
    },
    {
      what: "in the upper half, RSP misaligned by 4",
      entry: HIGH + 0x4000n,
      regs: { rsp: HIGH + 0x7004n },
      expect: recursion64(HIGH + 0x4000n, HIGH + 0x7004n),
    },
    { what: "RSP = 0x7000 again", regs: { rsp: 0x7000n }, expect: recursion64(0x4000n, 0x7000n) },
  ],
};

stackTests([RECURSION_32, RECURSION_COMPAT, SMALL_STACK_CASE, RECURSION_64]);
