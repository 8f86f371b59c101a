/**
 * A vCPU's entry state: CPUID from the backend's supported list with each
 * vCPU's APIC ID, and the register state loaders start a kernel in: real
 * mode, flat 32-bit protected mode (paging off) or 64-bit long mode with the
 * first 4 GiB identity-mapped by 2 MiB pages. The boot GDT lives at
 * {@linkcode BOOT_GDT} and has the selectors Linux's boot protocol names:
 * 0x10 code (32- or 64-bit), 0x18 data, 0x20 a 32-bit TSS.
 *
 * @module
 */
import { EFER_LMA, EFER_LME, X86_CR0_ET, X86_CR0_NE, X86_CR0_PE, X86_CR0_PG, X86_CR4_PAE } from "../constants.ts";
import type { Kvm, Regs, Segment, Sregs, Vcpu } from "../mod.ts";
import type { GuestRam } from "./ram.ts";

/** Where the boot GDT goes (5 descriptors). */
export const BOOT_GDT = 0x500;
/** Where the identity-mapping page tables go: PML4, PDPT, then four page directories (0x9000-0xefff). */
export const PAGE_TABLES = 0x9000;
export const PAGE_TABLES_END = 0xf000;
/** Selectors of the boot GDT. */
export const BOOT_CS = 0x10, BOOT_DS = 0x18, BOOT_TSS = 0x20;

/** The execution mode of an entry point. */
export type CpuMode = "real" | "protected" | "long";

/**
 * Gives `vcpu` the backend's supported CPUID with its own APIC ID (leaf 1
 * EBX[31:24], leaves 0xb and 0x1f EDX) and the number of logical processors.
 */
export function setupCpuid(kvm: Kvm, vcpu: Vcpu, cpus: number): void {
  const entries = kvm.supportedCpuid().map((e) => {
    const r = { ...e };
    if (r.function === 1) {
      r.ebx = ((r.ebx & 0x0000ffff) | (Math.min(cpus, 255) << 16) | (vcpu.id << 24)) >>> 0;
      if (cpus > 1) r.edx = (r.edx | (1 << 28)) >>> 0; // HTT: the count in EBX[23:16] is valid
    }
    if (r.function === 0xb || r.function === 0x1f) r.edx = vcpu.id;
    return r;
  });
  vcpu.setCpuid2(entries);
}

function segment(selector: number, type: number, opts: { l?: number; db?: number; s?: number; g?: number }): Segment {
  return {
    base: 0n,
    limit: opts.g === 0 ? 0x67 : 0xffffffff,
    selector,
    type,
    present: 1,
    dpl: 0,
    db: opts.db ?? 1,
    s: opts.s ?? 1,
    l: opts.l ?? 0,
    g: opts.g ?? 1,
    avl: 0,
    unusable: 0,
  };
}

/** The 8-byte GDT descriptor that loads `seg` (its limit in bytes, as KVM_GET_SREGS reports it). */
export function segmentDescriptor(seg: Segment): bigint {
  const limit = BigInt(seg.g ? seg.limit >>> 12 : seg.limit);
  const access = BigInt(seg.type | (seg.s << 4) | (seg.dpl << 5) | (seg.present << 7));
  const flags = BigInt(seg.avl | (seg.l << 1) | (seg.db << 2) | (seg.g << 3));
  return (limit & 0xffffn) | ((seg.base & 0xffffffn) << 16n) | (access << 40n) |
    (((limit >> 16n) & 0xfn) << 48n) | (flags << 52n) | (((seg.base >> 24n) & 0xffn) << 56n);
}

/** Writes the identity map of the first 4 GiB (2 MiB pages) at {@linkcode PAGE_TABLES}; returns CR3. */
export function writeIdentityMap(ram: GuestRam): number {
  const v = ram.view(PAGE_TABLES, PAGE_TABLES_END - PAGE_TABLES, "page tables");
  const pml4 = 0, pdpt = 0x1000, pd = 0x2000;
  v.setBigUint64(pml4, BigInt(PAGE_TABLES + pdpt) | 3n, true);
  for (let g = 0; g < 4; g++) {
    v.setBigUint64(pdpt + 8 * g, BigInt(PAGE_TABLES + pd + 0x1000 * g) | 3n, true);
    for (let i = 0; i < 512; i++) {
      const addr = BigInt(g) * 0x4000_0000n + BigInt(i) * 0x20_0000n;
      v.setBigUint64(pd + 0x1000 * g + 8 * i, addr | 0x83n, true); // present, writable, 2 MiB
    }
  }
  return PAGE_TABLES;
}

/** Entry-state options: where to start and what goes in the registers. */
export interface EntryState {
  /** The CPU mode to start in. */
  mode: CpuMode;
  /** The entry point (a linear address; in real mode see `cs`). */
  ip: number;
  /** Real mode: the code segment (ds, es, ss too). */
  cs?: number;
  /** The stack pointer (default 0, or the mode's boot stack). */
  sp?: number;
  /** Other registers (e.g. esi for Linux, eax/ebx for multiboot). */
  regs?: Partial<Record<"rax" | "rbx" | "rcx" | "rdx" | "rsi" | "rdi", number>>;
}

/** Puts `vcpu` in `state.mode` at `state.ip`, writing the boot GDT (and page tables for long mode) into `ram`. */
export function enter(vcpu: Vcpu, ram: GuestRam, state: EntryState): void {
  const sregs: Sregs = vcpu.getSregs();
  if (state.mode === "real") {
    const cs = state.cs ?? 0;
    for (const s of [sregs.cs, sregs.ds, sregs.es, sregs.ss, sregs.fs, sregs.gs]) {
      s.selector = cs;
      s.base = BigInt(cs) << 4n;
    }
  } else {
    const long = state.mode === "long";
    const code = segment(BOOT_CS, 11, long ? { l: 1, db: 0 } : {});
    const data = segment(BOOT_DS, 3, {});
    const tss = segment(BOOT_TSS, 11, { s: 0, g: 0, db: 0 });
    const gdt = ram.view(BOOT_GDT, 0x28, "boot GDT");
    gdt.setBigUint64(0, 0n, true);
    gdt.setBigUint64(8, 0n, true);
    gdt.setBigUint64(BOOT_CS, segmentDescriptor(code), true);
    gdt.setBigUint64(BOOT_DS, segmentDescriptor(data), true);
    gdt.setBigUint64(BOOT_TSS, segmentDescriptor(tss), true);
    sregs.gdt = { base: BigInt(BOOT_GDT), limit: 0x27 };
    sregs.idt = { base: 0n, limit: 0 };
    sregs.cs = code;
    for (const name of ["ds", "es", "ss", "fs", "gs"] as const) sregs[name] = data;
    sregs.tr = tss;
    sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE;
    sregs.cr4 = 0n;
    sregs.efer = 0n;
    if (long) {
      sregs.cr3 = BigInt(writeIdentityMap(ram));
      sregs.cr4 = X86_CR4_PAE;
      sregs.cr0 |= X86_CR0_PG;
      sregs.efer = EFER_LME | EFER_LMA;
    }
  }
  vcpu.setSregs(sregs);
  const regs: Regs = { ...vcpu.getRegs() };
  for (const k of ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11"] as const) regs[k] = 0n;
  for (const [k, v] of Object.entries(state.regs ?? {})) regs[k as keyof Regs] = BigInt(v as number);
  regs.rip = BigInt(state.ip);
  regs.rsp = BigInt(state.sp ?? 0);
  regs.rflags = 2n;
  vcpu.setRegs(regs);
}
