/**
 * The host side of a case's machine: builds, once per VM, the system
 * structures every mode needs (GDT with CPL 0 and CPL 3 segments, an IDT per
 * mode and the real-mode IVT whose 32 exception handlers report their vector
 * and error code with `out`, TSSs with a ring-0 stack and an I/O bitmap,
 * 32-bit and 4-level page tables), and turns an {@linkcode Env} into the
 * KVM_SET_SREGS state that enters its mode directly.
 *
 * @module
 */
import {
  EFER_LMA,
  EFER_LME,
  X86_CR0_AM,
  X86_CR0_ET,
  X86_CR0_NE,
  X86_CR0_PE,
  X86_CR0_PG,
  X86_CR0_WP,
  X86_CR4_OSFXSR,
  X86_CR4_OSXMMEXCPT,
  X86_CR4_PAE,
} from "../constants.ts";
import type { Segment, Sregs } from "../mod.ts";
import { segmentDescriptor } from "../vmm/cpu.ts";
import { baseChoice, cpl, type Env, segmentBase } from "./env.ts";
import * as L from "./layout.ts";

const PTE_P = 1n, PTE_W = 2n, PTE_U = 4n, PTE_A = 0x20n, PTE_D = 0x40n;

/** A segment register's full state. */
function segment(selector: number, base: number, limit: number, attrs: Partial<Segment>): Segment {
  return {
    base: BigInt(base),
    limit,
    selector,
    type: 3,
    present: 1,
    dpl: 0,
    db: 0,
    s: 1,
    l: 0,
    g: 0,
    avl: 0,
    unusable: 0,
    ...attrs,
  };
}

const FLAT = 0xffff_ffff;
const code64 = (sel: number, dpl: number) => segment(sel, 0, FLAT, { type: 11, dpl, l: 1, g: 1 });
const code32 = (sel: number, dpl: number) => segment(sel, 0, FLAT, { type: 11, dpl, db: 1, g: 1 });
const data32 = (sel: number, base: number, dpl: number) => segment(sel, base, FLAT, { dpl, db: 1, g: 1 });
const data16 = (k: number) => segment(L.SEL_DATA16 + 8 * k, baseChoice("16", k), 0xffff, {});
const codeCase16 = segment(L.SEL_CODE16_CASE, L.CODE, 0xffff, { type: 11 });
const codeLow16 = segment(L.SEL_CODE16_LOW, 0, 0xffff, { type: 11 });
const tss64 = segment(L.SEL_TSS64, L.TSS64, L.IOMAP_OFFSET + L.IOMAP_BYTES, { type: 11, s: 0 });
const tss32 = segment(L.SEL_TSS32, L.TSS32, L.IOMAP_OFFSET + L.IOMAP_BYTES, { type: 11, s: 0 });

/** Every GDT entry but the null one and the TSSs, by selector. */
function gdtSegments(): Segment[] {
  const list = [
    code64(L.SEL_CODE64_0, 0),
    data32(L.SEL_DATA_0, 0, 0),
    code32(L.SEL_CODE32_0, 0),
    code64(L.SEL_CODE64_3, 3),
    code32(L.SEL_CODE32_3, 3),
    codeCase16,
    codeLow16,
  ];
  for (let k = 0; k < 4; k++) list.push(data16(k), data32(L.SEL_DATA32_3 + 8 * k, baseChoice("32", k), 3));
  return list;
}

/** The bytes of one exception handler stub for `vector` in a code segment of `bits`. */
export function handlerStub(bits: 16 | 32 | 64, vector: number, errorCode: boolean): number[] {
  const o32 = bits === 16 ? [0x66] : [];
  const out: number[] = [0x50, ...o32, 0xb8, vector, 0, 0, 0, ...o32, 0xe7, L.VECTOR_PORT]; // push ax; mov eax, v; out
  if (errorCode) {
    // mov eax, [rsp+8] / [esp+4] / movzx eax, word [esp+2]: the error code pushed under the saved rax.
    if (bits === 64) out.push(0x8b, 0x44, 0x24, 0x08);
    else if (bits === 32) out.push(0x8b, 0x44, 0x24, 0x04);
    else out.push(0x67, 0x66, 0x0f, 0xb7, 0x44, 0x24, 0x02);
    out.push(...o32, 0xe7, L.ERROR_PORT);
  }
  out.push(0x58, 0xf4, 0xeb, 0xfe); // pop ax; hlt; jmp $
  return out;
}

