/**
 * The emulator's x87 arithmetic (emu/x86/fpu/) against results recorded on
 * the host's x87 unit (tests/emu/x87/vectors/*.txt, made by
 * tools/x87_vectors.c): every case is checked bit for bit, result and
 * status word (exception flags, C1 round-up, ES/B for unmasked
 * exceptions), across the four rounding modes, the three precision
 * settings and special values (signed zeros, denormals and
 * pseudo-denormals, unnormals, infinities, quiet and signaling NaNs).
 * The transcendentals are compared within one unit in the last place (the
 * hardware's own results are not always correctly rounded; C1 is not
 * compared for them).
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { test } from "../../_support/harness.ts";
import { add, div, mul, sqrt } from "../../../emu/x86/fpu/arith.ts";
import {
  fromBcd,
  fromF32,
  fromF64,
  fromInt,
  type Stored,
  toBcd,
  toF32,
  toF64,
  toInt,
} from "../../../emu/x86/fpu/convert.ts";
import { type F80, fromHex, toHex, zero } from "../../../emu/x86/fpu/f80.ts";
import { compare, examine, prem, rndint, scale } from "../../../emu/x86/fpu/misc.ts";
import { FpEnv } from "../../../emu/x86/fpu/round.ts";
import { f2xm1, patan, trig, yl2x, yl2xp1 } from "../../../emu/x86/fpu/trans.ts";
import { readVectors } from "../../_support/vectors.ts";

/** The cases of vectors/`kind`.txt (recorded by tools/x87_vectors.c), each split into its fields. */
function cases(kind: string): string[][] {
  return readVectors(new URL(`./vectors/${kind}.txt`, import.meta.url)).map((c) => c.split(" "));
}

const env = new FpEnv();
/** Status-word bits the vectors compare: flags, SF, ES, C0-C3, B (TOP is not part of an operation's result). */
const SW_MASK = 0xc7ff;

/** The status word an operation leaves (C0, C2, C3 from `cc`), with ES and B for unmasked exceptions. */
function statusOf(cc = 0): number {
  const unmasked = env.flags & ~env.cw & 0x3f;
  return env.flags | (env.c1 << 9) | cc | (unmasked ? 0x8080 : 0);
}

/** Runs `check` on every case and asserts that none failed (showing the first few). */
function all(kind: string, check: (f: string[]) => string | undefined): number {
  const failures: string[] = [];
  const list = cases(kind);
  for (const f of list) {
    const got = check(f);
    if (got !== undefined) failures.push(`${f.join(" ")} => ${got}`);
  }
  deepEqual(failures.slice(0, 8), []);
  return list.length;
}

function hex(n: number, width: number): string {
  return (n >>> 0).toString(16).padStart(width, "0");
}

test("x87: FADD/FSUB/FMUL/FDIV/FSQRT match the host bit for bit (rounding, precision, specials, unmasked)", () => {
  const n = all("arith", ([op, cw, a, b, want, sw]) => {
    env.reset(parseInt(cw, 16));
    const x = fromHex(a), y = fromHex(b);
    const r = op === "add"
      ? add(env, x, y, 0)
      : op === "sub"
      ? add(env, x, y, 1)
      : op === "mul"
      ? mul(env, x, y)
      : op === "div"
      ? div(env, x, y)
      : sqrt(env, x);
    // An unmasked IE, DE or ZE stores nothing: ST(0) is still the last operand pushed.
    const st0 = env.flags & ~env.cw & 7 ? (op === "sqrt" ? a : b) : toHex(r);
    const status = statusOf();
    if (st0 === want && status === (parseInt(sw, 16) & SW_MASK)) return undefined;
    return `${st0} ${hex(status, 4)}`;
  });
  equal(n >= 800, true);
});

const CC = [0, 0x100, 0x4000, 0x4500];
const COMI = [0, 0x01, 0x40, 0x45];

test("x87: FRNDINT, FSCALE, FPREM, FPREM1, FCOM, FUCOM, FCOMI, FUCOMI, FTST, FXAM match the host", () => {
  const n = all("misc", ([op, cw, a, b, st0, sw, st1, eflags]) => {
    env.reset(parseInt(cw, 16));
    const x = fromHex(a), y = fromHex(b);
    let r: F80 = x, cc = 0, flags = -1;
    if (op === "rndint") r = rndint(env, x);
    else if (op === "scale") r = scale(env, x, y);
    else if (op === "prem" || op === "prem1") {
      const q = prem(env, x, y, op === "prem1");
      r = q.value;
      cc = (q.incomplete ? 0x400 : 0) | (q.q & 4 ? 0x100 : 0) | (q.q & 2 ? 0x4000 : 0);
      env.c1 = q.q & 1;
    } else if (op === "com" || op === "ucom") cc = CC[compare(env, x, y, op === "ucom")];
    else if (op === "comi" || op === "ucomi") flags = COMI[compare(env, x, y, op === "ucomi")];
    else if (op === "tst") cc = CC[compare(env, x, zero(0), false)];
    else {
      const c = examine(x, false);
      cc = (c & 4 ? 0x4000 : 0) | (c & 2 ? 0x400 : 0) | (c & 1 ? 0x100 : 0);
      env.c1 = x.sign;
    }
    const status = statusOf(cc);
    const flagsOk = flags < 0 || flags === parseInt(eflags, 16);
    if (toHex(r) === st0 && status === (parseInt(sw, 16) & SW_MASK) && flagsOk && toHex(y) === st1) return undefined;
    return `${toHex(r)} ${hex(status, 4)} ${flags}`;
  });
  equal(n >= 500, true);
});

