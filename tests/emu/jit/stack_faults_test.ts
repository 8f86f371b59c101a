/**
 * The block compiler's stack templates where they fault (tests/emu/jit/_stack.ts runs the cases):
 *
 * 4. RET beyond the CS limit (#GP) and to the limit itself; a 32-bit stack segment's limit, expand-up and
 *    expand-down, at CPL 3 (#SS);
 * 5. a 64-bit RET to a non-canonical address (#GP) or an unmapped one (#PF);
 * 6. 64-bit PUSH, POP, RET and CALL on a not-present stack page (#PF, the handlers on an IST stack) or with a
 *    non-canonical RSP (#SS).
 *
 * @module
 */
import type { Sregs } from "../../../mod.ts";
import { CODE } from "../../_support/sys.ts";
import { setPte } from "../../_support/long_mode.ts";
import { type Bits, type Case, type Expect, fill, HIGH, listing, type Phase, stackTests, START } from "./_stack.ts";

// 4. RET beyond the CS limit -------------------------------------------------------------------------------------

const RET_FAR32 = listing(`
  b9 03 00 00 00  mov ecx, 3  (+0x0)
.loop:
  e8 06 00 00 00  call f  (+0x5)
  49              dec ecx  (+0xa)
  75 f8           jnz .loop  (+0xb)
  56              push esi  (+0xd)
  eb 00           jmp f  (+0xe)
f:
  83 c0 01        add eax, 1  (+0x10)
  c3              ret  (+0x13)
`);

/** CS limited to 64 KiB (byte granular). */
const CS64K = (s: Sregs) => void (s.cs = { ...s.cs, limit: 0xffff, g: 0 });
/** The #GP(0) of {@linkcode RET_FAR32}'s last RET: at the RET, the return address still on the stack. */
const retFault32: Expect = {
  fault: { vector: 13, code: 0, rip: BigInt(CODE + 0x13), sp: 0x6ffcn },
  regs: { rcx: 0n, rbx: START[32].rbx, rdx: START[32].rdx },
};

/**
 * A case of {@linkcode RET_FAR32} or RET_FAR64 (`code`, of `bits`): both keep their stack below 0x7000 and compile
 * their PUSH, CALL and RETs.
 */
function retFar(name: string, bits: Bits, code: readonly string[], phases: Phase[]): Case {
  return { name, bits, code, windows: [[0x6f00, 0x7010]], compiled: ["push", "call", "ret"], phases };
}

