/**
 * Encoders of the variable-sized and pointer-carrying structs of the VMM
 * ioctls: `kvm_irq_routing` with its entries, `kvm_msr_filter` with its
 * bitmaps, and the coalesced MMIO ring reader.
 *
 * @module
 */
import * as C from "../abi/constants.ts";
import * as R from "../abi/requests.ts";
import * as S from "../abi/structs.ts";
import { Errno } from "../abi/errno.ts";
import { KvmError } from "../errors.ts";
import type { Handle } from "../_handle.ts";
import type { StructCodec } from "../abi/_struct.ts";
import { withScratch } from "./scratch.ts";
import type { CoalescedMmio, GsiRoute, MsrFilter } from "../vmm_types.ts";

/**
 * A struct whose header `head` counts, in its member `count`, the `entries` of struct `entry` that follow it
 * (kvm_cpuid2, kvm_msrs, kvm_irq_routing).
 */
export function withEntries<T>(
  head: StructCodec<unknown>,
  count: string,
  entry: StructCodec<T>,
  entries: readonly T[],
): Uint8Array {
  const size = entry.size;
  const buf = new Uint8Array(head.size + entries.length * size);
  const view = new DataView(buf.buffer);
  view.setUint32(head.offsetOf(count), entries.length, true);
  entries.forEach((e, i) => entry.encode(e, view, head.size + i * size));
  return buf;
}

/** `struct kvm_irq_routing` with `routes` as its entries. */
export function encodeGsiRouting(routes: readonly GsiRoute[]): Uint8Array {
  const entries = routes.map((r): S.KvmIrqRoutingEntry =>
    r.type === "irqchip"
      ? { gsi: r.gsi, type: C.KVM_IRQ_ROUTING_IRQCHIP, flags: 0, irqchip: { irqchip: r.irqchip, pin: r.pin } }
      : {
        gsi: r.gsi,
        type: C.KVM_IRQ_ROUTING_MSI,
        flags: 0,
        msi: { addressLo: r.addressLo, addressHi: r.addressHi ?? 0, data: r.data, devid: 0 },
      }
  );
  return withEntries(S.kvmIrqRouting, "nr", S.kvmIrqRoutingEntry, entries);
}

/** KVM_X86_SET_MSR_FILTER with `filter` (null: no filter), its bitmaps copied into backend memory for the call. */
export function setMsrFilter(h: Handle, filter: MsrFilter | null): void {
  const ranges = filter?.ranges ?? [];
  // The kernel copies BITS_TO_LONGS(nmsrs) longs of each bitmap: keep each 8-byte aligned and padded.
  const padded = (n: number) => Math.ceil(n / 8) * 8;
  const total = ranges.reduce((sum, r) => sum + padded(r.bitmap.length), 0);
  withScratch(h.kernel, total, "MSR filter bitmaps", (m) => {
    const bytes = new Uint8Array(m.buffer);
    let at = 0;
    const out = ranges.map((r) => {
      bytes.set(r.bitmap, at);
      const range: S.KvmMsrFilterRange = {
        flags: (r.flags.read ? C.KVM_MSR_FILTER_READ : 0) | (r.flags.write ? C.KVM_MSR_FILTER_WRITE : 0),
        nmsrs: r.nmsrs ?? r.bitmap.length * 8,
        base: r.base,
        bitmap: m.address + BigInt(at),
      };
      at += padded(r.bitmap.length);
      return range;
    });
    const flags = filter?.defaultDeny ? C.KVM_MSR_FILTER_DEFAULT_DENY : C.KVM_MSR_FILTER_DEFAULT_ALLOW;
    // SAFETY: each bitmap pointer lies inside the scratch mapping, which outlives the call; the kernel copies them.
    h.ioctl("KVM_X86_SET_MSR_FILTER", R.KVM_X86_SET_MSR_FILTER, S.kvmMsrFilter.toBytes({ flags, ranges: out }));
  });
}

const RING_OFFSET = C.KVM_COALESCED_MMIO_PAGE_OFFSET * C.PAGE_SIZE;
const RING_HEAD = S.kvmCoalescedMmioRing.offsetOf("coalesced_mmio");
const ENTRY = S.kvmCoalescedMmio.size;
/** KVM_COALESCED_MMIO_MAX: the ring's entries. */
const RING_MAX = Math.floor((C.PAGE_SIZE - S.kvmCoalescedMmioRing.size) / ENTRY);

/**
 * Takes every entry of the coalesced MMIO/PIO ring in a vCPU's mapping
 * (`run`: the whole vCPU mmap), oldest first, and frees their slots for the
 * kernel (advances `first`).
 */
export function drainCoalescedRing(run: ArrayBuffer): CoalescedMmio[] {
  if (run.byteLength < RING_OFFSET + C.PAGE_SIZE) {
    throw new KvmError(
      "coalesced MMIO ring",
      Errno.ENXIO,
      `the vCPU mapping (${run.byteLength} bytes) has no ring page`,
    );
  }
  // SAFETY: the ring page lies inside the vCPU's mapping, which the Vcpu keeps mapped while open.
  const head = new Int32Array(run, RING_OFFSET + S.kvmCoalescedMmioRing.offsetOf("first"), 2);
  const view = new DataView(run, RING_OFFSET);
  const out: CoalescedMmio[] = [];
  let first = Atomics.load(head, 0) >>> 0;
  // `last` is published after its entry is written (smp_wmb in the kernel); x86 keeps loads in order.
  const last = Atomics.load(head, 1) >>> 0;
  if (first >= RING_MAX || last >= RING_MAX) {
    throw new KvmError("coalesced MMIO ring", Errno.EIO, `corrupt ring: first ${first}, last ${last}`);
  }
  while (first !== last) {
    const e = S.kvmCoalescedMmio.decode(view, RING_HEAD + first * ENTRY);
    out.push({ physAddr: e.physAddr, len: e.len, pio: e.pio, data: e.data.slice(0, Math.min(e.len, 8)) });
    first = (first + 1) % RING_MAX;
  }
  Atomics.store(head, 0, first);
  return out;
}
