/**
 * The block compiler's templates of the forms a Linux boot ran most through calls of their semantic functions
 * (templates.ts): MOVSXD r64, r/m32; SETcc to a byte register or memory; NOT and NEG of a 32- or 64-bit register; ADC
 * and SBB of 64 bits (register, memory source, immediate), their carry from the flags the block keeps in locals; the
 * NOPs (0F 1F, 90, and 90's other forms: PAUSE, XCHG R8, RAX); and CLI and RDTSCP, which blocks now hold. Seeded
 * random loops, each run three times (so the compiled block loops inside its function), with `blockCompiler:
 * "eager"` and `"off"` on both personalities, in 64- and 32-bit mode: the 16 registers, RIP, the arithmetic flags and
 * IF, and the data area must agree. A last test checks that a loop around RDTSCP and CLI runs in compiled blocks.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Prng } from "../../../diff/prng.ts";
import { test } from "../../_support/harness.ts";
import { KSTACK } from "../../_support/sys.ts";
import { LM_STACK } from "../../_support/long_mode.ts";
import { ARITH, type Bits, differences, GPR, le32, openEmu, type Program, report, runner } from "./_jit.ts";
import { IF, LoopGenerator, modrm, RCX, RSP } from "./_loops.ts";

/** Byte registers SETcc writes: not CH (5 without REX) nor SPL/SIL (4, 6 with one). */
const BYTE64 = [0, 2, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15], BYTE32 = [0, 2, 3, 7];
const EDGES = [0n, 1n, (1n << 64n) - 1n, 1n << 63n, (1n << 63n) - 1n, 1n << 32n, (1n << 32n) - 1n, 0x80000000n];

/** A generator of loops of one mode: the kernel's forms between ALU operations, IF set or clear at the start. */
class Generator extends LoopGenerator {
  constructor(r: Prng, bits: Bits) {
    super(r, bits, EDGES);
  }

  protected override rflags(): bigint {
    return super.rflags() | (this.r.chance(1, 2) ? BigInt(IF) : 0n);
  }

  step(): void {
    const r = this.r, long = this.bits === 64;
    const kind = r.weighted<string>([
      ["alu", 4],
      ["adc", long ? 6 : 2],
      ["movsxd", long ? 3 : 0],
      ["setcc", 5],
      ["notNeg", 4],
      ["nop", 2],
      ["cli", 1],
      ["jcc", 2],
      ["probe", 3],
    ]);
    const w = long && r.chance(2, 3);
    switch (kind) {
      case "alu":
        return this.alu(w);
      case "adc": {
        // ADC or SBB (the carry from the flags before): r/m, reg; reg, r/m; rAX, imm32; r/m, imm8; r/m, imm32.
        const k = r.pick([2, 3]), form = r.below(5), name = k === 2 ? "adc" : "sbb";
        if (form === 0) return this.emit(`${name} r/m, reg`, w, [(k << 3) | 1], this.reg(), this.reg());
        if (form === 1) return this.emit(`${name} reg, r/m`, w, [(k << 3) | 3], this.reg(), this.src());
        if (form === 2) {
          return void this.ops.push({
            bytes: [...(w ? [0x48] : []), (k << 3) | 5, ...le32(r.u32())],
            asm: `${name} rax, imm32`,
          });
        }
        if (form === 3) return this.emit(`${name} r/m, imm8`, w, [0x83], k, this.reg(), [r.below(256)]);
        return this.emit(`${name} r/m, imm32`, w, [0x81], k, this.reg(), le32(r.u32()));
      }
      case "movsxd":
        return this.emit("movsxd r64, r/m32", true, [0x63], this.reg(), this.src());
      case "setcc": {
        const cc = r.below(16);
        return this.emit(
          `set${cc.toString(16)} r/m8`,
          false,
          [0x0f, 0x90 | cc],
          0,
          r.chance(1, 3) ? "mem" : r.pick(long ? BYTE64 : BYTE32),
        );
      }
      case "notNeg": {
        const k = r.pick([2, 3]), dst = r.chance(1, 6) ? "mem" as const : this.reg();
        return this.emit(k === 2 ? "not" : "neg", w, [0xf7], k, dst);
      }
      case "nop": {
        const form = r.below(long ? 5 : 4);
        if (form === 0) return this.emit("nop r/m", false, [0x0f, 0x1f], 0, this.src());
        if (form === 1) return void this.ops.push({ bytes: [0x90], asm: "nop" });
        if (form === 2) return void this.ops.push({ bytes: [0x66, 0x90], asm: "xchg ax, ax" });
        if (form === 3) return void this.ops.push({ bytes: [0xf3, 0x90], asm: "pause" });
        return void this.ops.push({ bytes: [0x41, 0x90], asm: "xchg r8d, eax" });
      }
      case "cli":
        return void this.ops.push({ bytes: [0xfa], asm: "cli" });
      case "probe":
        return this.probe();
      default:
        return this.jccSkip();
    }
  }
}

