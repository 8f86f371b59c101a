/**
 * The block compiler's stack templates (emu/x86/jit/stack.ts: PUSH/POP reg,
 * CALL rel, RET) checked against the emulator's interpreter and, where
 * /dev/kvm opens, the kernel's KVM. Every case is a guest run once per
 * phase on each of `blockCompiler: "off"`, `"eager"` and KVM, one machine
 * per runner, so that the blocks compiled in one phase run again in the
 * next with another stack (the templates check at run time what they
 * assume: SS.B in 32-bit code, an 8-byte aligned item in 64-bit mode).
 * After each phase the 16 registers, RIP, the arithmetic flags and the
 * stack memory must agree, and so must the fault an IDT stub reports
 * (vector, error code, the faulting RIP and RSP from its frame, CR2):
 *
 * 1. recursion (call/ret/push/pop) with a 32-bit stack, also in
 *    compatibility mode; PUSH ESP and POP ESP;
 * 2. 32-bit code on a 16-bit stack segment (SP wraps at 64 KiB), run
 *    before and after the same blocks ran on a 32-bit stack;
 * 3. 64-bit recursion with RSP aligned, misaligned by 4 and by 1, in the
 *    upper canonical half; PUSH/POP of R8-R15, PUSH RSP, POP RSP;
 * 4. RET beyond the CS limit (#GP) and to the limit itself; a 32-bit stack
 *    segment's limit, expand-up and expand-down, at CPL 3 (#SS);
 * 5. a 64-bit RET to a non-canonical address (#GP) or an unmapped one (#PF);
 * 6. 64-bit PUSH, POP, RET and CALL on a not-present stack page (#PF, the
 *    handlers on an IST stack) or with a non-canonical RSP (#SS);
 * 7. 10000 calls across blocks from one return site (the RET's successor
 *    link, which the dispatcher keeps, is used: few block look-ups), from
 *    two sites alternately, to a return site the guest rewrites each time,
 *    to one whose page the guest remaps each time (INVLPG), and to the low
 *    and the high alias of one site alternately (same EIP);
 * 8. a PUSH that overwrites the next instruction of its own block.
 *
 * Guest code is written inline, one instruction per line beside its
 * assembly and its offset from the code's start.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../../../mod.ts";
import type { GuestMemory, Sregs, Vcpu, Vm } from "../../../mod.ts";
import type { Cpu } from "../../../emu/x86/cpu.ts";
import { skip, test } from "../../_support/harness.ts";
import { emuCpu, emuStats, GPR, kvmMissing, openEmu } from "./_jit.ts";
import { bench, CODE, collect, enter, hex, KSTACK } from "../../_support/sys.ts";
import { bench64, STUBS64 } from "../../_support/long64.ts";
import { CODE32_0, HIGH_ALIAS, LM_CODE, LM_PT, LM_STACK, setGate, setPte } from "../../_support/long_mode.ts";

type Bits = 32 | 64;

type Gpr = (typeof GPR)[number];

/** Arithmetic flags of RFLAGS. */
const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
const ARITH = CF | PF | AF | ZF | SF | OF;
/** RFLAGS at the start of every phase: CF, ZF and OF set (stack instructions keep them), IF clear. */
const START_FLAGS = 2n | BigInt(CF | ZF | OF);

/**
 * The registers at the start of every phase (before the phase's own): in 32-bit code EAX-EDI are 32-bit values
 * (the upper halves are undefined in 32-bit modes), R8-R15 64-bit ones that 32-bit code cannot touch.
 */
const START: Record<Bits, Record<Gpr, bigint>> = {
  32: Object.fromEntries(GPR.map((n, i) => [n, i < 8 ? 0x01010101n * BigInt(i + 1) : 0x0808080808080808n * BigInt(i)])),
  64: Object.fromEntries(GPR.map((n, i) => [n, 0x0101010101010101n * BigInt(i + 1) + 0x10n * BigInt(i)])),
} as Record<Bits, Record<Gpr, bigint>>;

const M32 = 0xffffffffn, M64 = (1n << 64n) - 1n;

/** Where each kind of machine has its code. */
const CODE_AT: Record<Bits, number> = { 32: CODE, 64: LM_CODE };

// ---------------------------------------------------------------------------------------------------------------
// Cases

/** What a phase must leave. */
interface Expect {
  /** Registers at the end (after a fault: the stub clobbered RAX and RSP). */
  regs?: Partial<Record<Gpr, bigint>>;
  /** RIP after the HLT that ended the phase (not for a fault). */
  rip?: bigint;
  /** The fault the IDT stub reported: the faulting RIP and RSP are read from its frame. */
  fault?: { vector: number; code: number; rip: bigint; sp: bigint; cr2?: bigint };
  /** The arithmetic flags at the end. */
  flags?: number;
  /** Memory (guest-physical address, size in bytes, value). */
  memory?: [number, number, bigint][];
}

/** One run of a case's guest from a given state. */
interface Phase {
  what: string;
  /** Where it starts: an offset from the code's address, or an absolute RIP (a bigint). */
  entry?: number | bigint;
  /** Registers set on top of {@linkcode START} (RSP defaults to the machine's stack). */
  regs?: Partial<Record<Gpr, bigint>>;
  /** Changes to the machine's segment registers for this phase. */
  sregs?: (s: Sregs) => void;
  /** Code the host writes before the phase: guest-physical address and instructions. */
  code?: [number, readonly string[]][];
  /** Memory written before the phase (after the windows are filled): address, size, value. */
  memory?: [number, number, bigint][];
  expect: Expect;
  /** Why KVM cannot serve as the oracle for the memory this phase leaves (the rest is compared). */
  notOnKvmMemory?: string;
  /** With "eager": at most this many look-ups of a block by address during the phase (the links are used). */
  maxLookups?: number;
}

/** A guest and its phases. */
interface Case {
  name: string;
  bits: Bits;
  /** The code at {@linkcode CODE_AT}. */
  code: readonly string[];
  /** More code: guest-physical address and instructions. */
  more?: [number, readonly string[]][];
  /** The 32-bit machine's CPL (default 0). */
  cpl?: 0 | 3;
  /** Changes to the machine before the first phase (page tables, more code). */
  setup?: (m: Machine) => void;
  /** Guest-physical ranges compared after each phase; filled with a pattern before each. */
  windows: [number, number][];
  /** Guest-physical ranges compared after each phase, not filled (code, page tables). */
  watch?: [number, number][];
  /** The starting registers' kind (default: `bits`): 32-bit values for 32-bit code on a 64-bit machine. */
  start?: Bits;
  /**
   * Instructions that compiled blocks must hold after the eager run; or "dropped": the guest rewrote its code, so
   * compiled blocks must have been dropped.
   */
  compiled: readonly ("push" | "pop" | "call" | "ret")[] | "dropped";
  phases: Phase[];
}

/** The sum of the 64-bit ADD that set the flags, and its flags. */
function add64(a: bigint, b: bigint): { sum: bigint; flags: number } {
  const sum = (a + b) & M64;
  let flags = a + b > M64 ? CF : 0;
  if (sum === 0n) flags |= ZF;
  if (sum >> 63n) flags |= SF;
  if (((a ^ sum) & (b ^ sum)) >> 63n) flags |= OF;
  if ((a ^ b ^ sum) & 0x10n) flags |= AF;
  let bits = Number(sum & 0xffn), ones = 0;
  for (; bits; bits >>= 1) ones += bits & 1;
  if (ones % 2 === 0) flags |= PF;
  return { sum, flags };
}

