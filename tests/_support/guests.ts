/**
 * Guest-building helpers for the conformance suite: a VM with memory at
 * guest-physical 0; the register state for real mode, flat 32-bit protected
 * mode (CPL 0 or CPL 3), 32-bit paging and 64-bit long mode; page tables;
 * exit assertions; and `featureTest`, for features some hosts' KVM lacks.
 * Guest code itself is written inline in each test, one instruction's bytes
 * per line beside its assembly (see {@linkcode load}).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../../mod.ts";
import type { BackendName, ExitOf, GuestMemory, Segment, Vcpu, VcpuExit, Vm } from "../../mod.ts";
import { EFER_LMA, EFER_LME, X86_CR0_PE, X86_CR0_PG, X86_CR4_PAE } from "../../constants.ts";
import { BACKENDS, backendTest, backendUnavailable, skip } from "./harness.ts";
import { segmentDescriptor } from "../../vmm/cpu.ts";
import { flatSegment } from "../../examples/_shared.ts";
import { type Bench, bench, put } from "./sys.ts";

/** Default guest memory: 64 KiB at guest-physical 0. */
export const MEMORY_SIZE = 0x10000;
/** Where the tests put their code, unless they say otherwise. */
export const CODE = 0x1000;

/** Where {@linkcode protectedMode} builds its GDT and TSS. */
export const GDT_ADDR = 0x500;
export const TSS_ADDR = 0x600;
/** Selectors of the GDT {@linkcode protectedMode} builds. */
export const SEL_CODE0 = 0x08;
export const SEL_DATA0 = 0x10;
export const SEL_CODE3 = 0x18 | 3;
export const SEL_DATA3 = 0x20 | 3;
export const SEL_TSS = 0x28;

/** rflags bit 1 is always set. */
export const RFLAGS_FIXED = 2n;
/** rflags.IF. */
export const RFLAGS_IF = 1n << 9n;
/** rflags.IOPL = 3: `in`/`out` allowed at CPL 3. */
export const RFLAGS_IOPL3 = 3n << 12n;

/** A VM with one memory slot at guest-physical 0 and vCPU 0. Disposing closes the VM, then frees the memory. */
export interface Machine extends Disposable {
  vm: Vm;
  mem: GuestMemory;
  vcpu: Vcpu;
}

/** What {@linkcode machine} builds besides the VM, its memory and vCPU 0. */
export interface MachineOptions {
  /** Bytes of memory in slot 0 (default {@linkcode MEMORY_SIZE}). */
  size?: number;
  /** KVM_CREATE_IRQCHIP, before the vCPU as KVM requires. */
  irqchip?: boolean;
  /** KVM_CREATE_PIT2 with these flags, after the irqchip. */
  pit?: number;
  /** KVM_MEM_LOG_DIRTY_PAGES on slot 0. */
  logDirtyPages?: boolean;
}

/**
 * Creates a {@linkcode Machine}: the one builder of the suite's VMs (a number is
 * {@linkcode MachineOptions.size}).
 */
export function machine(kvm: Kvm, options: number | MachineOptions = {}): Machine {
  const o = typeof options === "number" ? { size: options } : options;
  const vm = kvm.createVm();
  if (o.irqchip) vm.createIrqchip();
  if (o.pit !== undefined) vm.createPit2(o.pit);
  const mem = vm.allocateMemory(o.size ?? MEMORY_SIZE);
  const flags = o.logDirtyPages ? { flags: { logDirtyPages: true } } : {};
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem, ...flags });
  const vcpu = vm.createVcpu(0);
  return {
    vm,
    mem,
    vcpu,
    [Symbol.dispose]() {
      vm.close();
      mem.free();
    },
  };
}

/**
 * Copies guest code into memory at `addr`: one string of hex bytes per
 * instruction, so that each sits on its own line beside its assembly, e.g.
 * `load(mem, 0x1000, ["b0 41", "e6 e9"])` writes b0 41 e6 e9. Plain byte
 * values (`[0xb0, 0x41]`) are accepted too.
 */
export function load(mem: GuestMemory, addr: number, code: readonly string[] | readonly number[]): void {
  const parts: readonly (string | number)[] = code;
  const bytes = parts.flatMap((p) => typeof p === "number" ? [p] : p.split(" ").map((b) => parseInt(b, 16)));
  assert.ok(bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 0xff), `bad guest code: ${code.join(" | ")}`);
  mem.bytes.set(bytes, addr);
}

