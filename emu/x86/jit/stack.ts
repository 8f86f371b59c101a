/**
 * Templates for the stack: PUSH and POP of a register, CALL rel and RET,
 * with a 32-bit stack in 32-bit code and with 8-byte items in 64-bit mode.
 * Each checks at run time what its shortcut assumes (SS is a 32-bit stack;
 * in 64-bit mode the item is inside one page)
 * and otherwise calls the instruction's semantic function, as a block does
 * for any instruction without a template. A fast path touches the TLB's pages
 * only (the write TLB holds no code or MMIO page), so only the paths that call
 * the CPU (Memory's try* calls, the semantic function) set EIP first and look
 * for a queued exit or a written code page after (Site.stop). The locals SP,
 * SQ, LA, T1 and T2 are the stack's own, so a flag producer's locals survive
 * them.
 *
 * @module
 */
import type { Insn } from "../insn.ts";
import { EFER_LMA, TWO32 } from "../long/access.ts";
import { opReg } from "../ops/mov.ts";
import { TLB_MASK } from "../memory.ts";
import { CS, ESP, SS } from "../state.ts";
import { HIGH16, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, PAGES_PER_4G } from "./names.ts";
import { canonicalHigh, loadInto, RELOAD, storeFrom } from "./operands.ts";
import { num } from "./pool.ts";

/** RSP's low and high halves in the register file (c.r32). */
const SP_LO = `r[${ESP << 1}]`, SP_HI = `r[${(ESP << 1) + 1}]`;

/** What the stack templates need of the block: as in templates.ts Site. */
interface StackSite {
  readonly eip: number;
  readonly next: number;
  readonly csLimit: number;
  readonly name: string;
  /** The block's index of the instruction (its semantic function is f<index>). */
  readonly fn: string;
  /** Writes the flags the block holds in locals into the CPU (templates.ts Site.sync). */
  readonly sync: string;
  /** Leaves the block when an exit was queued or a code page written (templates.ts Site.stop), or nothing. */
  readonly stop: string;
}

/** SS.B: the stack pointer is ESP (in 32-bit code outside 64-bit mode). */
const STACK32 = "GS";
/** RSP's halves after a push of 8 bytes, in SP (low) and SQ (high). */
const PUSHED = `SP = (${SP_LO} - 8) >>> 0; SQ = (${SP_HI} - (${SP_LO} < 8 ? 1 : 0)) >>> 0;`;
/** RSP's halves, in SP (low) and SQ (high). */
const RSP = `SP = ${SP_LO}; SQ = ${SP_HI};`;
/** RSP after a pop of the 8-byte item at SP/SQ (inside one page, so the low half wraps only from 0xfffffff8). */
const POPPED = `${SP_LO} = (SP + 8) >>> 0; ${SP_HI} = (SQ + (SP >= ${TWO32 - 8} ? 1 : 0)) >>> 0;`;
/** RSP set to SP/SQ. */
const SET_RSP = `${SP_LO} = SP; ${SP_HI} = SQ;`;

/**
 * The instruction through its semantic function, as a block calls one without a template; with `stop`, the block
 * then leaves if the function queued an exit or wrote a code page (not after a branch, which leaves anyway).
 */
function generic(s: StackSite, stop = true): string {
  return `${s.sync} c.eip = ${num(s.eip)}; c.nextEip = ${num(s.next)}; ${s.fn}(c, ${s.name}); ${RELOAD}${
    stop ? s.stop : ""
  }`;
}

/** What runs first on a fast path's way to the CPU's own calls, which may fault or exit: EIP, and the flags. */
function at(s: StackSite): string {
  return `c.eip = ${num(s.eip)};${s.sync} `;
}

/** PUSH reg with a 32-bit operand in 32-bit code (template `pushReg`), or undefined. */
export function pushReg32(d: Insn, s: StackSite): string | undefined {
  if (d.mode !== 4 || d.osize !== 4) return undefined;
  const n = (d.op & 7) << 1;
  const body = `SP = (${SP_LO} - 4) >>> 0; ${storeFrom(SS, "SP", 4, 4, `r[${n}]`, at(s), s.stop)} ${SP_LO} = SP;`;
  return `if (${STACK32}) { ${body} } else { ${generic(s)} }`;
}

