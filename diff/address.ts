/**
 * Aims a ModRM memory operand at a chosen linear address: picks an
 * addressing form (16-bit: the eight base/index combinations; 32/64-bit:
 * base, base + index * scale, index only, absolute, RIP-relative), a
 * displacement, and the register values that make the effective address,
 * plus its segment base, land on the target. The registers are then set by
 * `mov reg, imm` setup instructions just before the instruction.
 *
 * @module
 */
import { type Env, segmentBase, type SegReg } from "./env.ts";
import type { Prng } from "./prng.ts";

/** What the operand must reach. */
export interface AddressRequest {
  env: Env;
  /** Address size: 16, 32 or 64. */
  asize: number;
  /** The linear address to reach. */
  target: number;
  /** A segment override prefix, if the instruction has one. */
  override?: SegReg;
  /** Registers (encoding numbers) that must not be used as base or index. */
  reserved: ReadonlySet<number>;
  /** The stack pointer's current value when the generator knows it (then rsp may be a base). */
  rsp?: bigint;
}

/** An addressing form and the register values it needs. */
export interface AddressPlan {
  mod: number;
  rm: number;
  sib?: number;
  /** Displacement bytes, little-endian. */
  disp: number[];
  /** REX.X and REX.B bits the registers need (64-bit mode). */
  rexX: boolean;
  rexB: boolean;
  /** Register values to set before the instruction: encoding number and full value. */
  setups: { reg: number; value: bigint }[];
  /** RIP-relative: the effective address the displacement must reach (patched at layout). */
  ripRel?: number;
  /** The segment the access goes through. */
  seg: SegReg;
  /** The base register is rsp (the stack pointer must be exactly as the generator tracked it). */
  usesRsp: boolean;
}

function le(value: bigint, bytes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) out.push(Number((value >> BigInt(8 * i)) & 0xffn));
  return out;
}

/** A register value whose low `asize` bits are `low`; in a wider register the rest is sometimes random. */
export function widen(rng: Prng, env: Env, asize: number, low: bigint): bigint {
  const regBits = env.mode === "64" ? 64 : 32;
  const v = BigInt.asUintN(asize, low);
  if (asize >= regBits || rng.chance(1, 2)) return v;
  return (rng.bits(regBits - asize) << BigInt(asize)) | v;
}

/** The effective address `target` needs through `seg`, or undefined when `asize` cannot express it. */
function effective(req: AddressRequest, seg: SegReg): bigint | undefined {
  const ea = req.target - segmentBase(req.env, seg);
  if (ea < 0) return undefined;
  // Real and 16-bit protected mode segments have a 64 KiB limit, whatever the address size.
  if ((req.asize === 16 || req.env.mode === "16") && ea > 0xffff) return undefined;
  return BigInt(ea);
}

const BX = 3, BP = 5, SI = 6, DI = 7;
const RM16: readonly (readonly number[])[] = [[BX, SI], [BX, DI], [BP, SI], [BP, DI], [SI], [DI], [BP], [BX]];

/** A 16-bit addressing plan, or undefined when this attempt does not work out. */
function plan16(rng: Prng, req: AddressRequest): AddressPlan | undefined {
  const rm = rng.below(8);
  const mod = rng.below(3);
  const regs = mod === 0 && rm === 6 ? [] : RM16[rm];
  if (regs.some((r) => req.reserved.has(r))) return undefined;
  const seg = req.override ?? (regs[0] === BP ? "ss" : "ds");
  const ea = effective(req, seg);
  if (ea === undefined) return undefined;
  let disp = 0n, dispBytes = 0;
  if (regs.length === 0) {
    disp = ea, dispBytes = 2;
  } else if (mod === 1) {
    disp = BigInt(rng.range(-128, 127)), dispBytes = 1;
  } else if (mod === 2) {
    disp = rng.bits(16), dispBytes = 2;
  }
  const setups: AddressPlan["setups"] = [];
  let rest = ea - disp;
  if (regs.length === 2) {
    const second = rng.bits(16);
    setups.push({ reg: regs[1], value: widen(rng, req.env, 16, second) });
    rest -= second;
  }
  if (regs.length > 0) setups.unshift({ reg: regs[0], value: widen(rng, req.env, 16, rest) });
  return { mod, rm, disp: le(disp, dispBytes), rexX: false, rexB: false, setups, seg, usesRsp: false };
}

const SCALES = [1n, 2n, 4n, 8n];