// 1. Recursion on a 32-bit stack ---------------------------------------------------------------------------------

/** fib(10) and sum(400) by recursion, then PUSH ESP / POP ESP; position-independent (the stack is absolute). */
const RECURSION32 = [
  // start:
  "b9 0a 00 00 00", // mov ecx, 10  (+0x0)
  "e8 17 00 00 00", // call fib  (+0x5)
  "89 c2", // mov edx, eax  (+0xa)
  "b9 90 01 00 00", // mov ecx, 400  (+0xc)
  "e8 28 00 00 00", // call sum  (+0x11)
  "54", // push esp  (+0x16)
  "5e", // pop esi  (+0x17)
  "68 00 6f 00 00", // push dword 0x6f00  (+0x18)
  "5c", // pop esp  (+0x1d)
  "54", // push esp  (+0x1e)
  "5f", // pop edi  (+0x1f)
  "f4", // hlt  (+0x20)
  // fib: ecx -> eax, keeps ecx and ebx
  "83 f9 02", // cmp ecx, 2  (+0x21)
  "72 15", // jb .small  (+0x24)
  "51", // push ecx  (+0x26)
  "53", // push ebx  (+0x27)
  "49", // dec ecx  (+0x28)
  "e8 f3 ff ff ff", // call fib  (+0x29)
  "89 c3", // mov ebx, eax  (+0x2e)
  "49", // dec ecx  (+0x30)
  "e8 eb ff ff ff", // call fib  (+0x31)
  "01 d8", // add eax, ebx  (+0x36)
  "5b", // pop ebx  (+0x38)
  "59", // pop ecx  (+0x39)
  "c3", // ret  (+0x3a)
  // .small:
  "89 c8", // mov eax, ecx  (+0x3b)
  "c3", // ret  (+0x3d)
  // sum: ecx -> eax = 1 + 2 + ... + ecx
  "85 c9", // test ecx, ecx  (+0x3e)
  "74 0b", // jz .zero  (+0x40)
  "51", // push ecx  (+0x42)
  "49", // dec ecx  (+0x43)
  "e8 f5 ff ff ff", // call sum  (+0x44)
  "59", // pop ecx  (+0x49)
  "01 c8", // add eax, ecx  (+0x4a)
  "c3", // ret  (+0x4c)
  // .zero:
  "31 c0", // xor eax, eax  (+0x4d)
  "c3", // ret  (+0x4f)
];

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

const SMALL_STACK = [
  // start:
  "66 50", // push ax  (+0x0)
  "66 53", // push bx  (+0x2)
  "51", // push ecx  (+0x4)
  "e8 08 00 00 00", // call f  (+0x5)
  "5a", // pop edx  (+0xa)
  "66 5e", // pop si  (+0xb)
  "66 5f", // pop di  (+0xd)
  "01 c8", // add eax, ecx  (+0xf)
  "f4", // hlt  (+0x11)
  // f:
  "50", // push eax  (+0x12)
  "53", // push ebx  (+0x13)
  "e8 03 00 00 00", // call g  (+0x14)
  "5b", // pop ebx  (+0x19)
  "58", // pop eax  (+0x1a)
  "c3", // ret  (+0x1b)
  // g:
  "51", // push ecx  (+0x1c)
  "5d", // pop ebp  (+0x1d)
  "c3", // ret  (+0x1e)
];

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

const RECURSION64 = [
  // start:
  "b9 0a 00 00 00", // mov ecx, 10  (+0x0)
  "e8 42 00 00 00", // call fib  (+0x5)
  "48 89 c2", // mov rdx, rax  (+0xa)
  "b9 2c 01 00 00", // mov ecx, 300  (+0xd)
  "e8 5a 00 00 00", // call sum  (+0x12)
  "41 50", // push r8  (+0x17)
  "41 51", // push r9  (+0x19)
  "41 52", // push r10  (+0x1b)
  "41 53", // push r11  (+0x1d)
  "41 54", // push r12  (+0x1f)
  "41 55", // push r13  (+0x21)
  "41 56", // push r14  (+0x23)
  "41 57", // push r15  (+0x25)
  "41 58", // pop r8  (+0x27)
  "41 59", // pop r9  (+0x29)
  "41 5a", // pop r10  (+0x2b)
  "41 5b", // pop r11  (+0x2d)
  "41 5c", // pop r12  (+0x2f)
  "41 5d", // pop r13  (+0x31)
  "41 5e", // pop r14  (+0x33)
  "41 5f", // pop r15  (+0x35)
  "66 50", // push ax  (+0x37)
  "53", // push rbx  (+0x39)
  "5b", // pop rbx  (+0x3a)
  "66 5b", // pop bx  (+0x3b)
  "54", // push rsp  (+0x3d)
  "5e", // pop rsi  (+0x3e)
  "48 8d ac 24 00 ff ff ff", // lea rbp, [rsp - 0x100]  (+0x3f)
  "55", // push rbp  (+0x47)
  "5c", // pop rsp  (+0x48)
  "54", // push rsp  (+0x49)
  "5f", // pop rdi  (+0x4a)
  "f4", // hlt  (+0x4b)
  // fib: rcx -> rax, keeps rcx and rbx
  "48 83 f9 02", // cmp rcx, 2  (+0x4c)
  "72 1b", // jb .small  (+0x50)
  "51", // push rcx  (+0x52)
  "53", // push rbx  (+0x53)
  "48 ff c9", // dec rcx  (+0x54)
  "e8 f0 ff ff ff", // call fib  (+0x57)
  "48 89 c3", // mov rbx, rax  (+0x5c)
  "48 ff c9", // dec rcx  (+0x5f)
  "e8 e5 ff ff ff", // call fib  (+0x62)
  "48 01 d8", // add rax, rbx  (+0x67)
  "5b", // pop rbx  (+0x6a)
  "59", // pop rcx  (+0x6b)
  "c3", // ret  (+0x6c)
  // .small:
  "48 89 c8", // mov rax, rcx  (+0x6d)
  "c3", // ret  (+0x70)
  // sum: rcx -> rax = (1 + r9) + (2 + r9) + ... + (rcx + r9)
  "48 85 c9", // test rcx, rcx  (+0x71)
  "74 11", // jz .zero  (+0x74)
  "51", // push rcx  (+0x76)
  "48 ff c9", // dec rcx  (+0x77)
  "e8 f2 ff ff ff", // call sum  (+0x7a)
  "59", // pop rcx  (+0x7f)
  "48 01 c8", // add rax, rcx  (+0x80)
  "4c 01 c8", // add rax, r9  (+0x83)
  "c3", // ret  (+0x86)
  // .zero:
  "31 c0", // xor eax, eax  (+0x87)
  "c3", // ret  (+0x89)
];

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

const HIGH = HIGH_ALIAS;
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

// 4. RET beyond the CS limit -------------------------------------------------------------------------------------

