/**
 * The block compiler's stack templates across blocks (tests/emu/jit/_stack.ts runs the cases):
 *
 * 7. 10000 calls across blocks from one return site (the RET's successor link, which the dispatcher keeps, is
 *    used: few block look-ups), from two sites alternately, to a return site the guest rewrites each time, to one
 *    whose page the guest remaps each time (INVLPG), and to the low and the high alias of one site alternately
 *    (same EIP);
 * 8. a PUSH that overwrites the next instruction of its own block.
 *
 * @module
 */
import { CODE, hex } from "../../_support/sys.ts";
import { LM_CODE, LM_PT } from "../../_support/long_mode.ts";
import { type Case, HIGH, listing, PF, stackTests, ZF } from "./_stack.ts";

// 7. Calls across blocks: the RET's cached successor --------------------------------------------------------------

const CALLS32 = listing(`
start:
  b9 10 27 00 00     mov ecx, 10000  (+0x0)
.loop:
  e8 f6 2f 00 00     call 0x4000 (f)  (+0x5)
  83 c3 02           add ebx, 2  (+0xa)
  49                 dec ecx  (+0xd)
  75 f5              jnz .loop  (+0xe)
  f4                 hlt  (+0x10)
alt:
  b9 10 27 00 00     mov ecx, 10000  (+0x11)
.alt:
  f6 c1 01           test cl, 1  (+0x16)
  74 0a              jz .even  (+0x19)
  e8 e0 2f 00 00     call 0x4000 (f)  (+0x1b)
  83 c3 01           add ebx, 1  (+0x20)
  eb 08              jmp .next  (+0x23)
.even:
  e8 d6 2f 00 00     call 0x4000 (f)  (+0x25)
  83 c2 01           add edx, 1  (+0x2a)
.next:
  49                 dec ecx  (+0x2d)
  75 e6              jnz .alt  (+0x2e)
  f4                 hlt  (+0x30)
smc:
  b9 c8 00 00 00     mov ecx, 200  (+0x31)
smc_loop:
  e8 d5 2f 00 00     call 0x4010 (g)  (+0x36)
site:
  81 c6 78 56 34 12  add esi, 0x12345678  (+0x3b)
  49                 dec ecx  (+0x41)
  75 f2              jnz smc_loop  (+0x42)
  f4                 hlt  (+0x44)
`);

/** The callees, in a page of their own: a RET's block survives the rewriting of the page it returns to. */
const CALLEES32: [number, readonly string[]][] = [
  [
    0x4000,
    listing(`
  f:
    51     push ecx
    01 c8  add eax, ecx
    59     pop ecx
    c3     ret
  `),
  ],
  [
    0x4010,
    listing(`
  g: the return site's immediate := ecx
    89 0d 3d 10 00 00  mov [site + 2], ecx
    c3                 ret
  `),
  ],
];

