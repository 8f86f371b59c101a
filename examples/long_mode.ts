/**
 * long_mode: enter 64-bit long mode directly with KVM_SET_SREGS. The host
 * builds, in guest memory, identity-mapping page tables (PML4 -> PDPT -> PD
 * with 2 MiB pages) and a GDT with a 64-bit code segment, then sets cr0,
 * cr3, cr4, efer and the segment registers so that the vCPU starts in
 * 64-bit mode: no real-mode trampoline. The guest (examples/long_mode.asm)
 * computes the 64-bit FNV-1a hash of a 4 KiB buffer the host placed in
 * memory, writes it to port 0xe9 as two 32-bit `out`s and halts. The host
 * computes the same hash in TypeScript and checks that they agree.
 *
 * Run:
 *
 *   deno run --allow-ffi --allow-read examples/long_mode.ts [--backend=kvm|emu|auto]
 *   bun examples/long_mode.ts [--backend=kvm|emu|auto]
 *
 * The guest runs at CPL 0. On a host where /dev/kvm emulates CPL 0 code
 * (kvm_pvm) this takes a few milliseconds. The program exits with status 1
 * on an unexpected exit or a wrong hash.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { Kvm } from "../mod.ts";
import { describe, fillPseudoRandom, parseBackend, segmentDescriptor } from "./_shared.ts";
import type { Segment } from "../mod.ts";

/** Guest memory: 4 MiB at guest-physical 0, identity mapped. */
const MEMORY_SIZE = 0x400000;
/** The GDT: null, 64-bit code (selector 0x08), data (selector 0x10). */
const GDT_ADDR = 0x1000;
/** The page tables, one 4 KiB page each. */
const PML4_ADDR = 0x2000;
const PDPT_ADDR = 0x3000;
const PD_ADDR = 0x4000;
/** Where long_mode.bin is loaded (its `org`). */
const CODE_ADDR = 0x8000;
/** The buffer the guest hashes, and its length. */
const BUFFER_ADDR = 0x10000;
const BUFFER_LENGTH = 4096;
/** The top of the guest's stack (unused by this guest, but valid). */
const STACK_TOP = 0x80000;
/** The port the guest reports the hash on. */
const RESULT_PORT = 0xe9;

/** Page-table entry bits. */
const PTE_PRESENT = 1n << 0n;
const PTE_WRITABLE = 1n << 1n;
const PTE_PAGE_SIZE = 1n << 7n; // in a PD entry: a 2 MiB page

/** Control-register and EFER bits. */
const CR0_PE = 1n << 0n; // protected mode
const CR0_MP = 1n << 1n; // monitor coprocessor
const CR0_ET = 1n << 4n; // extension type (always 1)
const CR0_NE = 1n << 5n; // native x87 error reporting
const CR0_WP = 1n << 16n; // write protect at CPL 0
const CR0_PG = 1n << 31n; // paging
const CR4_PAE = 1n << 5n; // physical address extension (required by long mode)
const EFER_LME = 1n << 8n; // long mode enable
const EFER_LMA = 1n << 10n; // long mode active

/** A flat (base 0, 4 GiB limit) code or data segment at CPL 0. */
function flatSegment(selector: number, kind: "code64" | "data"): Segment {
  return {
    base: 0n,
    limit: 0xffffffff,
    selector,
    type: kind === "code64" ? 11 : 3, // 11: execute/read, accessed; 3: read/write, accessed
    present: 1,
    dpl: 0,
    db: kind === "code64" ? 0 : 1, // a 64-bit code segment must have D = 0
    s: 1, // code or data, not a system segment
    l: kind === "code64" ? 1 : 0, // L = 1: 64-bit code
    g: 1, // limit counted in 4 KiB units
    avl: 0,
    unusable: 0,
  };
}

/** The 64-bit FNV-1a hash: the same computation as long_mode.asm. */
function fnv1a64(bytes: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) {
    h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  }
  return h;
}

/** Formats a 64-bit value as 16 hex digits. */
function hex64(v: bigint): string {
  return `0x${v.toString(16).padStart(16, "0")}`;
}

