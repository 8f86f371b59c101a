/**
 * The block compiler: turns a block's instructions into one JavaScript
 * function (`new Function`). Each instruction becomes either a template
 * (templates.ts: the common integer instructions, written out with their
 * operands as constants) or a direct call of its semantic function with
 * its decoded record, so that every call site sees one callee and V8 can
 * inline it. Between instructions the code keeps what the interpreter's
 * step keeps: EIP (for faults) and the next EIP (for branches and
 * RIP-relative operands); after an instruction that may write memory or
 * queue an exit it stops when an exit is queued or a code page was written.
 *
 * The names the generated code may use, all declared in `compile` (a
 * template that needs another declares it there):
 *
 * - arguments and helpers: `c` (the Cpu), `budget` (instructions it may
 *   run), `f<i>`/`d<i>` (instruction i's semantic function and decoded
 *   record), `setRip`, `PARITY` (flags.ts), `ea64s` (operands.ts), `QV` (long/access.ts qv, where an 8-byte
 *   read through the CPU's own calls leaves its halves), `MUL64`, `WIDE` (ops/limbs.ts mul64 and where it leaves
 *   the product);
 * - the CPU's arrays: `r`, `r16`, `r8` (the register file as 32-, 16- and
 *   8-bit views), `m` (c.mem), `SA`, `SL`, `SB` (segment access rights,
 *   limits, bases), `rTag`, `rBuf`, `rOff`, `wTag`, `wBuf`, `wOff` (the
 *   read and write TLB), `g` (c.codeGen on entry);
 * - memory access (operands.ts, stack.ts): `LA`, `LH` (an offset or linear
 *   address, low and high half), `LL` (a low half before an addition), `PG` (page
 *   number), `TI` (TLB index), `RB`, `WB` (the page's bytes), `RK` (the
 *   offset in them), `MV` (the value loaded or stored; `MH` its high half when it has 8 bytes), `OK` (the fast
 *   path applies), `SP`, `SQ` (a stack pointer's halves), `RT`, `RH`, `RC`, `RO`, `WT`, `WH`, `WC`, `WO` (the last
 *   pages, operands.ts LAST_PAGES, and those of slots 1-7, `RT1`...`WO7`: declared where the code names the guard TC);
 * - flags (templates.ts, eager.ts): `A`, `B`, `V` (operands and result),
 *   `C` (INC/DEC's carry in), `AH`, `BH`, `H`, `K`, `L` (64-bit halves,
 *   CF, a wide sum), `E`, `P` (eager flags), `T1`, `T2` (scratch);
 * - loops: `n` (iterations run), `LIM` (iterations allowed), `x0`-`x31`
 *   (registers held in locals: cacheRegisters);
 * - guards (operands.ts GUARD, withGuards): `TB`, `TC`, `FA`, `GS`, `GR<seg>`,
 *   `GW<seg>`, `GL<seg>`, `GB<seg>`, read on entry.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import type { Exec, Insn } from "../insn.ts";
import { EFER_LMA, qv, setRip } from "../long/access.ts";
import { PARITY } from "../flags.ts";
import { mul64, wide } from "../ops/limbs.ts";
import { ea64s } from "./operands.ts";
import type { BlockFn, Scan } from "./block.ts";
import { END_COND, END_DIRECT, endOf } from "./safe.ts";
import { GUARD, guardValue, LAST_PAGES, RELOAD, SPILL } from "./operands.ts";
import { callPush, ret32, ret64 } from "./stack.ts";
import {
  branch,
  flagsDead,
  flagSync,
  loopsBack,
  type Producer,
  producerOf,
  readsFlags,
  relativeTarget,
  type Site,
  skipOpen,
  template,
} from "./templates.ts";
import { num, pooled } from "./pool.ts";

/** A block function's result: the iterations it ran, shifted left by 6, or'd with its exit (BlockFn). */
export const ONCE = 1 << 6;
/** Exits of a block: on to the next instruction, branch taken at the end, anywhere; 3-63: branches taken on the way. */
export const EXIT_NEXT = 0, EXIT_TAKEN = 1, EXIT_ANY = 2, EXIT_SIDE = 3, EXITS = 64;
/** About how many instructions a looping block runs before it returns to the dispatcher. */
const LOOP_INSNS = 4096;

