/**
 * Instruction fetch through the per-physical-page decode cache: the code
 * page of a linear address (translated once per page and TLB epoch), and
 * the check that a cached record still matches the bytes in memory. Guest
 * writes to a code page drop it at once (memory.ts protects such pages);
 * writes by the host between runs are noticed here, by comparing a record's
 * bytes once per KVM_RUN before it is used. The same bytes decoded in the same
 * mode at another address share their record (sharedRecord), which is then
 * compared with memory at each use.
 *
 * @module
 */
import type { Cpu } from "./cpu.ts";
import { fault, GP, Unimplemented } from "./fault.ts";
import { ripLinear } from "./long/access.ts";
import { CS } from "./state.ts";
import type { Insn } from "./insn.ts";

/** A code page's translation: valid while the TLB's epoch and the CPU's code generation are those it was made in. */
class CodePage {
  linPage = -1;
  epoch = -1;
  codeGen = -1;
  page: (Insn | undefined)[] = [];
  pfn = -1;
  view: Uint8Array = new Uint8Array(0);
  /**
   * A copy of the page's bytes, made at its second decode (and again when the host has rewritten bytes since): the
   * records decoded here take their `raw` from it as views (instructionBytes).
   */
  snap: Uint8Array | null = null;
  /** Records decoded here before `snap` was made. */
  decoded = 0;
}

/** How many code pages a fetch cache remembers besides the current one (a loop may span a few pages). */
const RECENT_PAGES = 4;

/**
 * Per-CPU fetch state: the current code page, the few used before it (a loop across a page boundary switches
 * pages without walking the page tables each time), and the last instruction that crossed a page boundary
 * (decoded from a copy of its bytes, which no page's cache can hold).
 */
export class FetchCache extends CodePage {
  readonly recent: CodePage[] = Array.from({ length: RECENT_PAGES }, () => new CodePage());
  /** The next entry of `recent` to replace. */
  recentNext = 0;
  /** The entry of `recent` that is the current code page. */
  current: CodePage = new CodePage();
  /** The last page-crossing instruction, its linear address, and the epoch and code generation it is valid in. */
  crossing: Insn | null = null;
  crossLin = -1;
  crossEpoch = -1;
  crossGen = -1;
  /** The records decoded here by their bytes and mode (sharedKey), for sharedRecord. */
  readonly shared = new Map<number, Insn>();
}

/**
 * `Insn.checked` of a record that more than one address holds (sharedRecord): it is compared with memory at each
 * use, since which of its addresses were checked in a run is not recorded.
 */
export const SHARED = -1;

/** How many records a fetch cache keeps by their bytes; past it, it starts over (the records stay where they are). */
const MAX_SHARED = 4096;

/**
 * The record decoded from the same bytes in the same mode as `d` (of `len` bytes at `off` of `view`), held now by
 * the new address too; or `d` itself, remembered for the next decode of those bytes, when there is none or `d` is
 * longer than 6 bytes. A decode storm (a guest that runs through zeroed memory: 32,768 `00 00` in 64 KiB; random
 * code, that writes its own page and decodes it again) otherwise keeps a record per address, live as long as its
 * page: the young generation's collections copy them all (issue 14: up to 4.5 MB for one random guest's 20 ms).
 */
export function sharedRecord(fc: FetchCache, d: Insn, view: Uint8Array, off: number): Insn {
  const len = d.len;
  if (len > 6) return d;
  // 2 bits of mode, 3 of length, 48 of bytes: below 2^53.
  let key = (d.mode === 8 ? 2 : d.mode === 4 ? 1 : 0) + len * 4, scale = 32;
  for (let i = 0; i < len; i++, scale *= 256) key += view[off + i] * scale;
  const s = fc.shared.get(key);
  if (s !== undefined) {
    s.checked = SHARED;
    return s;
  }
  if (fc.shared.size >= MAX_SHARED) fc.shared.clear();
  fc.shared.set(key, d);
  return d;
}

/**
 * Forgets the code pages of `fc`: the next fetch translates its page again. For a vCPU being closed (exec.ts
 * releaseCode), so that its cache, long since in the old generation, no longer holds young page arrays.
 */
export function forgetPages(fc: FetchCache): void {
  for (const r of fc.recent) forget(r);
  forget(fc);
  fc.crossing = null;
  fc.crossLin = -1;
  fc.shared.clear();
}

/** Empties the code page `r`. */
function forget(r: CodePage): void {
  r.linPage = r.pfn = -1;
  r.page = [];
  r.view = new Uint8Array(0);
  r.snap = null;
}

/** The linear address of CS:EIP in code of size `mode` (#GP beyond the CS limit, or for a non-canonical RIP). */
export function codeLinear(cpu: Cpu, mode: number): number {
  if (mode === 8) return ripLinear(cpu);
  const eip = cpu.eip;
  if (eip > cpu.segLimit[CS]) fault(GP, 0);
  return (cpu.segBase[CS] + eip) >>> 0;
}