const CALLS64 = listing(`
start:
  b9 10 27 00 00           mov ecx, 10000  (+0x0)
.loop:
  e8 f6 0f 00 00           call 0x5000 (f)  (+0x5)
  48 83 c3 02              add rbx, 2  (+0xa)
  48 ff c9                 dec rcx  (+0xe)
  75 f2                    jnz .loop  (+0x11)
  f4                       hlt  (+0x13)
alt:
  b9 10 27 00 00           mov ecx, 10000  (+0x14)
.alt:
  f6 c1 01                 test cl, 1  (+0x19)
  74 0b                    jz .even  (+0x1c)
  e8 dd 0f 00 00           call 0x5000 (f)  (+0x1e)
  48 83 c3 01              add rbx, 1  (+0x23)
  eb 09                    jmp .next  (+0x27)
.even:
  e8 d2 0f 00 00           call 0x5000 (f)  (+0x29)
  48 83 c2 01              add rdx, 1  (+0x2e)
.next:
  48 ff c9                 dec rcx  (+0x32)
  75 e2                    jnz .alt  (+0x35)
  f4                       hlt  (+0x37)
smc:
  b9 c8 00 00 00           mov ecx, 200  (+0x38)
smc_loop:
  e8 ce 0f 00 00           call 0x5010 (g)  (+0x3d)
site:
  48 81 c6 78 56 34 12     add rsi, 0x12345678  (+0x42)
  48 ff c9                 dec rcx  (+0x49)
  75 ef                    jnz smc_loop  (+0x4c)
  f4                       hlt  (+0x4e)
flip: 1000 times: remap linear 0x20000 (physical 0x21000 <-> 0x22000), INVLPG, jump there
  b9 e8 03 00 00           mov ecx, 1000  (+0x4f)
flip_loop:
  48 8b 04 25 00 31 01 00  mov rax, [0x13100]  (+0x54)  (the PTE of linear 0x20000)
  48 35 00 30 00 00        xor rax, 0x3000  (+0x5c)
  48 89 04 25 00 31 01 00  mov [0x13100], rax  (+0x62)
  0f 01 3c 25 00 00 02 00  invlpg [0x20000]  (+0x6a)
  b8 00 00 02 00           mov eax, 0x20000  (+0x72)
  ff e0                    jmp rax  (+0x77)
back:
  48 ff c9                 dec rcx  (+0x79)
  75 d6                    jnz flip_loop  (+0x7c)
  f4                       hlt  (+0x7e)
halves: 2000 calls of [rdi], from this code's low and high aliases alternately (r8 = the distance)
  b9 d0 07 00 00           mov ecx, 2000  (+0x7f)
halves_loop:
  ff d7                    call rdi  (+0x84)
  48 8d 05 f9 ff ff ff     lea rax, [rel $]  (+0x86)
  48 c1 e8 3f              shr rax, 63  (+0x8d)
  48 01 c2                 add rdx, rax  (+0x91)  (counts the returns to the high alias)
  48 ff c9                 dec rcx  (+0x94)
  74 0c                    jz halves_done  (+0x97)
  48 8d 05 e4 ff ff ff     lea rax, [rel halves_loop]  (+0x99)
  4c 31 c0                 xor rax, r8  (+0xa0)
  ff e0                    jmp rax  (+0xa3)
halves_done:
  f4                       hlt  (+0xa5)
`);

/** The callees, in a page of their own. */
const CALLEES64: [number, readonly string[]][] = [
  [
    0x5000,
    listing(`
  f:
    51        push rcx
    48 01 c8  add rax, rcx
    59        pop rcx
    c3        ret
  `),
  ],
  [
    0x5010,
    listing(`
  g: the return site's immediate := ecx
    89 0c 25 45 40 00 00  mov [site + 3], ecx
    c3                    ret
  `),
  ],
  [
    0x5020,
    listing(`
  h:
    51        push rcx
    48 01 ce  add rsi, rcx
    59        pop rcx
    c3        ret
  `),
  ],
];

/** Linear 0x20000 as the physical page 0x21000 maps it: call h, then count in RBX. */
const FLIP_A = listing(`
  e8 1b 50 fe ff  call 0x5020 (h)  (0x20000)
  48 ff c3        inc rbx  (0x20005)
  e9 6c 40 fe ff  jmp 0x4079 (back)  (0x20008)
`);
/** ... and as the physical page 0x22000 maps it: the same, counting in RDX. */
const FLIP_B = listing(`
  e8 1b 50 fe ff  call 0x5020 (h)  (0x20000)
  48 ff c2        inc rdx  (0x20005)
  e9 6c 40 fe ff  jmp 0x4079 (back)  (0x20008)
`);
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

// 8. A PUSH that rewrites the next instruction of its block ------------------------------------------------------

const PATCH32 = listing(`
  bc 11 10 00 00  mov esp, patch + 4  (+0x0)
  b8 43 43 43 90  mov eax, 0x90434343  (+0x5)  (inc ebx; inc ebx; inc ebx; nop)
  31 db           xor ebx, ebx  (+0xa)
  50              push eax  (+0xc)
patch:
  83 c3 01        add ebx, 1  (+0xd)
  90              nop  (+0x10)
  bc 00 70 00 00  mov esp, 0x7000  (+0x11)
  f4              hlt  (+0x16)
`);

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

stackTests([CALLS_32, CALLS_64, PATCH_32, PATCH_64]);
