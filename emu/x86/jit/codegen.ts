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
 * @module
 */
import type { Cpu } from "../cpu.ts";
import type { Insn } from "../insn.ts";
import { setRip } from "../long/access.ts";
import { PARITY } from "../flags.ts";
import { ea64s } from "./operands.ts";
import type { BlockFn } from "./block.ts";
import { END_COND, END_DIRECT, ENDS } from "./safe.ts";
import { branch, isQuiet, type Producer, producerOf, template } from "./templates.ts";

/** A block function's result: the iterations it ran, shifted left by 6, or'd with its exit (BlockFn). */
const ONCE = 1 << 6;
/** Exits of a block: on to the next instruction, branch taken at the end, anywhere; 3-63: branches taken on the way. */
export const EXIT_NEXT = 0, EXIT_TAKEN = 1, EXIT_ANY = 2, EXIT_SIDE = 3, EXITS = 64;
/** About how many instructions a looping block runs before it returns to the dispatcher. */
const LOOP_INSNS = 4096;

/** Makes a block's function from its instructions' records and semantics (and the helpers it names). */
type Factory = (...args: unknown[]) => BlockFn;
/**
 * Factories by source text, shared by every CPU: the same code compiled again (another VM, a page dropped and
 * decoded again) reuses the function V8 has already compiled and optimized, with its own records bound to it. The
 * most recently used are kept, up to FACTORY_CHARS characters of source: each keeps its source, bytecode and
 * machine code alive after the blocks that used it are gone (8,192 entries of any size grew a process running
 * random guests by hundreds of MiB).
 */
const factories = new Map<string, Factory>();
const FACTORY_CHARS = 1 << 20;
let factoryChars = 0;

/**
 * Compiles `insns`, entered at `rip` (the whole RIP in 64-bit mode, else EIP), for a code segment whose limit is
 * `csLimit`.
 */
