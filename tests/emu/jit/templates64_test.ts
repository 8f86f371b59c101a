/**
 * The block compiler's templates of jit/templates64.ts on seeded random loops: IMUL r64 with a register, memory or
 * immediate operand, the shifts and rotates of a 64-bit register by 1, an immediate or CL, CMOVcc of 32 and 64 bits
 * from a register or memory, MOV r/m64, imm32, between 32- and 64-bit ALU operations that leave their flags in the
 * block's locals, Jccs over one instruction and PUSHF; POP reg (the flags at that point kept in a register). Each program is a loop run three times (so the compiled block loops
 * inside its function, its registers in locals), with `blockCompiler: "eager"` and `"off"` on both personalities:
 * the 16 registers, RIP, all arithmetic flags and the data area must agree. CMOVcc also runs in 32-bit mode. Sweeps
 * run each shift and rotate by 1 and by every immediate count, and each shift by every count in CL.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Prng } from "../../../diff/prng.ts";
import { test } from "../../_support/harness.ts";
import { LM_STACK } from "../../_support/long_mode.ts";
import { ARITH, type Bits, DATA, differences, GPR, le32, openEmu, type Program, report, runner } from "./_jit.ts";
import { DATA_SIZE, LoopGenerator, modrm, RCX, RSI, RSP, value as valueOf } from "./_loops.ts";

const EDGES = [0n, 1n, (1n << 64n) - 1n, 1n << 63n, (1n << 63n) - 1n, 1n << 32n, (1n << 32n) - 1n, (1n << 32n) + 1n];
const COUNTS = [0, 1, 2, 31, 32, 33, 63, 64, 65, 0x80, 0xff];

/** A random register value: an edge, small, or any. */
const value = (r: Prng, bits: Bits) => valueOf(r, bits, EDGES);

/** A generator of loops of one mode: 64-bit IMUL, shifts and rotates, CMOVcc, MOV r/m64 between ALU operations. */
class Generator extends LoopGenerator {
  constructor(r: Prng, bits: Bits) {
    super(r, bits, EDGES);
  }

  step(): void {
    const r = this.r, long = this.bits === 64;
    const kind = r.weighted<string>(
      long
        ? [["alu", 4], ["imul", 3], ["shift", 5], ["cmov", 4], ["movImm", 2], ["mov", 2], ["jcc", 2], ["probe", 4]]
        : [["alu", 4], ["cmov", 4], ["jcc", 2], ["probe", 2]],
    );
    const w = long && r.chance(2, 3);
    switch (kind) {
      case "alu":
        return this.alu(w);
      case "imul": {
        const form = r.below(3), d = this.reg();
        if (form === 0) return this.emit("imul r64, r/m64", true, [0x0f, 0xaf], d, this.src());
        if (form === 1) return this.emit("imul r64, r/m64, imm8", true, [0x6b], d, this.src(), [r.below(256)]);
        return this.emit("imul r64, r/m64, imm32", true, [0x69], d, this.src(), le32(Number(value(r, 32))));
      }
      case "shift": {
        // ROL ROR RCL RCR SHL SHR SAL SAR by 1, imm8 or CL.
        const k = r.below(8), n = this.reg(), by = r.below(3);
        if (by === 0) return this.emit(`shift/${k} r64, 1`, true, [0xd1], k, n);
        if (by === 1) return this.emit(`shift/${k} r64, cl`, true, [0xd3], k, n);
        return this.emit(`shift/${k} r64, imm`, true, [0xc1], k, n, [
          r.chance(1, 2) ? r.pick(COUNTS) : r.below(72),
        ]);
      }
      case "cmov": {
        const cc = r.below(16);
        return this.emit(`cmov${cc.toString(16)} ${w ? "r64" : "r32"}`, w, [0x0f, 0x40 | cc], this.reg(), this.src());
      }
      case "movImm":
        return this.emit("mov r/m64, imm32", true, [0xc7], 0, r.chance(1, 2) ? "mem" : this.reg(), le32(r.u32()));
      case "mov":
        return this.emit("mov r/m64, r64", true, [0x89], this.reg(), "mem");
      case "probe":
        return this.probe();
      default:
        return this.jccSkip();
    }
  }
}

for (const bits of [64, 32] as const) {
  for (const vendor of ["amd", "intel"] as const) {
    test(`templates64: random ${bits}-bit loops agree compiled (eager) and interpreted (${vendor})`, () => {
      using kvmEager = openEmu("eager", vendor);
      using kvmOff = openEmu("off", vendor);
      using eager = runner("eager", kvmEager, bits);
      using off = runner("off", kvmOff, bits);
      const r = new Prng(bits * 7 + (vendor === "amd" ? 1 : 2));
      for (let i = 0; i < (bits === 64 ? 800 : 150); i++) {
        const p = new Generator(r, bits).program(2 + r.below(7));
        const a = eager.run(p), b = off.run(p);
        const diff = differences(a, b, ARITH);
        assert.equal(a.exit, "hlt", report(p, `program ${i}`, [["eager", a], ["off", b]]));
        assert.deepEqual(diff, [], report(p, `program ${i}: ${diff.join(", ")}`, [["eager", a], ["off", b]]));
      }
      assert.ok(eager.stats().compiled > 0, "the eager runner compiled no block");
    });
  }
}