/** A little-endian DataView of the whole guest memory. */
export function view(mem: GuestMemory): DataView {
  return new DataView(mem.bytes.buffer, mem.bytes.byteOffset, mem.bytes.byteLength);
}

/** Puts `vcpu` in real mode with cs = 0 (so ip is the linear address), ip = `ip`, rflags = 2 (+ `rflags`). */
export function realMode(vcpu: Vcpu, ip: number, rflags = 0n): void {
  const sregs = vcpu.getSregs();
  sregs.cs.selector = 0;
  sregs.cs.base = 0n;
  vcpu.setSregs(sregs);
  vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(ip), rsp: 0xf000n, rflags: RFLAGS_FIXED | rflags });
}

/**
 * Enters flat 32-bit protected mode through KVM_SET_SREGS: a GDT at
 * {@linkcode GDT_ADDR} (null, code/data at DPL 0, code/data at DPL 3, a
 * 32-bit TSS at {@linkcode TSS_ADDR}), paging off, eip = `eip`. At `cpl` 3
 * cs and ss are the DPL 3 segments and IOPL is 3, so the guest may use
 * `in`/`out`.
 */
export function protectedMode(vcpu: Vcpu, mem: GuestMemory, eip: number, cpl: 0 | 3 = 0): void {
  const code0 = flatSegment(SEL_CODE0, "code32", 0);
  const data0 = flatSegment(SEL_DATA0, "data", 0);
  const code3 = flatSegment(SEL_CODE3, "code32", 3);
  const data3 = flatSegment(SEL_DATA3, "data", 3);
  const tss: Segment = {
    base: BigInt(TSS_ADDR),
    limit: 0x67,
    selector: SEL_TSS,
    type: 11, // busy 32-bit TSS
    present: 1,
    dpl: 0,
    db: 0,
    s: 0,
    l: 0,
    g: 0,
    avl: 0,
    unusable: 0,
  };
  const v = view(mem);
  v.setBigUint64(GDT_ADDR, 0n, true);
  [code0, data0, code3, data3, tss].forEach((seg, i) => {
    v.setBigUint64(GDT_ADDR + 8 * (i + 1), segmentDescriptor(seg), true);
  });
  // The ring-0 stack a CPL 3 guest would switch to: TSS.esp0 and TSS.ss0.
  v.setUint32(TSS_ADDR + 4, 0xe000, true);
  v.setUint32(TSS_ADDR + 8, SEL_DATA0, true);

  const sregs = vcpu.getSregs();
  const code = cpl === 3 ? code3 : code0;
  const data = cpl === 3 ? data3 : data0;
  sregs.cs = code;
  for (const seg of ["ds", "es", "fs", "gs", "ss"] as const) sregs[seg] = data;
  sregs.tr = tss;
  sregs.gdt = { base: BigInt(GDT_ADDR), limit: 6 * 8 - 1 };
  sregs.cr0 = (sregs.cr0 | X86_CR0_PE) & ~X86_CR0_PG;
  vcpu.setSregs(sregs);
  const rflags = RFLAGS_FIXED | (cpl === 3 ? RFLAGS_IOPL3 : 0n);
  vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(eip), rsp: 0xf000n, rflags });
}

/** Page-table entry bits: present, writable, user. */
export const PTE_P = 1, PTE_W = 2, PTE_U = 4;

/** A 4 KiB page of the linear space mapped by {@linkcode pageTables32} or {@linkcode pageTables64}. */
export interface PageMapping {
  linear: number;
  physical: number;
  flags: number;
}

/**
 * Builds 32-bit (non-PAE) page tables: the page directory at `base`, one
 * page table at `base + 0x1000` covering linear 0-4 MiB. Returns cr3.
 */
export function pageTables32(mem: GuestMemory, base: number, pages: readonly PageMapping[]): bigint {
  const v = view(mem);
  v.setUint32(base, (base + 0x1000) | PTE_P | PTE_W | PTE_U, true);
  for (const p of pages) v.setUint32(base + 0x1000 + 4 * (p.linear >>> 12), p.physical | p.flags, true);
  return BigInt(base);
}

/**
 * Builds 4-level page tables: PML4, PDPT, PD and one PT at `base`,
 * `base + 0x1000`, `+ 0x2000`, `+ 0x3000`, covering linear 0-2 MiB. Returns cr3.
 */
