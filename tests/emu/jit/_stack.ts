/**
 * The runner of the block compiler's stack-template tests (emu/x86/jit/stack.ts: PUSH/POP reg, CALL rel,
 * RET): a case is a guest run once per phase on each of `blockCompiler: "off"`, `"eager"` and, where /dev/kvm
 * opens, KVM, one machine per runner, so that the blocks compiled in one phase run again in the next with another
 * stack (the templates check at run time what they assume: SS.B in 32-bit code, an 8-byte aligned item in 64-bit
 * mode). After each phase the 16 registers, RIP, the arithmetic flags and the stack memory must agree, and so
 * must the fault an IDT stub reports (vector, error code, the faulting RIP and RSP from its frame, CR2). Guest
 * code is written inline as a {@linkcode listing}: one instruction per line, beside its assembly and its offset.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../../../mod.ts";
import type { GuestMemory, Sregs, Vcpu, Vm } from "../../../mod.ts";
import type { Cpu } from "../../../emu/x86/cpu.ts";
import { skip, test } from "../../_support/harness.ts";
import { emuCpu, emuStats, GPR, kvmMissing, openEmu } from "./_jit.ts";
import { bench, CODE, collect, enter, hex, KSTACK } from "../../_support/sys.ts";
import { bench64, STUBS64 } from "../../_support/long64.ts";
import { HIGH_ALIAS, LM_CODE, LM_STACK, setGate } from "../../_support/long_mode.ts";

export type Bits = 32 | 64;

export type Gpr = (typeof GPR)[number];

/** Arithmetic flags of RFLAGS. */
export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;
/** RFLAGS at the start of every phase: CF, ZF and OF set (stack instructions keep them), IF clear. */
export const START_FLAGS = 2n | BigInt(CF | ZF | OF);

/**
 * The registers at the start of every phase (before the phase's own): in 32-bit code EAX-EDI are 32-bit values
 * (the upper halves are undefined in 32-bit modes), R8-R15 64-bit ones that 32-bit code cannot touch.
 */
export const START: Record<Bits, Record<Gpr, bigint>> = {
  32: Object.fromEntries(GPR.map((n, i) => [n, i < 8 ? 0x01010101n * BigInt(i + 1) : 0x0808080808080808n * BigInt(i)])),
  64: Object.fromEntries(GPR.map((n, i) => [n, 0x0101010101010101n * BigInt(i + 1) + 0x10n * BigInt(i)])),
} as Record<Bits, Record<Gpr, bigint>>;

export const M32 = 0xffffffffn, M64 = (1n << 64n) - 1n;

/** Where each kind of machine has its code. */
export const CODE_AT: Record<Bits, number> = { 32: CODE, 64: LM_CODE };

// ---------------------------------------------------------------------------------------------------------------
// Cases

/** What a phase must leave. */
export interface Expect {
  /** Registers at the end (after a fault: the stub clobbered RAX and RSP). */
  regs?: Partial<Record<Gpr, bigint>>;
  /** RIP after the HLT that ended the phase (not for a fault). */
  rip?: bigint;
  /** The fault the IDT stub reported: the faulting RIP and RSP are read from its frame. */
  fault?: { vector: number; code: number; rip: bigint; sp: bigint; cr2?: bigint };
  /** The arithmetic flags at the end. */
  flags?: number;
  /** Memory (guest-physical address, size in bytes, value). */
  memory?: [number, number, bigint][];
}

/** One run of a case's guest from a given state. */
export interface Phase {
  what: string;
  /** Where it starts: an offset from the code's address, or an absolute RIP (a bigint). */
  entry?: number | bigint;
  /** Registers set on top of {@linkcode START} (RSP defaults to the machine's stack). */
  regs?: Partial<Record<Gpr, bigint>>;
  /** Changes to the machine's segment registers for this phase. */
  sregs?: (s: Sregs) => void;
  /** Code the host writes before the phase: guest-physical address and instructions. */
  code?: [number, readonly string[]][];
  /** Memory written before the phase (after the windows are filled): address, size, value. */
  memory?: [number, number, bigint][];
  expect: Expect;
  /** Why KVM cannot serve as the oracle for the memory this phase leaves (the rest is compared). */
  notOnKvmMemory?: string;
  /** With "eager": at most this many look-ups of a block by address during the phase (the links are used). */
  maxLookups?: number;
}