/** Makes a block's function from its instructions' records and semantics, its numbers and the helpers it names. */
type Factory = (...args: unknown[]) => BlockFn;
/**
 * Factories by source text, shared by every CPU: the same code compiled again (another VM, a page dropped and
 * decoded again, the same code at another address: pool.ts) reuses the function V8 has already compiled and
 * optimized, with its own records and numbers bound to it. The most recently used are kept, up to FACTORY_CHARS
 * characters of source: each keeps its source, bytecode and machine code alive after the blocks that used it are gone
 * (8,192 entries of any size grew a process running random guests by hundreds of MiB).
 */
const factories = new Map<string, Factory>();
const FACTORY_CHARS = 1 << 20;
let factoryChars = 0;

/**
 * A budget of distinct block source a process compiles, in characters. Deno's V8 keeps every distinct source given to
 * `new Function` (its compilation cache, which no collection empties: random guests kept about 3.5 bytes of heap per
 * character), so a budget bounds that memory: beyond it a block of a new shape is not compiled and the interpreter
 * runs its code; shapes compiled before are still made for new blocks. Measured (Deno): a Linux boot compiles about
 * 47 Mi characters (10,744 distinct blocks through the PVH entry to power-off; a bzImage boot after it 1.2 Mi more),
 * the bench guests about 0.2 Mi, the random programs of the block compiler's tests about 13 Mi per test file. Under
 * Deno the default, `DENO_SOURCE_BUDGET`, holds two to three Linux boots' worth of distinct code and bounds what the
 * cache keeps to roughly 450 MiB; Bun (JavaScriptCore) and Node's V8 release the sources of collected functions, so
 * there it is unlimited. `limitSources` sets another.
 */
export const DENO_SOURCE_BUDGET = 128 * 2 ** 20;
let sourceBudget = typeof (globalThis as { Deno?: unknown }).Deno === "undefined" ? Infinity : DENO_SOURCE_BUDGET;
/** Hashes of the sources compiled (holding the sources themselves would double what V8 holds), and their length. */
const compiled = new Set<number>();
let compiledChars = 0;

/** The characters of distinct block source this process compiled (at most its budget). */
export function sourceChars(): number {
  return compiledChars;
}

/** Sets the process's budget of distinct block source, in characters (Infinity: unlimited); returns the old one. */
export function limitSources(chars: number): number {
  const old = sourceBudget;
  sourceBudget = chars;
  return old;
}

/** A small number per semantic function, written into the source of blocks that call it (see `compile`). */
const callees = new Map<Exec, number>();

/** A compiled block: its code, and how many of its instructions ran when it left through each side exit. */
export interface Compiled {
  fn: BlockFn;
  /** By side exit (EXIT_SIDE on): the instructions up to and including the Jcc that leaves through it. */
  sides: number[];
  /** The instructions one iteration of its loop runs (loopLength). */
  loop: number;
  /** Its first side exit that leaves through a tail's RET (Scan.tails), which goes anywhere; EXITS when none does. */
  indirect: number;
}

/**
 * The tails of `scan` (Scan.tails), by the index of their last instruction (their RET): the instructions a pass that
 * leaves there ran, up to its Jcc and the tail's own.
 */
function tailCounts(scan: Scan): Map<number, number> {
  const counts = new Map<number, number>();
  const starts = scan.tails.map(([, start]) => start).sort((a, b) => a - b);
  for (const [jcc, start] of scan.tails) {
    const end = starts.find((s) => s > start) ?? scan.insns.length;
    counts.set(end - 1, jcc + 1 + end - start);
  }
  return counts;
}

/**
 * Compiles the block `scan`, entered at `rip` (the whole RIP in 64-bit mode, else EIP), for a code segment whose
 * limit is `csLimit`; null when its source would be new and take the process past its budget (limitSources).
 */
