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
import process from "node:process";
import {
  collectOuts,
  compareWithHost,
  enterFlat,
  flatSegment,
  identityMap,
  LONG_MODE_CONTROL,
  openKvm,
  runMain,
  withGuest,
} from "./_shared.ts";
import { BUFFER_ADDR, BUFFER_LENGTH, GDT_ADDR, loadHashGuest, RESULT_PORT } from "./_hash_guest.ts";

/** Guest memory: 4 MiB at guest-physical 0, identity mapped. */
const MEMORY_SIZE = 0x400000;
/** The page tables, one 4 KiB page each (the GDT is at 0x1000, the code at 0x8000: see _hash_guest.ts). */
const PML4_ADDR = 0x2000;
const PDPT_ADDR = 0x3000;
const PD_ADDR = 0x4000;

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
  using kvm = openKvm(process.argv.slice(2));
  return withGuest(kvm, MEMORY_SIZE, (mem, vcpu) => {
    // Identity page tables: PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] maps the
    // 2 MiB page at i * 2 MiB onto itself, covering all of guest memory.
    const cr3 = identityMap(mem, { pml4: PML4_ADDR, pdpt: PDPT_ADDR, pd: PD_ADDR, size: MEMORY_SIZE });
    // The code and the buffer it hashes.
    const { buffer, regs } = loadHashGuest(mem, "long_mode.bin");

    // Long mode, directly: paging with PAE, EFER.LME and LMA (see
    // LONG_MODE_CONTROL), a 64-bit cs; rsi = buffer address, rcx = its length.
    const code64 = flatSegment(0x08, "code64");
    const data = flatSegment(0x10, "data");
    enterFlat(mem, vcpu, { gdtAddr: GDT_ADDR, gdt: [code64, data], cs: code64, data, ...LONG_MODE_CONTROL, cr3, regs });

    // Collect the two 32-bit halves of the hash, then expect hlt.
    const halves = collectOuts(vcpu, RESULT_PORT, 2);
    if (halves === undefined) return 1;
    const fromGuest = (BigInt(halves[1]) << 32n) | BigInt(halves[0]);
    // The guest also left the whole hash in rbx.
    return compareWithHost(
      `FNV-1a 64 of ${BUFFER_LENGTH} bytes at ${hex64(BigInt(BUFFER_ADDR))}`,
      { "port 0xe9": hex64(fromGuest), rbx: hex64(vcpu.getRegs().rbx) },
      hex64(fnv1a64(buffer)),
    );
  });
}

runMain("long_mode", main);
