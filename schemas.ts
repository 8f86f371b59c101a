/**
 * zod schemas of the structs a user passes in: each checks types and ranges
 * member by member, so that a bad value is named before any ioctl.
 *
 * @module
 */
import { address, bit, int, rangeCheck, u16, u32, u64, u8, z } from "./validate.ts";
import { REG_NAMES } from "./abi/structs.ts";

/** `kvm_regs`: every member a u64 bigint. */
export const regsSchema = z.strictObject(Object.fromEntries(REG_NAMES.map((n) => [n, u64])) as Record<
  (typeof REG_NAMES)[number],
  typeof u64
>);

/** `kvm_segment`. */
export const segmentSchema = z.strictObject({
  base: u64,
  limit: u32,
  selector: u16,
  type: int(0, 15),
  present: u8,
  dpl: int(0, 3),
  db: u8,
  s: u8,
  l: u8,
  g: u8,
  avl: u8,
  unusable: u8,
});

/** `kvm_dtable`. */
export const dtableSchema = z.strictObject({ base: u64, limit: u16 });

/** `kvm_sregs`. */
export const sregsSchema = z.strictObject({
  cs: segmentSchema,
  ds: segmentSchema,
  es: segmentSchema,
  fs: segmentSchema,
  gs: segmentSchema,
  ss: segmentSchema,
  tr: segmentSchema,
  ldt: segmentSchema,
  gdt: dtableSchema,
  idt: dtableSchema,
  cr0: u64,
  cr2: u64,
  cr3: u64,
  cr4: u64,
  cr8: u64,
  efer: u64,
  apicBase: u64,
  interruptBitmap: z.tuple([u64, u64, u64, u64]),
});

/** A list of MSR indices. */
export const msrIndicesSchema = z.array(u32);

/** A list of `kvm_msr_entry`. */
export const msrEntriesSchema = z.array(z.strictObject({ index: u32, data: u64 }));

/** A list of `kvm_cpuid_entry2`. */
export const cpuidEntriesSchema = z.array(z.strictObject({
  function: u32,
  index: u32,
  flags: u32,
  eax: u32,
  ebx: u32,
  ecx: u32,
  edx: u32,
}));

const reg16 = z.instanceof(Uint8Array).superRefine(
  rangeCheck((v: Uint8Array) => v.length === 16, (v) => `expected 16 bytes, got ${v.length}`),
);

/** `kvm_fpu`. */
export const fpuSchema = z.strictObject({
  fpr: z.array(reg16).length(8),
  fcw: u16,
  fsw: u16,
  ftwx: u8,
  lastOpcode: u16,
  lastIp: u64,
  lastDp: u64,
  xmm: z.array(reg16).length(16),
  mxcsr: u32,
});

/** `kvm_vcpu_events`. */
export const vcpuEventsSchema = z.strictObject({
  exception: z.strictObject({ injected: u8, nr: u8, hasErrorCode: u8, pending: u8, errorCode: u32 }),
  interrupt: z.strictObject({ injected: u8, nr: u8, soft: u8, shadow: u8 }),
  nmi: z.strictObject({ injected: u8, pending: u8, masked: u8 }),
  sipiVector: u32,
  flags: u32,
  smi: z.strictObject({ smm: u8, pending: u8, smmInsideNmi: u8, latchedInit: u8 }),
  tripleFault: z.strictObject({ pending: u8 }),
  exceptionHasPayload: u8,
  exceptionPayload: u64,
});

/** `kvm_debugregs`. */
export const debugRegsSchema = z.strictObject({
  db: z.array(u64).length(4),
  dr6: u64,
  dr7: u64,
  flags: u64,
});

/** A list of `kvm_xcr` (at most KVM_MAX_XCRS). */
export const xcrsSchema = z.array(z.strictObject({ xcr: u32, value: u64 })).max(16);

/** The 1024 bytes of `kvm_lapic_state`. */
export const lapicSchema = z.instanceof(Uint8Array).superRefine(
  rangeCheck((v: Uint8Array) => v.length === 1024, (v) => `expected 1024 bytes, got ${v.length}`),
);

/** `GuestDebug`. */
export const guestDebugSchema = z.strictObject({
  singlestep: z.boolean().optional(),
  softwareBreakpoints: z.boolean().optional(),
  hardwareBreakpoints: z.array(z.strictObject({
    address,
    kind: z.enum(["exec", "write", "readwrite"]).optional(),
    length: z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(8)]).optional(),
  })).max(4).optional(),
}).nullable();

/** run() options. */
export const runOptionsSchema = z.strictObject({
  timeoutMs: z.number().min(0).max(2 ** 31 - 1).optional(),
}).optional();

export { address, bit };