export function compile(insns: readonly Insn[], rip: number, csLimit: number, amd: boolean): BlockFn {
  const names: string[] = [];
  const values: unknown[] = [];
  const lines: string[] = [];
  const producers = insns.map(producerOf);
  let ip = rip;
  let producer: Producer | null = null;
  let side = EXIT_SIDE;
  for (let i = 0; i < insns.length; i++) {
    const d = insns[i];
    const next = d.mode === 2 ? (ip + d.len) & 0xffff : d.mode === 8 ? ip + d.len : (ip + d.len) >>> 0;
    const last = i === insns.length - 1;
    const end = ENDS.get(d.exec);
    const site = {
      eip: ip >>> 0,
      next,
      csLimit,
      producer,
      storeFlags: mustStore(insns, producers, i),
      name: `d${i}`,
      fn: `f${i}`,
      entry: rip,
      loops: loopsOf(insns.length),
      amd,
    };
    names.push(`f${i}`, `d${i}`);
    values.push(d.exec, d);
    if (end && !last) {
      // A conditional branch on the way: leaving here is a side exit with a link of its own.
      const exit = side < EXITS ? side++ : EXIT_ANY;
      const t = branch(d, site, exit, false);
      lines.push(
        t ??
          `c.eip = ${site.eip}; c.nextEip = ${next}; f${i}(c, d${i});\n` +
            `if (c.nextEip !== ${next}) { if (c.efer & 0x400) setRip(c, c.nextEip); else c.eip = c.nextEip; ` +
            `return ((n + 1) << 6) | ${exit}; }`,
      );
      if (t === undefined) producer = null;
      ip = next;
      continue;
    }
    const t = end ? branch(d, site, EXIT_TAKEN, true) : template(d, site);
    if (t !== undefined && end) {
      lines.push(t as string);
    } else if (t !== undefined) {
      const tt = t as Exclude<typeof t, string>;
      lines.push(tt.code);
      if (tt.mayExit && !last) lines.push(stopCheck(d, next));
      if (producers[i]) producer = producers[i];
    } else {
      lines.push(`c.eip = ${site.eip}; c.nextEip = ${next}; f${i}(c, d${i});`);
      if (!end && !last) lines.push(stopCheck(d, next));
      producer = null;
    }
    if (last && t === undefined && end) {
      lines.push("if (c.efer & 0x400) setRip(c, c.nextEip); else c.eip = c.nextEip;");
      lines.push(
        end === END_COND
          ? `return c.nextEip === ${next} ? ${ONCE} : ${ONCE | EXIT_TAKEN};`
          : end === END_DIRECT
          ? `return ${ONCE | EXIT_TAKEN};`
          : `return ${ONCE | EXIT_ANY};`,
      );
    } else if (last && !end) {
      lines.push(`${setIp(d, next)} return ((n + 1) << 6) | (c.exits.length !== 0 || c.codeGen !== g ? 2 : 0);`);
    }
    ip = next;
  }
  // A block whose last branch goes back to its start runs as a loop inside the function (templates.ts: branch).
  const body = lines.join("\n");
  const loop = body.includes("continue;");
  const source = `"use strict";\nreturn function block(c, budget) {\nconst g = c.codeGen, r = c.r32;\n` +
    `const r16 = c.r16, r8 = c.r8, m = c.mem, SA = c.segAr, SL = c.segLimit, SB = c.segBase;\n` +
    `const rTag = m.rTag, rBuf = m.rBuf, rOff = m.rOff, wTag = m.wTag, wBuf = m.wBuf, wOff = m.wOff;\n` +
    `let RB = r8, WB = r8, PG = 0, TI = 0, RK = 0, MV = 0, OK = 0;\nlet A = 0, B = 0, V = 0, C = 0, AH = 0, BH = 0, H = 0, E = 0, L = 0, n = 0, SP = 0, LA = 0, T1 = 0, T2 = 0, SQ = 0, P = 0;\n` +
    (loop
      ? `const LIM = Math.min(${
        loopsOf(insns.length)
      }, Math.ceil(budget / ${insns.length}));\nfor (;;) {\n${body}\n}\n};`
      : `${body}\n};`);
  let make = factories.get(source);
  if (make === undefined) {
    make = new Function(...names, "setRip", "PARITY", "ea64s", source) as Factory;
    factoryChars += source.length;
    for (const old of factories.keys()) {
      if (factoryChars <= FACTORY_CHARS) break;
      factories.delete(old);
      factoryChars -= old.length;
    }
  } else factories.delete(source); // re-inserted below: the most recently used last
  factories.set(source, make);
  return make(...values, setRip as (c: Cpu, v: number) => void, PARITY, ea64s);
}

/**
 * Whether producer `i` must write its flags into the CPU: unless a later producer in the block overwrites them
 * with only quiet templates (no fault, no memory) between.
 */
function mustStore(insns: readonly Insn[], producers: readonly (Producer | null)[], i: number): boolean {
  if (!producers[i]) return true;
  for (let j = i + 1; j < insns.length; j++) {
    if (ENDS.has(insns[j].exec) || !isQuiet(insns[j])) return true;
    if (producers[j]) return false;
  }
  return true;
}

/** The most iterations of a looping block of `length` instructions per call. */
function loopsOf(length: number): number {
  return Math.max(1, Math.floor(LOOP_INSNS / length));
}

/** Sets the instruction pointer to the instruction after `d` at `next` (the block goes on there). */
function setIp(d: Insn, next: number): string {
  return d.mode === 8 ? `c.eip = ${next >>> 0}; c.ripHigh = ${Math.floor(next / 2 ** 32) >>> 0};` : `c.eip = ${next};`;
}

/** Leaves the block after an instruction that queued an exit or wrote a code page, at the next instruction. */
function stopCheck(d: Insn, next: number): string {
  return `if (c.exits.length !== 0 || c.codeGen !== g) { ${setIp(d, next)} return ((n + 1) << 6) | 2; }`;
}