function main(): number {
  const backend = parseBackend(process.argv.slice(2));
  const code = readFileSync(new URL("./long_mode.bin", import.meta.url));

  using kvm = Kvm.open({ backend });
  console.log(
    `backend: ${kvm.backend}` +
      (kvm.fallbackReason ? ` (kvm unavailable: ${kvm.fallbackReason})` : ""),
  );

  using vm = kvm.createVm();
  const memory = vm.allocateMemory(MEMORY_SIZE);
  try {
    const mem = memory.bytes;
    const view = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);

    // Identity page tables: PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] maps the
    // 2 MiB page at i * 2 MiB onto itself, covering all of guest memory.
    view.setBigUint64(
      PML4_ADDR,
      BigInt(PDPT_ADDR) | PTE_PRESENT | PTE_WRITABLE,
      true,
    );
    view.setBigUint64(
      PDPT_ADDR,
      BigInt(PD_ADDR) | PTE_PRESENT | PTE_WRITABLE,
      true,
    );
    for (let i = 0; i < MEMORY_SIZE / 0x200000; i++) {
      const page = BigInt(i) * 0x200000n;
      view.setBigUint64(
        PD_ADDR + 8 * i,
        page | PTE_PRESENT | PTE_WRITABLE | PTE_PAGE_SIZE,
        true,
      );
    }

    // The GDT, built from the very segment values loaded below.
    const code64 = flatSegment(0x08, "code64");
    const data = flatSegment(0x10, "data");
    view.setBigUint64(GDT_ADDR + 0x00, 0n, true);
    view.setBigUint64(GDT_ADDR + 0x08, segmentDescriptor(code64), true);
    view.setBigUint64(GDT_ADDR + 0x10, segmentDescriptor(data), true);

    // The code and the buffer it hashes.
    mem.set(code, CODE_ADDR);
    const buffer = mem.subarray(BUFFER_ADDR, BUFFER_ADDR + BUFFER_LENGTH);
    fillPseudoRandom(buffer);

    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory });
    using vcpu = vm.createVcpu(0);

    // Long mode, directly: paging with PAE, EFER.LME and LMA, a 64-bit cs.
    const sregs = vcpu.getSregs();
    sregs.cs = code64;
    sregs.ds =
      sregs.es =
      sregs.fs =
      sregs.gs =
      sregs.ss =
        data;
    sregs.gdt = { base: BigInt(GDT_ADDR), limit: 3 * 8 - 1 };
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.cr3 = BigInt(PML4_ADDR);
    sregs.cr4 = CR4_PAE;
    sregs.efer = EFER_LME | EFER_LMA;
    vcpu.setSregs(sregs);

    // The guest's arguments: rsi = buffer address, rcx = its length.
    vcpu.setRegs({
      ...vcpu.getRegs(),
      rip: BigInt(CODE_ADDR),
      rsp: BigInt(STACK_TOP),
      rsi: BigInt(BUFFER_ADDR),
      rcx: BigInt(BUFFER_LENGTH),
      rflags: 2n,
    });

    // Collect the two 32-bit halves of the hash, then expect hlt.
    const halves: number[] = [];
    for (;;) {
      const exit = vcpu.run();
      if (
        exit.reason === "io" && exit.direction === "out" &&
        exit.port === RESULT_PORT && exit.size === 4 && halves.length < 2
      ) {
        halves.push(
          new DataView(exit.data.buffer, exit.data.byteOffset, 4)
            .getUint32(0, true),
        );
      } else if (exit.reason === "hlt" && halves.length === 2) {
        break;
      } else {
        console.error(`unexpected exit: ${describe(exit)}`);
        return 1;
      }
    }
    const fromGuest = (BigInt(halves[1]) << 32n) | BigInt(halves[0]);
    // The guest also left the whole hash in rbx.
    const inRbx = vcpu.getRegs().rbx;
    const fromHost = fnv1a64(buffer);
    console.log(`FNV-1a 64 of ${BUFFER_LENGTH} bytes at ${hex64(BigInt(BUFFER_ADDR))}:`);
    console.log(`  guest (port 0xe9): ${hex64(fromGuest)}`);
    console.log(`  guest (rbx):       ${hex64(inRbx)}`);
    console.log(`  host:              ${hex64(fromHost)}`);
    if (fromGuest !== fromHost || inRbx !== fromHost) {
      console.error("MISMATCH: the guest and the host disagree");
      return 1;
    }
    console.log("match");
    return 0;
  } finally {
    // Close the VM before unmapping the memory it was using.
    vm.close();
    memory.free();
  }
}

try {
  process.exitCode = main();
} catch (e) {
  // A bad argument or a backend that cannot be opened: one line, not a stack.
  console.error(`long_mode: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
