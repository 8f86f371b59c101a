/**
 * The block compiler's newer templates (emu/x86/jit/templates.ts, eager.ts,
 * operands.ts) against the emulator's interpreter and, where /dev/kvm
 * opens, the kernel's KVM: seeded random straight-line programs in 32-bit
 * protected mode and 64-bit mode of
 *
 * - 8- and 16-bit ALU operations (ADD OR AND SUB XOR CMP, some ADC/SBB),
 *   TEST, INC/DEC (FE, 66 FF, 66 40+r), MOV reg/reg, reg/imm and r/m, imm,
 *   MOVZX/MOVSX r32, r8/r16, on AH-BH in 32-bit mode and, in 64-bit mode,
 *   on AH-BH without REX and SPL-DIL, R8B-R15B with it;
 * - memory operands inside a data area: ALU reg, [mem], CMP [mem], imm/reg,
 *   TEST [mem], reg/imm, MOV loads and stores, MOVZX/MOVSX from memory, at
 *   8, 16 and 32 bits, addressed by an absolute displacement, a base with
 *   no/disp8/disp32, base + index*scale + disp, index*scale + disp32, and
 *   in 64-bit mode RIP-relative and with 32-bit addressing (67: upper halves
 *   of the registers ignored, the sum wraps at 4 GiB);
 * - the eager-flag templates: ROL/ROR/SHL/SAL/SHR/SAR r32 by 1 and by an
 *   immediate (counts 1-31, and 0, 32, 64 that mask to 0 and change nothing,
 *   and 33 that masks to 1), IMUL r32, r32 and r32, r32, imm8/imm32, with
 *   RCL/RCR (not templated) among them;
 * - sequences whose flags a Jcc, SETcc, ADC/SBB, RCL/RCR, INC/DEC or a
 *   rotate reads at once, from the locals of the producer before.
 *
 * Each program runs with `blockCompiler: "off"` and `"eager"` on both of the
 * emulator's personalities (Intel and AMD): eager and off must agree on the
 * registers, RIP, the data area and all six arithmetic flags. The host
 * vendor's "off" run is compared with KVM too, the flags the manuals leave
 * undefined masked (AF after logic operations and shifts, OF after shifts
 * and rotates by more than one, SF ZF AF PF after IMUL). A third of the
 * programs may read undefined flags (a Jcc on ZF after IMUL, say), where
 * the personalities differ: those are compared between eager and off only.
 * The test also counts the instructions that were compiled as templates, so
 * that it notices when the programs stop reaching them.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../../../mod.ts";
import type { Insn } from "../../../emu/x86/insn.ts";
import type { Block } from "../../../emu/x86/jit/block.ts";
import { isEager } from "../../../emu/x86/jit/eager.ts";
import { template } from "../../../emu/x86/jit/templates.ts";
import { backendVendor } from "../../../diff/vendor.ts";
import { Prng } from "../../../diff/prng.ts";
import { skip, test } from "../../_support/harness.ts";
import {
  AF,
  ARITH,
  CF,
  codeAt,
  differences,
  h32,
  kvmMissing,
  le32,
  type Op,
  openEmu,
  type Outcome,
  PF,
  regName,
  report,
  rex,
  RSP,
  type Runner,
  runner,
  SF,
  templateSite,
  type Vendor,
  ZF,
} from "./_jit.ts";
import {
  ALU,
  aluFlags,
  DATA_AT,
  DATA_SIZE,
  EDGES,
  enc,
  imm,
  M32,
  M64,
  type Mem,
  mod,
  modrm,
  NarrowGenerator,
  PRODUCTS,
  PTR,
  REMAP,
  SHIFT,
  SHIFTED,
  shiftFlags,
  sib,
  signed,
  TEMPLATED,
} from "./_narrow.ts";

// ---------------------------------------------------------------------------------------------------------------
// Random programs

/** A generator of random programs in one mode: the register operations, memory operands and eager flags. */
class Generator extends NarrowGenerator {
  protected step(): void {
    const r = this.r;
    const kind = r.weighted<string>([
      ["movImm32", 2],
      ["alu32", 2],
      ["alu", 5],
      ["aluImm", 4],
      ["test", 2],
      ["incDec", 3],
      ["mov", 3],
      ["movx", 2],
      ["memory", 9],
      ["shift", 4],
      ["imul", 2],
      ["adcSbb", 1],
      ["setcc", 1],
      ["flags", 1],
      ["jcc", 3],
      ["narrowProbe", 6],
      ["eagerProbe", 6],
    ]);
    switch (kind) {
      case "movImm32": {
        const d = this.reg(4, false);
        return this.emit(this.movImm(d, 4, false));
      }
      case "alu32":
        return this.emit(this.alu(r.pick(TEMPLATED), 4));
      case "alu":
        return this.emit(this.alu(r.pick(TEMPLATED), this.size() === 4 ? 1 : 2));
      case "aluImm":
        return this.emit(this.aluImm(r.pick(TEMPLATED), r.pick([1, 2])));
      case "test":
        return this.emit(this.test(r.pick([1, 2])));
      case "incDec":
        return this.emit(this.incDec(r.pick([1, 2])));
      case "mov":
        return this.emit(this.mov(r.pick([1, 2])));
      case "movx":
        return this.emit(this.movx());
      case "memory":
        return this.memory();
      case "shift":
        return this.emit(this.shift(this.reg(4, false)));
      case "imul":
        return this.emit(this.imul(this.reg(4, false)));
      case "adcSbb":
        return this.adcSbb();
      case "setcc":
        return this.setcc();
      case "flags":
        return this.flags();
      case "jcc":
        return this.jcc();
      case "narrowProbe":
        return this.narrowProbe();
      default:
        return this.eagerProbe();
    }
  }

