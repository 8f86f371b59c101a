/**
 * Helpers of the block compiler's tests (tests/emu/jit/random_test.ts, blocks_test.ts,
 * random_narrow_test.ts, _stack.ts): a Kvm on the
 * emulator with the compiler in a given mode, and the emulator's vCPU behind
 * a facade VM, whose compiler counters and compiled blocks a test may read;
 * and, for the random-program differentials, the instruction encodings both
 * generators share, the guests that run a program (32-bit protected mode or
 * 64-bit mode) and the comparison of what runners made of it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../../../mod.ts";
import type { GuestMemory, Vcpu, VcpuExit, Vm } from "../../../mod.ts";
import { HANDLE } from "../../../_handle.ts";
import { GPR } from "../../../diff/case.ts";
import type { EmuVcpu } from "../../../emu/vcpu.ts";
import type { BlockStats } from "../../../emu/x86/jit/cache.ts";
import type { Site } from "../../../emu/x86/jit/templates.ts";
import { backendUnavailable } from "../../_support/harness.ts";
import { pageTables32, PTE_P, PTE_W } from "../../_support/guests.ts";
import { bench, CODE, enter, MEM_SIZE } from "../../_support/sys.ts";
import { bench64 } from "../../_support/long64.ts";
import { LM_CODE, LM_PT, setPte } from "../../_support/long_mode.ts";

/** The emulator's block compiler modes. */
export type Mode = "off" | "on" | "eager";

/** The emulator's CPU personalities. */
export type Vendor = "intel" | "amd";

/**
 * A site in a block at EIP 0 of a flat 4 GiB code segment, after a flag producer that left the flags in the CPU: what
 * `templates.ts` `template` needs to answer for an instruction on its own (flags_dead_test, random_narrow_test).
 */
export function templateSite(vendor: Vendor): Site {
  return {
    eip: 0,
    next: 0,
    csLimit: 0xffffffff,
    producer: null,
    sync: "",
    backSync: "",
    stop: "",
    name: "d0",
    fn: "f0",
    entry: 0,
    loops: 1,
    amd: vendor === "amd",
  };
}

/** The block compiler's counters of the emulator vCPU that runs `vm`, whose slot 0 is `mem`. */
export function emuStats(vm: Vm, mem: GuestMemory): BlockStats {
  return emuCpu(vm, mem).cpu.blocks.stats;
}

/**
 * The emulator vCPU behind `vm`: the kernel object behind the facade keeps a descriptor table, and `vcpuOf`
 * answers for vCPU descriptors; ours is the one whose VM has `mem` (a buffer of its own) in slot 0.
 */
export function emuCpu(vm: Vm, mem: GuestMemory): EmuVcpu {
  const kernel = vm[HANDLE].kernel as unknown as { vcpuOf?(fd: number): EmuVcpu | undefined };
  assert.ok(kernel.vcpuOf, "not the emulator's kernel");
  for (let fd = 0; fd < 1 << 16; fd++) {
    const v = kernel.vcpuOf(fd);
    if (v && v.vm.slots.byId.get(0)?.bytes?.buffer === mem.bytes.buffer) return v;
  }
  throw new Error("no emulator vCPU runs this memory");
}

/** A Kvm on the emulator with the block compiler in `mode`, presenting `vendor` (default: the host's). */
export function openEmu(mode: Mode, vendor?: Vendor): Kvm {
  return Kvm.open(vendor ? { backend: "emu", vendor, blockCompiler: mode } : { backend: "emu", blockCompiler: mode });
}

/** Why the kernel's KVM cannot run here, or undefined when it can. */
export const kvmMissing = (): string | undefined => backendUnavailable("kvm");

// ---------------------------------------------------------------------------------------------------------------
// Encodings shared by the random-program generators

/** The two modes the differentials run in: 32-bit protected mode and 64-bit mode. */
export type Bits = 32 | 64;

/** Arithmetic flags of RFLAGS. */
export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;
/** The flags read by the condition codes 2n and 2n+1: O, B, Z, BE, S, P, L, LE. */
export const COND_READS = [OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF];
export const CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
/** The general registers in encoding order, as kvm_regs names them (the differential harness's list). */
export { GPR };
export const RSP = 4;

/** The name of register `n` at operand size `size` (1, 2, 4 or 8); `rex` says whether byte registers 4-7 are SPL-DIL. */
export function regName(n: number, size: number, rex = true): string {
  const q = GPR[n];
  if (size === 8) return q;
  if (size === 4) return n < 8 ? `e${q.slice(1)}` : `${q}d`;
  if (size === 2) return n < 8 ? q.slice(1) : `${q}w`;
  if (n >= 8) return `${q}b`;
  if (n >= 4 && !rex) return ["ah", "ch", "dh", "bh"][n - 4];
  return ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"][n];
}