const RET_FAR32 = [
  "b9 03 00 00 00", // mov ecx, 3  (+0x0)
  // .loop:
  "e8 06 00 00 00", // call f  (+0x5)
  "49", // dec ecx  (+0xa)
  "75 f8", // jnz .loop  (+0xb)
  "56", // push esi  (+0xd)
  "eb 00", // jmp f  (+0xe)
  // f:
  "83 c0 01", // add eax, 1  (+0x10)
  "c3", // ret  (+0x13)
];

/** CS limited to 64 KiB (byte granular). */
const CS64K = (s: Sregs) => void (s.cs = { ...s.cs, limit: 0xffff, g: 0 });
/** The #GP(0) of {@linkcode RET_FAR32}'s last RET: at the RET, the return address still on the stack. */
const retFault32: Expect = {
  fault: { vector: 13, code: 0, rip: BigInt(CODE + 0x13), sp: 0x6ffcn },
  regs: { rcx: 0n, rbx: START[32].rbx, rdx: START[32].rdx },
};

const RET_LIMIT: Case = {
  name: "32-bit RET beyond the CS limit: #GP(0) at the RET, ESP unchanged; to the limit itself it goes",
  bits: 32,
  code: RET_FAR32,
  windows: [[0x6f00, 0x7010]],
  compiled: ["push", "call", "ret"],
  phases: [
    {
      what: "CS limit 0xffff, RET to 0xffff (a HLT there)",
      sregs: CS64K,
      code: [[0xffff, ["f4"]]],
      regs: { rsp: 0x7000n, rsi: 0xffffn },
      expect: { rip: 0x10000n, regs: { rax: START[32].rax + 4n, rsp: 0x7000n, rcx: 0n } },
    },
    { what: "CS limit 0xffff, RET to 0x10000", sregs: CS64K, regs: { rsi: 0x10000n }, expect: retFault32 },
    { what: "CS limit 0xffff, RET to 0xfffffffc", sregs: CS64K, regs: { rsi: 0xfffffffcn }, expect: retFault32 },
    {
      what: "CS limit 4 GiB, RET to 0x10000 (a HLT there)",
      code: [[0x10000, ["f4"]]],
      regs: { rsi: 0x10000n },
      expect: { rip: 0x10001n, regs: { rax: START[32].rax + 4n, rsp: 0x7000n } },
    },
    { what: "CS limit 0xffff again, RET to 0x10000", sregs: CS64K, regs: { rsi: 0x10000n }, expect: retFault32 },
  ],
};

// 5. A 64-bit RET to a non-canonical address ---------------------------------------------------------------------

const RET_FAR64 = [
  "b9 03 00 00 00", // mov ecx, 3  (+0x0)
  // .loop:
  "e8 07 00 00 00", // call f  (+0x5)
  "ff c9", // dec ecx  (+0xa)
  "75 f7", // jnz .loop  (+0xc)
  "56", // push rsi  (+0xe)
  "eb 00", // jmp f  (+0xf)
  // f:
  "48 83 c0 01", // add rax, 1  (+0x11)
  "c3", // ret  (+0x15)
  // there:
  "f4", // hlt  (+0x16)
];

/** The #GP(0) of {@linkcode RET_FAR64}'s last RET. */
const retFault64: Expect = {
  fault: { vector: 13, code: 0, rip: 0x4015n, sp: 0x6ff8n },
  regs: { rcx: 0n, rbx: START[64].rbx },
};

const RET_CANONICAL: Case = {
  name: "64-bit RET to a non-canonical address: #GP(0) at the RET, RSP unchanged",
  bits: 64,
  code: RET_FAR64,
  windows: [[0x6f00, 0x7010]],
  compiled: ["push", "call", "ret"],
  phases: [
    {
      what: "RET to the upper-half alias of `there`",
      regs: { rsp: 0x7000n, rsi: HIGH + 0x4016n },
      expect: { rip: HIGH + 0x4017n, regs: { rax: START[64].rax + 4n, rsp: 0x7000n } },
    },
    { what: "RET to 0x0000800000000000", regs: { rsi: 0x0000800000000000n }, expect: retFault64 },
    { what: "RET to 0xffff7fffffffffff", regs: { rsi: 0xffff7fffffffffffn }, expect: retFault64 },
    { what: "RET to 0x8000000000000000", regs: { rsi: 0x8000000000000000n }, expect: retFault64 },
    {
      what: "RET to 0x00007ffffffff000 (canonical, not mapped): #PF on the fetch there",
      regs: { rsi: 0x00007ffffffff000n },
      expect: { fault: { vector: 14, code: 0x10, rip: 0x7ffffffff000n, sp: 0x7000n, cr2: 0x7ffffffff000n } },
    },
    {
      what: "RET to `there`",
      regs: { rsi: 0x4016n },
      expect: { rip: 0x4017n, regs: { rax: START[64].rax + 4n, rsp: 0x7000n } },
    },
  ],
};

// 6. Faults on the 64-bit stack ----------------------------------------------------------------------------------

/** The not-present stack page. */
const ABSENT = 0xc000;
/** What the RETs find on the stack: the address of `done`. */
const DONE = 0x400bn;
const Q1 = 0x1111222233334444n, Q2 = 0x5555666677778888n;

const STACK_FAULTS = [
  // pushes:
  "50", // push rax  (+0x0)
  "53", // push rbx  (+0x1)
  "51", // push rcx  (+0x2)
  "f4", // hlt  (+0x3)
  // pops:
  "58", // pop rax  (+0x4)
  "5b", // pop rbx  (+0x5)
  "59", // pop rcx  (+0x6)
  "f4", // hlt  (+0x7)
  // rets:
  "58", // pop rax  (+0x8)
  "5b", // pop rbx  (+0x9)
  "c3", // ret  (+0xa)
  // done:
  "f4", // hlt  (+0xb)
  // calls:
  "50", // push rax  (+0xc)
  "e8 01 00 00 00", // call f  (+0xd)
  "f4", // hlt  (+0x12)
  // f:
  "f4", // hlt  (+0x13)
];

/** The three qwords below the not-present page: Q1, Q2, then the address of `done`. */
const BELOW_ABSENT: [number, number, bigint][] = [[ABSENT - 24, 8, Q1], [ABSENT - 16, 8, Q2], [ABSENT - 8, 8, DONE]];
const pf = (code: number, rip: number, sp: bigint, cr2: number): Expect["fault"] => ({
  vector: 14,
  code,
  rip: BigInt(rip),
  sp,
  cr2: BigInt(cr2),
});
const ss = (rip: number, sp: bigint): Expect["fault"] => ({ vector: 12, code: 0, rip: BigInt(rip), sp });
const s64 = START[64];

