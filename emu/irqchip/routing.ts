/**
 * GSI routing (the kernel's irqchip.c and irq_comm.c): the table that maps
 * each GSI to PIC and IOAPIC pins or to an MSI (KVM_SET_GSI_ROUTING, with
 * the default table KVM_CREATE_IRQCHIP installs), the per-pin OR of the
 * sources driving a line (userspace, the PIT), MSI decoding into an APIC
 * message, and the irqfds (KVM_IRQFD) that raise a GSI when their eventfd
 * is signalled.
 *
 * @module
 */
import { Errno } from "../../abi/errno.ts";
import { KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQ_ROUTING_MSI, KVM_MAX_IRQ_ROUTES } from "../../abi/constants.ts";
import { kvmIrqRoutingEntry } from "../../abi/structs.ts";
import { type ApicMessage, DM_LOWEST } from "./apic.ts";

/** KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC. */
export const CHIP_PIC_MASTER = 0, CHIP_PIC_SLAVE = 1, CHIP_IOAPIC = 2;

/** One route of a GSI. */
export type Route =
  | { gsi: number; kind: "irqchip"; chip: number; pin: number }
  | { gsi: number; kind: "msi"; addressLo: number; addressHi: number; data: number };

/** The table KVM_CREATE_IRQCHIP installs: GSIs 0-15 to the PICs and the IOAPIC, 16-23 to the IOAPIC. */
export function defaultRoutes(): Route[] {
  const routes: Route[] = [];
  for (let gsi = 0; gsi < 24; gsi++) {
    routes.push({ gsi, kind: "irqchip", chip: CHIP_IOAPIC, pin: gsi });
    if (gsi < 16) routes.push({ gsi, kind: "irqchip", chip: gsi >> 3, pin: gsi & 7 });
  }
  return routes;
}

/** Parses a kvm_irq_routing: the routes, or -errno (the kernel's checks). */
export function parseRoutes(arg: Uint8Array): Route[] | number {
  if (arg.byteLength < 8) return -Errno.EFAULT;
  const v = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
  const nr = v.getUint32(0, true), flags = v.getUint32(4, true);
  if (nr > KVM_MAX_IRQ_ROUTES || flags) return -Errno.EINVAL;
  const size = kvmIrqRoutingEntry.size;
  if (arg.byteLength < 8 + nr * size) return -Errno.EFAULT;
  const routes: Route[] = [];
  for (let i = 0; i < nr; i++) {
    const e = kvmIrqRoutingEntry.decode(v, 8 + i * size);
    if (e.gsi >= KVM_MAX_IRQ_ROUTES || e.flags) return -Errno.EINVAL;
    let r: Route;
    if (e.type === KVM_IRQ_ROUTING_IRQCHIP) {
      const { irqchip: chip, pin } = e.irqchip!;
      if (chip > CHIP_IOAPIC || pin >= (chip === CHIP_IOAPIC ? 24 : 8)) return -Errno.EINVAL;
      r = { gsi: e.gsi, kind: "irqchip", chip, pin };
    } else if (e.type === KVM_IRQ_ROUTING_MSI) {
      const m = e.msi!;
      if (m.addressHi) return -Errno.EINVAL;
      r = { gsi: e.gsi, kind: "msi", addressLo: m.addressLo, addressHi: m.addressHi, data: m.data };
    } else return -Errno.EINVAL;
    // A GSI is an MSI alone, or pins of different chips.
    for (const o of routes) {
      if (o.gsi !== r.gsi) continue;
      if (o.kind !== "irqchip" || r.kind !== "irqchip" || o.chip === r.chip) return -Errno.EINVAL;
    }
    routes.push(r);
  }
  return routes;
}

/** The APIC message of an MSI (address 0xfeeXXXXX, data). */
export function msiMessage(addressLo: number, data: number): ApicMessage {
  const lowest = (addressLo & 8) !== 0;
  return {
    dest: (addressLo >>> 12) & 0xff,
    logical: (addressLo >> 2) & 1,
    mode: lowest ? DM_LOWEST : (data >> 8) & 7,
    vector: data & 0xff,
    level: 1,
    trig: (data >> 15) & 1,
    shorthand: 0,
  };
}

/** Source ids of the lines' OR: KVM_USERSPACE_IRQ_SOURCE_ID and the PIT's. */
export const SOURCE_USER = 0, SOURCE_PIT = 1;

/** The level each source drives on each irqchip pin (the kernel's irq_states). */
export class LineStates {
  readonly #bits = new Map<number, number>();

  /** Sets `source`'s level on `chip`/`pin`; the line's level (the OR of its sources). */
  set(chip: number, pin: number, source: number, level: number): number {
    const key = chip * 32 + pin;
    let b = this.#bits.get(key) ?? 0;
    b = level ? b | (1 << source) : b & ~(1 << source);
    this.#bits.set(key, b);
    return b ? 1 : 0;
  }
}

/** An irqfd: a non-blocking eventfd whose signal raises `gsi`. */
export interface Irqfd {
  fd: number;
  gsi: number;
  /** KVM_IRQFD_FLAG_RESAMPLE: the line stays up until the guest's EOI, which signals `resamplefd`. */
  resamplefd: number;
}