/** A guest and its phases. */
export interface Case {
  name: string;
  bits: Bits;
  /** The code at {@linkcode CODE_AT}. */
  code: readonly string[];
  /** More code: guest-physical address and instructions. */
  more?: [number, readonly string[]][];
  /** The 32-bit machine's CPL (default 0). */
  cpl?: 0 | 3;
  /** Changes to the machine before the first phase (page tables, more code). */
  setup?: (m: Machine) => void;
  /** Guest-physical ranges compared after each phase; filled with a pattern before each. */
  windows: [number, number][];
  /** Guest-physical ranges compared after each phase, not filled (code, page tables). */
  watch?: [number, number][];
  /** The starting registers' kind (default: `bits`): 32-bit values for 32-bit code on a 64-bit machine. */
  start?: Bits;
  /**
   * Instructions that compiled blocks must hold after the eager run; or "dropped": the guest rewrote its code, so
   * compiled blocks must have been dropped.
   */
  compiled: readonly ("push" | "pop" | "call" | "ret")[] | "dropped";
  phases: Phase[];
}

/** The sum of the 64-bit ADD that set the flags, and its flags. */
export function add64(a: bigint, b: bigint): { sum: bigint; flags: number } {
  const sum = (a + b) & M64;
  let flags = a + b > M64 ? CF : 0;
  if (sum === 0n) flags |= ZF;
  if (sum >> 63n) flags |= SF;
  if (((a ^ sum) & (b ^ sum)) >> 63n) flags |= OF;
  if ((a ^ b ^ sum) & 0x10n) flags |= AF;
  let bits = Number(sum & 0xffn), ones = 0;
  for (; bits; bits >>= 1) ones += bits & 1;
  if (ones % 2 === 0) flags |= PF;
  return { sum, flags };
}

export const HIGH = HIGH_ALIAS;

/**
 * The instructions of a listing, in order, each as its bytes in hex: an indented line is one instruction, its
 * bytes (hex pairs one space apart), then, two spaces on, its assembly, which may end in its offset from the
 * listing's start, `(+0x5)` (checked here). A line that starts with a label (`name:`) is skipped, as is an empty one.
 */
export function listing(text: string): string[] {
  const out: string[] = [];
  let at = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "" || /^\s*[.\w]+:/.test(line)) continue;
    const m = /^\s+((?:[0-9a-f]{2} )*[0-9a-f]{2})(?: {2,}(.*))?$/.exec(line);
    if (!m) throw new Error(`listing: not an instruction: ${JSON.stringify(line)}`);
    const offset = /\(\+0x([0-9a-f]+)\)/.exec(m[2] ?? "");
    if (offset && parseInt(offset[1], 16) !== at) {
      throw new Error(`listing: ${JSON.stringify(line.trim())} is at +0x${at.toString(16)}`);
    }
    out.push(m[1]);
    at += (m[1].length + 1) / 3;
  }
  return out;
}
// ---------------------------------------------------------------------------------------------------------------
// Running cases

/** A VM with the reporting IDT stubs of _support/sys.ts (32-bit) or _support/long64.ts (64-bit). */
export interface Machine extends Disposable {
  vm: Vm;
  mem: GuestMemory;
  vcpu: Vcpu;
  view: DataView;
}

/**
 * A machine of `bits` on `kvm`: flat 32-bit protected mode at `cpl` (paging off; a fault at CPL 3 switches to the
 * CPL 0 stack), or 64-bit mode at CPL 0 with #SS and #PF delivered on the IST1 stack (a fault on a bad stack must
 * not push its frame there).
 */
export function machine(kvm: Kvm, bits: Bits, cpl: 0 | 3 = 0): Machine {
  if (bits === 32) {
    const b = bench(kvm);
    enter(b, { cpl });
    return b;
  }
  const m = bench64(kvm, "");
  for (const v of [12, 14]) setGate(m.mem, v, BigInt(STUBS64 + 16 * v), { ist: 1 });
  const view = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset, m.mem.bytes.byteLength);
  return { vm: m.vm, mem: m.mem, vcpu: m.vcpu, view, [Symbol.dispose]: () => m[Symbol.dispose]() };
}

