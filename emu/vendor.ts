/**
 * What a vendor personality supplies, like the kernel's kvm_x86_ops from
 * vmx.c and svm.c: the CPUID leaves the emulated CPU presents, the MSRs
 * that KVM_GET_MSRS/KVM_SET_MSRS accept, and the places where Intel and
 * AMD processors differ.
 *
 * @module
 */
import type { CpuidEntry } from "../abi/structs.ts";

/**
 * A vendor personality: `vmx` (Intel) or `svm` (AMD).
 *
 * Where the two differ in what instructions do, the core asks `name`. Each
 * personality reproduces what one host of this project computes, checked by
 * `diff/cli.ts --strict-flags` (which compares the flags the manuals leave
 * undefined too). `amd`, an AMD EPYC:
 * - MUL/IMUL keep SF, ZF, AF, PF; DIV/IDIV keep CF and OF, set AF, clear
 *   SF, ZF, PF (ops/muldiv.ts);
 * - SHL/SHR/SAR/SHLD/SHRD set AF; OF after a count above 1 is the count-1
 *   formula applied to the result: MSB(result) XOR CF after a left shift or
 *   rotate, the result's two top bits XORed after a right one (so 0 after
 *   SHR and SAR) (ops/shift.ts);
 * - MOVSXD with a 16-bit operand reads 4 bytes of memory (Intel: 2), and
 *   SYSENTER/SYSEXIT raise #UD in long mode (ops/mov.ts, ops/fastcall.ts).
 *
 * `intel`, a Xeon of family 6 model 167:
 * - MUL/IMUL set SF and PF from the low half of the result and clear ZF and
 *   AF; DIV/IDIV change no flag (ops/muldiv.ts);
 * - SHL/SHR/SAR/SHLD/SHRD clear AF; OF after any count is the OF a count of
 *   1 gives, from the operand: SHL, ROL, RCL, SHLD its two top bits XORed,
 *   SHR its MSB, SAR 0, ROR its MSB XOR bit 0, RCR its MSB XOR CF, SHRD its
 *   MSB XOR bit 0 of the source; in 64-bit mode ROL/ROR of a register by an
 *   immediate above 1 keep OF; an 8/16-bit RCL/RCR by a multiple of 9/17
 *   changes no flag (ops/shift.ts, jit/eager.ts);
 * - a REP with a 67 prefix in 64-bit mode clears the upper half of RCX on
 *   entry, whatever the count (and of RSI/RDI for MOVS, of RDI for STOS);
 *   a REP CMPS/SCAS that stops early (a fault) shows the flags it began
 *   with; CMPS reads ES:rDI before its source (ops/string.ts).
 *
 * Both: BSF/BSR of 0 leave the destination (its upper half too) and set
 * the flags of a zero result (ops/bit.ts); BT* change only CF; a failing
 * CMPXCHG does not write a register destination (ops/alu.ts).
 */
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

/**
 * CPUID.1:EDX features the core implements: FPU, TSC, MSR, PSE, PAE, CX8, APIC (the in-kernel irqchip's local
 * APIC), SEP, PGE, CMOV, CLFSH, MMX, FXSR, SSE, SSE2.
 */
export const EMU_LEAF1_EDX = (1 | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 9) | (1 << 11) |
  (1 << 13) | (1 << 15) | (1 << 19) | (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26)) >>> 0;
/**
 * CPUID.1:ECX features: SSE3, PCLMULQDQ, SSSE3, CX16, PCID, SSE4.1, SSE4.2, x2APIC,
 * MOVBE, POPCNT, TSC-deadline timer (both of the local APIC), AES, XSAVE,
 * and the hypervisor-present bit. Not AVX/FMA: the core has no VEX SIMD.
 * OSXSAVE (bit 27) is set by CPUID itself from CR4.OSXSAVE.
 */
export const EMU_LEAF1_ECX =
  (1 | (1 << 1) | (1 << 9) | (1 << 13) | (1 << 17) | (1 << 19) | (1 << 20) | (1 << 21) | (1 << 22) |
    (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26) | (1 << 31)) >>> 0;
/**
 * CPUID.0xD: subleaf 0 with the XCR0 bits supported (x87, SSE) and the
 * standard-format area size (576 bytes for either XCR0 value), subleaf 1
 * with XSAVEOPT.
 */
export const EMU_LEAF_D: readonly CpuidEntry[] = [
  { function: 0xd, index: 0, flags: 1, eax: 3, ebx: 576, ecx: 576, edx: 0 },
  { function: 0xd, index: 1, flags: 1, eax: 1, ebx: 0, ecx: 0, edx: 0 },
];
/** CPUID.1:EBX: CLFLUSH line size 8 (x 8 bytes = 64) in bits 15:8, one logical processor in bits 23:16. */
export const EMU_LEAF1_EBX = 0x00010800;
/** CPUID.7.0:EBX: BMI1, SMEP, BMI2, INVPCID, ADX, SMAP. */
export const EMU_LEAF7_EBX = ((1 << 3) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 19) | (1 << 20)) >>> 0;
/**
 * CPUID.6 (thermal and power management): EAX bit 2, ARAT — the local APIC timer keeps running in every C-state.
 * KVM reports exactly this (do_cpuid_func, "allow ARAT"); it is true here, where the timer follows host time.
 */
export const EMU_LEAF6: CpuidEntry = leaf(6, 1 << 2, 0, 0, 0);
/**
 * CPUID.80000007h:EDX bit 8, invariant TSC: the TSC ticks at one rate in every P-, C- and T-state. KVM passes the
 * host's bit through; the emulator's TSC follows host time at a fixed rate, so it is true here. Without it Linux
 * marks the TSC unstable on a non-Intel CPU with more than one processor (unsynchronized_tsc).
 */
export const EMU_EXT7: CpuidEntry = leaf(0x80000007, 0, 0, 0, 1 << 8);
/** CPUID.80000001:ECX: LAHF/SAHF in 64-bit mode, ABM (LZCNT). */
export const EMU_EXT1_ECX = 1 | (1 << 5);
/** CPUID.80000001:EDX: SYSCALL, NX, RDTSCP, LM. */
export const EMU_EXT1_EDX = ((1 << 11) | (1 << 20) | (1 << 27) | (1 << 29)) >>> 0;

/**
 * CPUID.80000008h: 46 physical-address bits (MAXPHYADDR: the bits above it are reserved in paging entries) and
 * 48 linear-address bits.
 */
export const EMU_ADDRESS_SIZES: CpuidEntry = leaf(0x80000008, 0x302e, 0, 0, 0);

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
  0xc0000103, // MSR_TSC_AUX (CPUID advertises RDTSCP)
  0x8b, // MSR_IA32_UCODE_REV
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
