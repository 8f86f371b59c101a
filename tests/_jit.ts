/**
 * Helpers of the block compiler's tests (emu_block_compiler_test.ts,
 * emu_block_stack_test.ts): a Kvm on the emulator with the compiler in a
 * given mode, and the emulator's vCPU behind a facade VM, whose compiler
 * counters and compiled blocks a test may read.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../mod.ts";
import type { GuestMemory, Vm } from "../mod.ts";
import { HANDLE } from "../_handle.ts";
import type { EmuVcpu } from "../emu/vcpu.ts";
import type { BlockStats } from "../emu/x86/jit/cache.ts";
import { backendUnavailable } from "./_harness.ts";

/** The emulator's block compiler modes. */
export type Mode = "off" | "on" | "eager";

/** The block compiler's counters of the emulator vCPU that runs `vm`, whose slot 0 is `mem`. */
export function emuStats(vm: Vm, mem: GuestMemory): BlockStats {
  return emuCpu(vm, mem).cpu.blocks.stats;
}

/**
 * The emulator vCPU behind `vm`: the kernel object behind the facade keeps a descriptor table, and `vcpuOf`
 * answers for vCPU descriptors; ours is the one whose VM has `mem` (a buffer of its own) in slot 0.
 */
export function emuCpu(vm: Vm, mem: GuestMemory): EmuVcpu {
  const kernel = vm[HANDLE].kernel as unknown as { vcpuOf?(fd: number): EmuVcpu | undefined };
  assert.ok(kernel.vcpuOf, "not the emulator's kernel");
  for (let fd = 0; fd < 1 << 16; fd++) {
    const v = kernel.vcpuOf(fd);
    if (v && v.vm.slots.byId.get(0)?.bytes?.buffer === mem.bytes.buffer) return v;
  }
  throw new Error("no emulator vCPU runs this memory");
}

/** A Kvm on the emulator with the block compiler in `mode`. */
export function openEmu(mode: Mode): Kvm {
  return Kvm.open({ backend: "emu", blockCompiler: mode });
}

/** Why the kernel's KVM cannot run here, or undefined when it can. */
export const kvmMissing = (): string | undefined => backendUnavailable("kvm");
