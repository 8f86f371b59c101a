/**
 * What the oracle (the kvm backend on this host) cannot answer. On a host
 * whose /dev/kvm is kvm_pvm, CPL 0 code is run by the kernel's instruction
 * emulator, some environments do not run at all, and even at CPL 3 a few
 * instructions are handed to that emulator. Each known deviation is a probe:
 * a tiny case whose architecturally correct outcome is known. The probes run
 * once per run; the deviations they find become limits, and cases they touch
 * are reported as "no oracle" (or the bits they touch are masked) instead of
 * being compared with a wrong answer.
 *
 * @module
 */
import type { Case, Insn } from "./case.ts";
import { stoppedAt } from "./compare.ts";
import type { Env, Mode } from "./env.ts";
import { SF, ZF } from "./flags.ts";
import { DONE_PORT } from "./layout.ts";
import { exceptionOf, type Outcome, RFLAGS } from "./outcome.ts";
import type { Runner } from "./runner.ts";

/** What a limit covers. */
export type Scope =
  /** Cases in these environments: the oracle is not even run. */
  | { kind: "env"; applies: (env: Env) => boolean }
  /** Cases in these environments that raise an exception (or end in a triple fault). */
  | { kind: "exception"; applies: (env: Env) => boolean }
  /** Cases in these modes that contain a matching instruction. */
  | { kind: "insn"; modes: readonly Mode[]; applies: (insn: Insn) => boolean }
  /** These rflags bits after an exception in these modes: masked. */
  | { kind: "rflags"; modes: readonly Mode[]; bits: bigint };

/** A deviation of the oracle found by a probe. */
export interface Limit {
  name: string;
  why: string;
  scope: Scope;
}

/** The limits found on one oracle. */
export type OracleLimits = Limit[];

/** A probe: a one-instruction case, and how its outcome shows the deviation. */
interface Probe {
  name: string;
  env: Env;
  bytes: number[];
  rax?: bigint;
  shows: (o: Outcome) => boolean;
  why: string;
  scope: Scope;
}

/** rflags.AC. */
export const RFLAGS_AC = 1n << 18n;

const SEG0 = { es: 0, ss: 0, ds: 0, fs: 0, gs: 0 };
const REAL: Env = { mode: "16", real: true, paging: false, seg: SEG0, alignmentCheck: false };
const PM16: Env = { ...REAL, real: false };
const PM32: Env = { ...REAL, mode: "32", real: false };
const LONG: Env = { ...PM32, mode: "64", paging: true };

const done = (o: Outcome) => o.exits[0]?.port === DONE_PORT;
const sp16 = (o: Outcome) => Number(o.regs[4] & 0xffffn);
const isAamAad = (i: Insn) => i.form === "bcd.aam.d4" || i.form === "bcd.aad.d5";

/** The probes, each with the architecturally correct outcome it checks. */
const PROBES: readonly Probe[] = [
  {
    name: "paging32",
    env: { ...PM32, paging: true },
    bytes: [],
    shows: (o) => !done(o),
    why: "32-bit paging does not run on this kvm (a case of no instruction does not reach its end)",
    scope: { kind: "env", applies: (env) => env.mode === "32" && env.paging },
  },
  {
    // div ah with ax = 0: #DE, whose 16-bit frame (ip, cs, flags) sits just below sp = 0x1000.
    name: "pm16Exceptions",
    env: PM16,
    bytes: [0xf6, 0xf4],
    shows: (o) => exceptionOf(o)?.vector !== 0 || sp16(o) !== 0x1000 - 6,
    why: "exceptions in 16-bit protected mode are delivered wrongly by this kvm (not a 6-byte frame below sp)",
    scope: { kind: "exception", applies: (env) => env.mode === "16" && !env.real },
  },
  ...(["32", "64"] as const).map((mode): Probe => ({
    // cli at CPL 3 with IOPL 0 and AC set: #GP, whose delivery leaves AC alone (the SDM clears it in real mode only).
    name: `acCleared${mode}`,
    env: { ...(mode === "32" ? PM32 : LONG), alignmentCheck: true },
    bytes: [0xfa],
    shows: (o) => exceptionOf(o)?.vector === 13 && (o.regs[RFLAGS] & RFLAGS_AC) === 0n,
    why: `this kvm clears rflags.AC when it delivers an exception from CPL 3 in ${mode}-bit mode (the SDM does not)`,
    scope: { kind: "rflags", modes: [mode], bits: RFLAGS_AC },
  })),
  {
    // aam 10 with al = 20: ax = 0x0200, and ZF comes from al = 0.
    name: "aamFlags16",
    env: REAL,
    bytes: [0xd4, 0x0a],
    rax: 0x14n,
    shows: (o) => done(o) && (o.regs[RFLAGS] & BigInt(ZF)) === 0n,
    why: "this kvm's AAM/AAD in mode 16 set flags from the whole register, not AL (its instruction emulator)",
    scope: { kind: "insn", modes: ["16"], applies: isAamAad },
  },
  {
    // aam 10 with eax = 0x8000002c: al = 4, so SF is 0.
    name: "aamFlags32",
    env: PM32,
    bytes: [0xd4, 0x0a],
    rax: 0x8000_002cn,
    shows: (o) => done(o) && (o.regs[RFLAGS] & BigInt(SF)) !== 0n,
    why: "this kvm's AAM/AAD in mode 32 set flags from the whole register, not AL (its instruction emulator)",
    scope: { kind: "insn", modes: ["32"], applies: isAamAad },
  },
  {
    // enter with a 32-bit operand size on a 16-bit stack pushes ebp as 4 bytes: sp 0x1000 -> 0xffc.
    name: "enter32on16",
    env: REAL,
    bytes: [0x66, 0xc8, 0x00, 0x00, 0x00],
    shows: (o) => done(o) && sp16(o) !== 0xffc,
    why:
      "this kvm's ENTER pushes rbp with the stack's size, not the operand size (its instruction emulator), in mode 16",
    scope: { kind: "insn", modes: ["16"], applies: (i) => i.form === "stack.enter.c8" && i.size === 32 },
  },
  {
    // enter with a 16-bit operand size on a 32-bit stack pushes bp as 2 bytes: esp 0x31000 -> 0x30ffe.
    name: "enter16on32",
    env: PM32,
    bytes: [0x66, 0xc8, 0x00, 0x00, 0x00],
    shows: (o) => done(o) && o.regs[4] !== 0x30ffen,
    why:
      "this kvm's ENTER pushes rbp with the stack's size, not the operand size (its instruction emulator), in mode 32",
    scope: { kind: "insn", modes: ["32"], applies: (i) => i.form === "stack.enter.c8" && i.size === 16 },
  },
];