const STACK_FAULT_CASE: Case = {
  name: "64-bit PUSH, POP, RET and CALL on a not-present stack page (#PF) or a non-canonical RSP (#SS)",
  bits: 64,
  code: STACK_FAULTS,
  setup: (m) => setPte(m.mem, ABSENT, 0n),
  windows: [[0xbf00, 0xc000], [0xd000, 0xd100]],
  compiled: ["push", "pop", "call", "ret"],
  phases: [
    {
      what: "PUSH, PUSH, then a PUSH into the page below (#PF, W)",
      regs: { rsp: 0xd010n },
      expect: {
        fault: pf(2, 0x4002, 0xd000n, 0xcff8),
        memory: [[0xd008, 8, s64.rax], [0xd000, 8, s64.rbx]],
      },
    },
    {
      what: "a PUSH at RSP = 0xd004: its lower half in the not-present page",
      regs: { rsp: 0xd004n },
      expect: { fault: pf(2, 0x4000, 0xd004n, 0xcffc) },
    },
    {
      what: "a PUSH at RSP = 0xc004: its upper half in the not-present page",
      regs: { rsp: 0xc004n },
      // Nothing written: the lower half stays as it was.
      expect: { fault: pf(2, 0x4000, 0xc004n, 0xc000), memory: [[ABSENT - 4, 4, fill(ABSENT - 4, 4)]] },
      notOnKvmMemory: "this host's KVM (the kernel's instruction emulator, which runs CPL 0 code under kvm_pvm) " +
        "writes the lower half of a page-split PUSH before the #PF on the upper page; a faulting instruction " +
        "writes nothing",
    },
    {
      what: "three PUSHes, all present",
      regs: { rsp: 0xd018n },
      expect: {
        rip: 0x4004n,
        regs: { rsp: 0xd000n },
        memory: [[0xd010, 8, s64.rax], [0xd008, 8, s64.rbx], [0xd000, 8, s64.rcx]],
      },
    },
    {
      what: "a PUSH with RSP = 0x0000800000000008 (non-canonical item): #SS(0)",
      regs: { rsp: 0x0000800000000008n },
      expect: { fault: ss(0x4000, 0x0000800000000008n) },
    },
    {
      what: "POP, POP, then a POP from the not-present page (#PF, R)",
      entry: 4,
      memory: BELOW_ABSENT,
      regs: { rsp: BigInt(ABSENT - 16) },
      expect: { fault: pf(0, 0x4006, BigInt(ABSENT), ABSENT), regs: { rbx: DONE } },
    },
    {
      what: "a POP at RSP = 0xbff4, then one across into the not-present page",
      entry: 4,
      memory: BELOW_ABSENT,
      regs: { rsp: BigInt(ABSENT - 12) },
      expect: { fault: pf(0, 0x4005, BigInt(ABSENT - 4), ABSENT) },
    },
    {
      what: "a POP from the not-present page at RSP = 0xcff8",
      entry: 4,
      regs: { rsp: 0xcff8n },
      expect: { fault: pf(0, 0x4004, 0xcff8n, 0xcff8) },
    },
    {
      what: "three POPs, all present",
      entry: 4,
      memory: BELOW_ABSENT,
      regs: { rsp: BigInt(ABSENT - 24) },
      expect: { rip: 0x4008n, regs: { rax: Q1, rbx: Q2, rcx: DONE, rsp: BigInt(ABSENT) } },
    },
    {
      what: "a POP with RSP = 0xffff7ffffffffff8 (non-canonical): #SS(0)",
      entry: 4,
      regs: { rsp: 0xffff7ffffffffff8n },
      expect: { fault: ss(0x4004, 0xffff7ffffffffff8n) },
    },
    {
      what: "POP, POP, then a RET reading the not-present page",
      entry: 8,
      memory: BELOW_ABSENT,
      regs: { rsp: BigInt(ABSENT - 16) },
      expect: { fault: pf(0, 0x400a, BigInt(ABSENT), ABSENT), regs: { rbx: DONE } },
    },
    {
      what: "POP, POP, RET to `done`",
      entry: 8,
      memory: BELOW_ABSENT,
      regs: { rsp: BigInt(ABSENT - 24) },
      expect: { rip: DONE + 1n, regs: { rbx: Q2, rsp: BigInt(ABSENT) } },
    },
    {
      what: "PUSH, then a CALL pushing into the not-present page",
      entry: 0xc,
      regs: { rsp: 0xd008n },
      expect: { fault: pf(2, 0x400d, 0xd000n, 0xcff8), memory: [[0xd000, 8, s64.rax]] },
    },
    {
      what: "PUSH, CALL, all present",
      entry: 0xc,
      regs: { rsp: 0xd010n },
      expect: { rip: 0x4014n, regs: { rsp: 0xd000n }, memory: [[0xd008, 8, s64.rax], [0xd000, 8, 0x4012n]] },
    },
  ],
};

// 7. Calls across blocks: the RET's cached successor --------------------------------------------------------------

const CALLS32 = [
  // start:
  "b9 10 27 00 00", // mov ecx, 10000  (+0x0)
  // .loop:
  "e8 f6 2f 00 00", // call 0x4000 (f)  (+0x5)
  "83 c3 02", // add ebx, 2  (+0xa)
  "49", // dec ecx  (+0xd)
  "75 f5", // jnz .loop  (+0xe)
  "f4", // hlt  (+0x10)
  // alt:
  "b9 10 27 00 00", // mov ecx, 10000  (+0x11)
  // .alt:
  "f6 c1 01", // test cl, 1  (+0x16)
  "74 0a", // jz .even  (+0x19)
  "e8 e0 2f 00 00", // call 0x4000 (f)  (+0x1b)
  "83 c3 01", // add ebx, 1  (+0x20)
  "eb 08", // jmp .next  (+0x23)
  // .even:
  "e8 d6 2f 00 00", // call 0x4000 (f)  (+0x25)
  "83 c2 01", // add edx, 1  (+0x2a)
  // .next:
  "49", // dec ecx  (+0x2d)
  "75 e6", // jnz .alt  (+0x2e)
  "f4", // hlt  (+0x30)
  // smc:
  "b9 c8 00 00 00", // mov ecx, 200  (+0x31)
  // smc_loop:
  "e8 d5 2f 00 00", // call 0x4010 (g)  (+0x36)
  // site:
  "81 c6 78 56 34 12", // add esi, 0x12345678  (+0x3b)
  "49", // dec ecx  (+0x41)
  "75 f2", // jnz smc_loop  (+0x42)
  "f4", // hlt  (+0x44)
];

/** The callees, in a page of their own: a RET's block survives the rewriting of the page it returns to. */
const CALLEES32: [number, readonly string[]][] = [
  [0x4000, [
    // f:
    "51", // push ecx
    "01 c8", // add eax, ecx
    "59", // pop ecx
    "c3", // ret
  ]],
  [0x4010, [
    // g: the return site's immediate := ecx
    "89 0d 3d 10 00 00", // mov [site + 2], ecx
    "c3", // ret
  ]],
];

