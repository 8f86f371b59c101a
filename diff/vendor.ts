/**
 * Which CPU vendor a backend presents, read from CPUID leaf 0 of
 * KVM_GET_SUPPORTED_CPUID: the host's on the kvm backend, the personality's
 * on the emulator. Strict-flag comparisons (undefined flags included) hold
 * only between a CPU and a personality of the same vendor.
 *
 * @module
 */
import type { Kvm } from "../mod.ts";

/** The vendor `kvm` presents, or undefined when its CPUID names neither Intel nor AMD. */
export function backendVendor(kvm: Kvm): "intel" | "amd" | undefined {
  const leaf0 = kvm.supportedCpuid().find((e) => e.function === 0);
  if (!leaf0) return undefined;
  const text = [leaf0.ebx, leaf0.edx, leaf0.ecx]
    .map((w) => String.fromCharCode(w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, (w >>> 24) & 0xff))
    .join("");
  return text === "AuthenticAMD" ? "amd" : text === "GenuineIntel" ? "intel" : undefined;
}
