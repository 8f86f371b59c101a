/**
 * hello: the smallest complete kvmkit program. A 16-bit real-mode guest
 * (examples/hello.asm, assembled to examples/hello.bin) writes a greeting to
 * the serial port 0x3f8 one byte at a time and halts; the host collects the
 * bytes from the I/O exits and prints them.
 *
 * Run:
 *
 *   deno run --allow-ffi --allow-read examples/hello.ts [--backend=kvm|emu|auto]
 *   bun examples/hello.ts [--backend=kvm|emu|auto]
 *
 * `--backend=auto` (the default) uses /dev/kvm when it can be opened and the
 * in-process emulator otherwise; the emulator needs no `--allow-ffi`. The
 * program exits with status 1 if the guest exits in an unexpected way.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { describe, openKvm, runMain } from "./_shared.ts";

/** Guest-physical address where the code is loaded (a multiple of 16). */
const LOAD_ADDR = 0x1000;
/** Size of guest memory: 64 KiB at guest-physical 0. */
const MEMORY_SIZE = 0x10000;
/** The port the guest writes to (COM1's data register). */
const SERIAL_PORT = 0x3f8;
/** What the guest is expected to write. */
const EXPECTED = "Hello from a kvmkit guest!\n";
/** A runaway guest is stopped after this many exits. */
const MAX_EXITS = 10_000;

/** Runs the guest and returns what it wrote to the serial port. */
function main(): number {
  // Kvm.open({ backend }) with the backend named by --backend (see _shared.ts).
  using kvm = openKvm(process.argv.slice(2));
  // The guest code, read relative to this file so that it works from any directory.
  const code = readFileSync(new URL("./hello.bin", import.meta.url));

  using vm = kvm.createVm();
  const memory = vm.allocateMemory(MEMORY_SIZE);
  try {
    memory.bytes.set(code, LOAD_ADDR);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory });

    using vcpu = vm.createVcpu(0);
    // A new vCPU is in real mode. Point cs at the code: in real mode the
    // linear address is cs.base + ip, and cs.base = cs.selector * 16.
    const sregs = vcpu.getSregs();
    sregs.cs.selector = LOAD_ADDR >> 4;
    sregs.cs.base = BigInt(LOAD_ADDR);
    vcpu.setSregs(sregs);
    // ip = 0: the first byte of hello.bin. rflags bit 1 is always set.
    vcpu.setRegs({ ...vcpu.getRegs(), rip: 0n, rflags: 2n });

    const written: number[] = [];
    for (let n = 0; n < MAX_EXITS; n++) {
      const exit = vcpu.run();
      if (
        exit.reason === "io" && exit.direction === "out" &&
        exit.port === SERIAL_PORT
      ) {
        // `data` is only valid until the next run(): copy the bytes out now.
        written.push(...exit.data);
      } else if (exit.reason === "hlt") {
        const text = new TextDecoder().decode(new Uint8Array(written));
        process.stdout.write(`guest wrote: ${text}`);
        if (text !== EXPECTED) {
          console.error(`expected ${JSON.stringify(EXPECTED)}`);
          return 1;
        }
        return 0;
      } else {
        console.error(`unexpected exit: ${describe(exit)}`);
        return 1;
      }
    }
    console.error(`the guest did not halt after ${MAX_EXITS} exits`);
    return 1;
  } finally {
    // Close the VM before unmapping the memory it was using.
    vm.close();
    memory.free();
  }
}

runMain("hello", main);
