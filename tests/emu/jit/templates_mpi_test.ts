/**
 * The block compiler's templates of the kernel's multi-precision loops (lib/crypto/mpi, the RSA signature check of a
 * Linux boot; bench/guests/mpi.asm): MUL and IMUL r/m32 and r/m64 into rDX:rAX (F7 /4, /5), IMUL r64, r/m64 of
 * operands below 2^32 (inline, without ops/limbs.ts mul64), the ALU operations and INC/DEC on a memory destination
 * (read-modify-write), and SETcc to and MOVZX from a low byte register (SIL, DIL, R8B...), which a looping block now
 * keeps in its locals with the rest of its register. Seeded random loops, each run three times (so the compiled block
 * loops inside its function), with `blockCompiler: "eager"` and `"off"` on both personalities (AMD keeps SF, ZF, AF
 * and PF across a multiply; Intel sets SF and PF from rAX and clears ZF and AF), in 64- and 32-bit mode: the 16
 * registers, RIP, the arithmetic flags and the data area must agree. Then their memory operands where they fault:
 * a not-present page (#PF: W/R set for a read-modify-write, clear for a multiply's read; CR2; nothing written by the
 * faulting instruction, what came before it kept) and a data segment's limit (#GP), eager = off, with the fault the
 * IDT stub reports.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Prng } from "../../../diff/prng.ts";
import { test } from "../../_support/harness.ts";
import { CODE } from "../../_support/sys.ts";
import { LM_CODE, setPte } from "../../_support/long_mode.ts";
import { ARITH, type Bits, differences, le32, openEmu, report, runner } from "./_jit.ts";
import { LoopGenerator, modrm } from "./_loops.ts";
import {
  type Case,
  differences as outcomeDifferences,
  type Expect,
  listing,
  type Outcome,
  type Phase,
  play,
  START,
  unexpected,
} from "./_stack.ts";

const EDGES = [
  0n,
  1n,
  (1n << 64n) - 1n,
  1n << 63n,
  (1n << 63n) - 1n,
  1n << 32n,
  (1n << 32n) - 1n,
  (1n << 32n) + 1n,
  0x80000000n,
  0x7fffffffn,
  0xffffffff80000000n,
];

/** Byte registers a low byte (SETcc's destination, MOVZX's source) may be: with a REX prefix in 64-bit mode. */
const LOW64 = [0, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15], BYTE32 = [0, 2, 3, 4, 6, 7];

/** A generator of loops of one mode: multiplies, memory destinations, byte registers between ALU operations. */
class Generator extends LoopGenerator {
  constructor(r: Prng, bits: Bits) {
    super(r, bits, EDGES);
  }

  step(): void {
    const r = this.r, long = this.bits === 64;
    const kind = r.weighted<string>([
      ["alu", 3],
      ["mul", 4],
      ["imul", long ? 3 : 0],
      ["narrow", long ? 2 : 1],
      ["rmw", 6],
      ["byte", 3],
      ["jcc", 2],
      ["probe", 4],
    ]);
    const w = long && r.chance(1, 2);
    switch (kind) {
      case "alu":
        return this.alu(w);
      case "mul": {
        const k = r.pick([4, 5]);
        return this.emit(`${k === 4 ? "mul" : "imul"} r/m${w ? 64 : 32}`, w, [0xf7], k, this.src());
      }
      case "imul":
        return this.emit("imul r64, r/m64", true, [0x0f, 0xaf], this.reg(), this.src());
      case "narrow": {
        // A register's upper half cleared (MOV r32, r32), as the kernel's umul_ppmm splits its limbs.
        const n = this.reg();
        return this.emit("mov r32, r32", false, [0x89], n, n);
      }
      case "rmw":
        return this.rmw(w);
      case "byte":
        return this.byte();
      case "probe":
        return this.probe();
      default:
        return this.jccSkip();
    }
  }

  /** An ALU operation (not CMP) or INC/DEC on memory, of 8, 16, 32 or 64 (`w`) bits. */
  private rmw(w: boolean): void {
    const r = this.r;
    const size = w ? 8 : r.pick([1, 2, 4, 4]);
    const pre = size === 2 ? [0x66] : [];
    const byte = size === 1 ? 0 : 1;
    const form = r.below(5);
    const k = r.pick([0, 1, 2, 3, 4, 5, 6]);
    if (form === 0) {
      const reg = size === 1 ? r.pick(this.bits === 64 ? [0, 2, 3] : BYTE32) : this.reg();
      return this.emit(`alu/${k} m${size * 8}, reg`, w, [(k << 3) | byte], reg, "mem", [], pre);
    }
    if (form === 1) {
      return this.emit(`alu/${k} m${size * 8}, imm8`, w, [0x80 | (byte ? 3 : 0)], k, "mem", [
        r.below(256),
      ], pre);
    }
    if (form === 2 && size !== 1) {
      const imm = size === 2 ? [r.below(256), r.below(256)] : le32(r.u32());
      return this.emit(`alu/${k} m${size * 8}, imm`, w, [0x81], k, "mem", imm, pre);
    }
    return this.emit(`${form & 1 ? "dec" : "inc"} m${size * 8}`, w, [0xfe | byte], form & 1, "mem", [], pre);
  }