for (const bits of [64, 32] as const) {
  for (const vendor of ["amd", "intel"] as const) {
    test(`templates_kernel: random ${bits}-bit loops agree compiled (eager) and interpreted (${vendor})`, () => {
      using kvmEager = openEmu("eager", vendor);
      using kvmOff = openEmu("off", vendor);
      using eager = runner("eager", kvmEager, bits);
      using off = runner("off", kvmOff, bits);
      const r = new Prng(bits * 11 + (vendor === "amd" ? 3 : 4));
      for (let i = 0; i < (bits === 64 ? 700 : 250); i++) {
        const p = new Generator(r, bits).program(2 + r.below(8));
        const a = eager.run(p), b = off.run(p);
        const diff = differences(a, b, ARITH | IF);
        assert.equal(a.exit, "hlt", report(p, `program ${i}`, [["eager", a], ["off", b]]));
        assert.deepEqual(diff, [], report(p, `program ${i}: ${diff.join(", ")}`, [["eager", a], ["off", b]]));
      }
      assert.ok(eager.stats().compiled > 0, "the eager runner compiled no block");
    });
  }
}

test("templates_kernel: a loop of RDTSCP and CLI runs in compiled blocks, ECX = TSC_AUX", () => {
  using kvm = openEmu("eager", "amd");
  using run = runner("eager", kvm, 64);
  // push rcx; rdtscp; mov ebx, ecx; pop rcx; cli; dec ecx; jnz start; hlt
  const body = [0x51, 0x0f, 0x01, 0xf9, 0x89, 0xcb, 0x59, 0xfa];
  const back = [0xff, 0xc9, 0x75, (-(body.length + 4)) & 0xff, 0xf4];
  const regs = GPR.map(() => 0n);
  const loops = 1000;
  [regs[1], regs[3], regs[RSP]] = [BigInt(loops), 0x1234n, BigInt(LM_STACK)];
  const p: Program = {
    bits: 64,
    ops: [{ bytes: body, asm: "push rcx; rdtscp; mov ebx, ecx; pop rcx; cli" }, { bytes: back, asm: "loop; hlt" }],
    code: [...body, ...back],
    regs,
    rflags: 2n | BigInt(IF),
    data: [],
    undefinedFlags: 0,
  };
  const before = run.stats().insns;
  const out = run.run(p);
  assert.equal(out.exit, "hlt");
  assert.equal(out.regs[3], 0n, "EBX holds RDTSCP's ECX (TSC_AUX, 0)");
  assert.equal(out.rflags & BigInt(IF), 0n, "CLI cleared IF");
  // Each iteration's 7 instructions ran in blocks (an interpreted RDTSCP or CLI would end a block before it).
  const ran = run.stats().insns - before;
  assert.ok(ran >= 7 * loops - 20, `${ran} instructions ran in blocks, expected about ${7 * loops}`);
});