export function compile(scan: Scan, rip: number, csLimit: number, amd: boolean): Compiled | null {
  const insns = scan.insns;
  // Each instruction's address: the block's ranges are in one page and their EIPs do not wrap (block.ts scanBlock).
  const ips = scan.offs.map((o) => rip + (o - scan.offs[0]));
  const main = scan.main;
  // A Jcc with a tail (Scan.tails) skips the rest of the main path to it.
  const skips = forwardSkips(insns.slice(0, main), ips.slice(0, main));
  for (const [jcc, start] of scan.tails) skips.set(jcc, start);
  const tails = tailCounts(scan);
  // The iterations a looping block runs per call at most: about LOOP_INSNS instructions of its loop.
  const passLength = loopLength(insns.slice(0, main), ips, skips), loops = loopsOf(passLength);
  // A first pass finds the flags each branch back to the entry leaves in the locals: when they all agree, a loop
  // carries them from one iteration to the next in the locals, and writes them out only where it leaves.
  const backs = pooled(() => emit(insns, ips, skips, tails, main, loops, csLimit, amd, null)).result.backs;
  const carry = backs.length !== 0 && backs.every((p) => p !== null && sameKind(p, backs[0]!)) ? backs[0] : null;
  const { result: { names, values, lines, sides, indirect }, numbers } = pooled(() =>
    emit(insns, ips, skips, tails, main, loops, csLimit, amd, carry)
  );
  // A block whose last branch goes back to its start runs as a loop inside the function (templates.ts: branch).
  const loop = lines.some((l) => l.includes("continue;"));
  const { code, guards } = withGuards(lines.join("\n"));
  const { head, body } = loop ? cacheRegisters(code) : { head: "", body: uncached(code) };
  // The semantic functions it calls are named in its source, so that blocks sharing a source share their callees
  // too: each call site keeps one callee, which V8 can inline.
  const calls = insns.map((d) => callees.get(d.exec) ?? callees.set(d.exec, callees.size).get(d.exec)!);
  // The addresses are read into locals on entry: a loop then keeps them in registers (the factory's bindings are
  // shared by every block of the source, so V8 cannot fold them into its code as constants).
  const locals = numbers.length === 0 ? "" : `const ${numbers.map((_, i) => `k${i} = K${i}_`).join(", ")};\n`;
  const source = `"use strict"; // ${calls.join(" ")}\nreturn function block(c, budget) {\n` +
    `const g = c.codeGen, r = c.r32;\n${locals}` +
    `const r16 = c.r16, r8 = c.r8, m = c.mem, SA = c.segAr, SL = c.segLimit, SB = c.segBase;\n` +
    `const rTag = m.rTag, rBuf = m.rBuf, rOff = m.rOff, wTag = m.wTag, wBuf = m.wBuf, wOff = m.wOff;\n` +
    `let RB = r8, WB = r8, PG = 0, TI = 0, RK = 0, MV = 0, OK = 0;\nlet A = 0, B = 0, V = 0, C = 0, AH = 0, BH = 0, H = 0, E = 0, L = 0, n = 0, SP = 0, LA = 0, T1 = 0, T2 = 0, SQ = 0, P = 0, K = 0, LH = 0, LL = 0, MH = 0;\n` +
    (/\bTC\b/.test(code) ? `${LAST_PAGES}\n` : "") + guards +
    (loop
      ? `const LIM = Math.min(${loops}, Math.ceil(budget / ${insns.length}));\n${head}for (;;) {\n${body}\n}\n};`
      : `${body}\n};`);
  let make = factories.get(source);
  if (make === undefined) {
    const hash = hashOf(source);
    if (!compiled.has(hash)) {
      if (compiledChars + source.length > sourceBudget) return null;
      compiled.add(hash);
      compiledChars += source.length;
    }
    make = new Function(
      ...names,
      ...numbers.map((_, i) => `K${i}_`),
      "setRip",
      "PARITY",
      "ea64s",
      "QV",
      "MUL64",
      "WIDE",
      source,
    ) as Factory;
    factoryChars += source.length;
    for (const old of factories.keys()) {
      if (factoryChars <= FACTORY_CHARS) break;
      factories.delete(old);
      factoryChars -= old.length;
    }
  } else factories.delete(source); // re-inserted below: the most recently used last
  factories.set(source, make);
  const fn = make(...values, ...numbers, setRip as (c: Cpu, v: number) => void, PARITY, ea64s, qv, mul64, wide);
  return { fn, sides, indirect, loop: passLength };
}