function probeCase(p: Probe): Case {
  const regs = Array.from({ length: 16 }, () => 0n);
  regs[0] = p.rax ?? 0n;
  regs[4] = p.env.mode === "16" ? 0x1000n : 0x31000n;
  const groups = p.bytes.length ? [{ insns: [{ bytes: p.bytes, form: "mov.nop.0f1f/0", size: 32 }] }] : [];
  return { env: p.env, family: "probe", groups, regs, rflags: 0n, memory: 0, seed: 0, index: 0 };
}

/** Runs every probe on `oracle` and returns the limits found. */
export function probeOracle(oracle: Runner): OracleLimits {
  return PROBES.filter((p) => p.shows(oracle.run(probeCase(p)))).map((p) => ({
    name: p.name,
    why: p.why,
    scope: p.scope,
  }));
}

/** Why the oracle cannot run `c` at all, known before running it, or undefined. */
export function envGap(limits: OracleLimits, c: Case): string | undefined {
  return limits.find((l) => l.scope.kind === "env" && l.scope.applies(c.env))?.why;
}

/**
 * Why the oracle's outcome `o` of `c` is no answer, or undefined when it is
 * one: the kernel gave up (internal error), a limit covers the case, or the
 * oracle raised #UD although every generated instruction is valid in its
 * mode (kvm_pvm refuses some, e.g. DAA, AAA, AAS and ENTER with a nesting
 * level, even in 32-bit mode).
 */
export function oracleGap(limits: OracleLimits, c: Case, o: Outcome): string | undefined {
  if (o.noOracle) return `${o.noOracle} at ${stoppedAt(c, o) ?? "an unknown instruction"}`;
  const exc = exceptionOf(o);
  const insns = c.groups.flatMap((g) => g.insns);
  for (const { scope, why } of limits) {
    if (scope.kind === "env" && scope.applies(c.env)) return why;
    const faulted = exc !== undefined || o.exits.some((e) => e.reason === "shutdown");
    if (scope.kind === "exception" && faulted && scope.applies(c.env)) return why;
    if (scope.kind === "insn" && scope.modes.includes(c.env.mode) && insns.some(scope.applies)) return why;
  }
  if (exc?.vector === 6) return `the oracle raised #UD on ${stoppedAt(c, o) ?? "an instruction"}, valid in this mode`;
  return undefined;
}

/** Bits of the final rflags the oracle gets wrong for `c` (given its outcome `o`), and why. */
export function oracleMasks(limits: OracleLimits, c: Case, o: Outcome): { rflags: bigint; why: string }[] {
  if (!exceptionOf(o)) return [];
  return limits.flatMap(({ scope, why }) =>
    scope.kind === "rflags" && scope.modes.includes(c.env.mode) ? [{ rflags: scope.bits, why }] : []
  );
}