/** What a phase left, as text for readable diffs. */
export interface Outcome {
  exit: string;
  /** The values written to port 0xe9 (a fault's report). */
  out: string[];
  regs: Record<Gpr, string>;
  rip: string;
  flags: string;
  /** The reported fault: vector, error code, RIP and RSP from the frame, CR2. */
  fault?: { vector: number; code: number; rip: string; sp: string; cr2: string };
  /** The windows' bytes. */
  memory: string[];
}

export const hx = (v: bigint | number) => `0x${v.toString(16)}`;

/** The pattern the windows are filled with before each phase: the `size` bytes at `at`. */
export function fill(at: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(((at + i) * 7 + 0x5a) & 0xff);
  return v;
}

/** Reads `size` bytes at guest-physical `at`. */
export function peek(v: DataView, at: number, size: number): bigint {
  if (size === 8) return v.getBigUint64(at, true);
  return BigInt(size === 4 ? v.getUint32(at, true) : size === 2 ? v.getUint16(at, true) : v.getUint8(at));
}

/** Writes `size` bytes at guest-physical `at`. */
export function poke(v: DataView, at: number, size: number, x: bigint): void {
  if (size === 8) v.setBigUint64(at, x, true);
  else if (size === 4) v.setUint32(at, Number(x), true);
  else if (size === 2) v.setUint16(at, Number(x), true);
  else v.setUint8(at, Number(x));
}

/** Runs phase `p` of `c` on `m` from the segment registers `base`. */
export function runPhase(m: Machine, c: Case, p: Phase, base: Sregs): Outcome {
  const sregs = structuredClone(base);
  p.sregs?.(sregs);
  m.vcpu.setSregs(sregs);
  for (const [from, to] of c.windows) {
    for (let a = from; a < to; a++) m.mem.bytes[a] = Number(fill(a, 1));
  }
  for (const [at, size, value] of p.memory ?? []) poke(m.view, at, size, value);
  // The code as the case has it (the guest may have rewritten it in an earlier phase), then the phase's own.
  m.mem.bytes.set(hex(c.code.join("")), CODE_AT[c.bits]);
  for (const [at, code] of [...c.more ?? [], ...p.code ?? []]) m.mem.bytes.set(hex(code.join("")), at);
  const regs = m.vcpu.getRegs();
  const start = { ...START[c.start ?? c.bits], rsp: BigInt(c.bits === 32 ? KSTACK : LM_STACK), ...p.regs };
  for (const n of GPR) regs[n] = start[n];
  const entry = p.entry ?? 0;
  regs.rip = typeof entry === "bigint" ? entry : BigInt(CODE_AT[c.bits] + entry);
  regs.rflags = START_FLAGS;
  m.vcpu.setRegs(regs);

  const { out, exit } = collect(m.vcpu);
  const after = m.vcpu.getRegs();
  const o: Outcome = {
    exit: exit.reason === "hlt" ? "hlt" : JSON.stringify(exit, (_, v) => typeof v === "bigint" ? hx(v) : v),
    out: out.map(hx),
    regs: Object.fromEntries(GPR.map((n) => [n, hx(after[n])])) as Record<Gpr, string>,
    rip: hx(after.rip),
    flags: hx(Number(after.rflags) & ARITH),
    memory: [...c.windows, ...c.watch ?? []].map(([from, to]) =>
      [...m.mem.bytes.subarray(from, to)].map((b) => b.toString(16).padStart(2, "0")).join("")
    ),
  };
  if (out.length === 4) {
    // The stub popped the vector and the error code: RSP points at the frame's EIP/RIP (the stacks are identity
    // mapped). A 32-bit frame is EIP, CS, EFLAGS, then ESP from CPL 3, else ESP was above it; a 64-bit one holds RSP.
    const sp = Number(after.rsp), user = (out[3] & 3) !== 0;
    o.fault = {
      vector: out[0],
      code: out[1],
      rip: hx(c.bits === 32 ? peek(m.view, sp, 4) : peek(m.view, sp, 8)),
      sp: hx(c.bits === 64 ? peek(m.view, sp + 24, 8) : user ? peek(m.view, sp + 12, 4) : after.rsp + 12n),
      cr2: hx(m.vcpu.getSregs().cr2),
    };
  }
  return o;
}

