/**
 * Guest debugging (KVM_SET_GUEST_DEBUG) and address translation
 * (KVM_TRANSLATE) types, and the encoder that turns breakpoints into
 * `struct kvm_guest_debug` (control flags, DR0-DR3 and DR7).
 *
 * @module
 */
import type * as S from "./abi/structs.ts";
import {
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_HW_BP,
  KVM_GUESTDBG_USE_SW_BP,
} from "./abi/constants.ts";
import { hex } from "./internal/validate.ts";

/** A translation of a linear address: KVM_TRANSLATE. */
export interface Translation {
  /** The guest-physical address the linear address maps to. */
  physicalAddress: bigint;
  /** Whether the guest's page tables map the address at all. */
  valid: boolean;
  /** Whether the mapping allows writes. */
  writeable: boolean;
  /** Whether the mapping allows user-mode (CPL 3) accesses. */
  usermode: boolean;
}

/** A hardware breakpoint for {@linkcode GuestDebug}. */
export interface HardwareBreakpoint {
  /** The linear address watched (DR0-DR3). */
  address: number | bigint;
  /** What triggers it. Default "exec". */
  kind?: "exec" | "write" | "readwrite";
  /** Bytes covered; 1 for "exec". Default 1. */
  length?: 1 | 2 | 4 | 8;
}

/** KVM_SET_GUEST_DEBUG settings. */
export interface GuestDebug {
  /** Exit with { reason: "debug", exception: 1 } after every guest instruction. */
  singlestep?: boolean;
  /** int3 in the guest exits with { reason: "debug", exception: 3 } instead of reaching the guest's #BP handler. */
  softwareBreakpoints?: boolean;
  /** Up to four hardware breakpoints on linear addresses (DR0-DR3). */
  hardwareBreakpoints?: HardwareBreakpoint[];
}

/** DR7 R/W field values by breakpoint kind. */
const DR7_RW = { exec: 0, write: 1, readwrite: 3 } as const;
/** DR7 LEN field values by length. */
const DR7_LEN = { 1: 0, 2: 1, 8: 2, 4: 3 } as const;

/** The `struct kvm_guest_debug` for `debug`: control flags, DR0-DR3 and DR7. */
export function encodeGuestDebug(debug: GuestDebug | null): S.KvmGuestDebug {
  const debugreg = new Array<bigint>(8).fill(0n);
  if (debug === null) return { control: 0, arch: { debugreg } };
  let control = KVM_GUESTDBG_ENABLE;
  if (debug.singlestep) control |= KVM_GUESTDBG_SINGLESTEP;
  if (debug.softwareBreakpoints) control |= KVM_GUESTDBG_USE_SW_BP;
  const bps = debug.hardwareBreakpoints ?? [];
  if (bps.length > 0) {
    control |= KVM_GUESTDBG_USE_HW_BP;
    let dr7 = 0;
    bps.forEach((bp, n) => {
      const kind = bp.kind ?? "exec";
      const length = bp.length ?? 1;
      const addr = BigInt(bp.address);
      if (kind === "exec" && length !== 1) {
        throw new RangeError(`debug.hardwareBreakpoints.${n}.length: an exec breakpoint covers 1 byte, not ${length}`);
      }
      if (addr % BigInt(length) !== 0n) {
        throw new RangeError(
          `debug.hardwareBreakpoints.${n}.address: ${hex(addr)} is not aligned to its length ${length}`,
        );
      }
      debugreg[n] = addr;
      // G<n> (global enable), R/W<n> and LEN<n>.
      dr7 |= (2 << (n * 2)) | (DR7_RW[kind] << (16 + n * 4)) | (DR7_LEN[length] << (18 + n * 4));
    });
    debugreg[7] = BigInt(dr7 >>> 0);
  }
  return { control, arch: { debugreg } };
}
