/**
 * What the examples share: the `--backend` switch and opening the backend,
 * exit descriptions for error messages, a VM with its memory and vCPU, a
 * fixed pseudo-random fill, flat segments with their GDT descriptors,
 * identity page tables, and the guest's results checked against the host's.
 * The benchmarks (bench/) set up their guests with these too.
 *
 * @module
 */
import process from "node:process";
import {
  EFER_LMA,
  EFER_LME,
  X86_CR0_ET,
  X86_CR0_MP,
  X86_CR0_NE,
  X86_CR0_PE,
  X86_CR0_PG,
  X86_CR0_WP,
  X86_CR4_PAE,
} from "../constants.ts";
import { Kvm, type Regs, type Segment, type Vcpu, type VcpuExit } from "../mod.ts";

/** Page-table entry bits. */
const PTE_PRESENT = 1n << 0n;
const PTE_WRITABLE = 1n << 1n;
const PTE_USER = 1n << 2n;
const PTE_PAGE_SIZE = 1n << 7n; // in a PD entry: a 2 MiB page

/** Reads `--backend=kvm|emu|auto` from the command line (default "auto"). */
export function parseBackend(args: readonly string[]): "auto" | "kvm" | "emu" {
  let backend: "auto" | "kvm" | "emu" = "auto";
  for (const arg of args) {
    const value = arg.startsWith("--backend=") ? arg.slice(10) : undefined;
    if (value === "auto" || value === "kvm" || value === "emu") {
      backend = value;
    } else {
      throw new RangeError(
        `unknown argument "${arg}": expected --backend=kvm|emu|auto`,
      );
    }
  }
  return backend;
}

/** Describes an exit for an error message. */
export function describe(exit: VcpuExit): string {
  return JSON.stringify(
    exit,
    (_, v) => typeof v === "bigint" ? `0x${v.toString(16)}` : v,
  );
}

/** Fills `bytes` with a fixed pseudo-random sequence (xorshift32, seed 1). */
export function fillPseudoRandom(bytes: Uint8Array): void {
  let x = 1;
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bytes[i] = x & 0xff;
  }
}

/**
 * Encodes a segment register value as the 8-byte GDT descriptor that would
 * load it, so that the GDT and the registers set by KVM_SET_SREGS agree.
 * `limit` is the byte limit as KVM reports it (with g = 1, the low 12 bits
 * are ones and the descriptor holds limit >> 12).
 */
export function segmentDescriptor(seg: Segment): bigint {
  const limit = BigInt(seg.g ? seg.limit >>> 12 : seg.limit);
  const base = seg.base;
  const access = BigInt(
    seg.type | (seg.s << 4) | (seg.dpl << 5) | (seg.present << 7),
  );
  const flags = BigInt(seg.avl | (seg.l << 1) | (seg.db << 2) | (seg.g << 3));
  return (limit & 0xffffn) |
    ((base & 0xffffffn) << 16n) |
    (access << 40n) |
    (((limit >> 16n) & 0xfn) << 48n) |
    (flags << 52n) |
    (((base >> 24n) & 0xffn) << 56n);
}

/** Reads `--backend`, opens that backend and says which one runs (and why, when kvm was unavailable). */
export function openKvm(args: readonly string[]): Kvm {
  const kvm = Kvm.open({ backend: parseBackend(args) });
  const reason = kvm.fallbackReason ? ` (kvm unavailable: ${kvm.fallbackReason})` : "";
  console.log(`backend: ${kvm.backend}${reason}`);
  return kvm;
}

/**
 * Runs an example's `main` and sets the exit status from it; an exception (a
 * bad argument, a backend that cannot be opened) becomes one line, not a stack.
 */
export function runMain(name: string, main: () => number): void {
  try {
    process.exitCode = main();
  } catch (e) {
    console.error(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  }
}

/**
 * Gives `body` a new VM's vCPU 0 and `size` bytes of guest memory at
 * guest-physical 0 (slot 0), then closes the VM before unmapping the memory
 * it was using.
 */
export function withGuest<T>(kvm: Kvm, size: number, body: (mem: Uint8Array, vcpu: Vcpu) => T): T {
  using vm = kvm.createVm();
  const memory = vm.allocateMemory(size);
  try {
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory });
    using vcpu = vm.createVcpu(0);
    return body(memory.bytes, vcpu);
  } finally {
    vm.close();
    memory.free();
  }
}

/** What a flat segment is for: 32-bit code, 64-bit code, or data. */
export type FlatKind = "code32" | "code64" | "data";

/** A flat (base 0, 4 GiB limit) segment of `kind` at privilege `dpl`. */
export function flatSegment(selector: number, kind: FlatKind, dpl = 0): Segment {
  const code64 = kind === "code64" ? 1 : 0;
  return {
    base: 0n,
    limit: 0xffffffff,
    selector,
    type: kind === "data" ? 3 : 11, // 3: read/write, accessed; 11: execute/read, accessed
    present: 1,
    dpl,
    db: 1 - code64, // D/B = 1: 32-bit operands; a 64-bit code segment must have D = 0
    s: 1, // code or data, not a system segment
    l: code64, // L = 1: 64-bit code
    g: 1, // limit counted in 4 KiB units
    avl: 0,
    unusable: 0,
  };
}

