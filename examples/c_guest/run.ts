/**
 * c_guest: runs a freestanding C program (examples/c_guest/guest.c, built
 * by build.sh into guest.bin) in 64-bit mode at CPL 3, and prints what it
 * writes to port 0xe9. The program hashes a buffer, sorts, and computes in
 * double and in long double (x87), so its output is the same on every
 * backend only if the emulator's integer, SSE and x87 arithmetic is exact.
 *
 *   deno run --allow-ffi --allow-read examples/c_guest/run.ts [--backend=kvm|emu|auto]
 *   bun examples/c_guest/run.ts [--backend=kvm|emu|auto]
 *
 * CPL 3 because on kvm_pvm hosts guest code at CPL 0 is emulated by the
 * kernel, whose emulator has no SSE.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { Kvm, type Segment, type Vcpu } from "../../mod.ts";
import { describe, parseBackend } from "../_shared.ts";

/** Where things live in guest-physical (= linear) memory. */
export const MEMORY_SIZE = 4 << 20;
const PML4 = 0x1000, PDPT = 0x2000, PD = 0x3000, GDT = 0x5000;
export const IMAGE = 0x100000;
const STACK_TOP = MEMORY_SIZE - 0x1000;
/** Ports: the guest's console, and its exit code. */
export const CONSOLE_PORT = 0xe9, EXIT_PORT = 0xea;

/** The result of running the guest. */
export interface CGuestResult {
  output: string;
  exitCode: number;
  exits: number;
}

function segment(selector: number, code: boolean): Segment {
  return {
    base: 0n,
    limit: 0xffffffff,
    selector,
    type: code ? 11 : 3,
    present: 1,
    dpl: 3,
    db: code ? 0 : 1,
    s: 1,
    l: code ? 1 : 0,
    g: 1,
    avl: 0,
    unusable: 0,
  };
}

/** Builds identity page tables (user, writable, 2 MiB pages over 1 GiB), a GDT, and enters CPL 3 at IMAGE. */
export function enterLongModeCpl3(mem: Uint8Array, vcpu: Vcpu): void {
  const view = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  view.setBigUint64(PML4, BigInt(PDPT | 0x7), true);
  view.setBigUint64(PDPT, BigInt(PD | 0x7), true);
  for (let i = 0; i < 512; i++) view.setBigUint64(PD + 8 * i, BigInt(i) * 0x200000n | 0x87n, true);
  // Null, kernel code, kernel data, user code (0x18), user data (0x20).
  const gdt = [0n, 0x00af9b000000ffffn, 0x00cf93000000ffffn, 0x00affb000000ffffn, 0x00cff3000000ffffn];
  gdt.forEach((d, i) => view.setBigUint64(GDT + 8 * i, d, true));

  const sregs = vcpu.getSregs();
  sregs.cs = segment(0x18 | 3, true);
  sregs.ds =
    sregs.es =
    sregs.fs =
    sregs.gs =
    sregs.ss =
      segment(0x20 | 3, false);
  sregs.gdt = { base: BigInt(GDT), limit: gdt.length * 8 - 1 };
  sregs.cr3 = BigInt(PML4);
  sregs.cr4 = 0x620n; // PAE | OSFXSR | OSXMMEXCPT
  sregs.cr0 = 0x80010033n; // PG | WP | NE | ET | MP | PE
  sregs.efer = 0x500n; // LMA | LME
  vcpu.setSregs(sregs);
  vcpu.setRegs({
    ...vcpu.getRegs(),
    rip: BigInt(IMAGE),
    rsp: BigInt(STACK_TOP),
    rflags: 0x3002n, // IOPL 3: the guest may use `out`
  });
}

/** Runs guest.bin on `kvm` and returns its console output and exit code. */
export function runCGuest(kvm: Kvm, image: Uint8Array): CGuestResult {
  using vm = kvm.createVm();
  const memory = vm.allocateMemory(MEMORY_SIZE);
  try {
    memory.bytes.set(image, IMAGE);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory });
    using vcpu = vm.createVcpu(0);
    enterLongModeCpl3(memory.bytes, vcpu);
    const out: number[] = [];
    for (let exits = 1;; exits++) {
      const exit = vcpu.run({ timeoutMs: 120_000 });
      if (exit.reason === "io" && exit.direction === "out" && exit.port === CONSOLE_PORT) {
        out.push(...exit.data);
      } else if (exit.reason === "io" && exit.direction === "out" && exit.port === EXIT_PORT) {
        const exitCode = new DataView(exit.data.buffer, exit.data.byteOffset, 4).getUint32(0, true);
        return { output: new TextDecoder().decode(new Uint8Array(out)), exitCode, exits };
      } else {
        throw new Error(`unexpected exit after ${new TextDecoder().decode(new Uint8Array(out))}: ${describe(exit)}`);
      }
    }
  } finally {
    vm.close();
    memory.free();
  }
}

/** The committed guest image. */
export function loadCGuestImage(): Uint8Array {
  return new Uint8Array(readFileSync(new URL("./guest.bin", import.meta.url)));
}

function main(): number {
  using kvm = Kvm.open({ backend: parseBackend(process.argv.slice(2)) });
  console.log(`backend: ${kvm.backend}${kvm.fallbackReason ? ` (kvm unavailable: ${kvm.fallbackReason})` : ""}`);
  const r = runCGuest(kvm, loadCGuestImage());
  process.stdout.write(r.output);
  console.log(`exit code ${r.exitCode} after ${r.exits} exits`);
  return r.exitCode;
}

if (import.meta.main) process.exitCode = main();