/** POP reg with a 32-bit operand in 32-bit code (template `popReg`), or undefined. */
export function popReg32(d: Insn, s: StackSite): string | undefined {
  if (d.mode !== 4 || d.osize !== 4) return undefined;
  const n = (d.op & 7) << 1;
  const body = `SP = ${SP_LO}; ${loadInto(SS, "SP", 4, 4, at(s))} ${SP_LO} = SP + 4; r[${n}] = MV; r[${n + 1}] = 0;`;
  return `if (${STACK32}) { ${body} } else { ${generic(s)} }`;
}

/** PUSH reg of 8 bytes in 64-bit mode (template `pushRegLong`), or undefined. */
export function pushReg64(d: Insn, s: StackSite): string | undefined {
  if (d.mode !== 8 || d.osize !== 8) return undefined;
  const n = opReg(d) << 1;
  return `${PUSHED} ${item64(true)} ` +
    `if (OK) { ${write64(`r[${n}]`, `r[${n + 1}]`)} ${SET_RSP} } else { ${generic(s)} }`;
}

/** POP reg of 8 bytes in 64-bit mode (template `popRegLong`), or undefined. */
export function popReg64(d: Insn, s: StackSite): string | undefined {
  if (d.mode !== 8 || d.osize !== 8) return undefined;
  const n = opReg(d) << 1;
  return `${RSP} ${item64(false)} ` +
    `if (OK) { ${read64()} ${POPPED} r[${n}] = T1; r[${n + 1}] = T2; } else { ${generic(s)} }`;
}

/**
 * Finds the 8-byte stack item at SP (low half) and SQ (high half) of SS (64-bit mode): OK = 1 with RC/WC and RK
 * pointing at it when it is inside one page of a canonical address, nothing watched or alignment-checked, and that
 * page is the last page of its kind (operands.ts LAST_PAGES: a function's pushes, calls, pops and returns use one
 * page, as its locals do) or the page's TLB entry for the access is present, which makes it the last page; else
 * OK = 0 and the instruction takes its semantic function. The page number of the 48-bit linear address is
 * (SQ & 0xffff) * 2^20 + (SP >>> 12), and its TLB index the low 12 bits of that: (SP >>> 12) & 4095. A last page
 * passed the checks of the address when it became one, and holds until the guards are read again (TC).
 */
function item64(write: boolean): string {
  const [tag, buf, off] = write ? ["wTag", "wBuf", "wOff"] : ["rTag", "rBuf", "rOff"];
  const [t, h, b, o] = write ? ["WT", "WH", "WC", "WO"] : ["RT", "RH", "RC", "RO"];
  const inPage = `(SP & ${PAGE_MASK}) <= ${PAGE_SIZE - 8}`, page = `(SP >>> ${PAGE_SHIFT})`;
  return `OK = 0; if (${h} === SQ && ${t} === ${page} && ${inPage}) { RK = ${o} + (SP & ${PAGE_MASK}); OK = 1; } ` +
    `else if (${inPage} && ${canonicalHigh("SQ")} && FA) { PG = (SQ & ${HIGH16}) * ${PAGES_PER_4G} + ${page}; ` +
    `TI = ${page} & ${TLB_MASK}; if (${tag}[TI] === PG + TC) { ${t} = ${page}; ${h} = SQ; ${b} = ${buf}[TI]; ` +
    `${o} = ${off}[TI]; RK = ${o} + (SP & ${PAGE_MASK}); OK = 1; } }`;
}

/** Writes the 8-byte item found by item64 (low half, high half). */
function write64(lo: string, hi: string): string {
  return `T1 = ${lo}; T2 = ${hi}; WC[RK] = T1; WC[RK + 1] = T1 >> 8; WC[RK + 2] = T1 >> 16; WC[RK + 3] = T1 >> 24; ` +
    "WC[RK + 4] = T2; WC[RK + 5] = T2 >> 8; WC[RK + 6] = T2 >> 16; WC[RK + 7] = T2 >> 24;";
}

/** Reads the 8-byte item found by item64 into T1 (low half) and T2 (high half). */
function read64(): string {
  return "T1 = (RC[RK] | (RC[RK + 1] << 8) | (RC[RK + 2] << 16) | (RC[RK + 3] << 24)) >>> 0; " +
    "T2 = (RC[RK + 4] | (RC[RK + 5] << 8) | (RC[RK + 6] << 16) | (RC[RK + 7] << 24)) >>> 0;";
}

