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
import type { BlockFn } from "./block.ts";
import { END_COND, END_DIRECT, ENDS } from "./safe.ts";
import { template } from "./templates.ts";

/** What a template needs to know of its place in the block. */
export interface Site {
  /** This instruction's EIP (low half of RIP) and its successor's (the whole RIP in 64-bit mode). */
  readonly eip: number;
  readonly next: number;
  /** The name of the decoded record in the generated code. */
  readonly name: string;
}

/** Compiles `insns` (entered at `eip`; `rip` is the whole RIP in 64-bit mode, else the EIP). */
export function compile(insns: readonly Insn[], rip: number): BlockFn {
  const names: string[] = [];
  const values: unknown[] = [];
  const lines: string[] = [];
  let ip = rip;
  for (let i = 0; i < insns.length; i++) {
    const d = insns[i];
    const next = d.mode === 2 ? (ip + d.len) & 0xffff : d.mode === 8 ? ip + d.len : (ip + d.len) >>> 0;
    const site: Site = { eip: ip >>> 0, next, name: `d${i}` };
    names.push(`f${i}`, `d${i}`);
    values.push(d.exec, d);
    const last = i === insns.length - 1;
    const end = ENDS.get(d.exec);
    const t = end ? undefined : template(d, site);
    if (t !== undefined) {
      lines.push(t.code);
      if (t.mayExit && !last) lines.push(stopCheck(next));
    } else {
      lines.push(`c.eip = ${site.eip}; c.nextEip = ${next}; f${i}(c, d${i});`);
      if (!end && !last) lines.push(stopCheck(next));
    }
    if (last) {
      if (end) {
        lines.push("if (c.efer & 0x400) setRip(c, c.nextEip); else c.eip = c.nextEip;");
        lines.push(
          end === END_COND ? `return c.nextEip === ${next} ? 0 : 1;` : end === END_DIRECT ? "return 1;" : "return 2;",
        );
      } else {
        lines.push(`c.eip = ${next >>> 0};`, "return c.exits.length !== 0 || c.codeGen !== g ? 2 : 0;");
      }
    }
    ip = next;
  }
  const source = `"use strict";\nreturn function block(c) {\nconst g = c.codeGen;\n${lines.join("\n")}\n};`;
  const make = new Function(...names, "setRip", source) as (...args: unknown[]) => BlockFn;
  return make(...values, setRip as (c: Cpu, v: number) => void);
}

/** Leaves the block after an instruction that queued an exit or wrote a code page, at the next instruction. */
function stopCheck(next: number): string {
  return `if (c.exits.length !== 0 || c.codeGen !== g) { c.eip = ${next >>> 0}; return 2; }`;
}
