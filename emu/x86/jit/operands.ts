/**
 * Operands as JavaScript expressions for the templates: registers of 8,
 * 16 and 32 bits (a 32-bit write clears the upper half, as the interpreter
 * does), effective addresses with the interpreter's arithmetic (32-bit
 * addressing wraps at 4 GiB; 64-bit addressing goes through `ea64s`, exact
 * like long/access.ts ea64, and RIP-relative addresses are constants), and
 * loads and stores through the segment checks and the TLB.
 *
 * The locals and helpers the generated code uses are listed in codegen.ts;
 * its numbers (masks, CPU bits) are named in names.ts.
 *
 * @module
 */
import type { Insn } from "../insn.ts";
import { AC, MASK } from "../flags.ts";
import { TWO32 } from "../long/access.ts";
import { RIP_BASE } from "../modrm.ts";
import { TLB_MASK } from "../memory.ts";
import { AR_DB, R8_INDEX, SS } from "../state.ts";
import {
  CANONICAL_HIGH_BOTTOM,
  CANONICAL_HIGH_TOP,
  HIGH16,
  PAGE_MASK,
  PAGE_SHIFT,
  PAGE_SIZE,
  PAGES_PER_4G,
  SEG_READ_MASK,
  SEG_READ_OK,
  SEG_WRITE_MASK,
  SEG_WRITE_OK,
} from "./names.ts";
import { num } from "./pool.ts";

/**
 * Markers in a block's code (codegen.ts cacheRegisters): where the registers a block holds in locals must be in the
 * register file (before anything outside the block's code could see them), and where they must be read from it
 * again (after a call that may have changed them).
 */
export const SPILL = "/*spill*/", RELOAD = "/*reload*/";

/**
 * Guards: locals holding what the fast paths of memory accesses test of the CPU beyond the address, which only a
 * semantic function can change (segment registers and their caches, DR7's watchpoints, EFLAGS.AC, a TLB flush's
 * tag base): codegen.ts reads each one a block names on its entry, and again at a RELOAD that code using it follows
 * (withGuards), instead of at every access. TB: the TLB's tag base; TC: the same, for the last pages (lastPage),
 * which it starts out empty; FA: nothing watched or alignment-checked
 * (64-bit mode); GS: SS is a 32-bit stack; GR<seg>, GW<seg>: the segment allows a plain read, write, and nothing is
 * watched; GL<seg>, GB<seg>: its limit and base. Read inside a block's loop, the loads and tests cost V8's code for
 * memset_loop's loop about half its speed.
 */
export const GUARD = /\b(TB|TC|FA|GS|G[RWLB][0-5])\b/g;

/** The expression a guard (GUARD) holds. */
export function guardValue(name: string): string {
  if (name === "TB") return "m.tagBase";
  if (name === "TC") return EMPTY_LAST_PAGES;
  if (name === "FA") return `c.watch === 0 && !(c.eflRest & ${AC})`;
  if (name === "GS") return `(SA[${SS}] & ${AR_DB}) !== 0`;
  const seg = Number(name[2]);
  switch (name[1]) {
    case "R":
      return `(SA[${seg}] & ${SEG_READ_MASK}) === ${SEG_READ_OK} && c.watch === 0`;
    case "W":
      return `(SA[${seg}] & ${SEG_WRITE_MASK}) === ${SEG_WRITE_OK} && c.watch === 0`;
    case "L":
      return `SL[${seg}]`;
    default:
      return `SB[${seg}]`;
  }
}

/**
 * A canonical high half: `hi` (uint32) at most CANONICAL_HIGH_TOP or at least CANONICAL_HIGH_BOTTOM, as one
 * comparison (V8 compiles the or of two comparisons inside a loop much slower); `top` false leaves out
 * CANONICAL_HIGH_TOP itself.
 */
export function canonicalHigh(hi: string, top = true): string {
  const shift = TWO32 - CANONICAL_HIGH_BOTTOM;
  return `((${hi} + ${shift}) >>> 0) ${top ? "<=" : "<"} ${CANONICAL_HIGH_TOP + shift}`;
}