/**
 * The instructions one iteration of the block `insns` (at `ips`) runs when it loops: up to and including its last
 * Jcc or JMP rel back to its entry, which its code takes as the next iteration (templates.ts loopsBack; a Jcc to a
 * later copy of the entry's instructions skips to it instead: `skips`, forwardSkips); all of them when none branches
 * back. A block whose loop branches back from its middle (the loop's exit path follows it) counts that far per
 * iteration, not its whole length (run.ts runChain). Where several branches go back, iterations through an earlier
 * one count as many as through the last.
 */
function loopLength(insns: readonly Insn[], ips: readonly number[], skips: Map<number, number>): number {
  for (let i = insns.length - 1; i >= 0; i--) {
    const d = insns[i];
    // A JMP rel on the way was followed: it has no code.
    if (d.jit !== "jcc" && d.jit !== "jccLong" && (i !== insns.length - 1 || endOf(d) !== END_DIRECT)) continue;
    const next = d.mode === 2 ? (ips[i] + d.len) & 0xffff : d.mode === 8 ? ips[i] + d.len : (ips[i] + d.len) >>> 0;
    if (!skips.has(i) && loopsBack(d, next, ips[0])) return i + 1;
  }
  return insns.length;
}

/** A 53-bit hash of `s` (two 32-bit FNV-1a lanes), to count distinct sources without keeping them. */
function hashOf(s: string): number {
  let a = 0x811c9dc5, b = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    a = Math.imul(a ^ ch, 0x01000193);
    b = Math.imul(b ^ ch, 0x5bd1e995);
  }
  return (a >>> 0) * 0x200000 + (b >>> 11);
}

/** Register accesses of the templates' code (operands.ts), and writes with the value written. */
const REG = /\br\[(\d+)\]/g, REG_WRITE = /\br\[(\d+)\] = ([^;]*);/g;

/**
 * The guards (operands.ts GUARD) `code` names, as locals: declared with their values on the block's entry, and read
 * again at a RELOAD (after a call of a semantic function, which may change what they hold) when code after it may
 * use them: the code's text after the RELOAD names them, or has a `continue` back to the start of a loop. (A
 * refresh on a path that only leaves the block cost V8's code for memset_loop's loop, whose RET falls back on its
 * semantic function there, a third of its speed.)
 */
function withGuards(code: string): { code: string; guards: string } {
  const used = (text: string) => [...new Set([...text.matchAll(GUARD)].map((m) => m[1]))].sort();
  const names = used(code);
  if (names.length === 0) return { code, guards: "" };
  const assign = (g: string) => `${g} = ${guardValue(g)}`;
  const parts = code.split(RELOAD);
  // From the end: each RELOAD's refresh, by the code after it.
  let out = "", rest = "", refreshed = false;
  for (let k = parts.length - 1; k >= 1; k--) {
    rest = parts[k] + rest;
    const refresh = rest.includes("continue;") ? names : used(rest);
    refreshed ||= refresh.length !== 0;
    out = RELOAD + (refresh.length === 0 ? "" : ` ${refresh.map(assign).join("; ")};`) + parts[k] + out;
  }
  out = parts[0] + out;
  // Constants where nothing refreshes them: V8 ran memset_loop's loop half as fast again with them as const.
  return { code: out, guards: `${refreshed ? "let" : "const"} ${names.map(assign).join(", ")};\n` };
}

/** A block's code with its registers in the register file (c.r32): the spill and reload points go. */
function uncached(body: string): string {
  return body.replaceAll(SPILL, "").replaceAll(RELOAD, "");
}

