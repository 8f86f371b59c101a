/**
 * Counts a benchmark guest's instructions by single-stepping it on kvmkit
 * (KVM_SET_GUEST_DEBUG singlestep), with the counting convention of
 * workloads.ts: one per instruction, and one per iteration of a `rep`
 * string instruction (measured as the drop of ecx, since a backend may
 * report several iterations in one step). The final `hlt` counts once.
 * One debug exit may cover more than one instruction: on kvm_pvm the step
 * that completes an `out` often also runs the next instruction, so counts
 * there come out short (count on the emulator or on QEMU instead).
 *
 * @module
 */
import type { Kvm } from "../../mod.ts";
import { runImage } from "./kvmkit_runner.ts";
import type { RunImageOptions } from "./kvmkit_runner.ts";
import { IMAGE_ADDR_HIGH, IMAGE_ADDR_LOW, IMAGE_SIZE } from "./workloads.ts";

/** String instructions that take a `rep` prefix (movs, cmps, stos, lods, scas, ins, outs). */
const STRING_OPS = new Set([0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0x6c, 0x6d, 0x6e, 0x6f]);
const HLT = 0xf4;

/** The kind of the image's instruction at linear address `pc`: "rep", "hlt" or "other". */
function kindAt(image: Uint8Array, pc: bigint): "rep" | "hlt" | "other" {
  const base = pc >= BigInt(IMAGE_ADDR_HIGH) ? IMAGE_ADDR_HIGH : IMAGE_ADDR_LOW;
  let i = Number(pc - BigInt(base));
  if (i < 0 || i >= IMAGE_SIZE) return "other";
  let rep = false;
  // Prefixes: operand/address size, segment overrides, rep, and a REX byte (64-bit code only).
  for (; i < IMAGE_SIZE; i++) {
    const b = image[i];
    if (b === 0xf2 || b === 0xf3) rep = true;
    else if (!(b === 0x66 || b === 0x67 || b === 0x2e || b === 0x3e || b === 0x26 || (b & 0xf0) === 0x40)) break;
  }
  if (rep && STRING_OPS.has(image[i])) return "rep";
  return image[i] === HLT ? "hlt" : "other";
}

/** The outcome of a counted run. */
export type StepCount = { ok: true; instructions: number; output: string } | { ok: false; failure: string };

/**
 * Runs the image single-stepped and counts its instructions from the entry
 * to `hlt`. Every step reads the registers: slow (tens of microseconds per
 * instruction), for small iteration counts.
 */
export function countInstructions(kvm: Kvm, options: Omit<RunImageOptions, "onStep">): StepCount {
  let count = 0;
  let prevPc: bigint | undefined;
  let prevRcx = 0n;
  let lastWasHlt = false;
  const result = runImage(kvm, {
    ...options,
    onStep(exit, vcpu) {
      const rcx = vcpu.getRegs().rcx & 0xffffffffn;
      // The instruction just stepped is the one the previous step stopped at (the entry's is never rep or hlt).
      const kind = prevPc === undefined ? "other" : kindAt(options.image, prevPc);
      count += kind === "rep" ? Number(prevRcx - rcx) : 1;
      lastWasHlt = kind === "hlt";
      prevPc = exit.pc;
      prevRcx = rcx;
      // Stepping over the final hlt (kvm_pvm reports no hlt exit then): the count is complete.
      return lastWasHlt;
    },
  });
  if (!result.ok) return result;
  // A backend may report hlt without a debug exit for it.
  if (!lastWasHlt) count++;
  return { ok: true, instructions: count, output: result.output };
}