/** Operand-size masks as source text (flags.ts MASK), by size in bytes (1, 2, 4). */
export const MASK_TEXT: readonly string[] = MASK.map((m) => (m ? String(m) : ""));

/** Register `n` of `size` bytes (1, 2, 4). */
export function regRead(n: number, size: number): string {
  return size === 4 ? `r[${n << 1}]` : size === 2 ? `r16[${n << 2}]` : `r8[${R8_INDEX[n]}]`;
}

/** Writes `v` (already masked) to register `n` of `size` bytes. */
export function regWrite(n: number, size: number, v: string): string {
  if (size === 4) return `r[${n << 1}] = ${v}; r[${(n << 1) + 1}] = 0;`;
  return `${regRead(n, size)} = ${v};`;
}

/**
 * The offset of `d`'s memory operand, or undefined where a template leaves it to the interpreter (16-bit
 * addressing). `next` is the next instruction's RIP (64-bit mode: RIP-relative operands are constants). In 64-bit
 * mode it is statements that set the 64-bit offset's halves, LA (low) and LH (high), as uint32.
 */
export function offset(d: Insn, next: number): string | undefined {
  if (d.mode !== 8) {
    if (d.asize !== 4) return undefined;
    const parts = [String(d.disp | 0)];
    if (d.base >= 0) parts.push(`r[${d.base << 1}]`);
    if (d.index >= 0) parts.push(d.scale ? `(r[${d.index << 1}] << ${d.scale})` : `r[${d.index << 1}]`);
    return `((${parts.join(" + ")}) >>> 0)`;
  }
  if (d.base === RIP_BASE) {
    const a = next + (d.disp | 0);
    return `LA = ${num(a >>> 0)}; LH = ${num(d.asize === 4 ? 0 : Math.floor(a / 2 ** 32) >>> 0)};`;
  }
  const terms: [string, string][] = [];
  if (d.base >= 0) terms.push([`r[${d.base << 1}]`, `r[${(d.base << 1) + 1}]`]);
  if (d.index >= 0) {
    const s = d.scale, i = d.index << 1;
    terms.push(
      s
        ? [`((r[${i}] << ${s}) >>> 0)`, `(((r[${i + 1}] << ${s}) | (r[${i}] >>> ${32 - s})) >>> 0)`]
        : [`r[${i}]`, `r[${i + 1}]`],
    );
  }
  const disp = d.disp | 0;
  if (d.asize === 4) return `LA = (${[String(disp), ...terms.map((t) => t[0])].join(" + ")}) >>> 0; LH = 0;`;
  return sum64(terms, disp);
}

/**
 * Statements that set LA and LH to the 64-bit sum of `terms` (each its uint32 low half and its high half as source)
 * and the sign-extended `disp`, in 32-bit integer operations only: each addition's low half wraps exactly when it
 * carries (a borrow, for a negative displacement), which goes to the high half. LL holds the low half before the
 * last addition. V8 runs this as fast as the exact double sum with a division by 2^32 it replaces; JavaScriptCore
 * runs it up to twice as fast.
 */
function sum64(terms: readonly [string, string][], disp: number): string {
  if (terms.length === 0) return `LA = ${disp >>> 0}; LH = ${disp < 0 ? TWO32 - 1 : 0};`;
  let code = `LA = ${terms[0][0]}; LH = ${terms[0][1]};`;
  for (const [lo, hi] of terms.slice(1)) {
    code += ` LL = LA; LA = (LL + ${lo}) >>> 0; LH = (LH + ${hi} + (LA < LL ? 1 : 0)) >>> 0;`;
  }
  if (disp === 0) return code;
  const [wrapped, step] = disp > 0 ? ["<", "+"] : [">", "-"];
  return `${code} LL = LA; LA = (LL + ${disp}) >>> 0; LH = LA ${wrapped} LL ? (LH ${step} 1) >>> 0 : LH;`;
}

/** The segment of `d`'s memory operand. */
export function segmentOf(d: Insn): number {
  return d.seg >= 0 ? d.seg : d.eaSeg;
}

