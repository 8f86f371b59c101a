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
import process from "node:process";
import { X86_CR0_ET, X86_CR0_NE, X86_CR0_PE } from "../constants.ts";
import { collectOuts, compareWithHost, enterFlat, flatSegment, openKvm, runMain, withGuest } from "./_shared.ts";
import { BUFFER_ADDR, BUFFER_LENGTH, GDT_ADDR, loadHashGuest, RESULT_PORT } from "./_hash_guest.ts";

/** Guest memory: 1 MiB at guest-physical 0 (the layout: see _hash_guest.ts). */
const MEMORY_SIZE = 0x100000;

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
  using kvm = openKvm(process.argv.slice(2));
  return withGuest(kvm, MEMORY_SIZE, (mem, vcpu) => {
    // The code and the buffer it hashes.
    const { buffer, regs } = loadHashGuest(mem, "protected_mode.bin");

    // Protected mode, directly: cr0.PE (ET: always 1; NE: native x87
    // errors) with paging off, flat 32-bit segments; esi = buffer address,
    // ecx = its length.
    const code32 = flatSegment(0x08, "code32");
    const data = flatSegment(0x10, "data");
    const cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE;
    enterFlat(mem, vcpu, { gdtAddr: GDT_ADDR, gdt: [code32, data], cs: code32, data, cr0, regs });

    // Collect the hash, then expect hlt.
    const hash = collectOuts(vcpu, RESULT_PORT, 1);
    if (hash === undefined) return 1;
    // The guest also left the hash in eax.
    return compareWithHost(
      `FNV-1a 32 of ${BUFFER_LENGTH} bytes at ${hex32(BUFFER_ADDR)}`,
      { "port 0xe9": hex32(hash[0]), eax: hex32(vcpu.getRegs().rax & 0xffffffffn) },
      hex32(fnv1a32(buffer)),
    );
  });
}

runMain("protected_mode", main);
