/**
 * Guest-building helpers for the long-mode tests: a GDT with 64-bit code
 * and data segments at CPL 0 and 3 (laid out for SYSCALL/SYSRET), a 64-bit
 * TSS with RSP0 and IST1, a 16-byte-gate IDT, and 4-level page tables that
 * map the first 2 MiB with 4 KiB pages, 2-4 MiB with one 2 MiB page,
 * linear 1 GiB with a 1 GiB page onto physical 0, and the top 512 GiB
 * (PML4 entry 511, a canonical upper-half address) like the bottom.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { GuestMemory, Kvm, Segment, Vcpu } from "../../mod.ts";
import { REG_NAMES as KVM_REG_NAMES } from "../../abi/structs.ts";
import { EFER_NX, EFER_SCE } from "../../constants.ts";
import { LONG_MODE_CONTROL } from "../../examples/_shared.ts";
import { type Machine, machine } from "./guests.ts";
import { segmentDescriptor } from "../../vmm/cpu.ts";

/** A VM with guest memory at guest-physical 0 and vCPU 0 (the suite's one {@linkcode Machine}). */
export type LongMachine = Machine;

/** Creates a {@linkcode LongMachine} with {@linkcode LM_MEMORY} bytes and the structures of {@linkcode buildLongMode}. */
export function longMachine(kvm: Kvm): LongMachine {
  const m = machine(kvm, LM_MEMORY);
  buildLongMode(m.mem);
  return m;
}

/** A little-endian DataView of the whole guest memory. */
export function view(mem: GuestMemory): DataView {
  return new DataView(mem.bytes.buffer, mem.bytes.byteOffset, mem.bytes.byteLength);
}

/** Guest memory size the long-mode tests use. */
export const LM_MEMORY = 0x400000;
/** Where the structures live (guest-physical = linear in the identity map). */
export const LM_GDT = 0x500, LM_TSS = 0x600, LM_IDT = 0x2000;
export const LM_PML4 = 0x10000, LM_PDPT = 0x11000, LM_PD = 0x12000, LM_PT = 0x13000;
/** Code, data and stacks. */
export const LM_CODE = 0x4000, LM_DATA = 0x8000, LM_STACK = 0x7000, LM_RSP0 = 0x9000, LM_IST1 = 0xb000;
/** Selectors: kernel code/data, then the SYSRET layout (32-bit user code, user data, 64-bit user code), TSS. */
export const SEL64_CODE0 = 0x08, SEL64_DATA0 = 0x10, SEL32_CODE3 = 0x1b, SEL64_DATA3 = 0x23, SEL64_CODE3 = 0x2b;
export const SEL64_TSS = 0x30;
/** A flat 32-bit code segment at CPL 0, to enter long mode the way a boot loader does. */
export const SEL32_CODE0 = 0x40;
/** The canonical upper-half alias of linear 0 (PML4 entry 511). */
export const HIGH_ALIAS = 0xffffff8000000000n;

/** Page-table entry bits. */
export const P = 1n, W = 2n, U = 4n, A = 0x20n, D = 0x40n, PS = 0x80n, G = 0x100n, NX = 1n << 63n;
/**
 * rflags for CPL 3 code: IF set, IOPL 0. Under kvm_pvm, user-mode code
 * always runs with IF = 1 and IOPL = 0 (`out` at CPL 3 is #GP), so the
 * programs end with `hlt` (#GP at CPL 3) and a CPL 0 #GP handler reports.
 */
export const RFLAGS_USER = 0x202n;
/** The CPL 0 #GP handler that ends a CPL 3 program: `out 0xe9, al` then `hlt`. */
export const LM_REPORT = 0x3000;
/** Where the #GP frame of the CPL 3 program lands on the RSP0 stack: RIP, CS, RFLAGS, RSP, SS. */
export const FRAME_RIP = LM_RSP0 - 40, FRAME_RFLAGS = LM_RSP0 - 24, FRAME_RSP = LM_RSP0 - 16;

function segment(selector: number, kind: "code64" | "code32" | "data", dpl: number): Segment {
  return {
    base: 0n,
    limit: 0xffffffff,
    selector,
    type: kind === "data" ? 3 : 11,
    present: 1,
    dpl,
    db: kind === "code64" ? 0 : 1,
    s: 1,
    l: kind === "code64" ? 1 : 0,
    g: 1,
    avl: 0,
    unusable: 0,
  };
}