/** The block look-ups (`byAddress.get`) of the emulator vCPU `cpu` while `fn` runs. */
export function countLookups<T>(cpu: Cpu, fn: () => T): [T, number] {
  const map = cpu.blocks.byAddress as unknown as { get: (k: number) => unknown };
  assert.equal(typeof map.get, "function", "the block cache is a map");
  const get = map.get;
  let n = 0;
  map.get = function (this: unknown, k: number) {
    n++;
    return get.call(this, k);
  };
  try {
    return [fn(), n];
  } finally {
    delete (map as { get?: unknown }).get;
  }
}

/** Stack instructions by kind: which opcodes a compiled block must hold. */
export const KINDS: Record<"push" | "pop" | "call" | "ret", (op: number) => boolean> = {
  push: (op) => op >= 0x50 && op <= 0x57,
  pop: (op) => op >= 0x58 && op <= 0x5f,
  call: (op) => op === 0xe8,
  ret: (op) => op === 0xc3,
};

/** The outcomes of `c`'s phases on `kvm`; with "eager", checks what was compiled (into `problems`). */
export function play(kvm: Kvm, c: Case, runner: string, problems: string[]): Outcome[] {
  using m = machine(kvm, c.bits, c.cpl);
  c.setup?.(m);
  const base = m.vcpu.getSregs();
  const outcomes = c.phases.map((p) => {
    if (runner !== "eager" || p.maxLookups === undefined) return runPhase(m, c, p, base);
    const [o, n] = countLookups(emuCpu(m.vm, m.mem).cpu, () => runPhase(m, c, p, base));
    if (n > p.maxLookups) {
      problems.push(`${p.what} [eager]: ${n} block look-ups (at most ${p.maxLookups}): the links are not used`);
    }
    return o;
  });
  if (runner === "eager") {
    const stats = emuStats(m.vm, m.mem);
    if (!(stats.compiled > 0 && stats.executed > 0)) {
      problems.push(`eager: nothing ran compiled: ${JSON.stringify(stats)}`);
    }
    const ops = [...emuCpu(m.vm, m.mem).cpu.blocks.byAddress.values()].flatMap((b) => b.insns.map((d) => d.op));
    if (c.compiled === "dropped") {
      if (stats.invalidated === 0) problems.push(`eager: no compiled block was dropped: ${JSON.stringify(stats)}`);
    } else {
      for (const kind of c.compiled) {
        if (!ops.some(KINDS[kind])) problems.push(`eager: no compiled block holds a ${kind}`);
      }
    }
  }
  return outcomes;
}

/** The `size` bytes at guest-physical `at` as recorded in `o`, from the windows `windows`, or undefined. */
export function recorded(o: Outcome, c: Case, at: number, size: number): bigint | undefined {
  const windows = [...c.windows, ...c.watch ?? []];
  const i = windows.findIndex(([from, to]) => at >= from && at + size <= to);
  if (i < 0) return undefined;
  const bytes = o.memory[i].slice(2 * (at - windows[i][0]), 2 * (at - windows[i][0] + size));
  return BigInt(`0x${bytes.match(/../g)!.reverse().join("")}`);
}