/** Leaves the block through exit `kind` (BlockFn), as the block's branches do. */
export type Leave = (kind: number) => string;

/** The fast paths leave with the flags written out; the slow ones wrote them before calling the semantics. */
function go(s: StackSite, leave: Leave, kind: number): string {
  return `${s.sync} ${leave(kind)}`;
}

/** After the semantic function of a branch: RIP from the next EIP it set. */
const BACK = `if (c.efer & ${EFER_LMA}) setRip(c, c.nextEip); else c.eip = c.nextEip;`;

/**
 * CALL rel with a 32-bit operand in 32-bit code, ending a block (template `callRel`): the code, which returns like the
 * block's branches (`leave(kind)` gives the return statement), or undefined. `target` is its checked destination
 * (templates.ts goTo), or undefined when it faults.
 */
export function callRel32(d: Insn, s: StackSite, target: string | undefined, leave: Leave): string | undefined {
  if (d.mode !== 4 || d.osize !== 4 || target === undefined) return undefined;
  return `if (${STACK32}) { SP = (${SP_LO} - 4) >>> 0; ` +
    `${storeFrom(SS, "SP", 4, 4, num(s.next), at(s))} ${SP_LO} = SP; ${target} ${go(s, leave, 1)} }\n` +
    `${generic(s, false)} ${BACK} ${leave(1)}`;
}

/**
 * CALL rel that a block followed to its target in the same page (block.ts scanBlock): it pushes the return address
 * and the block goes on, so it leaves nothing but the push (a 32-bit operand in 32-bit code, or 8 bytes in 64-bit
 * mode). The slow path (a 16-bit stack, a push the TLB does not hold) calls its semantic function, whose new EIP the
 * block's next instruction already is. Neither path touches the flags held in locals.
 */
export function callPush(d: Insn, s: StackSite): string {
  if (d.mode === 8) {
    const ret = [num(s.next >>> 0), num(Math.floor(s.next / TWO32) >>> 0)];
    return `${PUSHED} ${item64(true)} if (OK) { ${write64(ret[0], ret[1])} ${SET_RSP} } else { ${generic(s)} }`;
  }
  return `if (${STACK32}) { SP = (${SP_LO} - 4) >>> 0; ` +
    `${storeFrom(SS, "SP", 4, 4, num(s.next), at(s), s.stop)} ${SP_LO} = SP; } else { ${generic(s)} }`;
}

/** RET (C3) with a 32-bit operand in 32-bit code, ending a block (template `ret`; as callRel32). */
export function ret32(d: Insn, s: StackSite, leave: Leave): string | undefined {
  if (d.op !== 0xc3 || d.mode !== 4 || d.osize !== 4) return undefined;
  return `if (${STACK32}) { SP = ${SP_LO}; ${loadInto(SS, "SP", 4, 4, at(s))} ` +
    `if (MV <= GL${CS}) { ${SP_LO} = SP + 4; c.eip = MV; if (c.efer & ${EFER_LMA}) c.ripHigh = 0; ${
      go(s, leave, 2)
    } } }\n` +
    `${generic(s, false)} ${BACK} ${leave(2)}`;
}

/** CALL rel of 8 bytes in 64-bit mode, ending a block (template `callRelLong`; as callRel32). */
export function callRel64(d: Insn, s: StackSite, target: string | undefined, leave: Leave): string | undefined {
  if (d.mode !== 8 || d.osize !== 8 || target === undefined) return undefined;
  const ret = [num(s.next >>> 0), num(Math.floor(s.next / TWO32) >>> 0)];
  return `${PUSHED} ${item64(true)} if (OK) { ${write64(ret[0], ret[1])} ` +
    `${SET_RSP} ${target} ${go(s, leave, 1)} }\n${generic(s, false)} ${BACK} ${leave(1)}`;
}

/** RET (C3) of 8 bytes in 64-bit mode, ending a block (template `retLong`; as callRel32). */
export function ret64(d: Insn, s: StackSite, leave: Leave): string | undefined {
  if (d.op !== 0xc3 || d.mode !== 8 || d.osize !== 8) return undefined;
  return `${RSP} ${item64(false)} if (OK) { ${read64()} ` +
    `if (${canonicalHigh("T2")}) { ${POPPED} c.eip = T1; c.ripHigh = T2; ${go(s, leave, 2)} } }\n` +
    `${generic(s, false)} ${BACK} ${leave(2)}`;
}