  /** SETcc to a byte register, or MOVZX r32, r8 from one (64-bit mode: with a REX prefix). */
  private byte(): void {
    const r = this.r, long = this.bits === 64;
    const n = r.pick(long ? LOW64 : BYTE32);
    const rexB = long ? [0x40 | (n >> 3)] : [];
    if (r.chance(1, 2)) {
      const cc = r.below(16);
      this.ops.push({ bytes: [...rexB, 0x0f, 0x90 | cc, modrm(3, 0, n)], asm: `set${cc.toString(16)} r8(${n})` });
      return;
    }
    const d = this.reg();
    const prefix = long ? [0x40 | ((d >> 3) << 2) | (n >> 3)] : [];
    this.ops.push({ bytes: [...prefix, 0x0f, 0xb6, modrm(3, d, n)], asm: `movzx r32(${d}), r8(${n})` });
  }
}

for (const bits of [64, 32] as const) {
  for (const vendor of ["amd", "intel"] as const) {
    test(`templates (mpi): random ${bits}-bit loops agree compiled (eager) and interpreted (${vendor})`, () => {
      using kvmEager = openEmu("eager", vendor);
      using kvmOff = openEmu("off", vendor);
      using eager = runner("eager", kvmEager, bits);
      using off = runner("off", kvmOff, bits);
      const r = new Prng(bits * 11 + (vendor === "amd" ? 3 : 4));
      for (let i = 0; i < 600; i++) {
        const p = new Generator(r, bits).program(2 + r.below(8));
        const a = eager.run(p), b = off.run(p);
        const diff = differences(a, b, ARITH);
        assert.equal(a.exit, "hlt", report(p, `program ${i}`, [["eager", a], ["off", b]]));
        assert.deepEqual(diff, [], report(p, `program ${i}: ${diff.join(", ")}`, [["eager", a], ["off", b]]));
      }
      assert.ok(eager.stats().compiled > 0, "the eager runner compiled no block");
    });
  }
}

// Faults ----------------------------------------------------------------------------------------------------------

/** The not-present page (64-bit) and the data below it. */
const ABSENT = 0xc000;

/**
 * A loop over [RSI]: ADD, ADC, SUB, ADD, INC on memory of 32, 64, 8, 16 and 64 bits, then MUL r/m32 and IMUL r/m64 of
 * the qwords above them, three times; then HLT.
 */
const RMW64 = listing(`
  b9 03 00 00 00  mov ecx, 3  (+0x0)
.loop:
  01 06           add [rsi], eax  (+0x5)
  48 11 5e 08     adc [rsi+8], rbx  (+0x7)
  80 6e 10 05     sub byte [rsi+16], 5  (+0xb)
  66 83 46 12 07  add word [rsi+18], 7  (+0xf)
  48 ff 46 18     inc qword [rsi+24]  (+0x14)
  f7 66 20        mul dword [rsi+32]  (+0x18)
  48 f7 6e 28     imul qword [rsi+40]  (+0x1b)
  ff c9           dec ecx  (+0x1f)
  75 e2           jnz .loop  (+0x21)
  f4              hlt  (+0x23)
`);

/** The same in 32-bit code (ADC and INC of 32 bits, IMUL r/m32). */
const RMW32 = listing(`
  b9 03 00 00 00  mov ecx, 3  (+0x0)
.loop:
  01 06           add [esi], eax  (+0x5)
  11 5e 08        adc [esi+8], ebx  (+0x7)
  80 6e 10 05     sub byte [esi+16], 5  (+0xa)
  66 83 46 12 07  add word [esi+18], 7  (+0xe)
  ff 46 18        inc dword [esi+24]  (+0x13)
  f7 66 20        mul dword [esi+32]  (+0x16)
  f7 6e 28        imul dword [esi+40]  (+0x19)
  49              dec ecx  (+0x1c)
  75 e6           jnz .loop  (+0x1d)
  f4              hlt  (+0x1f)
`);

/** A #PF at offset `at` of RMW64's code: error code `code`, CR2 `cr2`, RSP as it started. */
function pf(code: number, at: number, cr2: number): Expect {
  return { fault: { vector: 14, code, rip: BigInt(LM_CODE + at), sp: 0x7000n, cr2: BigInt(cr2) } };
}