/**
 * A looping block's code with the 32-bit halves of the registers it names held in locals (x0-x31) for the whole
 * call: read on entry, written back where something outside the block's code could see them (SPILL: before a slow
 * path, a call of a semantic function, a return) and read again after a call of a semantic function (RELOAD).
 * A local holds what the register file would: a write is truncated to 32 bits as the Uint32Array would. Blocks that
 * name 8- or 16-bit registers (which alias the same bytes) keep them all in the register file.
 */
function cacheRegisters(code: string): { head: string; body: string } {
  if (code.includes("r16[") || code.includes("r8[")) return { head: "", body: uncached(code) };
  const named = new Set<number>(), written = new Set<number>();
  for (const m of code.matchAll(REG)) named.add(Number(m[1]));
  for (const m of code.matchAll(REG_WRITE)) written.add(Number(m[1]));
  if (named.size === 0) return { head: "", body: uncached(code) };
  const all = [...named].sort((a, b) => a - b), dirty = all.filter((k) => written.has(k));
  const body = code
    .replace(REG_WRITE, (_, k, v) => `x${k} = (${v}) >>> 0;`)
    .replace(REG, (_, k) => `x${k}`)
    .replaceAll(SPILL, dirty.map((k) => ` r[${k}] = x${k};`).join(""))
    .replaceAll(RELOAD, all.map((k) => ` x${k} = r[${k}];`).join(""));
  return { head: `let ${all.map((k) => `x${k} = r[${k}]`).join(", ")};\n`, body };
}

/** Whether two producers leave the same kind of flags record in the same locals. */
function sameKind(a: Producer, b: Producer): boolean {
  return a.fop === b.fop && a.size === b.size;
}

/**
 * A block's body: its lines, the names and values its factory binds, the flags in locals at each back edge, and the
 * instructions run up to each side exit (Compiled.sides).
 */
interface Emitted {
  names: string[];
  values: unknown[];
  lines: string[];
  backs: (Producer | null)[];
  sides: number[];
  indirect: number;
}

/**
 * Writes out the body of a block. The flags of the last producer template stay in the locals (`pending`) and are
 * written into the CPU only before something could see them: a slow path, a call of a semantic function, a return.
 * With `carry`, the block loops and each back edge holds `carry`'s flags in the locals: until the first producer of
 * an iteration, they are the CPU's only after the first iteration (n !== 0).
 */