const RET_LIMIT = retFar(
  "32-bit RET beyond the CS limit: #GP(0) at the RET, ESP unchanged; to the limit itself it goes",
  32,
  RET_FAR32,
  [
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
);

// 5. A 64-bit RET to a non-canonical address ---------------------------------------------------------------------

const RET_FAR64 = listing(`
  b9 03 00 00 00  mov ecx, 3  (+0x0)
.loop:
  e8 07 00 00 00  call f  (+0x5)
  ff c9           dec ecx  (+0xa)
  75 f7           jnz .loop  (+0xc)
  56              push rsi  (+0xe)
  eb 00           jmp f  (+0xf)
f:
  48 83 c0 01     add rax, 1  (+0x11)
  c3              ret  (+0x15)
there:
  f4              hlt  (+0x16)
`);

/** The #GP(0) of {@linkcode RET_FAR64}'s last RET. */
const retFault64: Expect = {
  fault: { vector: 13, code: 0, rip: 0x4015n, sp: 0x6ff8n },
  regs: { rcx: 0n, rbx: START[64].rbx },
};

const RET_CANONICAL = retFar("64-bit RET to a non-canonical address: #GP(0) at the RET, RSP unchanged", 64, RET_FAR64, [
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
]);

// 6. Faults on the 64-bit stack ----------------------------------------------------------------------------------

/** The not-present stack page. */
const ABSENT = 0xc000;
/** What the RETs find on the stack: the address of `done`. */
const DONE = 0x400bn;
const Q1 = 0x1111222233334444n, Q2 = 0x5555666677778888n;

const STACK_FAULTS = listing(`
pushes:
  50              push rax  (+0x0)
  53              push rbx  (+0x1)
  51              push rcx  (+0x2)
  f4              hlt  (+0x3)
pops:
  58              pop rax  (+0x4)
  5b              pop rbx  (+0x5)
  59              pop rcx  (+0x6)
  f4              hlt  (+0x7)
rets:
  58              pop rax  (+0x8)
  5b              pop rbx  (+0x9)
  c3              ret  (+0xa)
done:
  f4              hlt  (+0xb)
calls:
  50              push rax  (+0xc)
  e8 01 00 00 00  call f  (+0xd)
  f4              hlt  (+0x12)
f:
  f4              hlt  (+0x13)
`);

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
/** Where STACK_FAULTS's four sequences start. */
const PUSHES = 0, POPS = 4, RETS = 8, CALLS = 0xc;
/** A phase that runs STACK_FAULTS from `entry` with RSP = `rsp`, after writing `memory` (if any). */
function stackPhase(what: string, entry: number, rsp: bigint, expect: Expect, memory?: Phase["memory"]): Phase {
  return { what, ...(entry ? { entry } : {}), ...(memory ? { memory } : {}), regs: { rsp }, expect };
}

const STACK_FAULT_CASE: Case = {
  name: "64-bit PUSH, POP, RET and CALL on a not-present stack page (#PF) or a non-canonical RSP (#SS)",
  bits: 64,
  code: STACK_FAULTS,
  setup: (m) => setPte(m.mem, ABSENT, 0n),
  windows: [[0xbf00, 0xc000], [0xd000, 0xd100]],
  compiled: ["push", "pop", "call", "ret"],
  phases: [
    stackPhase("PUSH, PUSH, then a PUSH into the page below (#PF, W)", PUSHES, 0xd010n, {
      fault: pf(2, 0x4002, 0xd000n, 0xcff8),
      memory: [[0xd008, 8, s64.rax], [0xd000, 8, s64.rbx]],
    }),
    stackPhase("a PUSH at RSP = 0xd004: its lower half in the not-present page", PUSHES, 0xd004n, {
      fault: pf(2, 0x4000, 0xd004n, 0xcffc),
    }),
    {
      what: "a PUSH at RSP = 0xc004: its upper half in the not-present page",
      regs: { rsp: 0xc004n },
      // Nothing written: the lower half stays as it was.
      expect: { fault: pf(2, 0x4000, 0xc004n, 0xc000), memory: [[ABSENT - 4, 4, fill(ABSENT - 4, 4)]] },
      notOnKvmMemory: "this host's KVM (the kernel's instruction emulator, which runs CPL 0 code under kvm_pvm) " +
        "writes the lower half of a page-split PUSH before the #PF on the upper page; a faulting instruction " +
        "writes nothing",
    },
    stackPhase("three PUSHes, all present", PUSHES, 0xd018n, {
      rip: 0x4004n,
      regs: { rsp: 0xd000n },
      memory: [[0xd010, 8, s64.rax], [0xd008, 8, s64.rbx], [0xd000, 8, s64.rcx]],
    }),
    stackPhase("a PUSH with RSP = 0x0000800000000008 (non-canonical item): #SS(0)", PUSHES, 0x0000800000000008n, {
      fault: ss(0x4000, 0x0000800000000008n),
    }),
    stackPhase("POP, POP, then a POP from the not-present page (#PF, R)", POPS, BigInt(ABSENT - 16), {
      fault: pf(0, 0x4006, BigInt(ABSENT), ABSENT),
      regs: { rbx: DONE },
    }, BELOW_ABSENT),
    stackPhase("a POP at RSP = 0xbff4, then one across into the not-present page", POPS, BigInt(ABSENT - 12), {
      fault: pf(0, 0x4005, BigInt(ABSENT - 4), ABSENT),
    }, BELOW_ABSENT),
    stackPhase("a POP from the not-present page at RSP = 0xcff8", POPS, 0xcff8n, {
      fault: pf(0, 0x4004, 0xcff8n, 0xcff8),
    }),
    stackPhase("three POPs, all present", POPS, BigInt(ABSENT - 24), {
      rip: 0x4008n,
      regs: { rax: Q1, rbx: Q2, rcx: DONE, rsp: BigInt(ABSENT) },
    }, BELOW_ABSENT),
    stackPhase("a POP with RSP = 0xffff7ffffffffff8 (non-canonical): #SS(0)", POPS, 0xffff7ffffffffff8n, {
      fault: ss(0x4004, 0xffff7ffffffffff8n),
    }),
    stackPhase("POP, POP, then a RET reading the not-present page", RETS, BigInt(ABSENT - 16), {
      fault: pf(0, 0x400a, BigInt(ABSENT), ABSENT),
      regs: { rbx: DONE },
    }, BELOW_ABSENT),
    stackPhase("POP, POP, RET to `done`", RETS, BigInt(ABSENT - 24), {
      rip: DONE + 1n,
      regs: { rbx: Q2, rsp: BigInt(ABSENT) },
    }, BELOW_ABSENT),
    stackPhase("PUSH, then a CALL pushing into the not-present page", CALLS, 0xd008n, {
      fault: pf(2, 0x400d, 0xd000n, 0xcff8),
      memory: [[0xd000, 8, s64.rax]],
    }),
    stackPhase("PUSH, CALL, all present", CALLS, 0xd010n, {
      rip: 0x4014n,
      regs: { rsp: 0xd000n },
      memory: [[0xd008, 8, s64.rax], [0xd000, 8, 0x4012n]],
    }),
  ],
};

// 4b. A 32-bit stack segment's limits, at CPL 3 (a fault switches to the CPL 0 stack) -----------------------------

const LIMITED = listing(`
start:
  50              push eax  (+0x0)
  e8 02 00 00 00  call f  (+0x1)
  5b              pop ebx  (+0x6)
  f4              hlt  (+0x7)  (#GP at CPL 3: the end)
f:
  51              push ecx  (+0x8)
  5a              pop edx  (+0x9)
  c3              ret  (+0xa)
`);

/** SS with B = 1 and a limit: 0xffff expand-up (type 3), or 0x5fff expand-down (type 7: offsets above it). */
const limited = (down: boolean) => (s: Sregs) =>
  void (s.ss = { ...s.ss, type: down ? 7 : 3, limit: down ? 0x5fff : 0xffff, g: 0, db: 1 });
/** The #GP(0) of LIMITED's HLT at CPL 3, ESP back where it started. */
const limitedEnd = (sp: bigint): Expect => ({
  fault: { vector: 13, code: 0, rip: BigInt(CODE + 7), sp },
  regs: { rbx: START[32].rax, rdx: START[32].rcx },
});
const limitedFault = (rip: number, sp: bigint): Expect => ({ fault: { vector: 12, code: 0, rip: BigInt(rip), sp } });
/**
 * A phase with SS as {@linkcode limited}(`down`) makes it and ESP = `rsp`: it runs to LIMITED's end, or its
 * first PUSH faults with #SS(0).
 */
const limitedPhase = (down: boolean, rsp: bigint, ends: "end" | "#SS", what: string): Phase => ({
  what,
  sregs: limited(down),
  regs: { rsp },
  expect: ends === "end" ? limitedEnd(rsp) : limitedFault(CODE, rsp),
});

const STACK_LIMITS: Case = {
  name: "32-bit stack segment limits at CPL 3 (SS.B = 1): #SS(0) beyond them, expand-down too",
  bits: 32,
  cpl: 3,
  code: LIMITED,
  windows: [[0x5f00, 0x6010], [0x6f00, 0x7010], [0xff00, 0x10010]],
  compiled: ["push", "pop", "call", "ret"],
  phases: [
    limitedPhase(false, 0x7000n, "end", "limit 0xffff, ESP = 0x7000"),
    limitedPhase(false, 2n, "#SS", "limit 0xffff, ESP = 2: the PUSH wraps to 0xfffffffe, beyond the limit"),
    limitedPhase(false, 0x10000n, "end", "limit 0xffff, ESP = 0x10000: the PUSH at 0xfffc is inside"),
    limitedPhase(false, 0x10002n, "#SS", "limit 0xffff, ESP = 0x10002: the PUSH at 0xfffe crosses the limit"),
    limitedPhase(true, 0x7000n, "end", "expand-down above 0x5fff, ESP = 0x7000"),
    limitedPhase(true, 0x6002n, "#SS", "expand-down above 0x5fff, ESP = 0x6002: the PUSH at 0x5ffe is below"),
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

stackTests([RET_LIMIT, STACK_LIMITS, RET_CANONICAL, STACK_FAULT_CASE]);