/** A #GP(0) at offset `at` of RMW32's code, ESP as it started. */
function gp(at: number): Expect {
  return { fault: { vector: 13, code: 0, rip: BigInt(CODE + at), sp: 0x7000n } };
}

const RMW_FAULTS_64: Case = {
  name: "64-bit read-modify-writes and multiplies from memory on a not-present page (#PF)",
  bits: 64,
  code: RMW64,
  setup: (m) => setPte(m.mem, ABSENT, 0n),
  windows: [[0xbf00, 0xc000]],
  compiled: [],
  phases: [
    { what: "all present: three passes", regs: { rsi: 0xbf00n }, expect: { rip: BigInt(LM_CODE + 0x24) } },
    { what: "ADD to the not-present page (#PF, W)", regs: { rsi: BigInt(ABSENT) }, expect: pf(2, 0x5, ABSENT) },
    {
      what: "SUB byte to the not-present page after ADD and ADC below it (#PF, W)",
      regs: { rsi: BigInt(ABSENT - 16) },
      expect: pf(2, 0xb, ABSENT),
    },
    {
      what: "INC qword to the not-present page (#PF, W)",
      regs: { rsi: BigInt(ABSENT - 24) },
      expect: pf(2, 0x14, ABSENT),
    },
    {
      what: "MUL dword from the not-present page (#PF, R), RDX unchanged (the stub clobbers RAX)",
      regs: { rsi: BigInt(ABSENT - 32) },
      expect: { ...pf(0, 0x18, ABSENT), regs: { rdx: START[64].rdx } },
    },
    {
      what: "IMUL qword from the not-present page (#PF, R)",
      regs: { rsi: BigInt(ABSENT - 40) },
      expect: pf(0, 0x1b, ABSENT),
    },
    {
      what: "an ADD of a dword across into the not-present page (#PF, W): nothing written",
      regs: { rsi: BigInt(ABSENT - 2) },
      expect: pf(2, 0x5, ABSENT),
    },
    {
      what: "an INC of a qword across into the not-present page (#PF, W) after the rest below it",
      regs: { rsi: BigInt(ABSENT - 28) },
      expect: pf(2, 0x14, ABSENT),
    },
    { what: "all present again", regs: { rsi: 0xbf80n }, expect: { rip: BigInt(LM_CODE + 0x24) } },
  ],
};

/** DS limited to `limit` (byte granular). */
const dsLimit = (limit: number): Phase["sregs"] => (s) => void (s.ds = { ...s.ds, limit, g: 0 });

const RMW_FAULTS_32: Case = {
  name: "32-bit read-modify-writes and multiplies from memory beyond DS's limit (#GP)",
  bits: 32,
  code: RMW32,
  windows: [[0x9f00, 0xa000]],
  compiled: [],
  phases: [
    { what: "inside the limit: three passes", regs: { rsi: 0x9f00n }, expect: { rip: BigInt(CODE + 0x20) } },
    {
      what: "DS limit 0x9fff: ADC of a dword at 0x9ffd (#GP(0)), the ADD below it done",
      sregs: dsLimit(0x9fff),
      regs: { rsi: 0x9ff5n },
      expect: gp(0x7),
    },
    {
      what: "DS limit 0x9fff: MUL of a dword at 0x9ffe (#GP(0)), EDX unchanged",
      sregs: dsLimit(0x9fff),
      regs: { rsi: 0x9fden },
      expect: { ...gp(0x16), regs: { rdx: START[32].rdx } },
    },
    {
      what: "DS limit 0x9fff: INC of a dword at 0x9ffd (#GP(0))",
      sregs: dsLimit(0x9fff),
      regs: { rsi: 0x9fe5n },
      expect: gp(0x13),
    },
    { what: "flat DS again: three passes", regs: { rsi: 0x9f80n }, expect: { rip: BigInt(CODE + 0x20) } },
  ],
};

for (const c of [RMW_FAULTS_64, RMW_FAULTS_32]) {
  test(`templates (mpi): ${c.name}: eager = off`, () => {
    const problems: string[] = [];
    const runs: [string, Outcome[]][] = [];
    for (const mode of ["off", "eager"] as const) {
      using kvm = openEmu(mode);
      runs.push([mode, play(kvm, c, mode, problems)]);
    }
    c.phases.forEach((p, i) => {
      const off = runs[0][1][i];
      for (const [name, outcomes] of runs) {
        const o = outcomes[i];
        const bad = unexpected(c, p, o, true);
        if (name !== "off") bad.push(...outcomeDifferences(off, o, true).map((d) => `vs off: ${d}`));
        if (bad.length) problems.push(`${p.what} [${name}]:\n    ${bad.join("\n    ")}`);
      }
    });
    assert.equal(problems.length, 0, `${c.name}:\n  ${problems.join("\n  ")}`);
  });
}
