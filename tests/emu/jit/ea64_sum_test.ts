/**
 * The block compiler's 64-bit effective addresses summed in 32-bit halves (emu/x86/jit/operands.ts sum64: `[base +
 * disp]`, `[index + disp32]` without a base, `[base + index*scale + disp]`), whose high half takes each addition's
 * carry or borrow: LEA r64 of such addresses from registers whose low half lies near 2^32 (every displacement size
 * and sign, so that the low half wraps either way), and loads and stores through registers that reach the data area
 * only across 2^32 boundaries. Seeded random programs, run with `blockCompiler: "off"` and `"eager"`, must leave the
 * same registers, RIP, arithmetic flags and data.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Prng } from "../../../diff/prng.ts";
import { test } from "../../_support/harness.ts";
import { LM_STACK } from "../../_support/long_mode.ts";
import {
  ARITH,
  differences,
  GPR,
  h32,
  hx,
  le32,
  le64,
  type Op,
  openEmu,
  type Program,
  regName,
  report,
  rex,
  RSP,
  runner,
} from "./_jit.ts";
import { DATA_AT, DATA_SIZE, M64, mod, modrm, REMAP, sib } from "./_narrow.ts";

/** Low halves around the 2^32 boundary (and around 0, which a borrow crosses). */
const LOW_EDGES = [0, 1, 0x7f, 0x80, 0x7fffffff, 0x80000000, 0xffffff80, 0xfffffff8, 0xffffffff];

/** Seeded random programs of 64-bit addresses whose sums wrap. */
class Generator {
  readonly #r: Prng;
  readonly #ops: Op[] = [];

  constructor(r: Prng) {
    this.#r = r;
  }

  program(n: number): Program {
    const r = this.#r;
    const regs = GPR.map((_, i) => i === RSP ? BigInt(LM_STACK) : (BigInt(r.u32()) << 32n) | BigInt(r.u32()));
    const data = Array.from({ length: DATA_SIZE }, () => r.below(256));
    for (let i = 0; i < n; i++) this.#step();
    this.#ops.push({ bytes: [0xf4], asm: "hlt" });
    const code = this.#ops.flatMap((o) => o.bytes);
    return { bits: 64, ops: this.#ops, code, regs, rflags: 2n, data, dataAt: DATA_AT, undefinedFlags: 0 };
  }

  /** A register other than RSP. */
  #reg(): number {
    for (;;) {
      const n = this.#r.below(16);
      if (n !== RSP) return n;
    }
  }

