/**
 * Reading `struct kvm_cpuid2` lists, shared by the system descriptor
 * (KVM_GET_SUPPORTED_CPUID) and the vCPU (KVM_GET_CPUID2).
 *
 * @module
 */
import * as S from "../abi/structs.ts";
import { KvmError } from "../errors.ts";
import type { Handle } from "../_handle.ts";

/**
 * Reads a `kvm_cpuid2` list (KVM_GET_SUPPORTED_CPUID, KVM_GET_CPUID2),
 * growing the buffer while the kernel answers E2BIG.
 */
export function readCpuid(h: Handle, operation: string, request: number): S.CpuidEntry[] {
  const head = S.kvmCpuid2.size;
  const size = S.kvmCpuidEntry2.size;
  for (let nent = 64;; nent *= 2) {
    const buf = new Uint8Array(head + nent * size);
    const view = new DataView(buf.buffer);
    view.setUint32(S.kvmCpuid2.offsetOf("nent"), nent, true);
    try {
      h.ioctl(operation, request, buf);
    } catch (e) {
      if (e instanceof KvmError && e.code === "E2BIG" && nent < 4096) continue;
      throw e;
    }
    const n = view.getUint32(S.kvmCpuid2.offsetOf("nent"), true);
    const out: S.CpuidEntry[] = [];
    for (let i = 0; i < n; i++) {
      const { function: fn, index, flags, eax, ebx, ecx, edx } = S.kvmCpuidEntry2.decode(view, head + i * size);
      out.push({ function: fn, index, flags, eax, ebx, ecx, edx });
    }
    return out;
  }
}