  // Memory operands ------------------------------------------------------------------------------------------

  /**
   * A memory operand of `size` bytes inside the data area, in a random addressing form; the MOVs that set its
   * base and index registers are emitted first.
   */
  protected address(size: number): Mem {
    const r = this.r, long = this.bits === 64;
    // A quarter of the operands at the page boundary: just below, across or just above it.
    const t = r.chance(1, 4) ? REMAP.linear - size + r.below(size + 1) : DATA_AT + r.below(DATA_SIZE - size + 1);
    const a32 = long && r.chance(1, 4);
    const prefix = a32 ? [0x67] : [];
    const form = r.weighted<string>([
      ["abs", 1],
      ["base", 2],
      ["disp8", 2],
      ["disp32", 2],
      ["sib", 4],
      ["index", 1],
      ...(long ? [["rip", 2] as [string, number]] : []),
    ]);
    if (form === "abs") {
      const tail = (reg: number) => long ? [modrm(0, reg, 4), 0x25, ...le32(t)] : [modrm(0, reg, 5), ...le32(t)];
      return { prefix, x: 0, b: 0, regs: [], tail, text: `[${h32(t)}]` };
    }
    if (form === "rip") {
      const tail = (reg: number) => [modrm(0, reg, 5), 0, 0, 0, 0];
      return { prefix, x: 0, b: 0, regs: [], tail, text: `[rip -> ${h32(t)}]`, rip: t };
    }
    // The registers' width, and the sum's: 64 bits, or 32 bits (32-bit mode; 67 in 64-bit mode).
    const wide = long && !a32, m = wide ? M64 : M32, aw = wide ? 8 : 4;
    const scale = form === "sib" || form === "index" ? r.below(4) : 0;
    const pick = (not: number) => {
      for (;;) {
        const n = r.below(long ? 16 : 8);
        if (n !== RSP && n !== not) return n;
      }
    };
    const base = form === "index" ? -1 : pick(-1);
    const index = form === "sib" || form === "index" ? pick(base) : -1;
    // The index: small, of either sign, or anything (with 67, its upper half is ignored); with no base and 64-bit
    // addressing, small enough that the displacement makes up the rest of the sum.
    let iv = 0n;
    if (form === "index" && wide) iv = BigInt(r.range(-(1 << 20), 1 << 20));
    else if (index >= 0) {
      iv = r.chance(1, 2) ? BigInt(r.range(-64, 64)) : BigInt(r.u32()) | (wide ? BigInt(r.u32()) << 32n : 0n);
    }
    const scaled = iv << BigInt(scale);
    // The displacement: its size by the form (a base of EBP/RBP/R13 needs one); the base makes up the sum.
    const dsize = form === "index" || form === "disp32"
      ? 4
      : form === "disp8" || (base & 7) === 5
      ? 1
      : form === "base"
      ? 0
      : r.pick([0, 1, 4]);
    const d = form === "index"
      ? Number(BigInt.asIntN(32, BigInt(t) - scaled))
      : dsize === 0
      ? 0
      : dsize === 1
      ? signed(this.rawImm(1), 1)
      : this.disp32();
    const junk = () => (a32 && r.chance(1, 2) ? BigInt(r.u32()) << 32n : 0n);
    if (base >= 0) this.set(base, mod(BigInt(t) - BigInt(d) - scaled, m) | junk());
    if (index >= 0) this.set(index, mod(iv, m) | junk());
    const rmod = dsize === 0 ? 0 : dsize === 1 ? 1 : 2;
    const dbytes = dsize === 0 ? [] : dsize === 1 ? [d & 0xff] : le32(d);
    const parts = [
      ...(base >= 0 ? [regName(base, aw)] : []),
      ...(index >= 0 ? [`${regName(index, aw)}*${1 << scale}`] : []),
      ...(dsize ? [String(d)] : []),
    ];
    let tail: (reg: number) => number[];
    if (form === "index") tail = (reg) => [modrm(0, reg, 4), sib(scale, index, 5), ...le32(d)];
    else if (index >= 0 || (base & 7) === 4) {
      tail = (reg) => [modrm(rmod, reg, 4), sib(scale, index >= 0 ? index : 4, base), ...dbytes];
    } else tail = (reg) => [modrm(rmod, reg, base), ...dbytes];
    const regs = [base, index].filter((n) => n >= 0);
    return { prefix, x: index >= 8 ? 1 : 0, b: base >= 8 ? 1 : 0, regs, tail, text: `[${parts.join(" + ")}]` };
  }