function emit(
  insns: readonly Insn[],
  ips: readonly number[],
  skips: Map<number, number>,
  tails: Map<number, number>,
  main: number,
  loops: number,
  csLimit: number,
  amd: boolean,
  carry: Producer | null,
): Emitted {
  const rip = ips[0];
  const names: string[] = [];
  const values: unknown[] = [];
  const lines: string[] = [];
  const backs: (Producer | null)[] = [];
  const sides: number[] = [];
  const producers = insns.map(producerOf);
  // The forward branches inside the block whose target is still to come: the index of their target, and the flags
  // in the locals where they branch (`version` counts the changes of `pending`).
  const open: { to: number; flags: Producer | null; version: number }[] = [];
  let version = 0;
  let pending: Producer | null = null;
  let head = carry !== null;
  const flags = () => head ? `if (n !== 0) {${flagSync(carry!)} }` : pending === null ? "" : flagSync(pending);
  const sync = () => SPILL + flags();
  let side = EXIT_SIDE, indirect = EXITS;
  for (let i = 0; i < insns.length; i++) {
    while (open.length !== 0 && open[open.length - 1].to === i) {
      // The target of a forward branch: both ways meet here. Where the skipped instructions left other flags in the
      // locals than the branch saw, each way writes its own into the CPU.
      const o = open.pop()!;
      if (o.version === version) lines.push("}");
      else {
        lines.push(
          `${pending === null ? "" : flagSync(pending)} } else {${o.flags === null ? "" : flagSync(o.flags)} }`,
        );
        pending = null;
        version++;
      }
    }
    const d = insns[i], ip = ips[i];
    const next = nextIp(d, ip);
    // The main path's end and each tail's RET end a path through the block (Scan.tails).
    const last = i === insns.length - 1 || i === main - 1 || tails.has(i);
    // A tail's RET leaves through a side exit of its own, which counts the instructions of its path.
    let any = EXIT_ANY;
    if (tails.has(i) && side < EXITS) {
      indirect = Math.min(indirect, side);
      sides.push(tails.get(i)!);
      any = side++;
    }
    // Where the block goes on: the next instruction, or the target of a JMP or CALL rel it followed.
    const on = last ? next : ips[i + 1];
    const end = endOf(d);
    if (end === END_DIRECT && !last) {
      // A JMP rel that the block followed has no code; a CALL rel pushes its return address and goes on. Neither
      // touches the flags.
      if (d.jit === "callRel" || d.jit === "callRelLong") {
        names.push(`f${i}`, `d${i}`);
        values.push(d.exec, d);
        // Only its slow paths can queue an exit or write code: they check (Site.stop).
        const stop = stopCheck(d, on, sync());
        lines.push(callPush(d, { eip: ip >>> 0, next, csLimit, name: `d${i}`, fn: `f${i}`, sync: sync(), stop }));
      }
      continue;
    }
    const p = producers[i];
    // No one sees the flags it sets: a multiply then reads none of those before it (templates.ts flagsDead).
    const dead = p !== null && flagsDead(insns, i, i < main ? main : insns.length);
    if (head && (end !== undefined || (!dead && readsFlags(d, amd)))) {
      // It reads the flags from the CPU: those the loop carried, after the first iteration.
      lines.push(flags());
      head = false;
    }
    const site = {
      eip: ip >>> 0,
      next,
      csLimit,
      producer: pending,
      sync: sync(),
      backSync: carry !== null ? "" : flags(),
      stop: last ? "" : stopCheck(d, on, sync()),
      name: `d${i}`,
      fn: `f${i}`,
      entry: rip,
      loops,
      amd,
      flagsDead: dead,
    };
    names.push(`f${i}`, `d${i}`);
    values.push(d.exec, d);
    if (end && loopsBack(d, next, rip)) backs.push(pending);
    if (end && !last && skips.has(i)) {
      // A forward branch to an instruction of this block: the instructions it skips run only when it is not taken.
      lines.push(skipOpen(d, pending));
      open.push({ to: skips.get(i)!, flags: pending, version });
      continue;
    }
    if (end && !last) {
      // A conditional branch on the way: leaving here is a side exit with a link of its own.
      const exit = side < EXITS ? side++ : EXIT_ANY;
      if (exit !== EXIT_ANY) sides.push(i + 1);
      const t = branch(d, site, exit, false);
      lines.push(
        t ??
          `${site.sync} c.eip = ${num(site.eip)}; c.nextEip = ${num(next)}; f${i}(c, d${i}); ${RELOAD}\n` +
            `if (c.nextEip !== ${
              num(next)
            }) { if (c.efer & ${EFER_LMA}) setRip(c, c.nextEip); else c.eip = c.nextEip; ` +
            `return ((n + 1) << 6) | ${exit}; }`,
      );
      if (t === undefined) {
        pending = null;
        version++;
      }
      continue;
    }
    const t = !end ? template(d, site) : any !== EXIT_ANY ? tailRet(d, site, any) : branch(d, site, EXIT_TAKEN, true);
    if (t === undefined && head) {
      // A call of the semantics may read the flags: write out those the loop carried (after the first iteration).
      lines.push(flags());
      head = false;
    }
    if (t !== undefined && end) {
      lines.push(t as string);
    } else if (t !== undefined) {
      const tt = t as Exclude<typeof t, string>;
      lines.push(tt.code);
      if (p) {
        [pending, head] = [p, false];
        version++;
      }
      if (tt.mayExit && !last) lines.push(stopCheck(d, on, sync()));
    } else {
      lines.push(`${site.sync} c.eip = ${num(site.eip)}; c.nextEip = ${num(next)}; f${i}(c, d${i}); ${RELOAD}`);
      pending = null;
      version++;
      if (!end && !last) lines.push(stopCheck(d, on, ""));
    }
    if (last && t === undefined && end) {
      // A looping block that ends with a call (a system instruction: safe.ts SYSTEM_ENDS) counts its iterations too.
      lines.push(`if (c.efer & ${EFER_LMA}) setRip(c, c.nextEip); else c.eip = c.nextEip;`);
      lines.push(
        end === END_COND
          ? `return ((n + 1) << 6) | (c.nextEip === ${num(next)} ? ${EXIT_NEXT} : ${EXIT_TAKEN});`
          : end === END_DIRECT
          ? `return ((n + 1) << 6) | ${EXIT_TAKEN};`
          : `return ((n + 1) << 6) | ${any};`,
      );
    } else if (last && !end) {
      lines.push(
        `${setIp(d, next)}${sync()} return ((n + 1) << 6) | (c.exits.length !== 0 || c.codeGen !== g ? 2 : 0);`,
      );
    }
  }
  return { names, values, lines, backs, sides, indirect };
}