/** The stored bytes as the vectors write them: big-endian hex of `n` bytes, or all c when nothing was stored. */
function storedHex(s: Stored, n: number): string {
  if (!s.store) return "c".repeat(2 * n);
  const all = hex(s.w2, 8) + hex(s.w1, 8) + hex(s.w0, 8);
  return all.slice(all.length - 2 * n);
}

test("x87: FST m32/m64, FIST, FISTTP and FBSTP match the host", () => {
  const n = all("store", ([op, cw, a, mem, sw]) => {
    env.reset(parseInt(cw, 16));
    const x = fromHex(a);
    const bits = op.endsWith("16") ? 16 : op.endsWith("32") ? 32 : 64;
    const s = op === "f32"
      ? toF32(env, x)
      : op === "f64"
      ? toF64(env, x)
      : op === "bcd"
      ? toBcd(env, x)
      : toInt(env, x, bits, op[0] === "t");
    const got = storedHex(s, mem.length / 2), status = statusOf();
    return got === mem && status === (parseInt(sw, 16) & SW_MASK) ? undefined : `${got} ${hex(status, 4)}`;
  });
  equal(n >= 450, true);
});

test("x87: FLD m32/m64, FILD and FBLD match the host", () => {
  const n = all("load", ([op, cw, mem, want, sw]) => {
    env.reset(parseInt(cw, 16));
    const b = new Uint8Array(10);
    for (let i = 0; i < mem.length / 2; i++) b[i] = parseInt(mem.slice(mem.length - 2 * i - 2, mem.length - 2 * i), 16);
    const v = new DataView(b.buffer);
    let r: F80;
    if (op === "f32") r = fromF32(env, v.getUint32(0, true));
    else if (op === "f64") r = fromF64(env, v.getUint32(0, true), v.getUint32(4, true));
    else if (op === "bcd") r = fromBcd(b, 0);
    else if (op === "i16") r = fromInt(BigInt(v.getInt16(0, true)));
    else if (op === "i32") r = fromInt(BigInt(v.getInt32(0, true)));
    else r = fromInt(v.getBigInt64(0, true));
    const status = statusOf();
    return toHex(r) === want && status === (parseInt(sw, 16) & SW_MASK) ? undefined : `${toHex(r)} ${hex(status, 4)}`;
  });
  equal(n >= 200, true);
});

test("x87: a single-precision SNaN operand stays signaling for arithmetic and is quieted by FLD", () => {
  env.reset(0x37f);
  const raw = fromF32(env, 0x7f800001, true);
  equal(env.flags, 0);
  equal(toHex(raw), "7fff8000010000000000");
  const loaded = fromF32(env, 0x7f800001);
  equal(env.flags, 1);
  equal(toHex(loaded), "7fffc000010000000000");
  // QNaN + SNaN: the x87 returns the QNaN operand (SDM Table 4-7) and raises IE.
  env.reset(0x37f);
  equal(toHex(add(env, fromHex("7fffc000000000000001"), raw, 0)), "7fffc000000000000001");
  equal(env.flags, 1);
});

/** Distance in units in the last place between two 80-bit encodings of the same sign (across binades too). */
function ulps(a: string, b: string): number {
  if (a === b) return 0;
  if (a[0] !== b[0] && (parseInt(a[0], 16) >> 3) !== (parseInt(b[0], 16) >> 3)) return Infinity;
  const order = (h: string) =>
    BigInt(`0x${h.slice(0, 4)}`) * (1n << 63n) + (BigInt(`0x${h.slice(4)}`) & ((1n << 63n) - 1n));
  const d = order(a) - order(b);
  return Number(d < 0n ? -d : d);
}

const ONE = "3fff8000000000000000";

test("x87: FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1 within 1 ulp of the host", () => {
  const n = all("trans", ([op, cw, a, b, st0, sw, st1]) => {
    env.reset(parseInt(cw, 16));
    const x = fromHex(a), y = fromHex(b);
    let r0 = a, r1 = b, cc = 0, popped = false;
    if (op === "sin" || op === "cos" || op === "sincos" || op === "ptan") {
      const t = trig(env, x, ["sin", "cos", "sincos", "ptan"].indexOf(op));
      if (t.c2) cc = 0x400;
      else if (op === "sincos") [r0, r1] = [toHex(t.b), toHex(t.a)];
      else if (op === "ptan") [r0, r1] = [ONE, toHex(t.a)];
      else r0 = toHex(t.a);
    } else if (op === "f2xm1") r0 = toHex(f2xm1(env, x));
    else {
      popped = true;
      r0 = toHex(op === "patan" ? patan(env, y, x) : op === "yl2x" ? yl2x(env, x, y) : yl2xp1(env, x, y));
    }
    const status = statusOf(cc) & ~0x200, want = parseInt(sw, 16) & SW_MASK & ~0x200;
    const far = Math.max(ulps(r0, st0), popped ? 0 : ulps(r1, st1));
    return far <= 1 && status === want ? undefined : `${r0} ${hex(status, 4)} ${r1} (${far} ulp)`;
  });
  equal(n >= 400, true);
});
