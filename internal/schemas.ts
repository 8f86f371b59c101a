/**
 * zod schemas of the structs a user passes in: each checks types and ranges
 * member by member, so that a bad value is named before any ioctl. The
 * types are defined once, in abi/structs.ts and vmm_types.ts (with their
 * documentation); each schema `satisfies` its type, so that the compiler
 * refuses a schema that lets through what the type does not allow.
 *
 * @module
 */
import { address, bit, hex, int, rangeCheck, u16, u32, u64, u8, z } from "./validate.ts";
import { REG_NAMES } from "../abi/structs.ts";
import {
  KVM_CLOCK_HOST_TSC,
  KVM_CLOCK_REALTIME,
  KVM_CLOCK_TSC_STABLE,
  KVM_MAX_IRQ_ROUTES,
  KVM_MSR_FILTER_MAX_BITMAP_SIZE,
  KVM_MSR_FILTER_MAX_RANGES,
} from "../abi/constants.ts";
import { EventFd } from "../eventfd.ts";
import type * as T from "../vmm_types.ts";

/** A schema whose accepted input is of type `T` (its output may differ: addresses become bigints). */
type Accepts<Input> = z.ZodType<unknown, Input>;

/** `schema`, whose checks admit only the numbers of `T`, typed as `T` (zod's refinements do not narrow). */
function only<T extends number>(schema: z.ZodType<number>): z.ZodType<T, T> {
  return schema as unknown as z.ZodType<T, T>;
}

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

/** Exactly `n` bytes (a struct given as raw bytes). */
export function bytesSchema(n: number) {
  return z.instanceof(Uint8Array).superRefine(
    rangeCheck((v: Uint8Array) => v.length === n, (v) => `expected ${n} bytes, got ${v.length}`),
  );
}

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

/** `kvm_sregs2`. */
export const sregs2Schema = sregsSchema.omit({ interruptBitmap: true }).extend({
  flags: u64,
  pdptrs: z.tuple([u64, u64, u64, u64]),
});

/** A 16-bit port range: `addr + size` must not pass 0x10000. */
function portRange<T extends { addr: bigint; size?: number; len?: number; pio?: boolean }>(v: T, ctx: z.RefinementCtx) {
  // zod runs an object's refinement even when a member failed: then `addr` is still the caller's raw value.
  if (typeof v.addr !== "bigint") return;
  const end = v.addr + BigInt(v.size ?? v.len ?? 1);
  if (v.pio && end > 0x10000n) {
    ctx.addIssue({
      code: "custom",
      path: ["addr"],
      message: `port ${hex(v.addr)} is past 0xffff`,
      params: { range: true },
    });
  }
}

/** `Vm.ioeventfd` options. */
export const ioeventfdSchema = z.strictObject({
  addr: address,
  len: only<0 | 1 | 2 | 4 | 8>(
    int(0, 8).superRefine(
      rangeCheck((v: number) => [0, 1, 2, 4, 8].includes(v), (v) => `${v} is not 0, 1, 2, 4 or 8`),
    ),
  ),
  eventFd: z.instanceof(EventFd),
  datamatch: address.optional(),
  pio: z.boolean().optional(),
  deassign: z.boolean().optional(),
}).superRefine(portRange) satisfies Accepts<T.IoEventFdOptions>;

/** `Vm.irqfd` options. */
export const irqfdSchema = z.strictObject({
  gsi: u32,
  eventFd: z.instanceof(EventFd),
  resample: z.instanceof(EventFd).optional(),
  deassign: z.boolean().optional(),
}) satisfies Accepts<T.IrqFdOptions>;

const gsi = int(0, KVM_MAX_IRQ_ROUTES - 1);

/** `Vm.setGsiRouting` entries. */
export const gsiRoutesSchema = z.array(z.discriminatedUnion("type", [
  z.strictObject({
    gsi,
    type: z.literal("irqchip"),
    irqchip: only<0 | 1 | 2>(int(0, 2)),
    pin: int(0, 23),
  }).superRefine(rangeCheck((v) => v.irqchip === 2 || v.pin < 8, (v) => `pin ${v.pin} of a PIC (0-7)`)),
  z.strictObject({ gsi, type: z.literal("msi"), addressLo: u32, addressHi: u32.optional(), data: u32 }),
])).max(KVM_MAX_IRQ_ROUTES) satisfies Accepts<readonly T.GsiRoute[]>;

/** `Vm.signalMsi` argument. */
export const msiSchema = z.strictObject({ addressLo: u32, addressHi: u32.optional(), data: u32 }) satisfies Accepts<
  T.Msi
>;

/** `Vm.registerCoalescedMmio` zone. */
export const coalescedZoneSchema = z.strictObject({
  addr: address,
  size: int(1, 0xffff_ffff),
  pio: z.boolean().optional(),
}).superRefine(portRange) satisfies Accepts<T.CoalescedZone>;

/** `Vm.enableCap` options. */
export const enableCapSchema = z.strictObject({
  flags: u32.optional(),
  args: z.array(address).max(4).optional(),
}).optional() satisfies Accepts<T.EnableCapOptions | undefined>;

/** `Vm.setMsrFilter` argument. */
export const msrFilterSchema = z.strictObject({
  defaultDeny: z.boolean().optional(),
  ranges: z.array(
    z.strictObject({
      flags: z.strictObject({ read: z.boolean().optional(), write: z.boolean().optional() }),
      base: u32,
      nmsrs: int(1, KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8).optional(),
      bitmap: z.instanceof(Uint8Array).superRefine(rangeCheck(
        (v: Uint8Array) => v.length >= 1 && v.length <= KVM_MSR_FILTER_MAX_BITMAP_SIZE,
        (v) => `${v.length} bytes: a bitmap has 1 to ${KVM_MSR_FILTER_MAX_BITMAP_SIZE}`,
      )),
    }).superRefine((r, ctx) => {
      if (!r.flags.read && !r.flags.write) {
        ctx.addIssue({ code: "custom", path: ["flags"], message: "filters neither read nor write" });
      }
      if ((r.nmsrs ?? 0) > r.bitmap.length * 8) {
        ctx.addIssue({
          code: "custom",
          path: ["nmsrs"],
          message: `${r.nmsrs} MSRs need ${Math.ceil(r.nmsrs! / 8)} bitmap bytes, got ${r.bitmap.length}`,
          params: { range: true },
        });
      }
    }),
  ).max(KVM_MSR_FILTER_MAX_RANGES),
}).nullable() satisfies Accepts<T.MsrFilter | null>;

const CLOCK_FLAGS = KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC;

/** `Vm.setClock` argument. */
export const clockSchema = z.strictObject({
  clock: u64,
  flags: u32.superRefine(rangeCheck((v: number) => (v & ~CLOCK_FLAGS) === 0, (v) => `unknown flags ${hex(v)}`))
    .optional(),
  realtime: u64.optional(),
  hostTsc: u64.optional(),
}) satisfies Accepts<T.ClockInput>;

/** An XSAVE area: at least the 4096 bytes of `kvm_xsave`. */
export const xsaveSchema = z.instanceof(Uint8Array).superRefine(
  rangeCheck((v: Uint8Array) => v.length >= 4096 && v.length <= 1 << 20, (v) => `${v.length} bytes: 4096 to 1 MiB`),
);

/** `SyncRegsSets`. */
export const syncRegsSetsSchema = z.strictObject({
  regs: z.boolean().optional(),
  sregs: z.boolean().optional(),
  events: z.boolean().optional(),
}) satisfies Accepts<T.SyncRegsSets>;

export { address, bit };