  /** An immediate of `size` bytes, ignoring the edge mode. */
  protected rawImm(size: number): number {
    return this.r.chance(1, 3) ? this.r.pick(EDGES[size]) : this.r.below(2 ** (8 * size));
  }

  /** A 32-bit displacement (signed). */
  protected disp32(): number {
    const r = this.r;
    return r.chance(1, 3) ? r.pick([-0x80000000, 0x7fffffff, -1, 0x80, -0x81, 0x1000]) : r.u32() | 0;
  }

  /** An instruction with memory operand `m`: prefixes, REX, `op`, ModRM..., `tail` (an immediate). */
  protected withMem(op: number[], reg: number, m: Mem, size: number, rexOn: boolean, after: number[] = []): number[] {
    const o16 = size === 2 ? [0x66] : [];
    const bytes = [...o16, ...m.prefix, ...rex(size === 8, reg, m.b << 3, rexOn, m.x << 3), ...op, ...m.tail(reg)];
    bytes.push(...after);
    if (m.rip !== undefined) {
      const end = codeAt(this.bits) + this.at + bytes.length;
      bytes.splice(bytes.length - after.length - 4, 4, ...le32(m.rip - end));
    }
    return bytes;
  }

  /**
   * An instruction with a memory operand of 8, 16 or 32 bits: ALU reg, [mem]; CMP [mem], imm or reg; TEST [mem],
   * reg or imm; a MOV load or store; MOVZX/MOVSX from memory. `probe`: an edge value stored there first, and a
   * flag producer with a memory source.
   */
  protected memory(size = this.size(), probe = false): void {
    const r = this.r;
    const kind = probe ? r.pick(["aluLoad", "aluLoad", "cmpImm", "cmpReg", "testReg", "testImm"]) : r.weighted<string>([
      ["aluLoad", 4],
      ["cmpImm", 2],
      ["cmpReg", 2],
      ["testReg", 2],
      ["testImm", 2],
      ["load", 2],
      ["store", 2],
      ["storeImm", 2],
      ["movx", 2],
    ]);
    const from = kind === "movx" ? r.pick([1, 2]) : size;
    const m = this.address(from);
    const rexOn = m.x + m.b !== 0 || (size === 1 && this.rexOn());
    const ptr = `${PTR[from]} ${m.text}`;
    // A probe stores an edge value first, and the other operand is sometimes the same value.
    const v = probe ? this.imm(size) : 0, same = () => (probe && r.chance(1, 3) ? v : this.imm(size));
    if (probe) {
      const bytes = this.withMem([size === 1 ? 0xc6 : 0xc7], 0, m, size, rexOn, imm(v, size));
      this.emit({ bytes, asm: `mov ${ptr}, ${h32(v)}` });
    }
    const b1 = size === 1 ? 0 : 1;
    // The register operand: (E/R)SP or SPL only where it is just read (and a probe does not set it first).
    const reg = this.reg(size, rexOn, probe || (kind !== "cmpReg" && kind !== "testReg" && kind !== "store"));
    const rn = this.name(reg, size, rexOn);
    const whole = size === 1 && !rexOn && reg >= 4 ? reg - 4 : reg; // AH-BH are in EAX-EBX
    if (probe && kind !== "cmpImm" && kind !== "testImm" && !m.regs.includes(whole)) {
      this.emit(this.movImm(reg, size, rexOn, same()));
    }
    switch (kind) {
      case "aluLoad": {
        const k = r.chance(1, 8) ? r.pick([2, 3]) : r.pick(TEMPLATED);
        if (k === 2 || k === 3) this.define(CF);
        const bytes = this.withMem([(k << 3) | 2 | b1], reg, m, size, rexOn);
        return this.emit({ bytes, asm: `${ALU[k]} ${rn}, ${ptr}`, ...aluFlags(k) });
      }
      case "cmpImm": {
        if (size !== 1 && r.chance(1, 3)) {
          const v = this.imm(1);
          const bytes = this.withMem([0x83], 7, m, size, rexOn, [v]);
          return this.emit({ bytes, asm: `cmp ${ptr}, ${signed(v, 1)}`, writes: ARITH });
        }
        const w = same();
        const bytes = this.withMem([0x80 | b1], 7, m, size, rexOn, imm(w, size));
        return this.emit({ bytes, asm: `cmp ${ptr}, ${h32(w)}`, writes: ARITH });
      }
      case "cmpReg":
        return this.emit({
          bytes: this.withMem([0x38 | b1], reg, m, size, rexOn),
          asm: `cmp ${ptr}, ${rn}`,
          writes: ARITH,
        });
      case "testReg": {
        const bytes = this.withMem([0x84 | b1], reg, m, size, rexOn);
        return this.emit({ bytes, asm: `test ${ptr}, ${rn}`, writes: ARITH, undef: AF });
      }
      case "testImm": {
        const w = same();
        const bytes = this.withMem([0xf6 | b1], 0, m, size, rexOn, imm(w, size));
        return this.emit({ bytes, asm: `test ${ptr}, ${h32(w)}`, writes: ARITH, undef: AF });
      }
      case "load":
        return this.emit({ bytes: this.withMem([0x8a | b1], reg, m, size, rexOn), asm: `mov ${rn}, ${ptr}` });
      case "store":
        return this.emit({ bytes: this.withMem([0x88 | b1], reg, m, size, rexOn), asm: `mov ${ptr}, ${rn}` });
      case "storeImm": {
        const w = this.imm(size);
        const bytes = this.withMem([0xc6 | b1], 0, m, size, rexOn, imm(w, size));
        return this.emit({ bytes, asm: `mov ${ptr}, ${h32(w)}` });
      }
      default: {
        const sx = r.chance(1, 2), d = this.reg(4, false);
        const bytes = this.withMem([0x0f, 0xb6 | (sx ? 8 : 0) | (from === 2 ? 1 : 0)], d, m, 4, rexOn);
        return this.emit({ bytes, asm: `mov${sx ? "sx" : "zx"} ${regName(d, 4)}, ${ptr}` });
      }
    }
  }