/** A tail's RET (Scan.tails), leaving through its own exit `exit`: as the RET at a block's end leaves through EXIT_ANY. */
function tailRet(d: Insn, site: Site, exit: number): string | undefined {
  const leave = () => `return ((n + 1) << 6) | ${exit};`;
  return d.mode === 8 ? ret64(d, site, leave) : ret32(d, site, leave);
}

/**
 * The Jccs of a block (by index) whose target is a later instruction of the same block, with that instruction's
 * index: their taken branch skips the instructions between (codegen: `if (not taken) { ... }`) instead of leaving the
 * block. The skipped ranges must nest, as the `if`s of the code do: a Jcc whose range would cross an earlier one
 * stays a side exit. The block's last instruction (the branch that ends it) is never skipped over, only to. `ips`
 * are the instructions' addresses: a later instruction is one that runs later on the block's way through, wherever
 * a JMP or CALL it followed put it.
 */
export function forwardSkips(insns: readonly Insn[], ips: readonly number[]): Map<number, number> {
  const at = new Map<number, number>();
  const targets: (number | undefined)[] = [];
  for (let i = 0; i < insns.length; i++) {
    const d = insns[i];
    at.set(ips[i], i);
    targets.push(d.jit === "jcc" || d.jit === "jccLong" ? relativeTarget(d, nextIp(d, ips[i])) : undefined);
  }
  const skips = new Map<number, number>();
  const nest: number[] = []; // the targets of the ranges open at i, innermost last
  for (let i = 0; i < insns.length - 1; i++) {
    while (nest.length !== 0 && nest[nest.length - 1] <= i) nest.pop();
    const t = targets[i], j = t === undefined ? undefined : at.get(t);
    if (j === undefined || j <= i || (nest.length !== 0 && nest[nest.length - 1] < j)) continue;
    skips.set(i, j);
    nest.push(j);
  }
  return skips;
}

/** The instruction pointer after `d` at `ip`, as the block's code counts it (16-bit wrap, 32-bit EIP, 64-bit RIP). */
export function nextIp(d: Insn, ip: number): number {
  return d.mode === 2 ? (ip + d.len) & 0xffff : d.mode === 8 ? ip + d.len : (ip + d.len) >>> 0;
}

/** The most iterations per call of a looping block whose loop runs `length` instructions an iteration (loopLength). */
function loopsOf(length: number): number {
  return Math.max(1, Math.floor(LOOP_INSNS / length));
}

/** Sets the instruction pointer to the instruction after `d` at `next` (the block goes on there). */
function setIp(d: Insn, next: number): string {
  return d.mode === 8
    ? `c.eip = ${num(next >>> 0)}; c.ripHigh = ${num(Math.floor(next / 2 ** 32) >>> 0)};`
    : `c.eip = ${num(next)};`;
}

/**
 * Leaves the block after an instruction that queued an exit or wrote a code page, at the next instruction (`sync`
 * writes out the flags held in locals).
 */
function stopCheck(d: Insn, next: number, sync: string): string {
  return `if (c.exits.length !== 0 || c.codeGen !== g) { ${setIp(d, next)}${sync} return ((n + 1) << 6) | 2; }`;
}