export const le16 = (v: number) => [v & 0xff, (v >>> 8) & 0xff];
export const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
export const le64 = (v: bigint) => Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
export const h32 = (v: number) => `0x${(v >>> 0).toString(16)}`;
export const hx = (v: bigint) => `0x${v.toString(16)}`;

/** `v` as the hex of 4 little-endian bytes (a guest listing's immediate). */
export function leHex(v: number): string {
  return [0, 8, 16, 24].map((s) => ((v >>> s) & 0xff).toString(16).padStart(2, "0")).join("");
}

/** `a`, counting the reads of its elements in `reads.n` (how often the compiled code read a TLB field). */
export function countingReads(a: Float64Array, reads: { n: number }): Float64Array {
  return new Proxy(a, {
    get(t, k) {
      if (typeof k === "string" && /^\d+$/.test(k)) reads.n++;
      const v = Reflect.get(t, k, t);
      return typeof v === "function" ? v.bind(t) : v;
    },
    set(t, k, v) {
      return Reflect.set(t, k, v, t);
    },
  });
}
const hexBytes = (bytes: readonly number[], sep = "") => bytes.map((b) => b.toString(16).padStart(2, "0")).join(sep);

/** A REX prefix for registers `reg`, `rm` (and SIB `index`), empty when none is needed and `force` is false. */
export function rex(w: boolean, reg: number, rm: number, force = false, index = 0): number[] {
  const b = 0x40 | (w ? 8 : 0) | ((reg >> 3) << 2) | ((index >> 3) << 1) | (rm >> 3);
  return b !== 0x40 || force ? [b] : [];
}

/** `op` with a register-direct ModRM: `reg` in ModRM.reg (a register or an opcode extension), `rm` in ModRM.rm. */
export function rr(op: number[], reg: number, rm: number, size: number): number[] {
  return [...rex(size === 8, reg, rm), ...op, 0xc0 | ((reg & 7) << 3) | (rm & 7)];
}

/** One instruction: its bytes and assembly, the flags it writes, leaves undefined and reads. */
export interface Op {
  bytes: number[];
  asm: string;
  writes?: number;
  undef?: number;
  reads?: number;
}

/** A program: its instructions (ending in HLT), starting registers and RFLAGS, and the data area's bytes. */
export interface Program {
  bits: Bits;
  ops: Op[];
  code: number[];
  regs: bigint[];
  rflags: bigint;
  /** The data area's bytes, at `dataAt` (default {@linkcode DATA}). */
  data: number[];
  dataAt?: number;
  /** Flags the last writers may have left undefined (on every path): not compared with KVM. */
  undefinedFlags: number;
}

/** Where the programs' loads and stores go (identity-mapped in both benches, and free in both). */
export const DATA = 0x9000;
/** The page {@linkcode guest} leaves unmapped when asked for paging. */
export const ABSENT = 0xc000;

// ---------------------------------------------------------------------------------------------------------------
// Running programs

/** What a program left: its registers (encoding order), RIP, RFLAGS, the data area, and how it stopped. */
export interface Outcome {
  regs: bigint[];
  rip: bigint;
  rflags: bigint;
  data: number[];
  exit: string;
}

/** A machine of one Kvm that runs programs of one mode, at the same address each time. */
export interface Runner extends Disposable {
  name: string;
  run(p: Program): Outcome;
  /** The block compiler's counters (emulator only). */
  stats(): BlockStats;
  /** The emulator's vCPU that runs the programs (emulator only). */
  emu(): EmuVcpu;
}

/** Describes an exit for messages. */
export function describeExit(e: VcpuExit): string {
  return JSON.stringify(
    e,
    (_, v) => typeof v === "bigint" ? `0x${v.toString(16)}` : v instanceof Uint8Array ? [...v] : v,
  );
}

/** A vCPU in 32-bit protected mode (the bench of _support/sys.ts) or 64-bit mode (_support/long64.ts), its code at `at`. */
export interface Guest extends Disposable {
  vm: Vm;
  mem: GuestMemory;
  vcpu: Vcpu;
  at: number;
}

/** Where {@linkcode guest} puts the code: a program's first instruction is there. */
export const codeAt = (bits: Bits): number => bits === 32 ? CODE : LM_CODE;

/** How {@linkcode guest} maps memory beyond the benches' identity maps. */
export interface GuestOptions {
  /** 32-bit: paging identity-maps the 128 KiB but the page at {@linkcode ABSENT}; 64-bit: that page is not present. */
  paging?: boolean;
  /** 64-bit only: the 4 KiB page at linear address `linear` maps physical `physical` instead. */
  remap?: { linear: number; physical: number };
}