/** The kernel's 64-bit code segment and friends, as KVM_SET_SREGS takes them. */
export const CODE0 = segment(SEL64_CODE0, "code64", 0);
export const DATA0 = segment(SEL64_DATA0, "data", 0);
export const CODE3 = segment(SEL64_CODE3, "code64", 3);
export const DATA3 = segment(SEL64_DATA3, "data", 3);
export const CODE32_0 = segment(SEL32_CODE0, "code32", 0);

/** Writes the GDT, the TSS (RSP0, IST1), an empty IDT and the page tables. */
export function buildLongMode(mem: GuestMemory): void {
  const v = view(mem);
  const segs = [CODE0, DATA0, segment(SEL32_CODE3, "code32", 3), DATA3, CODE3];
  v.setBigUint64(LM_GDT, 0n, true);
  segs.forEach((s, i) => v.setBigUint64(LM_GDT + 8 * (i + 1), segmentDescriptor(s), true));
  // The 16-byte 64-bit TSS descriptor (type 11: busy).
  const tss: Segment = {
    ...segment(SEL64_TSS, "data", 0),
    base: BigInt(LM_TSS),
    limit: 0x67,
    type: 11,
    s: 0,
    g: 0,
    db: 0,
  };
  v.setBigUint64(LM_GDT + SEL64_TSS, segmentDescriptor(tss), true);
  v.setBigUint64(LM_GDT + SEL64_TSS + 8, 0n, true);
  v.setBigUint64(LM_GDT + SEL32_CODE0, segmentDescriptor(CODE32_0), true);
  v.setBigUint64(LM_TSS + 4, BigInt(LM_RSP0), true);
  v.setBigUint64(LM_TSS + 0x24, BigInt(LM_IST1), true);
  const link = (at: number, to: number) => v.setBigUint64(at, BigInt(to) | P | W | U, true);
  link(LM_PML4, LM_PDPT);
  link(LM_PML4 + 511 * 8, LM_PDPT);
  link(LM_PDPT, LM_PD);
  v.setBigUint64(LM_PDPT + 8, 0n | P | W | U | PS, true); // linear 1 GiB -> physical 0, one 1 GiB page
  link(LM_PD, LM_PT);
  v.setBigUint64(LM_PD + 8, 0x200000n | P | W | U | PS, true); // 2-4 MiB, one 2 MiB page
  for (let i = 0; i < 512; i++) v.setBigUint64(LM_PT + 8 * i, BigInt(i * 4096) | P | W | U, true);
  mem.bytes.set([0xe6, 0xe9, 0xf4], LM_REPORT); // out 0xe9, al / hlt
  setGate(mem, 13, BigInt(LM_REPORT));
}

/** Sets the flags of the 4 KiB page at `linear` (below 2 MiB) to `flags` (identity mapped). */
export function setPte(mem: GuestMemory, linear: number, flags: bigint): void {
  view(mem).setBigUint64(LM_PT + 8 * (linear >>> 12), BigInt(linear & ~0xfff) | flags, true);
}

/** Reads the 4 KiB page's entry at `linear` (below 2 MiB). */
export function getPte(mem: GuestMemory, linear: number): bigint {
  return view(mem).getBigUint64(LM_PT + 8 * (linear >>> 12), true);
}

/** Installs a 64-bit interrupt gate (type 14, or 15 for a trap gate) for `vector` at `handler`. */
export function setGate(
  mem: GuestMemory,
  vector: number,
  handler: bigint,
  options: { ist?: number; dpl?: number; trap?: boolean } = {},
): void {
  const v = view(mem), at = LM_IDT + vector * 16;
  const type = options.trap ? 15 : 14;
  const lo = (handler & 0xffffn) | (BigInt(SEL64_CODE0) << 16n) | (BigInt(options.ist ?? 0) << 32n) |
    (BigInt(type | ((options.dpl ?? 0) << 5) | 0x80) << 40n) | (((handler >> 16n) & 0xffffn) << 48n);
  v.setBigUint64(at, lo, true);
  v.setBigUint64(at + 8, (handler >> 32n) & 0xffffffffn, true);
}

/** Options of {@linkcode enterLongMode}. */
export interface LongModeOptions {
  /** CPL of the code at `rip`: 0 (kernel segments) or 3 (user segments). */
  cpl?: 0 | 3;
  /** Extra CR4 bits (e.g. SMEP 1 << 20). */
  cr4?: bigint;
  rsp?: bigint;
  rflags?: bigint;
}

