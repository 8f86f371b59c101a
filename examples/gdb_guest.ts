/**
 * gdb_guest: the C guest (examples/c_guest) under the GDB stub. Loads
 * guest.elf (the build with symbols), stops before its first instruction and
 * waits for gdb; its console output (port 0xe9) is printed as it comes.
 *
 *   deno run --allow-ffi --allow-read --allow-net=127.0.0.1 examples/gdb_guest.ts [--backend=kvm|emu|auto] [--port=1234]
 *   bun examples/gdb_guest.ts [--backend=kvm|emu|auto] [--port=1234]
 *
 * then, in another terminal:
 *
 *   gdb examples/c_guest/guest.elf -ex 'target remote 127.0.0.1:1234' -ex 'break fnv1a' -ex continue
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { Kvm, type Vm } from "../mod.ts";
import { type GdbOutcome, type GdbServer, serveGdb } from "../gdb/mod.ts";
import { CONSOLE_PORT, enterLongModeCpl3, EXIT_PORT, MEMORY_SIZE } from "./c_guest/run.ts";
import { parseBackend } from "./_shared.ts";

/** The C guest built with symbols. */
export const GUEST_ELF: URL = new URL("./c_guest/guest.elf", import.meta.url);

/** Copies the PT_LOAD segments of an ELF64 image to their physical addresses in `mem`; returns the entry point. */
export function loadElf(mem: Uint8Array, elf: Uint8Array): bigint {
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (v.getUint32(0) !== 0x7f454c46 || elf[4] !== 2) throw new TypeError("not an ELF64 image");
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  for (let i = 0; i < v.getUint16(0x38, true); i++) {
    const ph = phoff + i * phentsize;
    if (v.getUint32(ph, true) !== 1) continue; // PT_LOAD
    const offset = Number(v.getBigUint64(ph + 8, true));
    const paddr = Number(v.getBigUint64(ph + 0x18, true));
    const filesz = Number(v.getBigUint64(ph + 0x20, true));
    mem.set(elf.subarray(offset, offset + filesz), paddr);
  }
  return v.getBigUint64(0x18, true);
}

/** A C guest waiting for gdb. */
export interface GdbGuest {
  server: GdbServer;
  vm: Vm;
  /** The console output so far. */
  output(): string;
  /** Resolves when the guest exits (or gdb kills it); the VM is closed by then. */
  finished: Promise<{ outcome: GdbOutcome; output: string }>;
}

/** Starts guest.elf on `kvm` under the stub (stopped until gdb continues). `onOutput` sees each console byte. */
export async function startGdbGuest(
  kvm: Kvm,
  options: { port?: number; hostname?: string; onOutput?: (text: string) => void; log?: (m: string) => void } = {},
): Promise<GdbGuest> {
  const vm = kvm.createVm();
  const memory = vm.allocateMemory(MEMORY_SIZE);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory });
  loadElf(memory.bytes, new Uint8Array(readFileSync(GUEST_ELF)));
  const vcpu = vm.createVcpu(0);
  enterLongModeCpl3(memory.bytes, vcpu);
  const out: number[] = [];
  const server = await serveGdb(vm, [vcpu], {
    port: options.port ?? 1234,
    hostname: options.hostname,
    log: options.log,
    onExit: (exit) => {
      if (exit.reason === "io" && exit.direction === "out" && exit.port === CONSOLE_PORT) {
        out.push(...exit.data);
        options.onOutput?.(String.fromCharCode(...exit.data));
        return "resume";
      }
      if (exit.reason === "io" && exit.direction === "out" && exit.port === EXIT_PORT) {
        return { exited: new DataView(exit.data.buffer, exit.data.byteOffset, 4).getUint32(0, true) };
      }
      return { stop: 5 }; // anything else: show it to gdb (SIGTRAP)
    },
  });
  const output = () => new TextDecoder().decode(new Uint8Array(out));
  const finished = server.done.then((outcome) => {
    vm.close();
    memory.free();
    return { outcome, output: output() };
  });
  return { server, vm, output, finished };
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const port = Number(args.find((a) => a.startsWith("--port="))?.slice(7) ?? 1234);
  using kvm = Kvm.open({ backend: parseBackend(args.filter((a) => !a.startsWith("--port="))) });
  console.log(`backend: ${kvm.backend}${kvm.fallbackReason ? ` (kvm unavailable: ${kvm.fallbackReason})` : ""}`);
  const guest = await startGdbGuest(kvm, {
    port,
    onOutput: (text) => process.stdout.write(text),
    log: (m) => console.log(m),
  });
  console.log(`waiting for gdb: gdb ${new URL(GUEST_ELF).pathname} -ex 'target remote 127.0.0.1:${guest.server.port}'`);
  const { outcome } = await guest.finished;
  console.log(`guest ${outcome.reason}${outcome.reason === "exited" ? ` with code ${outcome.code}` : ""}`);
  return outcome.reason === "exited" ? outcome.code : 1;
}

if (import.meta.main) process.exitCode = await main();
