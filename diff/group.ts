/**
 * Builds one group of a case: an instruction of a given form with random
 * operand size, address size, prefixes, registers, memory operand and
 * immediates, preceded by the setup instructions that aim its memory
 * operands at the data area, fix its shift count, keep the stack pointer in
 * its zone and define any flag it reads that an earlier instruction left
 * undefined.
 *
 * @module
 */
import { planAddress, widen } from "./address.ts";
import type { Group, Insn, StackNote } from "./case.ts";
import { immediate, pickTarget, shiftCount } from "./choose.ts";
import { assemble, cmpRegs, littleEndian, movByte, movImm, pushImm } from "./encode.ts";
import { applyEffect, flagEffect, insnFlagEffect } from "./effects.ts";
import { type Form, hasModrm, isModrmRm, operandBits, sizeClass } from "./encodings.ts";
import { type Env, SEG_PREFIX, SEG_REGS, segmentBase, type SegReg } from "./env.ts";
import { STATUS } from "./flags.ts";
import { DATA, STACK_HIGH, STACK_LOW } from "./layout.ts";
import type { Prng } from "./prng.ts";

/** The generator's knowledge while it builds a case. */
export interface GenState {
  rng: Prng;
  env: Env;
  /** The stack pointer as an offset into the data area. */
  sp: number;
  /** Status flags undefined at this point of the case. */
  poison: number;
}

const ZONE: [number, number] = [STACK_LOW, STACK_HIGH];

/** The stack pointer's register value for data offset `sp`. */
function spValue(env: Env, sp: number): bigint {
  return BigInt(DATA + sp - segmentBase(env, "ss"));
}

/** The default address size of `env`'s mode. */
function defaultAsize(env: Env): number {
  return env.mode === "16" ? 16 : env.mode === "32" ? 32 : 64;
}

/** The effective address of linear `target` through `seg`, if `asize` can express it. */
function eaOf(env: Env, asize: number, seg: SegReg, target: number): bigint | undefined {
  const ea = target - segmentBase(env, seg);
  if (ea < 0 || ((asize === 16 || env.mode === "16") && ea > 0xffff)) return undefined;
  return BigInt(ea);
}

/** Chooses the operand size for `form`. */
function chooseOsize(rng: Prng, env: Env, form: Form): number {
  const m64 = env.mode === "64";
  const def = env.mode === "16" ? 16 : 32;
  const alt = def === 16 ? 32 : 16;
  switch (sizeClass(form)) {
    case "v":
      return rng.weighted([[def, 4], [alt, 2], [64, m64 ? 3 : 0]]);
    case "y":
      return m64 && rng.chance(1, 2) ? 64 : 32;
    case "d64":
      return m64 ? (rng.chance(1, 4) ? 16 : 64) : rng.weighted([[def, 4], [alt, 1]]);
    default:
      return def;
  }
}