const CALLS64 = [
  // start:
  "b9 10 27 00 00", // mov ecx, 10000  (+0x0)
  // .loop:
  "e8 f6 0f 00 00", // call 0x5000 (f)  (+0x5)
  "48 83 c3 02", // add rbx, 2  (+0xa)
  "48 ff c9", // dec rcx  (+0xe)
  "75 f2", // jnz .loop  (+0x11)
  "f4", // hlt  (+0x13)
  // alt:
  "b9 10 27 00 00", // mov ecx, 10000  (+0x14)
  // .alt:
  "f6 c1 01", // test cl, 1  (+0x19)
  "74 0b", // jz .even  (+0x1c)
  "e8 dd 0f 00 00", // call 0x5000 (f)  (+0x1e)
  "48 83 c3 01", // add rbx, 1  (+0x23)
  "eb 09", // jmp .next  (+0x27)
  // .even:
  "e8 d2 0f 00 00", // call 0x5000 (f)  (+0x29)
  "48 83 c2 01", // add rdx, 1  (+0x2e)
  // .next:
  "48 ff c9", // dec rcx  (+0x32)
  "75 e2", // jnz .alt  (+0x35)
  "f4", // hlt  (+0x37)
  // smc:
  "b9 c8 00 00 00", // mov ecx, 200  (+0x38)
  // smc_loop:
  "e8 ce 0f 00 00", // call 0x5010 (g)  (+0x3d)
  // site:
  "48 81 c6 78 56 34 12", // add rsi, 0x12345678  (+0x42)
  "48 ff c9", // dec rcx  (+0x49)
  "75 ef", // jnz smc_loop  (+0x4c)
  "f4", // hlt  (+0x4e)
  // flip: 1000 times: remap linear 0x20000 (physical 0x21000 <-> 0x22000), INVLPG, jump there
  "b9 e8 03 00 00", // mov ecx, 1000  (+0x4f)
  // flip_loop:
  "48 8b 04 25 00 31 01 00", // mov rax, [0x13100]  (+0x54)  (the PTE of linear 0x20000)
  "48 35 00 30 00 00", // xor rax, 0x3000  (+0x5c)
  "48 89 04 25 00 31 01 00", // mov [0x13100], rax  (+0x62)
  "0f 01 3c 25 00 00 02 00", // invlpg [0x20000]  (+0x6a)
  "b8 00 00 02 00", // mov eax, 0x20000  (+0x72)
  "ff e0", // jmp rax  (+0x77)
  // back:
  "48 ff c9", // dec rcx  (+0x79)
  "75 d6", // jnz flip_loop  (+0x7c)
  "f4", // hlt  (+0x7e)
  // halves: 2000 calls of [rdi], from this code's low and high aliases alternately (r8 = the distance)
  "b9 d0 07 00 00", // mov ecx, 2000  (+0x7f)
  // halves_loop:
  "ff d7", // call rdi  (+0x84)
  "48 8d 05 f9 ff ff ff", // lea rax, [rel $]  (+0x86)
  "48 c1 e8 3f", // shr rax, 63  (+0x8d)
  "48 01 c2", // add rdx, rax  (+0x91)  (counts the returns to the high alias)
  "48 ff c9", // dec rcx  (+0x94)
  "74 0c", // jz halves_done  (+0x97)
  "48 8d 05 e4 ff ff ff", // lea rax, [rel halves_loop]  (+0x99)
  "4c 31 c0", // xor rax, r8  (+0xa0)
  "ff e0", // jmp rax  (+0xa3)
  // halves_done:
  "f4", // hlt  (+0xa5)
];

/** The callees, in a page of their own. */
const CALLEES64: [number, readonly string[]][] = [
  [0x5000, [
    // f:
    "51", // push rcx
    "48 01 c8", // add rax, rcx
    "59", // pop rcx
    "c3", // ret
  ]],
  [0x5010, [
    // g: the return site's immediate := ecx
    "89 0c 25 45 40 00 00", // mov [site + 3], ecx
    "c3", // ret
  ]],
  [0x5020, [
    // h:
    "51", // push rcx
    "48 01 ce", // add rsi, rcx
    "59", // pop rcx
    "c3", // ret
  ]],
];

/** Linear 0x20000 as the physical page 0x21000 maps it: call h, then count in RBX. */
const FLIP_A = [
  "e8 1b 50 fe ff", // call 0x5020 (h)  (0x20000)
  "48 ff c3", // inc rbx  (0x20005)
  "e9 6c 40 fe ff", // jmp 0x4079 (back)  (0x20008)
];
/** ... and as the physical page 0x22000 maps it: the same, counting in RDX. */
const FLIP_B = [
  "e8 1b 50 fe ff", // call 0x5020 (h)  (0x20000)
  "48 ff c2", // inc rdx  (0x20005)
  "e9 6c 40 fe ff", // jmp 0x4079 (back)  (0x20008)
];
/** The PTE of linear 0x20000, which the guest flips between the physical pages 0x21000 and 0x22000. */
const FLIP_PTE = LM_PT + 8 * 0x20;

/** 1 + 2 + ... + n. */
const tri = (n: number) => BigInt(n * (n + 1) / 2);
/** At most this many block look-ups for 10000 calls and returns: the blocks' links and the RET's cache are used. */
const LOOKUPS = 1000;

const CALLS_32: Case = {
  name: "32-bit CALL and RET across blocks, 10000 times: one return site, two alternately, a rewritten one",
  bits: 32,
  code: CALLS32,
  more: CALLEES32,
  windows: [[0x6f00, 0x7010]],
  compiled: ["push", "pop", "call", "ret"],
  phases: [
    {
      what: "10000 calls from one site",
      regs: { rsp: 0x7000n, rax: 0n, rbx: 0n },
      maxLookups: LOOKUPS,
      expect: { rip: BigInt(CODE + 0x11), flags: ZF | PF, regs: { rax: tri(10000), rbx: 20000n, rcx: 0n } },
    },
    {
      what: "10000 calls from two sites alternately",
      entry: 0x11,
      regs: { rax: 0n, rbx: 0n, rdx: 0n },
      expect: { rip: BigInt(CODE + 0x31), flags: ZF | PF, regs: { rax: tri(10000), rbx: 5000n, rdx: 5000n } },
    },
    {
      what: "200 calls whose return site's immediate the callee rewrites",
      entry: 0x31,
      regs: { rsi: 0n },
      expect: { rip: BigInt(CODE + 0x45), flags: ZF | PF, regs: { rsi: tri(200), rcx: 0n } },
    },
    {
      what: "10000 calls from one site again",
      regs: { rax: 0n, rbx: 0n },
      maxLookups: LOOKUPS,
      expect: { rip: BigInt(CODE + 0x11), regs: { rax: tri(10000), rbx: 20000n } },
    },
  ],
};