/** Where `o` differs from what `p` of `c` expects (`memory`: also in the memory it left). */
export function unexpected(c: Case, p: Phase, o: Outcome, memory: boolean): string[] {
  const e = p.expect, bad: string[] = [];
  const want = (what: string, got: string | number, expected: string | number) => {
    if (got !== expected) bad.push(`${what}: expected ${expected}, got ${got}`);
  };
  want("exit", o.exit, "hlt");
  if (e.fault) {
    const f = o.fault;
    if (!f) bad.push(`expected a fault (vector ${e.fault.vector}), got none (out: ${o.out.join(" ")})`);
    else {
      want("vector", f.vector, e.fault.vector);
      want("error code", hx(f.code), hx(e.fault.code));
      want("faulting RIP", f.rip, hx(e.fault.rip));
      want("RSP at the fault", f.sp, hx(e.fault.sp));
      if (e.fault.cr2 !== undefined) want("CR2", f.cr2, hx(e.fault.cr2));
    }
  } else {
    want("values out", o.out.join(" "), "");
    if (e.rip !== undefined) want("rip", o.rip, hx(e.rip));
  }
  for (const [n, v] of Object.entries(e.regs ?? {})) want(n, o.regs[n as Gpr], hx(v));
  if (e.flags !== undefined) want("arithmetic flags", o.flags, hx(e.flags));
  for (const [at, size, value] of memory ? e.memory ?? [] : []) {
    const got = recorded(o, c, at, size);
    want(`memory at ${hx(at)}`, got === undefined ? "outside the windows" : hx(got), hx(value));
  }
  return bad;
}

/** The fields in which `a` and `b` differ (`memory`: also the memory windows). */
export function differences(a: Outcome, b: Outcome, memory: boolean): string[] {
  const d: string[] = [];
  if (a.exit !== b.exit) d.push(`exit ${a.exit} / ${b.exit}`);
  if (a.out.join() !== b.out.join()) d.push(`out ${a.out.join(" ")} / ${b.out.join(" ")}`);
  for (const n of GPR) if (a.regs[n] !== b.regs[n]) d.push(`${n} ${a.regs[n]} / ${b.regs[n]}`);
  if (a.rip !== b.rip) d.push(`rip ${a.rip} / ${b.rip}`);
  if (a.flags !== b.flags) d.push(`flags ${a.flags} / ${b.flags}`);
  if (JSON.stringify(a.fault) !== JSON.stringify(b.fault)) {
    d.push(`fault ${JSON.stringify(a.fault)} / ${JSON.stringify(b.fault)}`);
  }
  a.memory.forEach((m, i) => {
    if (memory && m !== b.memory[i]) {
      let k = 0;
      while (m[k] === b.memory[i][k]) k++;
      d.push(`memory window ${i} from byte ${k >> 1}: ${m.slice(k, k + 32)}... / ${b.memory[i].slice(k, k + 32)}...`);
    }
  });
  return d;
}
/** Registers one test per case of `cases`: eager = off (= kvm), phase by phase. */
export function stackTests(cases: readonly Case[]): void {
  for (const c of cases) {
    const name = `block compiler stack templates: ${c.name}: eager = off (= kvm)`;
    const missing = kvmMissing();
    if (missing !== undefined) skip(`${name}: the comparison with kvm`, missing);
    else {
      for (const p of c.phases) {
        if (p.notOnKvmMemory) skip(`${name}: ${p.what}: the memory compared with kvm`, p.notOnKvmMemory);
      }
    }
    test(name, () => {
      const problems: string[] = [];
      const runs: [string, Outcome[]][] = [];
      for (const mode of ["off", "eager"] as const) {
        using kvm = openEmu(mode);
        runs.push([mode, play(kvm, c, mode, problems)]);
      }
      if (missing === undefined) {
        using kvm = Kvm.open({ backend: "kvm" });
        runs.push(["kvm", play(kvm, c, "kvm", problems)]);
      }
      c.phases.forEach((p, i) => {
        const off = runs[0][1][i];
        for (const [runner, outcomes] of runs) {
          const o = outcomes[i];
          const memory = runner !== "kvm" || p.notOnKvmMemory === undefined;
          const bad = unexpected(c, p, o, memory);
          if (runner !== "off") bad.push(...differences(off, o, memory).map((d) => `vs off: ${d}`));
          if (bad.length) {
            const { memory: _, ...shown } = o;
            problems.push(`${p.what} [${runner}]:\n    ${bad.join("\n    ")}\n    outcome: ${JSON.stringify(shown)}`);
          }
        }
      });
      assert.equal(problems.length, 0, `${c.name}:\n  ${problems.join("\n  ")}`);
    });
  }
}