  // Eager flags ----------------------------------------------------------------------------------------------

  /**
   * A shift or rotate of a 32-bit register by 1 (D1) or an immediate (C1): counts 1-31, and some that mask to 0
   * (no template: nothing changes) or to 1. `kind`: the group's ModRM.reg (RCL/RCR have no template).
   */
  protected shift(d: number, kind = this.r.pick([0, 0, 1, 1, 4, 4, 5, 5, 6, 7, 7, 2, 3])): Op {
    const r = this.r, name = `${SHIFT[kind]} ${regName(d, 4)}`;
    if (kind === 2 || kind === 3) this.define(CF);
    if (r.chance(1, 4)) return { bytes: enc([0xd1], kind, d, 4), asm: `${name}, 1`, ...shiftFlags(kind, 1) };
    const count = r.chance(1, 4) ? r.pick([0, 32, 64, 33, 31, 1, 0xff]) : r.range(1, 31);
    return {
      bytes: enc([0xc1], kind, d, 4, false, [count]),
      asm: `${name}, ${count}`,
      ...shiftFlags(kind, count & 31),
    };
  }

  /**
   * IMUL r32, r32 (0F AF) or r32, r32, imm8/imm32 (6B/69; with `factor`, that immediate, as imm8 where it fits):
   * CF and OF defined, SF ZF AF PF undefined.
   */
  protected imul(d: number, s = this.reg(4, false, false), factor?: number): Op {
    const r = this.r, flags = { writes: ARITH, undef: SF | ZF | AF | PF };
    const how = factor === undefined ? r.below(3) : factor === signed(factor, 1) && r.chance(1, 2) ? 1 : 2;
    if (how === 0) {
      return { bytes: enc([0x0f, 0xaf], d, s, 4), asm: `imul ${regName(d, 4)}, ${regName(s, 4)}`, ...flags };
    }
    const size = how === 1 ? 1 : 4;
    const v = factor === undefined ? this.imm(size) : factor & (size === 1 ? 0xff : -1);
    const asm = `imul ${regName(d, 4)}, ${regName(s, 4)}, ${signed(v, size)}`;
    return { bytes: enc([size === 1 ? 0x6b : 0x69], d, s, 4, false, imm(v, size)), asm, ...flags };
  }