const CALLS_64: Case = {
  name: "64-bit CALL and RET across blocks, 10000 times: one return site, two alternately, rewritten, remapped",
  bits: 64,
  code: CALLS64,
  more: CALLEES64,
  setup: (m) => {
    m.mem.bytes.set(hex(FLIP_A.join("")), 0x21000);
    m.mem.bytes.set(hex(FLIP_B.join("")), 0x22000);
    m.view.setBigUint64(FLIP_PTE, 0x22000n | 7n, true);
  },
  windows: [[0x6f00, 0x7010]],
  watch: [[FLIP_PTE, FLIP_PTE + 8]],
  compiled: ["push", "pop", "call", "ret"],
  phases: [
    {
      what: "10000 calls from one site",
      regs: { rsp: 0x7000n, rax: 0n, rbx: 0n },
      maxLookups: LOOKUPS,
      expect: { rip: 0x4014n, flags: ZF | PF, regs: { rax: tri(10000), rbx: 20000n, rcx: 0n } },
    },
    {
      what: "10000 calls from two sites alternately",
      entry: 0x14,
      regs: { rax: 0n, rbx: 0n, rdx: 0n },
      expect: { rip: 0x4038n, flags: ZF | PF, regs: { rax: tri(10000), rbx: 5000n, rdx: 5000n } },
    },
    {
      what: "200 calls whose return site's immediate the callee rewrites",
      entry: 0x38,
      regs: { rsi: 0n },
      expect: { rip: 0x404fn, flags: ZF | PF, regs: { rsi: tri(200), rcx: 0n } },
    },
    {
      what: "1000 calls returning to linear 0x20005, whose page the guest remaps each time (INVLPG)",
      entry: 0x4f,
      regs: { rsi: 0n, rbx: 0n, rdx: 0n },
      expect: {
        rip: 0x407fn,
        flags: ZF | PF,
        regs: { rsi: tri(1000), rbx: 500n, rdx: 500n },
        memory: [[FLIP_PTE, 8, 0x22027n]], // physical 0x22000, P W U A
      },
    },
    {
      what: "2000 calls returning alternately to the low and the high alias of one site (same EIP)",
      entry: 0x7f,
      regs: { rdi: 0x5000n, r8: HIGH, rdx: 0n },
      expect: { rip: HIGH + 0x40a6n, flags: ZF | PF, regs: { rdx: 1000n, rcx: 0n } },
    },
    {
      what: "10000 calls from one site again",
      regs: { rax: 0n, rbx: 0n },
      maxLookups: LOOKUPS,
      expect: { rip: 0x4014n, regs: { rax: tri(10000), rbx: 20000n } },
    },
  ],
};

// 4b. A 32-bit stack segment's limits, at CPL 3 (a fault switches to the CPL 0 stack) -----------------------------

const LIMITED = [
  // start:
  "50", // push eax  (+0x0)
  "e8 02 00 00 00", // call f  (+0x1)
  "5b", // pop ebx  (+0x6)
  "f4", // hlt  (+0x7)  (#GP at CPL 3: the end)
  // f:
  "51", // push ecx  (+0x8)
  "5a", // pop edx  (+0x9)
  "c3", // ret  (+0xa)
];

/** SS with B = 1 and a limit: 0xffff expand-up (type 3), or 0x5fff expand-down (type 7: offsets above it). */
const limited = (down: boolean) => (s: Sregs) =>
  void (s.ss = { ...s.ss, type: down ? 7 : 3, limit: down ? 0x5fff : 0xffff, g: 0, db: 1 });
/** The #GP(0) of LIMITED's HLT at CPL 3, ESP back where it started. */
const limitedEnd = (sp: bigint): Expect => ({
  fault: { vector: 13, code: 0, rip: BigInt(CODE + 7), sp },
  regs: { rbx: START[32].rax, rdx: START[32].rcx },
});
const limitedFault = (rip: number, sp: bigint): Expect => ({ fault: { vector: 12, code: 0, rip: BigInt(rip), sp } });

const STACK_LIMITS: Case = {
  name: "32-bit stack segment limits at CPL 3 (SS.B = 1): #SS(0) beyond them, expand-down too",
  bits: 32,
  cpl: 3,
  code: LIMITED,
  windows: [[0x5f00, 0x6010], [0x6f00, 0x7010], [0xff00, 0x10010]],
  compiled: ["push", "pop", "call", "ret"],
  phases: [
    { what: "limit 0xffff, ESP = 0x7000", sregs: limited(false), regs: { rsp: 0x7000n }, expect: limitedEnd(0x7000n) },
    {
      what: "limit 0xffff, ESP = 2: the PUSH wraps to 0xfffffffe, beyond the limit",
      sregs: limited(false),
      regs: { rsp: 2n },
      expect: limitedFault(CODE, 2n),
    },
    {
      what: "limit 0xffff, ESP = 0x10000: the PUSH at 0xfffc is inside",
      sregs: limited(false),
      regs: { rsp: 0x10000n },
      expect: limitedEnd(0x10000n),
    },
    {
      what: "limit 0xffff, ESP = 0x10002: the PUSH at 0xfffe crosses the limit",
      sregs: limited(false),
      regs: { rsp: 0x10002n },
      expect: limitedFault(CODE, 0x10002n),
    },
    {
      what: "expand-down above 0x5fff, ESP = 0x7000",
      sregs: limited(true),
      regs: { rsp: 0x7000n },
      expect: limitedEnd(0x7000n),
    },
    {
      what: "expand-down above 0x5fff, ESP = 0x6002: the PUSH at 0x5ffe is below",
      sregs: limited(true),
      regs: { rsp: 0x6002n },
      expect: limitedFault(CODE, 0x6002n),
    },
    {
      what: "expand-down above 0x5fff, ESP = 0x6008: PUSH, CALL, then the callee's PUSH at 0x5ffc",
      sregs: limited(true),
      regs: { rsp: 0x6008n },
      expect: {
        ...limitedFault(CODE + 8, 0x6000n),
        memory: [[0x6004, 4, START[32].rax], [0x6000, 4, BigInt(CODE + 6)]],
      },
    },
    { what: "flat again, ESP = 0x7000", regs: { rsp: 0x7000n }, expect: limitedEnd(0x7000n) },
  ],
};

// 8. A PUSH that rewrites the next instruction of its block ------------------------------------------------------

const PATCH32 = [
  "bc 11 10 00 00", // mov esp, patch + 4  (+0x0)
  "b8 43 43 43 90", // mov eax, 0x90434343  (+0x5)  (inc ebx; inc ebx; inc ebx; nop)
  "31 db", // xor ebx, ebx  (+0xa)
  "50", // push eax  (+0xc)
  // patch:
  "83 c3 01", // add ebx, 1  (+0xd)
  "90", // nop  (+0x10)
  "bc 00 70 00 00", // mov esp, 0x7000  (+0x11)
  "f4", // hlt  (+0x16)
];

/** `nops` NOPs, then a PUSH RAX whose item overwrites the next 8 bytes (aligned after 6 NOPs, not after 3). */
function patch64(nops: number): string[] {
  const patch = 0x4000 + nops + 18;
  return [
    ...Array<string>(nops).fill("90"), // nop
    `bc ${hex32(patch + 8)}`, // mov esp, patch + 8
    "48 b8 ff c3 ff c3 ff c3 90 90", // mov rax, 0x9090c3ffc3ffc3ff  (inc ebx; inc ebx; inc ebx; nop; nop)
    "31 db", // xor ebx, ebx
    "50", // push rax
    // patch:
    "48 83 c3 01", // add rbx, 1
    "90 90 90 90", // nop; nop; nop; nop
    "bc 00 70 00 00", // mov esp, 0x7000
    "f4", // hlt
  ];
}

/** `v` as 4 little-endian bytes in hex. */
function hex32(v: number): string {
  return [0, 8, 16, 24].map((s) => ((v >>> s) & 0xff).toString(16).padStart(2, "0")).join(" ");
}

const PATCH_32: Case = {
  name: "32-bit PUSH overwriting the next instruction of its own block",
  bits: 32,
  code: PATCH32,
  windows: [],
  watch: [[0x1000, 0x1020]],
  compiled: "dropped",
  phases: [{
    what: "push eax over `add ebx, 1; nop`",
    regs: { rsp: 0x7000n },
    expect: { rip: BigInt(CODE + 0x17), flags: PF, regs: { rbx: 3n, rsp: 0x7000n } },
  }],
};