/** Makes the page of linear `lin` the current code page of `fc` (may raise #PF). */
export function codePage(cpu: Cpu, fc: FetchCache, lin: number): void {
  const linPage = Math.floor(lin / 4096);
  const epoch = cpu.mem.epoch, gen = cpu.codeGen;
  if (fc.linPage === linPage && fc.epoch === epoch && fc.codeGen === gen) return;
  for (const r of fc.recent) {
    if (r.linPage === linPage && r.epoch === epoch && r.codeGen === gen) {
      use(fc, r);
      return;
    }
  }
  const phys = cpu.translate(lin, false, true);
  const pfn = Math.floor(phys / 4096);
  const view = cpu.mem.physView(pfn * 4096, 4096);
  if (!view) throw new Unimplemented(`instruction fetch outside RAM at ${phys.toString(16)}`);
  let page = cpu.code.get(pfn);
  if (!page) {
    page = pageArray(fc, pfn);
    cpu.code.set(pfn, page);
    cpu.mem.protectCode(pfn);
  }
  const r = fc.recent[fc.recentNext];
  fc.recentNext = (fc.recentNext + 1) % RECENT_PAGES;
  // A new translation of a page some entry holds shares that entry's copy of its bytes.
  let snap: Uint8Array | null = null;
  for (const o of fc.recent) if (o.pfn === pfn && o.page === page && o.snap !== null) snap = o.snap;
  r.snap = snap;
  r.decoded = 0;
  r.linPage = linPage;
  r.epoch = epoch;
  r.codeGen = gen;
  r.page = page;
  r.pfn = pfn;
  r.view = view;
  use(fc, r);
}

/**
 * An empty decode cache for physical page `pfn`: the one a write dropped (the CPU no longer holds it, but an entry of
 * `fc` still does), emptied, or a new one. Code that writes its own page drops its decode cache at each write, and a
 * random guest did so hundreds of times in a 20 ms run (issue 14: a mean of 967 caches of 32 KiB each, 31 MB of
 * garbage a guest and a young-generation collection every few ms).
 */
function pageArray(fc: FetchCache, pfn: number): (Insn | undefined)[] {
  for (const r of fc.recent) {
    if (r.pfn !== pfn || r.page.length !== 4096) continue;
    // A loop: Deno's Array.prototype.fill(undefined) on this holey array allocates (more than a new array would).
    const page = r.page;
    for (let i = 0; i < 4096; i++) page[i] = undefined;
    return page;
  }
  return new Array(4096);
}

/** Makes `r` the current code page of `fc`. */
function use(fc: FetchCache, r: CodePage): void {
  fc.linPage = r.linPage;
  fc.epoch = r.epoch;
  fc.codeGen = r.codeGen;
  fc.page = r.page;
  fc.pfn = r.pfn;
  fc.view = r.view;
  fc.current = r;
}

/**
 * The bytes of the instruction of `len` bytes at `off` of the current code page, for the `raw` of the record decoded
 * there. The first record decoded in a code page takes a copy of its own bytes; the next ones take views of a copy
 * of the page (CodePage.snap), made then, and made again when it no longer holds the bytes at `off`. A record's own
 * copy costs the heap 200 bytes under Deno, a view 104, the record itself 266; the records are what the young
 * generation's collections copy, and code that writes its own page makes a new code page for each record it decodes
 * (a copy of 4 KiB for one record would be a loss).
 */
export function instructionBytes(fc: FetchCache, off: number, len: number): Uint8Array {
  const page = fc.current, view = fc.view;
  let snap = page.snap;
  if (snap === null && page.decoded++ === 0) return view.slice(off, off + len);
  if (snap === null || !sameRange(snap, view, off, len)) page.snap = snap = view.slice();
  return snap.subarray(off, off + len);
}

/** True when `a` and `b` hold the same `len` bytes from `off` on. */
function sameRange(a: Uint8Array, b: Uint8Array, off: number, len: number): boolean {
  for (let i = off; i < off + len; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * True when the cached record `d` at `off` of `view` was decoded from the bytes there now (checked once a run; a
 * record of more than one address at each use).
 */
export function stillValid(cpu: Cpu, d: Insn, view: Uint8Array, off: number): boolean {
  if (d.checked === cpu.runEpoch) return true;
  if (!sameBytes(d.raw, view, off)) return false;
  if (d.checked !== SHARED) d.checked = cpu.runEpoch;
  return true;
}

/** True when `raw` equals the bytes of `view` from `off` on. */
export function sameBytes(raw: Uint8Array | null, view: Uint8Array, off: number): boolean {
  if (!raw || off + raw.length > view.length) return false;
  for (let i = 0; i < raw.length; i++) if (raw[i] !== view[off + i]) return false;
  return true;
}