/** Little-endian bytes of the page `buf` at RK + `at` as a uint32 (an 8- or 16-bit value for `size` 1 or 2). */
function bytesAt(buf: string, size: number, at = 0): string {
  const k = (i: number) => (at + i === 0 ? `${buf}[RK]` : `${buf}[RK + ${at + i}]`);
  if (size === 1) return k(0);
  if (size === 2) return `${k(0)} | (${k(1)} << 8)`;
  return `(${k(0)} | (${k(1)} << 8) | (${k(2)} << 16) | (${k(3)} << 24)) >>> 0`;
}

/**
 * Statements that load `size` bytes at `off` in segment `seg` into the local MV (8 bytes: the low half in MV, the
 * high one in MH, as long/access.ts readQ); `at` (setting EIP) runs first on the paths that may fault or exit, and
 * only there. The common case inline, as in Cpu.lin and Memory.read*: a data segment that allows the access (or, in
 * 64-bit mode, a canonical address in a segment without a base), nothing watched, a TLB hit inside one page;
 * anything else through the CPU's own calls.
 */
export function loadInto(seg: number, off: string, size: number, mode: number, at = ""): string {
  const x = slotOf(off), rc = `RC${x}`;
  const bytes = size === 8 ? `MV = ${bytesAt(rc, 4)}; MH = ${bytesAt(rc, 4, 4)};` : `MV = ${bytesAt(rc, size)};`;
  // A #PF returns -1 from the block (Memory.faultCode; the run loop delivers it): throwing it cost about 1.4 us.
  const read = (lin: string) =>
    size === 8
      ? `if (m.tryRead64(${lin}, QV) < 0) return -1; MV = QV[0]; MH = QV[1];`
      : `MV = m.tryRead${size * 8}(${lin}); if (MV < 0) return -1;`;
  const slow = `${at}${read(`c.lin(${seg}, ${signedOffset(mode)}, ${size}, false)`)}`;
  return `${setOffset(off, mode)} ${access("R", x, seg, size, mode, bytes, `${at}${read(fullLinear(mode))}`, slow)}`;
}

/**
 * Statements that store `v` (`size` bytes; 8 bytes: `v` is the low half and `high` the high one, as long/access.ts
 * writeQ) at `off` in segment `seg` (the common case inline, as `loadInto`). `after` runs after a store through the
 * CPU's own calls: only those can queue an exit (MMIO) or write a page that holds code (Memory.protectCode keeps
 * code pages out of the write TLB the inline path uses).
 */
export function storeFrom(
  seg: number,
  off: string,
  size: number,
  mode: number,
  v: string,
  at = "",
  after = "",
  high = "0",
): string {
  const shifts = ["MV", "MV >> 8", "MV >> 16", "MV >> 24", "MH", "MH >> 8", "MH >> 16", "MH >> 24"];
  const x = slotOf(off);
  const bytes = shifts.slice(0, size).map((v, i) => `WC${x}[RK${i ? ` + ${i}` : ""}] = ${v};`).join(" ");
  const write = (lin: string) =>
    size === 8
      ? `if (m.tryWrite64(${lin}, MV, MH) < 0) return -1;`
      : `if (m.tryWrite${size * 8}(${lin}, MV) < 0) return -1;`;
  const slow = `${at}${write(`c.lin(${seg}, ${signedOffset(mode)}, ${size}, true)`)} ${after}`;
  const value = size === 8 ? `MV = ${v}; MH = ${high};` : `MV = ${v};`;
  return `${value} ${setOffset(off, mode)} ` +
    access("W", x, seg, size, mode, bytes, `${at}${write(fullLinear(mode))} ${after}`, slow);
}

/**
 * An access of `size` bytes at the offset in LA (and LH) in segment `seg`: `bytes` on the page's bytes at RK where the
 * fast path applies, `miss` (with the linear address in LA and LH) where only the TLB does not hold the page or the
 * access crosses its end, `slow` where the segment or the address needs the CPU's own checks. In 64-bit mode, in a
 * segment without a base, an access to the last page of its kind (lastPage) inside that page is tested first, with
 * 32-bit comparisons only: the offset is the linear address, and the page's checks (canonical, FA) passed when it
 * became the last page and hold until the guards are read again, which empties it.
 */
