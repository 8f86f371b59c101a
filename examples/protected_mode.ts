/**
 * protected_mode: enter flat 32-bit protected mode directly with
 * KVM_SET_SREGS, the 32-bit sibling of examples/long_mode.ts. The host
 * builds a GDT with flat 32-bit code and data segments, then sets cr0.PE and
 * the segment registers (paging stays off: linear = physical). The guest
 * (examples/protected_mode.asm) computes the 32-bit FNV-1a hash of a 4 KiB
 * buffer the host placed in memory, writes it to port 0xe9 with one 32-bit
 * `out` and halts. The host computes the same hash in TypeScript and checks
 * that they agree.
 *
 * Run:
 *
 *   deno run --allow-ffi --allow-read examples/protected_mode.ts [--backend=kvm|emu|auto]
 *   bun examples/protected_mode.ts [--backend=kvm|emu|auto]
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

/** Guest memory: 1 MiB at guest-physical 0. */
const MEMORY_SIZE = 0x100000;
/** The GDT: null, 32-bit code (selector 0x08), data (selector 0x10). */
const GDT_ADDR = 0x1000;
/** Where protected_mode.bin is loaded (its `org`). */
const CODE_ADDR = 0x8000;
/** The buffer the guest hashes, and its length. */
const BUFFER_ADDR = 0x10000;
const BUFFER_LENGTH = 4096;
/** The top of the guest's stack (unused by this guest, but valid). */
const STACK_TOP = 0x80000;
/** The port the guest reports the hash on. */
const RESULT_PORT = 0xe9;

/** Control-register bits. */
const CR0_PE = 1n << 0n; // protected mode
const CR0_ET = 1n << 4n; // extension type (always 1)
const CR0_NE = 1n << 5n; // native x87 error reporting

/** A flat (base 0, 4 GiB limit) 32-bit code or data segment at CPL 0. */
function flatSegment(selector: number, kind: "code32" | "data"): Segment {
  return {
    base: 0n,
    limit: 0xffffffff,
    selector,
    type: kind === "code32" ? 11 : 3, // 11: execute/read, accessed; 3: read/write, accessed
    present: 1,
    dpl: 0,
    db: 1, // D/B = 1: 32-bit operands and addresses, 32-bit stack
    s: 1, // code or data, not a system segment
    l: 0, // not 64-bit code
    g: 1, // limit counted in 4 KiB units
    avl: 0,
    unusable: 0,
  };
}

/** The 32-bit FNV-1a hash: the same computation as protected_mode.asm. */
function fnv1a32(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h = Math.imul(h ^ b, 0x01000193);
  }
  return h >>> 0;
}

/** Formats a 32-bit value as 8 hex digits. */
function hex32(v: number | bigint): string {
  return `0x${v.toString(16).padStart(8, "0")}`;
}

function main(): number {
  const backend = parseBackend(process.argv.slice(2));
  const code = readFileSync(new URL("./protected_mode.bin", import.meta.url));

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

    // The GDT, built from the very segment values loaded below.
    const code32 = flatSegment(0x08, "code32");
    const data = flatSegment(0x10, "data");
    view.setBigUint64(GDT_ADDR + 0x00, 0n, true);
    view.setBigUint64(GDT_ADDR + 0x08, segmentDescriptor(code32), true);
    view.setBigUint64(GDT_ADDR + 0x10, segmentDescriptor(data), true);

    // The code and the buffer it hashes.
    mem.set(code, CODE_ADDR);
    const buffer = mem.subarray(BUFFER_ADDR, BUFFER_ADDR + BUFFER_LENGTH);
    fillPseudoRandom(buffer);

    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory });
    using vcpu = vm.createVcpu(0);

    // Protected mode, directly: cr0.PE with paging off, flat 32-bit segments.
    const sregs = vcpu.getSregs();
    sregs.cs = code32;
    sregs.ds =
      sregs.es =
      sregs.fs =
      sregs.gs =
      sregs.ss =
        data;
    sregs.gdt = { base: BigInt(GDT_ADDR), limit: 3 * 8 - 1 };
    sregs.cr0 = CR0_PE | CR0_ET | CR0_NE;
    sregs.cr3 = 0n;
    sregs.cr4 = 0n;
    sregs.efer = 0n;
    vcpu.setSregs(sregs);

    // The guest's arguments: esi = buffer address, ecx = its length.
    vcpu.setRegs({
      ...vcpu.getRegs(),
      rip: BigInt(CODE_ADDR),
      rsp: BigInt(STACK_TOP),
      rsi: BigInt(BUFFER_ADDR),
      rcx: BigInt(BUFFER_LENGTH),
      rflags: 2n,
    });

    // Collect the hash, then expect hlt.
    let fromGuest: number | undefined;
    for (;;) {
      const exit = vcpu.run();
      if (
        exit.reason === "io" && exit.direction === "out" &&
        exit.port === RESULT_PORT && exit.size === 4 &&
        fromGuest === undefined
      ) {
        fromGuest = new DataView(exit.data.buffer, exit.data.byteOffset, 4)
          .getUint32(0, true);
      } else if (exit.reason === "hlt" && fromGuest !== undefined) {
        break;
      } else {
        console.error(`unexpected exit: ${describe(exit)}`);
        return 1;
      }
    }
    // The guest also left the hash in eax.
    const inEax = Number(vcpu.getRegs().rax & 0xffffffffn);
    const fromHost = fnv1a32(buffer);
    console.log(`FNV-1a 32 of ${BUFFER_LENGTH} bytes at ${hex32(BUFFER_ADDR)}:`);
    console.log(`  guest (port 0xe9): ${hex32(fromGuest)}`);
    console.log(`  guest (eax):       ${hex32(inEax)}`);
    console.log(`  host:              ${hex32(fromHost)}`);
    if (fromGuest !== fromHost || inEax !== fromHost) {
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
  console.error(`protected_mode: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
