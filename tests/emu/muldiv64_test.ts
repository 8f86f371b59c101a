/**
 * The emulator's wide multiplies and divides (emu/x86/ops/limbs.ts, muldiv.ts), computed on uint32 limbs, against a
 * BigInt oracle: the limb arithmetic itself on random and edge values, then every form in a 64-bit guest on both
 * personalities — MUL, IMUL with one, two and three operands, DIV and IDIV, with 32- and 64-bit operands, register
 * and memory sources — comparing the registers, the arithmetic flags (CF/OF as the SDM says, the undefined ones as
 * the vendor code documents) and #DE. The block compiler's mode comes from KVMKIT_BLOCK_COMPILER.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../../mod.ts";
import { Prng } from "../../diff/prng.ts";
import { test } from "../_support/harness.ts";
import { LM_STACK } from "../_support/long_mode.ts";
import { div128, mul32, mul64, mulHigh, wide } from "../../emu/x86/ops/limbs.ts";
import { AF, ARITH, CF, DATA, GPR, hx, le64, OF, type Outcome, PF, type Program, runner, SF } from "./jit/_jit.ts";

const M64 = (1n << 64n) - 1n;
const EDGES = [0n, 1n, M64, 1n << 63n, (1n << 63n) - 1n, (1n << 63n) + 1n, 1n << 32n, (1n << 32n) - 1n];
EDGES.push((1n << 32n) + 1n, 0x80000000n, 0x7fffffffn, 0xffffffff80000000n, 2n, 10n, 1000000000n);

/** A random 64-bit value: an edge value, a small one, one of 32 bits, or any. */
function value(r: Prng): bigint {
  switch (r.below(5)) {
    case 0:
      return EDGES[r.below(EDGES.length)];
    case 1:
      return BigInt.asUintN(64, BigInt(r.range(-300, 300)));
    case 2:
      return BigInt(r.u32());
    default:
      return r.bits(64);
  }
}

const lo32 = (v: bigint) => Number(v & 0xffffffffn), hi32 = (v: bigint) => Number((v >> 32n) & 0xffffffffn);

test("limbs: mul32, mul64 and div128 agree with BigInt on random and edge values", () => {
  const r = new Prng(0x64);
  for (let i = 0; i < 20000; i++) {
    const a = value(r), b = value(r);
    for (const signed of [false, true]) {
      const x = signed ? BigInt.asIntN(64, a) : a, y = signed ? BigInt.asIntN(64, b) : b;
      const p = BigInt.asUintN(128, x * y);
      mul64(lo32(a), hi32(a), lo32(b), hi32(b), signed);
      const got = [...wide].reduce((s, w, k) => s | (BigInt(w) << BigInt(32 * k)), 0n);
      assert.equal(hx(got), hx(p), `mul64 ${hx(a)} * ${hx(b)} signed=${signed}`);
      const x32 = signed ? BigInt.asIntN(32, a & 0xffffffffn) : a & 0xffffffffn;
      const y32 = signed ? BigInt.asIntN(32, b & 0xffffffffn) : b & 0xffffffffn;
      const p32 = BigInt.asUintN(64, x32 * y32);
      const l = mul32(lo32(a), lo32(b), signed);
      assert.equal(hx((BigInt(mulHigh) << 32n) | BigInt(l)), hx(p32), `mul32 ${hx(a)} * ${hx(b)} signed=${signed}`);
    }
    const d = value(r) || 1n, hiN = r.chance(1, 2) ? value(r) % d : value(r);
    const n = (hiN << 64n) | value(r);
    const fits = n / d <= M64;
    assert.equal(div128(hi32(hiN), lo32(hiN), hi32(n), lo32(n), hi32(d), lo32(d)), fits, `div128 ${hx(n)} / ${hx(d)}`);
    if (fits) {
      assert.equal(hx((BigInt(wide[1]) << 32n) | BigInt(wide[0])), hx(n / d), `quotient ${hx(n)} / ${hx(d)}`);
      assert.equal(hx((BigInt(wide[3]) << 32n) | BigInt(wide[2])), hx(n % d), `remainder ${hx(n)} / ${hx(d)}`);
    }
  }
});