/**
 * Puts `vcpu` directly in 64-bit mode through KVM_SET_SREGS (structures
 * from {@linkcode buildLongMode}), at `rip`, with EFER.SCE and NXE set.
 */
export function enterLongMode(vcpu: Vcpu, rip: bigint, options: LongModeOptions = {}): void {
  const cpl = options.cpl ?? 0;
  const sregs = vcpu.getSregs();
  sregs.cs = cpl === 3 ? CODE3 : CODE0;
  sregs.ds =
    sregs.es =
    sregs.fs =
    sregs.gs =
    sregs.ss =
      cpl === 3 ? DATA3 : DATA0;
  sregs.tr = { ...segment(SEL64_TSS, "data", 0), base: BigInt(LM_TSS), limit: 0x67, type: 11, s: 0, g: 0, db: 0 };
  sregs.gdt = { base: BigInt(LM_GDT), limit: 0x47 };
  sregs.idt = { base: BigInt(LM_IDT), limit: 0xfff };
  sregs.cr0 = LONG_MODE_CONTROL.cr0;
  sregs.cr3 = BigInt(LM_PML4);
  sregs.cr4 = LONG_MODE_CONTROL.cr4 | (options.cr4 ?? 0n);
  sregs.efer = LONG_MODE_CONTROL.efer | EFER_SCE | EFER_NX;
  vcpu.setSregs(sregs);
  vcpu.setRegs({
    ...vcpu.getRegs(),
    rip,
    rsp: options.rsp ?? BigInt(LM_STACK),
    rflags: options.rflags ?? (cpl === 3 ? RFLAGS_USER : 2n),
  });
}

/** Hex text ("48 89 c8 ...") to bytes. */
export function bytes(hex: string): number[] {
  return hex.trim().split(/\s+/).filter((s) => s.length).map((s) => parseInt(s, 16));
}

/** The general registers by kvm_regs name. */
export type RegName = Exclude<(typeof KVM_REG_NAMES)[number], "rip" | "rflags">;
/** The 16 general registers, in kvm_regs order (kvm_regs without RIP and RFLAGS). */
export const REG_NAMES = KVM_REG_NAMES.filter((n): n is RegName => n !== "rip" && n !== "rflags");

/** A 64-bit CPL 3 program: its bytes, starting registers, and what the hardware left after it. */
export interface LongCase {
  name: string;
  /** The assembly, for the reader (bytes are in `code`). */
  asm: string;
  /** The program as hex bytes, ending in `hlt` (#GP at CPL 3, reported by the CPL 0 handler). */
  code: string;
  init?: Partial<Record<RegName, bigint>>;
  /** Registers at the report (rsp: the program's, from the #GP frame). */
  expect: Partial<Record<RegName, bigint>>;
  /** rflags of the program at its `hlt`, under `flagsMask`. */
  rflags: bigint;
  flagsMask: bigint;
  /** Memory at LM_DATA after it (hex), when the case stores there. */
  data?: string;
}

/** Fills the data page at LM_DATA with its fixed pattern. */
export function fillData(mem: GuestMemory): void {
  for (let i = 0; i < 0x1000; i++) mem.bytes[LM_DATA + i] = (i * 37 + 11) & 0xff;
}

/**
 * Puts `vcpu` in flat 32-bit protected mode at CPL 0 with paging off (the
 * GDT of {@linkcode buildLongMode}, EFER clear), at `eip`.
 */
export function enterProtectedMode(vcpu: Vcpu, eip: number): void {
  const sregs = vcpu.getSregs();
  sregs.cs = CODE32_0;
  sregs.ds =
    sregs.es =
    sregs.fs =
    sregs.gs =
    sregs.ss =
      DATA0;
  sregs.tr = { ...segment(SEL64_TSS, "data", 0), base: BigInt(LM_TSS), limit: 0x67, type: 11, s: 0, g: 0, db: 0 };
  sregs.gdt = { base: BigInt(LM_GDT), limit: 0x47 };
  sregs.cr0 = 0x11n;
  sregs.cr4 = 0n;
  sregs.efer = 0n;
  vcpu.setSregs(sregs);
  vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(eip), rsp: BigInt(LM_STACK), rflags: 2n });
}

/** Runs until the report handler's `out`; fails on any other exit. */
export function runToReport(m: LongMachine): void {
  const exit = m.vcpu.run();
  const text = JSON.stringify(exit, (_, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v));
  assert.equal(exit.reason, "io", `expected the report's out, got ${text}`);
  if (exit.reason === "io") assert.equal(exit.port, 0xe9);
}
