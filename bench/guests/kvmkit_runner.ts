/**
 * Runs a benchmark image (bench/guests/*.bin) on kvmkit the way a PC boots
 * firmware, so that kvmkit and QEMU execute the same bytes from the same
 * state: 16 MiB of RAM at 0, the 64 KiB image copied to 0xf0000 and mapped
 * again at 0xffff0000, the iteration count at 0x500, and a vCPU left in its
 * reset state (cs 0xf000 with base 0xffff0000, ip 0xfff0). The host answers
 * the guest's ports: 0x80 is ignored, 0xe9 collects the checksum text, 0xf4
 * marks the end; the run ends at `hlt`. Where the hypervisor cannot switch
 * modes from inside the guest, `entry: "booted"` has the host do the boot
 * stub's work instead (host_boot.ts).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import type { Kvm, Vcpu, VcpuExit } from "../../mod.ts";
import {
  GUEST_RAM_SIZE,
  IMAGE_ADDR_HIGH,
  IMAGE_ADDR_LOW,
  IMAGE_SIZE,
  PARAMS_ADDR,
  PORT_DEBUG_EXIT,
  PORT_DEBUGCON,
  PORT_POST,
} from "./workloads.ts";
import type { GuestMode } from "./workloads.ts";
import { bootOnHost } from "./host_boot.ts";

/** The path of a workload's image. */
export function imagePath(name: string, mode: GuestMode): string {
  return new URL(`./${name}_${mode}.bin`, import.meta.url).pathname;
}

/** Reads a workload's committed image; throws when it is not 64 KiB. */
export function readImage(name: string, mode: GuestMode): Uint8Array {
  const bytes = readFileSync(imagePath(name, mode));
  if (bytes.length !== IMAGE_SIZE) {
    throw new RangeError(`${name}_${mode}.bin: ${bytes.length} bytes, expected ${IMAGE_SIZE}`);
  }
  return new Uint8Array(bytes);
}

/** How a run ended. */
export type GuestResult =
  | { ok: true; output: string; ms: number; exits: number }
  | { ok: false; failure: string };

/** What {@linkcode runImage} runs, and how. */
export interface RunImageOptions {
  /** The 64 KiB image ({@linkcode readImage}). */
  image: Uint8Array;
  /** The iteration count written to 0x500 (at least 1). */
  n: number;
  /**
   * Single-step the guest: called after every instruction (or chunk of
   * `rep` iterations) with the debug exit and the vCPU; returning true ends
   * the run there, as if at `hlt` (a backend may step over `hlt` without a
   * hlt exit). The run is not timed usefully.
   */
  onStep?: (exit: Extract<VcpuExit, { reason: "debug" }>, vcpu: Vcpu) => boolean | void;
  /** Give up after this many milliseconds of guest time (default: no limit). */
  timeoutMs?: number;
  /**
   * "reset" (default): start from the reset vector, as QEMU does. "booted":
   * the host does the boot stub's work (host_boot.ts) and the vCPU starts at
   * the image's `booted` label, for hypervisors that cannot switch modes
   * from inside the guest. `mode` must then be given.
   */
  entry?: "reset" | "booted";
  /** The image's mode; needed for entry "booted". */
  mode?: GuestMode;
  /** With entry "booted" and mode 32: false starts with paging off. Default true. */
  paging?: boolean;
  /** Create the in-kernel irqchip (KVM_CREATE_IRQCHIP: the local APIC the timer workload programs). */
  irqchip?: boolean;
}

/** A short description of an exit that ended a run unexpectedly, e.g. "internal_error (suberror 1)". */
export function describeExit(exit: VcpuExit): string {
  switch (exit.reason) {
    case "io":
      return `io ${exit.direction} port 0x${exit.port.toString(16)} size ${exit.size}`;
    case "mmio":
      return `mmio ${exit.isWrite ? "write" : "read"} 0x${exit.physAddr.toString(16)}`;
    case "internal_error":
      return `internal_error (suberror ${exit.suberror})`;
    case "debug":
      return `debug (exception ${exit.exception}, pc 0x${exit.pc.toString(16)})`;
    case "fail_entry":
      return `fail_entry (0x${exit.hardwareEntryFailureReason.toString(16)})`;
    default:
      return exit.reason;
  }
}

/**
 * Boots `options.image` on `kvm` with `options.n` iterations and runs it to `hlt`. The time
 * covers everything from creating the VM to the `hlt`: the same start-up
 * that the empty guest measures.
 */
export function runImage(kvm: Kvm, options: RunImageOptions): GuestResult {
  const { image, n } = options;
  const t0 = performance.now();
  using vm = kvm.createVm();
  const ram = vm.allocateMemory(GUEST_RAM_SIZE);
  const rom = vm.allocateMemory(IMAGE_SIZE);
  try {
    ram.bytes.set(image, IMAGE_ADDR_LOW);
    rom.bytes.set(image);
    new DataView(ram.bytes.buffer, ram.bytes.byteOffset).setUint32(PARAMS_ADDR, n, true);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: ram });
    vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: IMAGE_ADDR_HIGH, memory: rom });
    if (options.irqchip) vm.createIrqchip();
    const vcpu = vm.createVcpu(0);
    if (options.entry === "booted") {
      if (options.mode === undefined) throw new TypeError('options.mode: required with entry "booted"');
      bootOnHost(vcpu, ram.bytes, { image, mode: options.mode, paging: options.paging });
    }
    if (options.onStep) vcpu.setGuestDebug({ singlestep: true });
    const runOptions = options.timeoutMs === undefined ? undefined : { timeoutMs: options.timeoutMs };
    let output = "";
    let exits = 0;
    let exited = false;
    for (;;) {
      const exit = vcpu.run(runOptions);
      exits++;
      if (exit.reason === "io" && exit.direction === "out") {
        if (exit.port === PORT_POST) continue;
        if (exit.port === PORT_DEBUGCON && !exited) {
          output += String.fromCharCode(exit.data[0]);
          continue;
        }
        if (exit.port === PORT_DEBUG_EXIT && !exited) {
          exited = true;
          // With the in-kernel irqchip the HLT after it is a sleep, not an exit: the guest ends here.
          if (options.irqchip) return { ok: true, output: output.trim(), ms: performance.now() - t0, exits };
          continue;
        }
      } else if (exit.reason === "hlt" && exited) {
        return { ok: true, output: output.trim(), ms: performance.now() - t0, exits };
      } else if (exit.reason === "debug" && options.onStep) {
        if (options.onStep(exit, vcpu) === true && exited) {
          return { ok: true, output: output.trim(), ms: performance.now() - t0, exits };
        }
        continue;
      }
      return { ok: false, failure: describeExit(exit) };
    }
  } finally {
    vm.close(); // before the memory it maps is freed
    ram.free();
    rom.free();
  }
}