/** A loop of `body` three times over (DEC ECX; JNZ), then HLT, in 64-bit mode, with RAX = `a`, RDX = `b`. */
function loop64(body: number[], asm: string, a: bigint, b: bigint, rflags: number): Program {
  const back = [0xff, 0xc9, 0x75, (-(body.length + 4)) & 0xff, 0xf4];
  const regs = GPR.map(() => 0n);
  [regs[0], regs[2], regs[RCX], regs[RSP], regs[RSI]] = [a, b, 3n, BigInt(LM_STACK), BigInt(DATA)];
  return {
    bits: 64,
    ops: [{ bytes: body, asm }, { bytes: back, asm: "dec ecx; jnz start; hlt" }],
    code: [...body, ...back],
    regs,
    rflags: 2n | BigInt(rflags),
    data: new Array(DATA_SIZE).fill(0),
    undefinedFlags: 0,
  };
}

for (const vendor of ["amd", "intel"] as const) {
  test(`templates64: each shift and rotate of a 64-bit register by 1 and by every immediate count (${vendor})`, () => {
    using kvmEager = openEmu("eager", vendor);
    using kvmOff = openEmu("off", vendor);
    using eager = runner("eager", kvmEager, 64);
    using off = runner("off", kvmOff, 64);
    const r = new Prng(vendor === "amd" ? 0x5a : 0x5b);
    for (let k = 0; k < 8; k++) {
      for (let c = 0; c <= 72; c++) {
        // RAX = RDX (the operand, the same each time), its shift (C1, or D1 for the count 72 stands for "by 1"), its flags kept in RBX by PUSHF; POP; then
        // RAX shifted again (its OF may be kept from the first).
        const shift = c === 72 ? [0x48, 0xd1, modrm(3, k, 0)] : [0x48, 0xc1, modrm(3, k, 0), c];
        const body = [0x48, 0x89, 0xd0, ...shift, 0x9c, 0x5b, ...shift];
        for (const a of [value(r, 64), value(r, 64), 0x8000000000000001n, 0x4000000000000000n]) {
          const p = loop64(
            body,
            `mov rax, rdx; shift/${k} rax, ${c === 72 ? 1 : c}; pushf; pop rbx; again`,
            0n,
            a,
            r.u32() & ARITH,
          );
          const x = eager.run(p), y = off.run(p);
          const diff = differences(x, y, ARITH);
          assert.deepEqual(diff, [], report(p, diff.join(", "), [["eager", x], ["off", y]]));
        }
      }
    }
  });
}

for (const vendor of ["amd", "intel"] as const) {
  test(`templates64: each shift of a 64-bit register by CL, for every count (${vendor})`, () => {
    using kvmEager = openEmu("eager", vendor);
    using kvmOff = openEmu("off", vendor);
    using eager = runner("eager", kvmEager, 64);
    using off = runner("off", kvmOff, 64);
    const r = new Prng(vendor === "amd" ? 0x5c : 0x5d);
    for (const k of [4, 5, 6, 7]) {
      for (let c = 0; c < 72; c++) {
        // MOV RAX, RDX; MOV CL, c; the shift; PUSHF; POP RBX; MOV CL, c'; the shift again (by 0 half the time).
        const again = r.chance(1, 2) ? 0 : r.below(256);
        const shift = [0x48, 0xd3, modrm(3, k, 0)];
        const body = [0x48, 0x89, 0xd0, 0xb1, c, ...shift, 0x9c, 0x5b, 0xb1, again, ...shift];
        for (const a of [value(r, 64), value(r, 64), 0x8000000000000001n]) {
          const p = loop64(body, `mov rax, rdx; shift/${k} rax, cl (${c}); pushf; pop rbx; again (${again})`, 0n, a, 0);
          p.code = [...body, 0xf4]; // once, without the loop (CL is its counter)
          p.rflags = 2n | BigInt(r.u32() & ARITH);
          const x = eager.run(p), y = off.run(p);
          const diff = differences(x, y, ARITH);
          assert.deepEqual(diff, [], report(p, diff.join(", "), [["eager", x], ["off", y]]));
        }
      }
    }
    assert.ok(eager.stats().compiled > 0, "the eager runner compiled no block");
  });
}
