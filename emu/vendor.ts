/**
 * What a vendor personality supplies, like the kernel's kvm_x86_ops from
 * vmx.c and svm.c: the CPUID leaves the emulated CPU presents, the MSRs
 * that KVM_GET_MSRS/KVM_SET_MSRS accept, and the places where Intel and
 * AMD processors differ.
 *
 * @module
 */
import type { CpuidEntry } from "../abi/structs.ts";

/** A vendor personality: `vmx` (Intel) or `svm` (AMD). */
export interface Vendor {
  readonly name: "intel" | "amd";
  /** KVM_GET_SUPPORTED_CPUID: every leaf, in the kernel's order. */
  readonly cpuid: readonly CpuidEntry[];
  /** KVM_GET_MSR_INDEX_LIST. */
  readonly msrIndexList: readonly number[];
  /** MSRs accepted beyond the common set, with their reset values. */
  readonly extraMsrs: ReadonlyMap<number, bigint>;
  /** Undefined-flag behaviour: AF after AND/OR/XOR/TEST is set (false on both vendors observed so far). */
  readonly logicSetsAf: boolean;
}

/** CPUID.1:EDX features the core implements: FPU, TSC, MSR, PSE, PAE, CX8, SEP, PGE, CMOV, FXSR. */
export const EMU_LEAF1_EDX = 1 | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 11) | (1 << 13) |
  (1 << 15) | (1 << 24);
/** CPUID.1:ECX features: only the hypervisor-present bit. */
export const EMU_LEAF1_ECX = 1 << 31 >>> 0;

/** The MSR indices every personality accepts (msrs_to_save and emulated_msrs that the core implements). */
export const COMMON_MSRS: readonly number[] = [
  0x174, // MSR_IA32_SYSENTER_CS
  0x175, // MSR_IA32_SYSENTER_ESP
  0x176, // MSR_IA32_SYSENTER_EIP
  0xc0000081, // MSR_STAR
  0xc0000083, // MSR_CSTAR
  0xc0000102, // MSR_KERNEL_GS_BASE
  0xc0000084, // MSR_SYSCALL_MASK
  0xc0000082, // MSR_LSTAR
  0x10, // MSR_IA32_TSC
  0x277, // MSR_IA32_CR_PAT
  0x1a0, // MSR_IA32_MISC_ENABLE
];

/** Packs a 12-character vendor string into CPUID.0's EBX, EDX, ECX. */
export function vendorWords(s: string): { ebx: number; edx: number; ecx: number } {
  const w = (i: number) =>
    (s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24)) >>> 0;
  return { ebx: w(0), edx: w(4), ecx: w(8) };
}

/** A leaf with no significant index. */
export function leaf(fn: number, eax: number, ebx: number, ecx: number, edx: number): CpuidEntry {
  return { function: fn >>> 0, index: 0, flags: 0, eax: eax >>> 0, ebx: ebx >>> 0, ecx: ecx >>> 0, edx: edx >>> 0 };
}