function access(
  kind: "R" | "W",
  x: string,
  seg: number,
  size: number,
  mode: number,
  bytes: string,
  miss: string,
  slow: string,
): string {
  const [t, h, b, o] = [`${kind}T${x}`, `${kind}H${x}`, `${kind}C${x}`, `${kind}O${x}`];
  const [tag, buf, off] = kind === "R" ? ["rTag", "rBuf", "rOff"] : ["wTag", "wBuf", "wOff"];
  const inPage = `(LA & ${PAGE_MASK}) <= ${PAGE_SIZE - size}`, hit = `RK = ${o} + (LA & ${PAGE_MASK}); ${bytes}`;
  const fast = fastSegment(seg, size, mode, kind === "W");
  if (mode === 8 && seg < 4) {
    const page = `(LA >>> ${PAGE_SHIFT})`;
    return `if (${h} === LH && ${t} === ${page} && ${inPage}) { ${hit} } else if (${fast}) { ${linear(seg, mode)} ` +
      `TI = ${page} & ${TLB_MASK}; if (${tag}[TI] === PG + TC && ${inPage}) { ${t} = ${page}; ${h} = LH; ` +
      `${b} = ${buf}[TI]; ${o} = ${off}[TI]; ${hit} } else { ${miss} } } else { ${slow} }`;
  }
  return `if (${fast}) { ${linear(seg, mode)} if (${lastPage(kind, x, tag, buf, off)} && ${inPage}) { ${hit} } ` +
    `else { ${miss} } } else { ${slow} }`;
}

/**
 * The slots of last pages a kind of access has: an access uses the slot of its base register (or of its index
 * register without a base), so that a loop that reads or writes through several pointers (the XZ decompressor's
 * byte copy: its dictionary's fields through RAX and its buffer through R8, each read and written) finds each
 * pointer's page where it left it, instead of every access replacing the one last page of its kind and the next
 * one looking the TLB up again. Slot 0 holds the stack (RSP, RBP; stack.ts), RIP-relative and absolute operands;
 * the sixteen registers share the other seven.
 */
const SLOTS = 8;
const SLOT_OF_REGISTER = [1, 2, 3, 4, 0, 0, 5, 6, 7, 2, 3, 4, 1, 5, 6, 7];

/**
 * The last pages: for each slot (SLOTS), the page of the block's last load (RT, RH, RC, RO) and of its last store
 * (WT, WH, WC, WO) through that slot that the TLB held, as its linear page number (in 64-bit mode its low 20 bits,
 * with the high half of the address in RH or WH), its bytes and the offset of its first byte in them; slot 0's
 * names have no suffix, slot k's end in k (RT1, WC3). Locals of the block function, which codegen.ts declares on
 * its entry where its code names TC (once each access declared them as `var`s); the guard TC sets them empty on
 * the block's entry and wherever the guards are read again after a call (GUARD), so that a page number stands for
 * the translation the TLB held when it was set: nothing else a block runs changes a translation the TLB holds
 * (INVLPG, a change of CPL or of paging, and the protection of a page that gets code happen between blocks; a TLB
 * flush in a semantic function the block calls is followed by the reset).
 */
export const LAST_PAGES = `let ${
  slotNames().map(([t, h, b, o]) => `${t} = -1, ${h} = -1, ${b} = r8, ${o} = 0`).join(", ")
};`;

/**
 * The last pages of every slot set empty, then the TLB's tag base: the guard TC's value. A page number of -1 matches
 * no address, so the other names keep what they held until an access sets them with its page.
 */
const EMPTY_LAST_PAGES = `(${slotNames().map(([t]) => t).join(" = ")} = -1, m.tagBase)`;