/**
 * A {@linkcode Guest} on `kvm` with `code` at CODE (32-bit, CPL 0, flat segments) or LM_CODE (64-bit), the vCPU
 * there, its memory mapped as `options` say.
 */
export function guest(kvm: Kvm, bits: Bits, code: readonly number[], options: GuestOptions = {}): Guest {
  let m: { vm: Vm; mem: GuestMemory; vcpu: Vcpu } & Disposable;
  if (bits === 32) {
    const b = bench(kvm);
    if (options.paging) {
      const pages = Array.from({ length: MEM_SIZE >> 12 }, (_, i) => i << 12).filter((a) => a !== ABSENT);
      const cr3 = pageTables32(b.mem, 0x18000, pages.map((a) => ({ linear: a, physical: a, flags: PTE_P | PTE_W })));
      enter(b, { cr0: 0x80000011n, cr3 });
    } else {
      enter(b);
    }
    m = b;
  } else {
    m = bench64(kvm, "");
    if (options.paging) setPte(m.mem, ABSENT, 0n);
    const remap = options.remap;
    if (remap) {
      new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset)
        .setBigUint64(LM_PT + 8 * (remap.linear >>> 12), BigInt(remap.physical) | 7n, true); // P W U
    }
  }
  const at = codeAt(bits);
  m.mem.bytes.set(code, at);
  return { vm: m.vm, mem: m.mem, vcpu: m.vcpu, at, [Symbol.dispose]: () => m[Symbol.dispose]() };
}

/**
 * A runner on `kvm`: runs each program at the same address of one guest, mapped as `options` say (the data area
 * is written and read through the mapping).
 */
export function runner(name: string, kvm: Kvm, bits: Bits, options: GuestOptions = {}): Runner {
  const g = guest(kvm, bits, [], options);
  const { mem, vcpu, at } = g;
  const remap = options.remap;
  const physical = (a: number) =>
    remap && a >= remap.linear && a < remap.linear + 4096 ? remap.physical + (a - remap.linear) : a;
  return {
    name,
    run(p) {
      mem.bytes.set(p.code, at);
      const dataAt = p.dataAt ?? DATA;
      p.data.forEach((b, i) => (mem.bytes[physical(dataAt + i)] = b));
      const regs = vcpu.getRegs();
      GPR.forEach((n, i) => (regs[n] = p.regs[i]));
      vcpu.setRegs({ ...regs, rip: BigInt(at), rflags: p.rflags });
      const exit = vcpu.run({ timeoutMs: 10_000 });
      const after = vcpu.getRegs();
      return {
        regs: GPR.map((n) => after[n]),
        rip: after.rip,
        rflags: after.rflags,
        data: p.data.map((_, i) => mem.bytes[physical(dataAt + i)]),
        exit: exit.reason === "hlt" ? "hlt" : describeExit(exit),
      };
    },
    stats: () => emuStats(g.vm, mem),
    emu: () => emuCpu(g.vm, mem),
    [Symbol.dispose]: () => g[Symbol.dispose](),
  };
}

/** The fields in which `a` and `b` differ, comparing the flags under `flagsMask`. */
export function differences(a: Outcome, b: Outcome, flagsMask: number): string[] {
  const out: string[] = [];
  if (a.exit !== b.exit) out.push("exit");
  GPR.forEach((n, i) => a.regs[i] !== b.regs[i] && out.push(n));
  if (a.rip !== b.rip) out.push("rip");
  if ((a.rflags ^ b.rflags) & BigInt(flagsMask)) out.push(`rflags (mask 0x${flagsMask.toString(16)})`);
  if (a.data.some((x, i) => x !== b.data[i])) out.push("data");
  return out;
}

/** A program, its starting state and what each runner made of it, for a failure message. */
export function report(p: Program, label: string, results: readonly [string, Outcome][]): string {
  const lines = [
    `${label} (${p.bits}-bit): ${hexBytes(p.code, " ")}`,
    ...p.ops.map((o) => `  ${hexBytes(o.bytes, " ").padEnd(32)} ${o.asm}`),
    `  initial: ${GPR.map((n, i) => `${n}=${hx(p.regs[i])}`).join(" ")} rflags=${hx(p.rflags)}`,
    `  data at ${h32(p.dataAt ?? DATA)}: ${hexBytes(p.data)}`,
    `  flags left undefined: 0x${p.undefinedFlags.toString(16)}`,
  ];
  for (const [name, o] of results) {
    lines.push(
      `  ${name}: exit=${o.exit} ${GPR.map((n, i) => `${n}=${hx(o.regs[i])}`).join(" ")} rip=${hx(o.rip)} ` +
        `rflags=${hx(o.rflags)} data=${hexBytes(o.data)}`,
    );
  }
  return lines.join("\n");
}