/** A 32- or 64-bit addressing plan, or undefined when this attempt does not work out. */
function plan32(rng: Prng, req: AddressRequest): AddressPlan | undefined {
  const regCount = req.env.mode === "64" ? 16 : 8;
  const shape = rng.weighted<"base" | "baseIndex" | "index" | "absolute" | "rip">([
    ["base", 3],
    ["baseIndex", 3],
    ["index", 1],
    ["absolute", 1],
    ["rip", req.env.mode === "64" ? 1 : 0],
  ]);
  const bits = req.asize;
  const wrap = (v: bigint) => BigInt.asUintN(bits, v);
  const pickReg = (index: boolean) => {
    const r = rng.below(regCount);
    if (index && r === 4) return -1;
    return req.reserved.has(r) ? -1 : r;
  };
  const base = shape === "base" || shape === "baseIndex" ? pickReg(false) : undefined;
  const index = shape === "baseIndex" || shape === "index" ? pickReg(true) : undefined;
  if (base === -1 || index === -1 || (base !== undefined && base === index)) return undefined;
  if (base === 4 && req.rsp === undefined) return undefined;
  const seg = req.override ?? (base !== undefined && (base & 7) >= 4 && (base & 7) <= 5 && base < 8 ? "ss" : "ds");
  const eaN = effective(req, seg);
  if (eaN === undefined) return undefined;
  const ea = eaN;
  const scaleCode = rng.below(4);
  const scale = SCALES[scaleCode];
  const setups: AddressPlan["setups"] = [];
  const rexB = base !== undefined && base >= 8;
  const rexX = index !== undefined && index >= 8;

  if (shape === "absolute" || shape === "rip") {
    if (shape === "rip") {
      return { mod: 0, rm: 5, disp: [0, 0, 0, 0], rexX, rexB, setups, ripRel: Number(ea), seg, usesRsp: false };
    }
    const disp = le(ea, 4);
    if (req.env.mode === "64") {
      if (ea >= 0x8000_0000n) return undefined;
      return { mod: 0, rm: 4, sib: 0x25, disp, rexX, rexB, setups, seg, usesRsp: false };
    }
    return { mod: 0, rm: 5, disp, rexX, rexB, setups, seg, usesRsp: false };
  }

  // The displacement: none, 8 or 32 bits (a bare index always takes 32).
  let mod = index !== undefined && base === undefined ? 0 : rng.below(3);
  if (base !== undefined && (base & 7) === 5 && mod === 0) mod = 1;
  let disp = mod === 1
    ? BigInt(rng.range(-128, 127))
    : mod === 2 || base === undefined
    ? BigInt(rng.range(-0x8000_0000, 0x7fff_ffff))
    : 0n;
  if (base === undefined && index !== undefined) {
    // [index*scale + disp32]: make (ea - disp) a multiple of the scale.
    disp += wrap(ea - disp) % scale;
    if (disp > 0x7fff_ffffn) return undefined;
    setups.push({ reg: index, value: widen(rng, req.env, bits, wrap(ea - disp) / scale) });
  } else if (base === 4) {
    const rsp = req.rsp ?? 0n;
    if (index !== undefined) {
      const iv = rng.bits(16);
      disp = BigInt.asIntN(bits, wrap(ea - rsp - iv * scale));
      mod = disp >= -128n && disp <= 127n ? 1 : 2;
      if (disp < -0x8000_0000n || disp > 0x7fff_ffffn) return undefined;
      setups.push({ reg: index, value: widen(rng, req.env, bits, iv) });
    } else {
      disp = BigInt.asIntN(bits, wrap(ea - rsp));
      mod = disp === 0n ? 0 : disp >= -128n && disp <= 127n ? 1 : 2;
      if (disp < -0x8000_0000n || disp > 0x7fff_ffffn) return undefined;
    }
  } else if (base !== undefined) {
    let rest = ea - disp;
    if (index !== undefined) {
      const iv = rng.bits(bits);
      setups.push({ reg: index, value: widen(rng, req.env, bits, iv) });
      rest -= iv * scale;
    }
    setups.unshift({ reg: base, value: widen(rng, req.env, bits, wrap(rest)) });
  }
  const dispBytes = mod === 1 ? le(disp, 1) : mod === 2 || base === undefined ? le(BigInt.asUintN(32, disp), 4) : [];
  const needSib = index !== undefined || (base !== undefined && (base & 7) === 4);
  if (!needSib) return { mod, rm: (base ?? 0) & 7, disp: dispBytes, rexX, rexB, setups, seg, usesRsp: false };
  const sib = (scaleCode << 6) | (((index ?? 4) & 7) << 3) | ((base ?? 5) & 7);
  return { mod, rm: 4, sib, disp: dispBytes, rexX, rexB, setups, seg, usesRsp: base === 4 };
}

/** An addressing plan that reaches `req.target`, or undefined after a few attempts. */
export function planAddress(rng: Prng, req: AddressRequest): AddressPlan | undefined {
  for (let attempt = 0; attempt < 16; attempt++) {
    const p = req.asize === 16 ? plan16(rng, req) : plan32(rng, req);
    if (p) return p;
  }
  return undefined;
}