  /**
   * Edge values into a shift, rotate or IMUL, sometimes after another flag producer (whose flags a rotate or AMD's
   * IMUL keeps) and sometimes followed by a second one or an INC/DEC (which keeps CF), then a reader of the flags.
   */
  protected eagerProbe(): void {
    const r = this.r, d = this.reg(4, false), s = this.reg(4, false);
    this.edge = true;
    if (r.chance(1, 2)) {
      const size = this.size(), how = r.below(3), o = this.reg(size, false);
      this.emit(
        how === 0
          ? this.aluImm(r.pick(TEMPLATED), size, o, false)
          : how === 1
          ? this.incDec(size, o, false)
          : this.test(size, o, false),
      );
    }
    if (r.chance(1, 3)) {
      // x * y: x in s, y in d (IMUL d, s) or an immediate (IMUL d, s, y); with s = d, IMUL d, s is x * x.
      const pair = r.pick(PRODUCTS), [x, y] = r.chance(1, 2) ? pair : [pair[1], pair[0]];
      this.set(s, BigInt(x >>> 0));
      if (s !== d) this.set(d, BigInt(y >>> 0));
      this.emit(r.chance(1, 2) ? this.imul(d, s) : this.imul(d, s, y));
    } else {
      this.set(d, BigInt(r.pick(SHIFTED) >>> 0));
      this.emit(this.shift(d));
    }
    const then = r.below(6);
    if (then === 0) this.emit(this.shift(r.chance(1, 2) ? d : this.reg(4, false), r.pick([0, 1])));
    else if (then === 1) this.emit(this.imul(this.reg(4, false)));
    else if (then === 2) this.emit(this.incDec(this.size()));
    this.edge = false;
    this.read();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Which instructions ran as templates

/** A site to ask `template` whether an instruction has one (the answer does not depend on the site). */
const SITE = templateSite("intel");

/** Whether `d` has a memory operand: a ModRM with mod 0-2 (B0-BF, AL/AX/EAX, imm, A8/A9 and 40-4F have no ModRM). */
function hasMemory(d: Insn): boolean {
  const op = d.op;
  const noModrm = (op >= 0xb0 && op <= 0xbf) || (op < 0x40 && (op & 7) >= 4) || op === 0xa8 || op === 0xa9 ||
    (op >= 0x40 && op <= 0x5f);
  return d.mod !== 3 && !noModrm;
}

/** Counts, by kind (eager; reg8/16/32; mem8/16/32), the instructions of the blocks `r` compiled that have templates. */
function countTemplates(r: Runner, seen: WeakSet<Block>, into: Map<string, number>): void {
  for (const b of r.emu().cpu.blocks.byAddress.values()) {
    if (seen.has(b)) continue;
    seen.add(b);
    for (const d of b.insns) {
      if (template(d, SITE) === undefined) continue;
      const kind = isEager(d) ? "eager" : `${hasMemory(d) ? "mem" : "reg"}${d.size * 8}`;
      into.set(kind, (into.get(kind) ?? 0) + 1);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The differential

/** Programs per mode, and the seed of the whole run. */
const PROGRAMS = 300, SEED = 0xb10c2;
const VENDORS: readonly Vendor[] = ["intel", "amd"];

for (const bits of [32, 64] as const) {
  const name = `block compiler differential, ${bits}-bit: 8/16-bit, memory operands, shifts and IMUL; ` +
    `eager = off (Intel, AMD) = kvm`;
  const missing = kvmMissing();
  if (missing !== undefined) skip(`${name}: the comparison with kvm`, missing);
  test(name, () => {
    const mapping = bits === 64 ? { remap: REMAP } : {};
    using real = missing === undefined ? Kvm.open({ backend: "kvm" }) : undefined;
    const host = real ? backendVendor(real) : undefined;
    using hw = real && host ? runner("kvm", real, bits, mapping) : undefined;
    const stack = new DisposableStack();
    using _ = stack;
    const runners = VENDORS.map((vendor) => ({
      vendor,
      off: stack.use(runner(`off (${vendor})`, stack.use(openEmu("off", vendor)), bits, mapping)),
      eager: stack.use(runner(`eager (${vendor})`, stack.use(openEmu("eager", vendor)), bits, mapping)),
    }));
    const failures: string[] = [];
    const templated = new Map<string, number>(), seen = new WeakSet<Block>();
    let onKvm = 0;
    for (let i = 0; i < PROGRAMS; i++) {
      const r = new Prng(SEED + bits, i);
      const p = new Generator(r, bits).program(r.range(8, 30));
      const results: [string, Outcome][] = [];
      const diff: string[] = [];
      for (const { vendor, off, eager } of runners) {
        const a = off.run(p), b = eager.run(p);
        countTemplates(eager, seen, templated);
        results.push([off.name, a], [eager.name, b]);
        diff.push(...differences(a, b, ARITH).map((d) => `eager vs off (${vendor}): ${d}`));
        if (a.exit !== "hlt") diff.push(`off (${vendor}) did not halt`);
        if (hw && vendor === host && p.kvm) {
          const c = hw.run(p);
          results.push(["kvm", c]);
          diff.push(...differences(a, c, ARITH & ~p.undefinedFlags).map((d) => `kvm vs off (${vendor}): ${d}`));
          onKvm++;
        }
      }
      if (diff.length) failures.push(`${diff.join(", ")}\n${report(p, `program ${i}`, results)}`);
    }
    assert.equal(
      failures.length,
      0,
      `${failures.length} of ${PROGRAMS} programs differ; the first:\n${failures.slice(0, 3).join("\n\n")}`,
    );
    // The programs reach the templates they are about, and most of them are compared with KVM.
    const counts = JSON.stringify(Object.fromEntries(templated));
    for (const kind of ["reg8", "reg16", "reg32", "mem8", "mem16", "mem32", "eager"]) {
      assert.ok((templated.get(kind) ?? 0) >= 100, `templates run: ${counts}`);
    }
    if (hw) assert.ok(onKvm >= PROGRAMS / 2, `${onKvm} of ${PROGRAMS} programs compared with kvm`);
  });
}