/** A group for `form` and the state after it, or undefined when this attempt does not work out. */
function attempt(st: GenState, form: Form): { group: Group; sp: number; poison: number } | undefined {
  const { rng, env } = st;
  const mode = env.mode;
  const m64 = mode === "64";
  const osize = chooseOsize(rng, env, form);
  const cls = sizeClass(form);
  const def = mode === "16" ? 16 : 32;
  const p66 = cls !== "fixed" && osize !== def && osize !== 64;
  const rexW = form.rexW === true || (m64 && osize === 64 && cls !== "d64");
  const ops = form.operands;
  const writes = form.writes ?? [0];
  const special = form.special;

  const memIndex = ops.findIndex(isModrmRm);
  const moffsIndex = ops.findIndex((o) => o[0] === "O");
  const addrUser = memIndex >= 0 || moffsIndex >= 0 || special === "string" || special === "xlat";
  let asize = defaultAsize(env);
  if (addrUser && rng.chance(1, 4)) asize = mode === "32" ? 16 : 32;
  const p67 = asize !== defaultAsize(env);
  const useMem = memIndex >= 0 && (ops[memIndex][0] === "M" || rng.chance(1, 2));

  const regMax = m64 ? 16 : 8;
  const regs = ops.map((o) => o[0] === "G" || o[0] === "Z" || (o[0] === "E" && !useMem) ? rng.below(regMax) : -1);
  const gIndex = ops.findIndex((o) => o[0] === "G");
  const reserved = new Set<number>();
  if (special === "count") reserved.add(1);
  if (special === "div") reserved.add(0).add(2);
  if (special === "enter" || special === "leave") reserved.add(5);
  if (special === "bitOffset" && useMem) {
    if (regs[gIndex] === 4) return undefined; // its setup would move the stack pointer
    reserved.add(regs[gIndex]);
  }

  const memWritten = (useMem && writes.includes(memIndex)) || (moffsIndex >= 0 && writes.includes(moffsIndex));
  let override: SegReg | undefined;
  if ((useMem || moffsIndex >= 0 || special === "string" || special === "xlat") && rng.chance(1, 4)) {
    const csWritable = m64 || (mode === "16" && env.real);
    override = rng.pick(SEG_REGS.filter((s) => s !== "cs" || !memWritten || csWritable));
  }

  const setups: Insn[] = [];
  const late: Insn[] = []; // setups that must follow the address setups
  let note: StackNote | undefined;
  let sp = st.sp;
  const sizeBytes = osize / 8;

  // The stack: keep the pointer in its zone for anything that pushes or pops.
  const pushes = form.stack ?? 0;
  const stackUser = pushes !== 0 || special === "enter" || special === "popf";
  if (stackUser && (sp < STACK_LOW + 0x120 || sp > STACK_HIGH - 0x40)) {
    sp = rng.range(STACK_LOW + 0x200, STACK_HIGH - 0x80) & ~1;
    setups.push({ ...movImm(mode, 4, spValue(env, sp)), stack: { set: sp } });
  }

  // The memory operand.
  let modrmMem: ReturnType<typeof planAddress>;
  if (useMem) {
    const op = ops[memIndex];
    const bytes = op === "M" ? 1 : operandBits(op, osize) / 8;
    const target = pickTarget(rng, bytes, {
      margin: special === "bitOffset" ? 96 : 0,
      align: special === "align16" ? 16 : undefined,
    });
    const rsp = stackUser ? undefined : spValue(env, sp);
    modrmMem = planAddress(rng, { env, asize, target, override, reserved, rsp });
    if (!modrmMem) return undefined;
    for (const s of modrmMem.setups) setups.push(movImm(mode, s.reg, s.value));
    if (modrmMem.usesRsp) note = { expect: sp };
  }

  // REX, and no write to the stack pointer through a register operand.
  let rex = 0;
  if (m64) {
    const r = gIndex >= 0 && regs[gIndex] >= 8;
    const b = regs.some((v, i) => v >= 8 && i !== gIndex) || (modrmMem?.rexB ?? false);
    const x = modrmMem?.rexX ?? false;
    if (rexW || r || b || x || rng.chance(1, 8)) rex = 0x40 | (rexW ? 8 : 0) | (r ? 4 : 0) | (x ? 2 : 0) | (b ? 1 : 0);
  }
  for (const [i, reg] of regs.entries()) {
    if (reg < 0 || !writes.includes(i)) continue;
    const bits = operandBits(ops[i], osize);
    if (reg === 4 && (bits > 8 || rex !== 0)) return undefined;
  }

  // Immediates, moffs, counts.
  const imm: number[] = [];
  let disp: number[] = modrmMem?.disp ?? [];
  let count: number | undefined;
  const eIndex = memIndex >= 0 ? memIndex : ops.findIndex((o) => o[0] === "E");
  const first = ops[0];
  const flagSize = eIndex >= 0
    ? operandBits(ops[eIndex], osize)
    : first !== undefined && first !== "1" && first[0] !== "I"
    ? operandBits(first, osize)
    : special === "string" && !form.size
    ? 8
    : osize;
  const pickCount = () => {
    for (;;) {
      const c = shiftCount(rng, flagSize);
      if (form.flags?.rule !== "doubleShift" || flagSize !== 16 || (c & 31) <= 16) return c;
    }
  };
  for (const op of ops) {
    if (op === "1") count = 1;
    else if (op === "CL" && special === "count") {
      count = pickCount();
      late.push(movByte(1, count));
    } else if (op === "Ib") {
      let v: number;
      if (form.flags?.rule) v = count = pickCount();
      else if (form.mnemonic === "aam" || form.mnemonic === "aad") v = rng.chance(3, 4) ? 10 : rng.below(256);
      else if (special === "enter") v = rng.chance(7, 8) ? rng.below(5) : rng.below(256);
      else v = Number(immediate(rng, 8));
      imm.push(v & 0xff);
    } else if (op === "Ibs") imm.push(Number(immediate(rng, 8)));
    else if (op === "Iw") {
      const v = special === "enter" ? rng.below(rng.chance(7, 8) ? 0x40 : 0x100) : Number(immediate(rng, 16));
      imm.push(...littleEndian(v, 2));
    } else if (op === "Iz") imm.push(...littleEndian(immediate(rng, Math.min(osize, 32)), Math.min(osize, 32) / 8));
    else if (op === "Iv") imm.push(...littleEndian(immediate(rng, osize), osize / 8));
    else if (op === "Ob" || op === "Ov") {
      const bytes = op === "Ob" ? 1 : sizeBytes;
      const ea = eaOf(env, asize, override ?? "ds", pickTarget(rng, bytes));
      if (ea === undefined) return undefined;
      disp = littleEndian(ea, asize / 8);
    }
  }

  // Specials.
  let repPrefix = 0;
  if (special === "string") {
    const esz = form.mnemonic.endsWith("b") ? 1 : sizeBytes;
    if (form.rep && rng.chance(1, 2)) repPrefix = form.rep === "repcc" && rng.chance(1, 2) ? 0xf2 : 0xf3;
    const n = repPrefix ? rng.range(0, 16) : 1;
    const src = eaOf(env, asize, override ?? "ds", pickTarget(rng, esz, { margin: 160 }));
    const dst = eaOf(env, asize, "es", pickTarget(rng, esz, { margin: 160 }));
    if (src === undefined || dst === undefined) return undefined;
    late.push(movImm(mode, 6, widen(rng, env, asize, src)), movImm(mode, 7, widen(rng, env, asize, dst)));
    if (repPrefix) late.push(movImm(mode, 1, widen(rng, env, asize, BigInt(n))));
  } else if (special === "xlat") {
    const ea = eaOf(env, asize, override ?? "ds", pickTarget(rng, 256, { faults: false }));
    if (ea === undefined) return undefined;
    late.push(movImm(mode, 3, widen(rng, env, asize, ea)));
  } else if (special === "div" && rng.chance(1, 2)) {
    late.push(flagSize === 8 ? movByte(4, rng.below(4)) : movImm(mode, 2, BigInt(rng.chance(1, 2) ? 0 : rng.below(4))));
  } else if (special === "bitOffset" && useMem) {
    late.push(movImm(mode, regs[gIndex], BigInt.asUintN(m64 ? 64 : 32, BigInt(rng.range(-512, 511)))));
  } else if (special === "popf") {
    let image = rng.u32() & ~0x100; // TF clear...
    if (rng.chance(1, 16)) image |= 0x100; // ...mostly
    if (!rng.chance(1, 8)) image &= ~0x40000; // AC rarely
    late.push({ ...pushImm(mode, osize, image), stack: { delta: -sizeBytes, zone: ZONE } });
    sp -= sizeBytes;
  } else if (special === "enter" || special === "leave") {
    const rbp = rng.range(STACK_LOW + 0x100, STACK_HIGH) & ~1;
    late.push(movImm(mode, 5, spValue(env, rbp)));
    if (special === "leave") note = { set: rbp + sizeBytes };
  }
  if (special === "enter") {
    const frame = imm[0] | (imm[1] << 8);
    const level = imm[2] & 31;
    note = { delta: -((level === 0 ? 1 : level + 1) * sizeBytes + frame), zone: ZONE };
  } else if (pushes !== 0) {
    note = { ...note, delta: pushes * sizeBytes, zone: ZONE };
  }

  // Flags: define any flag this instruction reads that is undefined now.
  const effect = flagEffect(form, flagSize, count);
  const flagSetup: Insn[] = [];
  if (effect.reads & st.poison & STATUS) {
    flagSetup.push(cmpRegs(mode, rng.below(8), rng.below(8), rng.chance(1, 2)));
  }

  // Prefixes and the instruction itself.
  const prefixes: number[] = [];
  if (p66) prefixes.push(0x66);
  if (p67) prefixes.push(0x67);
  if (override) prefixes.push(SEG_PREFIX[override]);
  if (useMem && form.lock && rng.chance(1, 3)) prefixes.push(0xf0);
  if (repPrefix) prefixes.push(repPrefix);
  for (let i = prefixes.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [prefixes[i], prefixes[j]] = [prefixes[j], prefixes[i]];
  }
  const opcode = [...form.opcode];
  const zIndex = ops.findIndex((o) => o[0] === "Z");
  if (zIndex >= 0) opcode[opcode.length - 1] += regs[zIndex] & 7;
  let modrm: number | undefined;
  let sib: number | undefined;
  if (hasModrm(form)) {
    const regField = form.ext ?? (regs[gIndex] & 7);
    if (modrmMem) {
      modrm = (modrmMem.mod << 6) | (regField << 3) | modrmMem.rm;
      sib = modrmMem.sib;
    } else {
      modrm = 0xc0 | (regField << 3) | (regs[eIndex] & 7);
    }
  }
  const enc = assemble({ prefixes, rex, opcode, modrm, sib, disp, imm, ripRel: modrmMem?.ripRel });
  const main: Insn = { bytes: enc.bytes, form: form.id, size: flagSize };
  if (count !== undefined) main.count = count;
  if (enc.ripRel) main.ripRel = enc.ripRel;
  if (note) main.stack = note;

  const insns = [...flagSetup, ...setups, ...late, main];
  let poison = st.poison;
  for (const insn of insns) poison = applyEffect(poison, insnFlagEffect(insn));
  if (note?.set !== undefined) sp = note.set;
  else if (note?.delta !== undefined) sp += note.delta;
  return { group: { insns }, sp, poison };
}

/** Builds a group for `form` and advances `st`; undefined when no attempt worked. */
export function buildGroup(st: GenState, form: Form): Group | undefined {
  for (let i = 0; i < 8; i++) {
    const r = attempt(st, form);
    if (!r) continue;
    st.sp = r.sp;
    st.poison = r.poison;
    return r.group;
  }
  return undefined;
}