const PATCH_64: Case = {
  name: "64-bit PUSH overwriting the next instruction of its own block",
  bits: 64,
  code: [],
  windows: [],
  watch: [[0x4000, 0x4030]],
  compiled: "dropped",
  phases: [
    {
      what: "an aligned push rax over `add rbx, 1; nop x4`",
      code: [[LM_CODE, patch64(6)]],
      expect: { rip: 0x4026n, flags: PF, regs: { rbx: 3n, rsp: 0x7000n } },
    },
    {
      what: "a misaligned push rax over `add rbx, 1; nop x4`",
      code: [[LM_CODE, patch64(3)]],
      expect: { rip: 0x4023n, flags: PF, regs: { rbx: 3n, rsp: 0x7000n } },
    },
  ],
};

const CASES: Case[] = [
  RECURSION_32,
  RECURSION_COMPAT,
  SMALL_STACK_CASE,
  RECURSION_64,
  RET_LIMIT,
  STACK_LIMITS,
  RET_CANONICAL,
  STACK_FAULT_CASE,
  CALLS_32,
  CALLS_64,
  PATCH_32,
  PATCH_64,
];

// ---------------------------------------------------------------------------------------------------------------
// Running cases

/** A VM with the reporting IDT stubs of _support/sys.ts (32-bit) or _support/long64.ts (64-bit). */
interface Machine extends Disposable {
  vm: Vm;
  mem: GuestMemory;
  vcpu: Vcpu;
  view: DataView;
}

/**
 * A machine of `bits` on `kvm`: flat 32-bit protected mode at `cpl` (paging off; a fault at CPL 3 switches to the
 * CPL 0 stack), or 64-bit mode at CPL 0 with #SS and #PF delivered on the IST1 stack (a fault on a bad stack must
 * not push its frame there).
 */
function machine(kvm: Kvm, bits: Bits, cpl: 0 | 3 = 0): Machine {
  if (bits === 32) {
    const b = bench(kvm);
    enter(b, { cpl });
    return b;
  }
  const m = bench64(kvm, "");
  for (const v of [12, 14]) setGate(m.mem, v, BigInt(STUBS64 + 16 * v), { ist: 1 });
  const view = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset, m.mem.bytes.byteLength);
  return { vm: m.vm, mem: m.mem, vcpu: m.vcpu, view, [Symbol.dispose]: () => m[Symbol.dispose]() };
}

/** What a phase left, as text for readable diffs. */
interface Outcome {
  exit: string;
  /** The values written to port 0xe9 (a fault's report). */
  out: string[];
  regs: Record<Gpr, string>;
  rip: string;
  flags: string;
  /** The reported fault: vector, error code, RIP and RSP from the frame, CR2. */
  fault?: { vector: number; code: number; rip: string; sp: string; cr2: string };
  /** The windows' bytes. */
  memory: string[];
}

const hx = (v: bigint | number) => `0x${v.toString(16)}`;

/** The pattern the windows are filled with before each phase: the `size` bytes at `at`. */
function fill(at: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(((at + i) * 7 + 0x5a) & 0xff);
  return v;
}

/** Reads `size` bytes at guest-physical `at`. */
function peek(v: DataView, at: number, size: number): bigint {
  if (size === 8) return v.getBigUint64(at, true);
  return BigInt(size === 4 ? v.getUint32(at, true) : size === 2 ? v.getUint16(at, true) : v.getUint8(at));
}

/** Writes `size` bytes at guest-physical `at`. */
function poke(v: DataView, at: number, size: number, x: bigint): void {
  if (size === 8) v.setBigUint64(at, x, true);
  else if (size === 4) v.setUint32(at, Number(x), true);
  else if (size === 2) v.setUint16(at, Number(x), true);
  else v.setUint8(at, Number(x));
}

/** Runs phase `p` of `c` on `m` from the segment registers `base`. */
function runPhase(m: Machine, c: Case, p: Phase, base: Sregs): Outcome {
  const sregs = structuredClone(base);
  p.sregs?.(sregs);
  m.vcpu.setSregs(sregs);
  for (const [from, to] of c.windows) {
    for (let a = from; a < to; a++) m.mem.bytes[a] = Number(fill(a, 1));
  }
  for (const [at, size, value] of p.memory ?? []) poke(m.view, at, size, value);
  // The code as the case has it (the guest may have rewritten it in an earlier phase), then the phase's own.
  m.mem.bytes.set(hex(c.code.join("")), CODE_AT[c.bits]);
  for (const [at, code] of [...c.more ?? [], ...p.code ?? []]) m.mem.bytes.set(hex(code.join("")), at);
  const regs = m.vcpu.getRegs();
  const start = { ...START[c.start ?? c.bits], rsp: BigInt(c.bits === 32 ? KSTACK : LM_STACK), ...p.regs };
  for (const n of GPR) regs[n] = start[n];
  const entry = p.entry ?? 0;
  regs.rip = typeof entry === "bigint" ? entry : BigInt(CODE_AT[c.bits] + entry);
  regs.rflags = START_FLAGS;
  m.vcpu.setRegs(regs);

  const { out, exit } = collect(m.vcpu);
  const after = m.vcpu.getRegs();
  const o: Outcome = {
    exit: exit.reason === "hlt" ? "hlt" : JSON.stringify(exit, (_, v) => typeof v === "bigint" ? hx(v) : v),
    out: out.map(hx),
    regs: Object.fromEntries(GPR.map((n) => [n, hx(after[n])])) as Record<Gpr, string>,
    rip: hx(after.rip),
    flags: hx(Number(after.rflags) & ARITH),
    memory: [...c.windows, ...c.watch ?? []].map(([from, to]) =>
      [...m.mem.bytes.subarray(from, to)].map((b) => b.toString(16).padStart(2, "0")).join("")
    ),
  };
  if (out.length === 4) {
    // The stub popped the vector and the error code: RSP points at the frame's EIP/RIP (the stacks are identity
    // mapped). A 32-bit frame is EIP, CS, EFLAGS, then ESP from CPL 3, else ESP was above it; a 64-bit one holds RSP.
    const sp = Number(after.rsp), user = (out[3] & 3) !== 0;
    o.fault = {
      vector: out[0],
      code: out[1],
      rip: hx(c.bits === 32 ? peek(m.view, sp, 4) : peek(m.view, sp, 8)),
      sp: hx(c.bits === 64 ? peek(m.view, sp + 24, 8) : user ? peek(m.view, sp + 12, 4) : after.rsp + 12n),
      cr2: hx(m.vcpu.getSregs().cr2),
    };
  }
  return o;
}

/** The block look-ups (`byAddress.get`) of the emulator vCPU `cpu` while `fn` runs. */
function countLookups<T>(cpu: Cpu, fn: () => T): [T, number] {
  const map = cpu.blocks.byAddress as unknown as { get: (k: number) => unknown };
  assert.equal(typeof map.get, "function", "the block cache is a map");
  const get = map.get;
  let n = 0;
  map.get = function (this: unknown, k: number) {
    n++;
    return get.call(this, k);
  };
  try {
    return [fn(), n];
  } finally {
    delete (map as { get?: unknown }).get;
  }
}