/** Each slot's names for loads and stores: page, high half, bytes, offset. */
function slotNames(): string[][] {
  const names: string[][] = [];
  for (const kind of ["R", "W"]) {
    for (let k = 0; k < SLOTS; k++) {
      const x = k === 0 ? "" : String(k);
      names.push([`${kind}T${x}`, `${kind}H${x}`, `${kind}C${x}`, `${kind}O${x}`]);
    }
  }
  return names;
}

/**
 * The slot's suffix for an access at the offset `off` (offset()'s source): that of its first register term (the
 * base, else the index), none (slot 0) without one.
 */
function slotOf(off: string): string {
  const m = /\br\[(\d+)\]/.exec(off);
  const k = m === null ? 0 : SLOT_OF_REGISTER[Number(m[1]) >> 1];
  return k === 0 ? "" : String(k);
}

/**
 * Whether PG is the last page of reads (`kind` "R") or writes ("W") of slot `x`, or else the TLB (`tag`, `buf`,
 * `off`) holds it, which makes it the slot's last page: an access to the page the last one of its slot and kind
 * found (memset's and memcpy's loops, the sieve's, a function's locals) tests one page number instead of looking
 * the TLB up (memset_loop's loop: about 1.4 times its speed under Deno). The TLB index comes from LA's low bits.
 */
function lastPage(kind: "R" | "W", x: string, tag: string, buf: string, off: string): string {
  const [t, b, o] = [`${kind}T${x}`, `${kind}C${x}`, `${kind}O${x}`];
  return `(${t} === PG || ((TI = (LA >>> ${PAGE_SHIFT}) & ${TLB_MASK}), ${tag}[TI] === PG + TC && ` +
    `((${t} = PG), (${b} = ${buf}[TI]), (${o} = ${off}[TI]), true)))`;
}

/** Sets LA (and LH in 64-bit mode) to the offset `off` (offset()). */
function setOffset(off: string, mode: number): string {
  return mode === 8 ? off : `LA = ${off};`;
}

/** The offset as Cpu.lin takes it: in 64-bit mode, signed (or far out of range, as ea64 gives it). */
function signedOffset(mode: number): string {
  return mode === 8 ? "ea64s(LA, LH | 0)" : "LA";
}

/** The linear address (48 bits in 64-bit mode) after `linear`, as Memory's reads and writes take it. */
function fullLinear(mode: number): string {
  return mode === 8 ? `(LH & ${HIGH16}) * ${TWO32} + LA` : "LA";
}

/**
 * The condition under which Cpu.lin would simply add the segment base (LA, and LH, hold the offset). In 64-bit mode:
 * a segment without a base, the offset canonical and the access not running past 2^47 - 1.
 */
function fastSegment(seg: number, size: number, mode: number, write: boolean): string {
  if (mode === 8) {
    const top = CANONICAL_HIGH_TOP;
    return seg >= 4 ? "false" : `(${canonicalHigh("LH", false)} || (LH === ${top} && LA <= ${TWO32 - size})) && FA`;
  }
  return `${write ? "GW" : "GR"}${seg} && LA <= GL${seg} - ${size - 1}`;
}

/** LA from offset to linear address (its low 32 bits in 64-bit mode), and its page number in PG. */
function linear(seg: number, mode: number): string {
  if (mode === 8) return `PG = (LH & ${HIGH16}) * ${PAGES_PER_4G} + (LA >>> ${PAGE_SHIFT});`;
  return `LA = (GB${seg} + LA) >>> 0; PG = LA >>> ${PAGE_SHIFT};`;
}

/** Far out of range, as ea64 returns an address beyond 2^53; SAFE_HIGH: the high half of 2^53. */
const FAR = 2 ** 62, SAFE_HIGH = 2 ** 53 / TWO32;

/** A 64-bit effective address from its summed halves, as ea64 returns it: signed, or far out of range. */
export function ea64s(lo: number, hi: number): number {
  const carry = Math.floor(lo / TWO32);
  const h = (hi + carry) | 0;
  if (h >= SAFE_HIGH || h < -SAFE_HIGH) return h < 0 ? -FAR : FAR;
  return h * TWO32 + (lo - carry * TWO32);
}