/** Writes the whole system area (below SYSTEM_END) into guest memory `bytes`. */
export function buildSystem(bytes: Uint8Array): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  bytes.fill(0, 0, L.SYSTEM_END);
  for (const seg of gdtSegments()) v.setBigUint64(L.GDT + (seg.selector & ~7), segmentDescriptor(seg), true);
  v.setBigUint64(L.GDT + L.SEL_TSS64, segmentDescriptor(tss64), true); // the upper half (base 63:32) stays 0
  v.setBigUint64(L.GDT + L.SEL_TSS32, segmentDescriptor(tss32), true);
  for (const tss of [L.TSS64, L.TSS32]) {
    v.setUint16(tss + 0x66, L.IOMAP_OFFSET, true);
    bytes.fill(0xff, tss + L.IOMAP_OFFSET, tss + L.IOMAP_OFFSET + L.IOMAP_BYTES + 1);
    bytes[tss + L.IOMAP_OFFSET + (L.DONE_PORT >> 3)] &= ~(1 << (L.DONE_PORT & 7));
  }
  v.setBigUint64(L.TSS64 + 4, BigInt(L.RING0_STACK_TOP), true); // rsp0
  v.setUint32(L.TSS32 + 4, L.RING0_STACK_TOP, true); // esp0
  v.setUint32(L.TSS32 + 8, L.SEL_DATA_0, true); // ss0
  for (let vec = 0; vec < 32; vec++) {
    const err = L.ERROR_CODE_VECTORS.has(vec);
    const at = (base: number) => base + vec * L.HANDLER_STRIDE;
    bytes.set(handlerStub(16, vec, false), at(L.HANDLERS_REAL));
    bytes.set(handlerStub(16, vec, err), at(L.HANDLERS_PM16));
    bytes.set(handlerStub(32, vec, err), at(L.HANDLERS_32));
    bytes.set(handlerStub(64, vec, err), at(L.HANDLERS_64));
    v.setUint16(L.IVT + 4 * vec, vec * L.HANDLER_STRIDE, true);
    v.setUint16(L.IVT + 4 * vec + 2, L.HANDLERS_REAL >> 4, true);
    v.setBigUint64(L.IDT16 + 8 * vec, gate(at(L.HANDLERS_PM16), L.SEL_CODE16_LOW, 0x86), true);
    v.setBigUint64(L.IDT32 + 8 * vec, gate(at(L.HANDLERS_32), L.SEL_CODE32_0, 0x8e), true);
    v.setBigUint64(L.IDT64 + 16 * vec, gate(at(L.HANDLERS_64), L.SEL_CODE64_0, 0x8e), true);
  }
  buildPageTables(v);
}

/** An interrupt gate: offset, selector, access byte (P, DPL 0, type). */
function gate(offset: number, selector: number, access: number): bigint {
  return BigInt(offset & 0xffff) | (BigInt(selector) << 16n) | (BigInt(access) << 40n) |
    (BigInt(offset >>> 16) << 48n);
}

/** The page-table entry flags for the 4 KiB page at physical `addr`: supervisor system area, user code and data. */
function pageFlags(addr: number): bigint {
  if (addr < L.SYSTEM_END) return PTE_P | PTE_W;
  if (addr >= L.CODE && addr < L.CODE + L.CODE_SIZE) return PTE_P | PTE_W | PTE_U;
  if (addr >= L.DATA && addr < L.DATA + L.RW_END) return PTE_P | PTE_W | PTE_U;
  if (addr >= L.DATA + L.RW_END && addr < L.DATA + L.RO_END) return PTE_P | PTE_U;
  return 0n;
}

/**
 * Builds the page tables. Accessed and dirty bits are set in advance, so that
 * the guest never writes to them and the system area stays as built.
 */