test("limbs: mul32's high half is exact where the double product rounds across a multiple of 2^32", () => {
  // For odd a, b = t * a^-1 (mod 2^32) makes a * b's low half t: t within 2^12 below 2^32 or above 0 is where a double
  // (53 bits) of the product rounds to the next or previous high half (a high half read off the double alone fails).
  const r = new Prng(0x32);
  const inverse = (a: bigint) => {
    let x = 1n;
    for (let i = 0; i < 5; i++) x = (x * (2n - a * x)) & 0xffffffffn; // Newton: doubles the correct bits
    return x;
  };
  for (let i = 0; i < 20000; i++) {
    const a = BigInt(r.below(2 ** 31)) * 2n + 1n;
    const t = i % 2 === 0 ? 2n ** 32n - BigInt(1 + r.below(4096)) : BigInt(r.below(4096));
    const b = (t * inverse(a)) & 0xffffffffn;
    for (const signed of [false, true]) {
      const x = signed ? BigInt.asIntN(32, a) : a, y = signed ? BigInt.asIntN(32, b) : b;
      const l = mul32(Number(a), Number(b), signed);
      const p = BigInt.asUintN(64, x * y);
      assert.equal(hx((BigInt(mulHigh) << 32n) | BigInt(l)), hx(p), `mul32 ${hx(a)} * ${hx(b)} signed=${signed}`);
    }
  }
});

/** One form: its encoding (the source is RBX, or the data area through RSI), and what it is. */
interface Form {
  name: string;
  /** Operand size in bits. */
  bits: 32 | 64;
  kind: "mul" | "imul1" | "imul2" | "imul3" | "div" | "idiv";
  mem: boolean;
  /** The immediate of IMUL's three-operand form, sign-extended (imm8 or imm32). */
  imm?: bigint;
  bytes: number[];
}

const RAX = 0, RDX = 2, RBX = 3, RSP = 4, RSI = 6;

/** The forms with a given immediate (imul3); ModRM: RBX (C3, /n: C0 | n << 3 | 3) or [RSI] (06, /n: n << 3 | 6). */
function forms(imm8: number, imm32: number): Form[] {
  const out: Form[] = [];
  for (const bits of [32, 64] as const) {
    const w = bits === 64 ? [0x48] : [];
    for (const mem of [false, true]) {
      const rm = (reg: number) => mem ? (reg << 3) | RSI : 0xc0 | (reg << 3) | RBX;
      const add = (kind: Form["kind"], bytes: number[], imm?: bigint) =>
        out.push({ name: `${kind}${bits}${mem ? " mem" : ""}`, bits, kind, mem, imm, bytes: [...w, ...bytes] });
      add("mul", [0xf7, rm(4)]);
      add("imul1", [0xf7, rm(5)]);
      add("imul2", [0x0f, 0xaf, rm(RAX)]);
      add("imul3", [0x6b, rm(RAX), imm8 & 0xff], BigInt((imm8 << 24) >> 24));
      add("imul3", [0x69, rm(RAX), ...le64(BigInt(imm32 >>> 0)).slice(0, 4)], BigInt(imm32 | 0));
      add("div", [0xf7, rm(6)]);
      add("idiv", [0xf7, rm(7)]);
    }
  }
  return out;
}