/** CR0, CR4 and EFER for 64-bit mode entered directly, with paging through the identity map. */
export const LONG_MODE_CONTROL: { cr0: bigint; cr4: bigint; efer: bigint } = {
  // Protected mode with paging; MP: monitor coprocessor; ET: always 1; NE:
  // native x87 error reporting; WP: write protect at CPL 0.
  cr0: X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG,
  cr4: X86_CR4_PAE, // physical address extension: required by long mode
  efer: EFER_LME | EFER_LMA, // long mode enabled and active
};

/** The state {@linkcode enterFlat} loads. */
export interface FlatEntry {
  /** Where the GDT goes: a null descriptor, then one per entry of `gdt`. */
  gdtAddr: number;
  /** The GDT's segments, at selectors 0x08, 0x10, ... */
  gdt: readonly Segment[];
  /** The code segment to load (one of `gdt`, maybe with an RPL). */
  cs: Segment;
  /** The segment loaded into ds, es, fs, gs and ss. */
  data: Segment;
  cr0: bigint;
  cr3?: bigint;
  cr4?: bigint;
  efer?: bigint;
  /** rip, rsp, rflags and any other registers. */
  regs: Partial<Regs> & Pick<Regs, "rip" | "rflags">;
}

/**
 * Writes the GDT into `mem`, built from the very segment values it then loads
 * with KVM_SET_SREGS (so that the two agree), and sets the registers with
 * KVM_SET_REGS: the vCPU starts in protected or long mode without a
 * real-mode trampoline.
 */
export function enterFlat(mem: Uint8Array, vcpu: Vcpu, entry: FlatEntry): void {
  const view = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  view.setBigUint64(entry.gdtAddr, 0n, true);
  entry.gdt.forEach((seg, i) => view.setBigUint64(entry.gdtAddr + 8 * (i + 1), segmentDescriptor(seg), true));
  const sregs = vcpu.getSregs();
  sregs.cs = entry.cs;
  for (const name of ["ds", "es", "fs", "gs", "ss"] as const) sregs[name] = entry.data;
  sregs.gdt = { base: BigInt(entry.gdtAddr), limit: (entry.gdt.length + 1) * 8 - 1 };
  sregs.cr0 = entry.cr0;
  sregs.cr3 = entry.cr3 ?? 0n;
  sregs.cr4 = entry.cr4 ?? 0n;
  sregs.efer = entry.efer ?? 0n;
  vcpu.setSregs(sregs);
  vcpu.setRegs({ ...vcpu.getRegs(), ...entry.regs });
}

/**
 * Writes identity-mapping page tables (PML4 -> PDPT -> PD, 2 MiB pages) for
 * the first `size` bytes (at most 1 GiB); `user` lets CPL 3 use them.
 * Returns CR3.
 */
export function identityMap(
  mem: Uint8Array,
  tables: { pml4: number; pdpt: number; pd: number; size: number; user?: boolean },
): bigint {
  const view = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  const flags = PTE_PRESENT | PTE_WRITABLE | (tables.user ? PTE_USER : 0n);
  view.setBigUint64(tables.pml4, BigInt(tables.pdpt) | flags, true);
  view.setBigUint64(tables.pdpt, BigInt(tables.pd) | flags, true);
  for (let i = 0; i < tables.size / 0x200000; i++) {
    view.setBigUint64(tables.pd + 8 * i, BigInt(i) * 0x200000n | flags | PTE_PAGE_SIZE, true);
  }
  return BigInt(tables.pml4);
}

/**
 * Runs `vcpu` until it halts after writing `count` 32-bit values to `port`;
 * returns them, or undefined after printing any other exit.
 */
export function collectOuts(vcpu: Vcpu, port: number, count: number): number[] | undefined {
  const values: number[] = [];
  for (;;) {
    const exit = vcpu.run();
    if (
      exit.reason === "io" && exit.direction === "out" && exit.port === port && exit.size === 4 &&
      values.length < count
    ) {
      values.push(new DataView(exit.data.buffer, exit.data.byteOffset, 4).getUint32(0, true));
    } else if (exit.reason === "hlt" && values.length === count) {
      return values;
    } else {
      console.error(`unexpected exit: ${describe(exit)}`);
      return undefined;
    }
  }
}

/** Prints what the guest computed (`guest`: where it was found -> value) against the host's value; returns the exit status. */
export function compareWithHost(title: string, guest: Readonly<Record<string, string>>, host: string): number {
  console.log(`${title}:`);
  const width = Math.max(...Object.keys(guest).map((where) => where.length)) + 9;
  for (const [where, value] of Object.entries(guest)) console.log(`  ${`guest (${where}):`.padEnd(width)} ${value}`);
  console.log(`  ${"host:".padEnd(width)} ${host}`);
  if (Object.values(guest).some((value) => value !== host)) {
    console.error("MISMATCH: the guest and the host disagree");
    return 1;
  }
  console.log("match");
  return 0;
}