export function pageTables64(mem: GuestMemory, base: number, pages: readonly PageMapping[]): bigint {
  const v = view(mem);
  const table = PTE_P | PTE_W | PTE_U;
  for (let level = 0; level < 3; level++) {
    v.setBigUint64(base + 0x1000 * level, BigInt((base + 0x1000 * (level + 1)) | table), true);
  }
  for (const p of pages) v.setBigUint64(base + 0x3000 + 8 * (p.linear >>> 12), BigInt(p.physical | p.flags), true);
  return BigInt(base);
}

/** Turns on 32-bit paging with `cr3` (after {@linkcode protectedMode}). */
export function paging32(vcpu: Vcpu, cr3: bigint): void {
  const sregs = vcpu.getSregs();
  sregs.cr3 = cr3;
  sregs.cr0 |= X86_CR0_PG | X86_CR0_PE;
  vcpu.setSregs(sregs);
}

/**
 * Enters 64-bit long mode at CPL 0 through KVM_SET_SREGS, with `cr3` from
 * {@linkcode pageTables64} (which must map the code): a 64-bit code
 * segment, flat data segments, PAE, EFER.LME/LMA and paging; rip = `rip`.
 */
export function longMode(vcpu: Vcpu, mem: GuestMemory, rip: number, cr3: bigint): void {
  protectedMode(vcpu, mem, rip);
  const sregs = vcpu.getSregs();
  sregs.cs = { ...sregs.cs, l: 1, db: 0 };
  sregs.cr3 = cr3;
  sregs.cr4 |= X86_CR4_PAE;
  sregs.efer |= EFER_LME | EFER_LMA;
  sregs.cr0 |= X86_CR0_PG | X86_CR0_PE;
  vcpu.setSregs(sregs);
}

/**
 * Registers `fn` on every backend, like `backendTest`, except on a backend
 * where `probe` (given a fresh Kvm of that backend) describes the feature as
 * missing: there the test is skipped, and prints what the backend did.
 */
export function featureTest(name: string, probe: (kvm: Kvm) => string | undefined, fn: (kvm: Kvm) => void): void {
  for (const backend of BACKENDS) {
    const why = lacks(backend, probe);
    if (why !== undefined) skip(`${name} [${backend}]`, why);
    else backendTest(name, fn, { only: [backend] });
  }
}

/**
 * A {@linkcode featureTest} on a fresh {@linkcode Bench} (sys.ts) that holds `programs` (hex code by guest-physical
 * address): `fn` enters the guest and checks what it does.
 */
export function benchTest(
  name: string,
  probe: (kvm: Kvm) => string | undefined,
  programs: Record<number, string>,
  fn: (b: Bench) => void,
): void {
  featureTest(name, probe, (kvm) => {
    using b = bench(kvm);
    for (const [addr, code] of Object.entries(programs)) put(b, Number(addr), code);
    fn(b);
  });
}

function lacks(backend: BackendName, probe: (kvm: Kvm) => string | undefined): string | undefined {
  if (backendUnavailable(backend) !== undefined) return undefined; // backendTest skips it, saying why
  let lacking: string | undefined;
  try {
    using kvm = Kvm.open({ backend });
    lacking = probe(kvm);
  } catch {
    return undefined; // not a missing feature but a failure: the test itself runs and reports it
  }
  return lacking && `${backend === "kvm" ? "this host's KVM" : "the emulator"}: ${lacking}`;
}

/** Describes an exit for an assertion message. */
export function describe(exit: VcpuExit): string {
  return JSON.stringify(exit, (_, v) => typeof v === "bigint" ? `0x${v.toString(16)}` : v);
}

/** Runs `vcpu` once and asserts that the exit has the given reason. */
export function runTo<R extends VcpuExit["reason"]>(vcpu: Vcpu, reason: R): ExitOf<R> {
  const exit = vcpu.run();
  assert.equal(exit.reason, reason, `expected a ${reason} exit, got ${describe(exit)}`);
  return exit as ExitOf<R>;
}

/** Runs `vcpu` once and asserts an `out` of `size` bytes to `port`; returns the value written. */
export function runToOut(vcpu: Vcpu, port: number, size: 1 | 2 | 4 = 1): number {
  const exit = runTo(vcpu, "io");
  assert.equal(exit.direction, "out", describe(exit));
  assert.equal(exit.port, port, describe(exit));
  assert.equal(exit.size, size, describe(exit));
  assert.equal(exit.count, 1, describe(exit));
  let value = 0;
  for (let i = size - 1; i >= 0; i--) value = value * 256 + exit.data[i];
  return value;
}