/** What the oracle says `f` leaves: RAX, RDX and the arithmetic flags, or #DE. */
function oracle(f: Form, rax: bigint, rdx: bigint, src: bigint, flags: number, amd: boolean) {
  const s = BigInt(f.bits), mask = (1n << s) - 1n;
  const u = (v: bigint) => v & mask, sx = (v: bigint) => BigInt.asIntN(f.bits, v);
  if (f.kind === "div" || f.kind === "idiv") {
    const signed = f.kind === "idiv";
    const d = signed ? sx(src) : u(src);
    const n = signed ? BigInt.asIntN(2 * f.bits, (u(rdx) << s) | u(rax)) : (u(rdx) << s) | u(rax);
    if (d === 0n) return "#DE";
    const q = n / d, r = n % d;
    if (signed ? q !== sx(q) : q > mask) return "#DE";
    // Flags: AMD keeps CF and OF, sets AF and clears SF, ZF and PF; Intel leaves them all.
    return { rax: u(q), rdx: u(r), flags: amd ? (flags & (CF | OF)) | AF : flags };
  }
  const signed = f.kind !== "mul";
  // IMUL's three-operand form multiplies its source by the immediate; the others multiply RAX by the source.
  const a = f.kind === "imul3" ? sx(src) : signed ? sx(rax) : u(rax);
  const b = f.kind === "imul3" ? f.imm! : signed ? sx(src) : u(src);
  const p = a * b, low = u(p);
  const over = signed ? p !== sx(p) : p > mask;
  const cfof = over ? CF | OF : 0;
  const parity = [...low.toString(2).slice(-8)].filter((c) => c === "1").length % 2 === 0 ? PF : 0;
  const top = (low >> (s - 1n)) & 1n ? SF : 0;
  const out = amd ? (flags & ~(CF | OF) & ARITH) | cfof : cfof | parity | top;
  const one = f.kind === "mul" || f.kind === "imul1";
  return { rax: low, rdx: one ? u(p >> s) : rdx, flags: out };
}

for (const vendor of ["amd", "intel"] as const) {
  test(`MUL/IMUL/DIV/IDIV with 32- and 64-bit operands agree with BigInt (${vendor})`, () => {
    using kvm = Kvm.open({ backend: "emu", vendor });
    using run = runner("emu", kvm, 64);
    const r = new Prng(vendor === "amd" ? 0x4d44 : 0x4944);
    let cases = 0;
    for (let i = 0; i < 400; i++) {
      const imm8 = r.below(256), imm32 = r.u32();
      for (const f of forms(imm8, imm32)) {
        const src = value(r), rax = value(r);
        // A dividend whose quotient mostly fits (RDX below the divisor), sometimes not.
        const rdx = (f.kind === "div" || f.kind === "idiv") && r.chance(3, 4)
          ? (r.chance(1, 2) ? 0n : r.chance(1, 2) ? M64 : value(r) % ((src & ((1n << BigInt(f.bits)) - 1n)) || 1n))
          : value(r);
        const flags = r.u32() & ARITH;
        const regs = GPR.map((
          _,
          k,
        ) => (k === RAX ? rax : k === RDX ? rdx : k === RBX ? src : k === RSP ? BigInt(LM_STACK) : value(r)));
        regs[RSI] = BigInt(DATA);
        const p: Program = {
          bits: 64,
          ops: [],
          code: [...f.bytes, 0xf4],
          regs,
          rflags: 2n | BigInt(flags),
          data: le64(src),
          undefinedFlags: 0,
        };
        const o: Outcome = run.run(p);
        const want = oracle(f, rax, rdx, src, flags, vendor === "amd");
        const what = `${f.name} ${f.bytes.map((b) => b.toString(16)).join(" ")}: rax=${hx(rax)} rdx=${hx(rdx)} ` +
          `src=${hx(src)} flags=${hx(BigInt(flags))}`;
        cases++;
        if (want === "#DE") {
          assert.notEqual(o.exit, "hlt", `${what}: expected #DE`);
          continue;
        }
        assert.equal(o.exit, "hlt", `${what}: ${o.exit}`);
        const ext = (v: bigint) => f.bits === 32 ? v & 0xffffffffn : v;
        assert.equal(hx(o.regs[RAX]), hx(ext(want.rax)), `${what}: rax`);
        // A 32-bit form writes EDX only when it has a result there; IMUL's two- and three-operand forms do not.
        const rdxAfter = f.kind === "imul2" || f.kind === "imul3" ? rdx : ext(want.rdx);
        assert.equal(hx(o.regs[RDX]), hx(rdxAfter), `${what}: rdx`);
        assert.equal(hx(o.rflags & BigInt(ARITH)), hx(BigInt(want.flags)), `${what}: rflags`);
      }
    }
    assert.ok(cases > 10000);
  });
}
