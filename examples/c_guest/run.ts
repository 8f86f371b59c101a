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
import type { Kvm, Vcpu } from "../../mod.ts";
import { X86_CR4_OSFXSR, X86_CR4_OSXMMEXCPT } from "../../constants.ts";
import { describe, enterFlat, flatSegment, identityMap, LONG_MODE_CONTROL, openKvm, withGuest } from "../_shared.ts";

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

/** Builds identity page tables (user, writable, 2 MiB pages over 1 GiB), a GDT, and enters CPL 3 at IMAGE. */
export function enterLongModeCpl3(mem: Uint8Array, vcpu: Vcpu): void {
  // Null, kernel code, kernel data, user code (0x18), user data (0x20).
  const userCode = flatSegment(0x18 | 3, "code64", 3);
  const userData = flatSegment(0x20 | 3, "data", 3);
  enterFlat(mem, vcpu, {
    gdtAddr: GDT,
    gdt: [flatSegment(0x08, "code64"), flatSegment(0x10, "data"), userCode, userData],
    cs: userCode,
    data: userData,
    ...LONG_MODE_CONTROL,
    cr3: identityMap(mem, { pml4: PML4, pdpt: PDPT, pd: PD, size: 1 << 30, user: true }),
    cr4: LONG_MODE_CONTROL.cr4 | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT, // SSE, as the C compiler's code uses it
    regs: {
      rip: BigInt(IMAGE),
      rsp: BigInt(STACK_TOP),
      rflags: 0x3002n, // IOPL 3: the guest may use `out`
    },
  });
}

/** Runs guest.bin on `kvm` and returns its console output and exit code. */
export function runCGuest(kvm: Kvm, image: Uint8Array): CGuestResult {
  return withGuest(kvm, MEMORY_SIZE, (mem, vcpu) => {
    mem.set(image, IMAGE);
    enterLongModeCpl3(mem, vcpu);
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
  });
}

/** The committed guest image. */
export function loadCGuestImage(): Uint8Array {
  return new Uint8Array(readFileSync(new URL("./guest.bin", import.meta.url)));
}

function main(): number {
  using kvm = openKvm(process.argv.slice(2));
  const r = runCGuest(kvm, loadCGuestImage());
  process.stdout.write(r.output);
  console.log(`exit code ${r.exitCode} after ${r.exits} exits`);
  return r.exitCode;
}

if (import.meta.main) process.exitCode = main();