  /** A displacement: none, 8-bit or 32-bit, either sign (as the ModRM mod that encodes it: 0, 1 or 2). */
  #disp(): { mod: number; disp: number } {
    const r = this.#r;
    switch (r.below(3)) {
      case 0:
        return { mod: 0, disp: 0 };
      case 1:
        return { mod: 1, disp: r.below(256) - 128 };
      default:
        return { mod: 2, disp: r.chance(1, 2) ? r.u32() | 0 : r.below(0x10000) - 0x8000 };
    }
  }

  /**
   * `[base + disp]`, or `[index + disp32]` through a SIB byte without a base, or `[base + index*scale + disp]`
   * (`index` >= 0 asks for the last), for ModRM.reg `reg`, with the REX prefix for `w`.
   */
  #address(reg: number, base: number, w: boolean, index = -1): Address {
    const r = this.#r;
    if (index < 0 && r.chance(1, 4)) {
      const disp = r.u32() | 0;
      const tail = [modrm(0, reg, 4), sib(0, base, 5), ...le32(disp)];
      return { rex: rex(w, reg, 0, false, base), tail, disp, scale: 0, ptr: `[${regName(base, 8)} + ${disp}]` };
    }
    let { mod: m, disp } = this.#disp();
    if (m === 0 && (base & 7) === 5) m = 1; // mod 0 with base 5 would be RIP-relative (or no base)
    const dispBytes = m === 0 ? [] : m === 1 ? [disp & 0xff] : le32(disp);
    if (index >= 0) {
      const scale = r.below(4), tail = [modrm(m, reg, 4), sib(scale, index, base), ...dispBytes];
      const ptr = `[${regName(base, 8)} + ${regName(index, 8)}*${1 << scale} + ${disp}]`;
      return { rex: rex(w, reg, base, false, index), tail, disp, scale, ptr };
    }
    const sibByte = (base & 7) === 4 ? [sib(0, 4, base)] : [];
    const tail = [modrm(m, reg, base), ...sibByte, ...dispBytes];
    return { rex: rex(w, reg, base), tail, disp, scale: 0, ptr: `[${regName(base, 8)} + ${disp}]` };
  }

  /** A register value whose low half lies near a wrap (0 or 2^32), its high half an edge or random. */
  #nearWrap(): bigint {
    const r = this.#r;
    const high = BigInt(r.chance(1, 3) ? r.pick([0, 1, 0x7fff, 0x8000, 0xffffffff]) : r.u32());
    return (high << 32n) | BigInt((r.pick(LOW_EDGES) + r.below(0x100) - 0x80) >>> 0);
  }

  #movImm64(n: number, v: bigint): Op {
    return { bytes: [...rex(true, 0, n), 0xb8 + (n & 7), ...le64(v)], asm: `mov ${regName(n, 8)}, ${hx(v)}` };
  }

  #step(): void {
    const r = this.#r, ops = this.#ops, d = this.#reg(), base = this.#reg();
    let index = r.chance(1, 3) ? this.#reg() : -1;
    while (index === base) index = this.#reg();
    if (r.chance(1, 2)) { // LEA r64 from registers whose low halves lie near a wrap
      ops.push(this.#movImm64(base, this.#nearWrap()));
      if (index >= 0) ops.push(this.#movImm64(index, this.#nearWrap()));
      const a = this.#address(d, base, true, index);
      ops.push({ bytes: [...a.rex, 0x8d, ...a.tail], asm: `lea ${regName(d, 8)}, ${a.ptr}` });
      return;
    }
    // A load or store of 8 bytes in the data area, through a base that reaches it only with the displacement and
    // the scaled index: across 2^32 (and 2^64) whenever they are larger than the data area's address.
    const a = this.#address(d, base, true, index), target = DATA_AT + r.below(DATA_SIZE - 7);
    let scaled = 0n;
    if (index >= 0) {
      const iv = (BigInt(r.u32()) << 32n) | BigInt(r.u32());
      ops.push(this.#movImm64(index, iv));
      scaled = iv << BigInt(a.scale);
    }
    ops.push(this.#movImm64(base, mod(BigInt(target) - BigInt(a.disp) - scaled, M64)));
    const load = r.chance(1, 2);
    ops.push({
      bytes: [...a.rex, load ? 0x8b : 0x89, ...a.tail],
      asm: `${load ? `mov ${regName(d, 8)}, qword ${a.ptr}` : `mov qword ${a.ptr}, ${regName(d, 8)}`} ; ${h32(target)}`,
    });
  }
}

/** A memory operand's encoding (#address). */
interface Address {
  rex: number[];
  tail: number[];
  disp: number;
  scale: number;
  ptr: string;
}

const PROGRAMS = 300, SEED = 0x1ea1;

test("block compiler, 64-bit addresses summed in halves: LEA, loads and stores across 2^32, eager = off", () => {
  using kvmOff = openEmu("off");
  using kvmEager = openEmu("eager");
  using off = runner("off", kvmOff, 64, { remap: REMAP });
  using eager = runner("eager", kvmEager, 64, { remap: REMAP });
  const failures: string[] = [];
  for (let i = 0; i < PROGRAMS; i++) {
    const r = new Prng(SEED, i);
    const p = new Generator(r).program(r.range(4, 24));
    const a = off.run(p), b = eager.run(p);
    const diff = differences(a, b, ARITH);
    if (a.exit !== "hlt") diff.push("off did not halt");
    if (diff.length) failures.push(`${diff.join(", ")}\n${report(p, `program ${i}`, [["off", a], ["eager", b]])}`);
  }
  assert.equal(failures.length, 0, `${failures.length} of ${PROGRAMS} differ; the first:\n${failures[0]}`);
  assert.ok(eager.stats().compiled > 0);
});