for (
  const [asm, first] of [["setp bl; add edi, ebx", [0x0f, 0x9a, 0xc3, 0x01, 0xdf]], ["adc rbx, 0", [
    0x48,
    0x83,
    0xd3,
    0x00,
  ]]] as const
) {
  test(`templates_kernel: ${asm} at a looping block's start reads the flags the loop carried`, () => {
    // The loop's last flag producer is DEC (CF from the ADD before it): a block that loops keeps its flags in locals
    // from one iteration to the next, and the CPU's are stale until the block writes them out.
    const body = [...first, 0x05, ...le32(0x9e3779b9), 0xff, 0xc9];
    const code = [...body, 0x75, (-(body.length + 2)) & 0xff, 0xf4];
    const regs = GPR.map(() => 0n);
    [regs[RCX], regs[RSP]] = [1000n, BigInt(LM_STACK)];
    const p: Program = {
      bits: 64,
      ops: [{ bytes: code, asm: `${asm}; add eax, imm32; dec ecx; jnz start; hlt` }],
      code,
      regs,
      rflags: 2n | 0x45n,
      data: [],
      undefinedFlags: 0,
    };
    using kvmEager = openEmu("eager", "amd");
    using kvmOff = openEmu("off", "amd");
    using eager = runner("eager", kvmEager, 64);
    using off = runner("off", kvmOff, 64);
    const a = eager.run(p), b = off.run(p);
    assert.deepEqual(differences(a, b, ARITH), [], report(p, asm, [["eager", a], ["off", b]]));
  });
}

/** A program of `body` then HLT, run once, with RDX = `a` (the operand) and RSP a stack. */
function once(bits: Bits, body: number[], asm: string, a: bigint, rflags: number): Program {
  const regs = GPR.map(() => 0n);
  [regs[2], regs[RSP]] = [a, BigInt(bits === 64 ? LM_STACK : KSTACK)];
  return {
    bits,
    ops: [{ bytes: body, asm }, { bytes: [0xf4], asm: "hlt" }],
    code: [...body, 0xf4],
    regs,
    rflags: 2n | BigInt(rflags),
    data: [],
    undefinedFlags: 0,
  };
}

const SHIFTED = [0n, 1n, 0x8000n, 0x4000n, 0xc001n, 0x7fffn, 0xffffn, 0x80000000n, 0x40000001n, 0xffffffffn];

for (const bits of [64, 32] as const) {
  for (const vendor of ["amd", "intel"] as const) {
    test(`templates_kernel: SHL/SHR/SAL/SAR of a 16-bit register by 1 and every immediate, of a 32-bit one by every CL (${bits}-bit, ${vendor})`, () => {
      using kvmEager = openEmu("eager", vendor);
      using kvmOff = openEmu("off", vendor);
      using eager = runner("eager", kvmEager, bits);
      using off = runner("off", kvmOff, bits);
      const r = new Prng(bits + (vendor === "amd" ? 0x71 : 0x72));
      for (const k of [4, 5, 6, 7]) {
        for (let c = 0; c <= 32; c++) {
          // 16 bits: MOV EAX, EDX; the shift (by 1 for c = 32); PUSHF; POP RBX; the shift again.
          const s16 = c === 32 ? [0x66, 0xd1, modrm(3, k, 0)] : [0x66, 0xc1, modrm(3, k, 0), c];
          // 32 bits by CL: MOV RAX, RDX (its high half is cleared even by a count of 0 in 64-bit mode); MOV CL, c; the shift; PUSHF; POP RBX; MOV CL, c'; the shift again.
          const again = r.chance(1, 2) ? 0 : r.below(256);
          const s32 = [0xd3, modrm(3, k, 0)];
          const programs: [number[], string][] = [
            [[0x89, 0xd0, ...s16, 0x9c, 0x5b, ...s16], `mov eax, edx; shift/${k} ax, ${c === 32 ? 1 : c}; pushf; pop`],
            [
              [...(bits === 64 ? [0x48] : []), 0x89, 0xd0, 0xb1, c, ...s32, 0x9c, 0x5b, 0xb1, again, ...s32],
              `mov rax, rdx; shift/${k} eax, cl (${c}); pushf; pop; again (${again})`,
            ],
          ];
          for (const [body, asm] of programs) {
            for (const a of [r.pick(SHIFTED), r.pick(SHIFTED), BigInt(r.u32()), 0x1234567880000001n]) {
              const p = once(bits, body, asm, bits === 64 ? a : a & 0xffffffffn, r.u32() & ARITH);
              const x = eager.run(p), y = off.run(p);
              const diff = differences(x, y, ARITH);
              assert.deepEqual(diff, [], report(p, diff.join(", "), [["eager", x], ["off", y]]));
            }
          }
        }
      }
      assert.ok(eager.stats().compiled > 0, "the eager runner compiled no block");
    });
  }
}