/** Stack instructions by kind: which opcodes a compiled block must hold. */
const KINDS: Record<"push" | "pop" | "call" | "ret", (op: number) => boolean> = {
  push: (op) => op >= 0x50 && op <= 0x57,
  pop: (op) => op >= 0x58 && op <= 0x5f,
  call: (op) => op === 0xe8,
  ret: (op) => op === 0xc3,
};

/** The outcomes of `c`'s phases on `kvm`; with "eager", checks what was compiled (into `problems`). */
function play(kvm: Kvm, c: Case, runner: string, problems: string[]): Outcome[] {
  using m = machine(kvm, c.bits, c.cpl);
  c.setup?.(m);
  const base = m.vcpu.getSregs();
  const outcomes = c.phases.map((p) => {
    if (runner !== "eager" || p.maxLookups === undefined) return runPhase(m, c, p, base);
    const [o, n] = countLookups(emuCpu(m.vm, m.mem).cpu, () => runPhase(m, c, p, base));
    if (n > p.maxLookups) {
      problems.push(`${p.what} [eager]: ${n} block look-ups (at most ${p.maxLookups}): the links are not used`);
    }
    return o;
  });
  if (runner === "eager") {
    const stats = emuStats(m.vm, m.mem);
    if (!(stats.compiled > 0 && stats.executed > 0)) {
      problems.push(`eager: nothing ran compiled: ${JSON.stringify(stats)}`);
    }
    const ops = [...emuCpu(m.vm, m.mem).cpu.blocks.byAddress.values()].flatMap((b) => b.insns.map((d) => d.op));
    if (c.compiled === "dropped") {
      if (stats.invalidated === 0) problems.push(`eager: no compiled block was dropped: ${JSON.stringify(stats)}`);
    } else {
      for (const kind of c.compiled) {
        if (!ops.some(KINDS[kind])) problems.push(`eager: no compiled block holds a ${kind}`);
      }
    }
  }
  return outcomes;
}

/** The `size` bytes at guest-physical `at` as recorded in `o`, from the windows `windows`, or undefined. */
function recorded(o: Outcome, c: Case, at: number, size: number): bigint | undefined {
  const windows = [...c.windows, ...c.watch ?? []];
  const i = windows.findIndex(([from, to]) => at >= from && at + size <= to);
  if (i < 0) return undefined;
  const bytes = o.memory[i].slice(2 * (at - windows[i][0]), 2 * (at - windows[i][0] + size));
  return BigInt(`0x${bytes.match(/../g)!.reverse().join("")}`);
}

/** Where `o` differs from what `p` of `c` expects (`memory`: also in the memory it left). */
function unexpected(c: Case, p: Phase, o: Outcome, memory: boolean): string[] {
  const e = p.expect, bad: string[] = [];
  const want = (what: string, got: string | number, expected: string | number) => {
    if (got !== expected) bad.push(`${what}: expected ${expected}, got ${got}`);
  };
  want("exit", o.exit, "hlt");
  if (e.fault) {
    const f = o.fault;
    if (!f) bad.push(`expected a fault (vector ${e.fault.vector}), got none (out: ${o.out.join(" ")})`);
    else {
      want("vector", f.vector, e.fault.vector);
      want("error code", hx(f.code), hx(e.fault.code));
      want("faulting RIP", f.rip, hx(e.fault.rip));
      want("RSP at the fault", f.sp, hx(e.fault.sp));
      if (e.fault.cr2 !== undefined) want("CR2", f.cr2, hx(e.fault.cr2));
    }
  } else {
    want("values out", o.out.join(" "), "");
    if (e.rip !== undefined) want("rip", o.rip, hx(e.rip));
  }
  for (const [n, v] of Object.entries(e.regs ?? {})) want(n, o.regs[n as Gpr], hx(v));
  if (e.flags !== undefined) want("arithmetic flags", o.flags, hx(e.flags));
  for (const [at, size, value] of memory ? e.memory ?? [] : []) {
    const got = recorded(o, c, at, size);
    want(`memory at ${hx(at)}`, got === undefined ? "outside the windows" : hx(got), hx(value));
  }
  return bad;
}

/** The fields in which `a` and `b` differ (`memory`: also the memory windows). */
function differences(a: Outcome, b: Outcome, memory: boolean): string[] {
  const d: string[] = [];
  if (a.exit !== b.exit) d.push(`exit ${a.exit} / ${b.exit}`);
  if (a.out.join() !== b.out.join()) d.push(`out ${a.out.join(" ")} / ${b.out.join(" ")}`);
  for (const n of GPR) if (a.regs[n] !== b.regs[n]) d.push(`${n} ${a.regs[n]} / ${b.regs[n]}`);
  if (a.rip !== b.rip) d.push(`rip ${a.rip} / ${b.rip}`);
  if (a.flags !== b.flags) d.push(`flags ${a.flags} / ${b.flags}`);
  if (JSON.stringify(a.fault) !== JSON.stringify(b.fault)) {
    d.push(`fault ${JSON.stringify(a.fault)} / ${JSON.stringify(b.fault)}`);
  }
  a.memory.forEach((m, i) => {
    if (memory && m !== b.memory[i]) {
      let k = 0;
      while (m[k] === b.memory[i][k]) k++;
      d.push(`memory window ${i} from byte ${k >> 1}: ${m.slice(k, k + 32)}... / ${b.memory[i].slice(k, k + 32)}...`);
    }
  });
  return d;
}

for (const c of CASES) {
  const name = `block compiler stack templates: ${c.name}: eager = off (= kvm)`;
  const missing = kvmMissing();
  if (missing !== undefined) skip(`${name}: the comparison with kvm`, missing);
  else {
    for (const p of c.phases) {
      if (p.notOnKvmMemory) skip(`${name}: ${p.what}: the memory compared with kvm`, p.notOnKvmMemory);
    }
  }
  test(name, () => {
    const problems: string[] = [];
    const runs: [string, Outcome[]][] = [];
    for (const mode of ["off", "eager"] as const) {
      using kvm = openEmu(mode);
      runs.push([mode, play(kvm, c, mode, problems)]);
    }
    if (missing === undefined) {
      using kvm = Kvm.open({ backend: "kvm" });
      runs.push(["kvm", play(kvm, c, "kvm", problems)]);
    }
    c.phases.forEach((p, i) => {
      const off = runs[0][1][i];
      for (const [runner, outcomes] of runs) {
        const o = outcomes[i];
        const memory = runner !== "kvm" || p.notOnKvmMemory === undefined;
        const bad = unexpected(c, p, o, memory);
        if (runner !== "off") bad.push(...differences(off, o, memory).map((d) => `vs off: ${d}`));
        if (bad.length) {
          const { memory: _, ...shown } = o;
          problems.push(`${p.what} [${runner}]:\n    ${bad.join("\n    ")}\n    outcome: ${JSON.stringify(shown)}`);
        }
      }
    });
    assert.equal(problems.length, 0, `${c.name}:\n  ${problems.join("\n  ")}`);
  });
}