function buildPageTables(v: DataView): void {
  const table = PTE_P | PTE_W | PTE_U | PTE_A;
  v.setUint32(L.PD32, L.PT32 | Number(table), true);
  v.setBigUint64(L.PML4, BigInt(L.PDPT) | table, true);
  v.setBigUint64(L.PDPT, BigInt(L.PD64) | table, true);
  v.setBigUint64(L.PD64, BigInt(L.PT64) | table, true);
  for (let page = 0; page < L.MEMORY_SIZE / 0x1000; page++) {
    const addr = page * 0x1000;
    let flags = pageFlags(addr);
    if (flags === 0n) continue;
    flags |= PTE_A | PTE_D;
    v.setUint32(L.PT32 + 4 * page, addr | Number(flags), true);
    v.setBigUint64(L.PT64 + 8 * page, BigInt(addr) | flags, true);
  }
}

/** The segment register state of data segment `reg` in `env`. */
function dataSegment(env: Env, reg: "es" | "ss" | "ds" | "fs" | "gs"): Segment {
  const k = env.seg[reg];
  if (env.mode === "16") {
    if (!env.real) return data16(k);
    const base = segmentBase(env, reg);
    return segment(base >>> 4, base, 0xffff, {});
  }
  if (env.mode === "32") {
    return reg === "ss" ? data32(L.SEL_DATA32_3, 0, 3) : data32(L.SEL_DATA32_3 + 8 * k, segmentBase(env, reg), 3);
  }
  const flat = data32(L.SEL_DATA32_3, 0, 3);
  return reg === "fs" || reg === "gs" ? { ...flat, base: BigInt(segmentBase(env, reg)) } : flat;
}

/**
 * The KVM_SET_SREGS state of `env`, starting from `current` (for the fields
 * this harness does not set: cr8, apicBase, the interrupt bitmap).
 */
export function envSregs(env: Env, current: Sregs): Sregs {
  const s: Sregs = { ...current };
  const seg = (r: "es" | "ss" | "ds" | "fs" | "gs") => dataSegment(env, r);
  s.es = seg("es"), s.ss = seg("ss"), s.ds = seg("ds"), s.fs = seg("fs"), s.gs = seg("gs");
  s.ldt = segment(0, 0, 0xffff, { type: 2, s: 0, present: 1 });
  s.gdt = { base: BigInt(L.GDT), limit: L.GDT_LIMIT };
  s.cr2 = 0n;
  s.cr4 = X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
  s.efer = 0n;
  s.cr3 = 0n;
  const base = X86_CR0_ET | X86_CR0_NE;
  if (env.mode === "16") {
    s.cs = env.real ? segment(L.CODE >>> 4, L.CODE, 0xffff, { type: 11 }) : codeCase16;
    s.tr = env.real ? segment(0, 0, 0xffff, { type: 11, s: 0 }) : tss32;
    s.idt = env.real ? { base: BigInt(L.IVT), limit: 0x3ff } : { base: BigInt(L.IDT16), limit: 32 * 8 - 1 };
    s.cr0 = env.real ? base : base | X86_CR0_PE;
  } else if (env.mode === "32") {
    s.cs = code32(L.SEL_CODE32_3, 3);
    s.tr = tss32;
    s.idt = { base: BigInt(L.IDT32), limit: 32 * 8 - 1 };
    s.cr0 = base | X86_CR0_PE | X86_CR0_AM | (env.paging ? X86_CR0_PG | X86_CR0_WP : 0n);
    s.cr3 = env.paging ? BigInt(L.PD32) : 0n;
  } else {
    s.cs = code64(L.SEL_CODE64_3, 3);
    s.tr = tss64;
    s.idt = { base: BigInt(L.IDT64), limit: 32 * 16 - 1 };
    s.cr0 = base | X86_CR0_PE | X86_CR0_AM | X86_CR0_WP | X86_CR0_PG;
    s.cr3 = BigInt(L.PML4);
    s.cr4 |= X86_CR4_PAE;
    s.efer = EFER_LME | EFER_LMA;
  }
  return s;
}

/** rflags bits the machine fixes for `env`: bit 1, IF at CPL 3 (and AC when the env asks for alignment checks). */
export function fixedRflags(env: Env): bigint {
  if (cpl(env) === 0) return 2n;
  return 0x202n | (env.alignmentCheck ? 1n << 18n : 0n);
}
