/**
 * PCI configuration mechanism #1 (PCI Local Bus Specification 3.0, section
 * 3.2.2.3.2) and bus 0 with a host bridge at device 0: the 32-bit
 * CONFIG_ADDRESS register at 0xcf8 (enable bit 31, bus 23:16, device 15:11,
 * function 10:8, register 7:2) and the CONFIG_DATA window at 0xcfc-0xcff,
 * through which any size of access reaches the addressed function's
 * configuration space. A function nobody implements reads all ones, so an OS
 * finds one device, the bridge, and an empty bus.
 *
 * The bridge presents itself as Intel's 440FX PMC (8086:1237, the host
 * bridge of QEMU's `pc` machine; class 06/00/00): identification only, no
 * BARs and no chipset registers (a 440FX's PAM and SMRAM registers read 0 and
 * ignore writes). As on a PIIX, only a 32-bit access to 0xcf8 reaches
 * CONFIG_ADDRESS; the byte at 0xcf9 is the reset control register, which
 * shares the range and is passed in.
 *
 * @module
 */
import type { PortDevice } from "./bus.ts";

/** The mechanism's ports: CONFIG_ADDRESS and the CONFIG_DATA window. */
export const PCI_CONFIG_ADDRESS = 0xcf8, PCI_CONFIG_DATA = 0xcfc;
/** The number of ports from CONFIG_ADDRESS to the end of CONFIG_DATA (0xcf8-0xcff). */
export const PCI_CONFIG_PORTS = 8;
/** The reset control register's offset in the range (0xcf9). */
const RESET_CONTROL_OFFSET = 1;
/** CONFIG_ADDRESS: the enable bit, and the bits that hold a value (bits 30:24 and 1:0 are reserved). */
const CONFIG_ENABLE = 0x80000000, CONFIG_ADDRESS_MASK = 0x80fffffc;
/** Configuration space registers (PCI 3.0, 6.1). */
export const PCI_VENDOR_ID = 0x00, PCI_DEVICE_ID = 0x02, PCI_COMMAND = 0x04, PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09, PCI_HEADER_TYPE = 0x0e;
/** Command register bits a guest may set on the bridge: I/O space, memory space, bus master. */
const COMMAND_WRITABLE = 0x0007;
/** The 440FX PMC's identification (its datasheet; QEMU's i440FX reports the same). */
export const I440FX_VENDOR = 0x8086, I440FX_DEVICE = 0x1237, I440FX_REVISION = 0x02;
/** Base class 06 (bridge), subclass 00 (host), programming interface 00. */
export const PCI_CLASS_BRIDGE_HOST = 0x060000;

/** One function's 256-byte configuration space and the bits of it that a guest may write. */
export class PciFunction {
  /** The configuration space. */
  readonly config: Uint8Array = new Uint8Array(256);
  /** A set bit here is writable in `config`; the rest is read-only. */
  readonly writable: Uint8Array = new Uint8Array(256);

  /** Reads `size` bytes at register `reg` (little endian, within the space). */
  read(reg: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.config[(reg + i) & 0xff];
    return v;
  }

  /** Writes the low `size` bytes of `value` at `reg`, through the writable mask. */
  write(reg: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) {
      const at = (reg + i) & 0xff, mask = this.writable[at], byte = (value >>> (8 * i)) & 0xff;
      this.config[at] = (this.config[at] & ~mask) | (byte & mask);
    }
  }
}

/** The host bridge: an i440FX PMC's identification, a writable command register, nothing else. */
export function hostBridge(): PciFunction {
  const f = new PciFunction(), v = new DataView(f.config.buffer);
  v.setUint16(PCI_VENDOR_ID, I440FX_VENDOR, true);
  v.setUint16(PCI_DEVICE_ID, I440FX_DEVICE, true);
  v.setUint32(PCI_REVISION_ID, (PCI_CLASS_BRIDGE_HOST << 8) | I440FX_REVISION, true);
  f.config[PCI_HEADER_TYPE] = 0; // a type 0 header, single function
  new DataView(f.writable.buffer).setUint16(PCI_COMMAND, COMMAND_WRITABLE, true);
  return f;
}

/** CONFIG_ADDRESS and CONFIG_DATA over the functions of bus 0 (ports 0xcf8-0xcff). */
export class PciHost implements PortDevice {
  /** CONFIG_ADDRESS. */
  address = 0;
  readonly #functions = new Map<number, PciFunction>();
  readonly #resetControl: PortDevice;

  /** Makes the mechanism with the host bridge at 00:00.0; `resetControl` answers the byte at 0xcf9. */
  constructor(resetControl: PortDevice) {
    this.#resetControl = resetControl;
    this.attach(0, 0, hostBridge());
  }

  /** Puts `fn` at device `device` (0-31), function `func` (0-7) of bus 0. */
  attach(device: number, func: number, fn: PciFunction): void {
    this.#functions.set((device << 3) | func, fn);
  }

  /** The function CONFIG_ADDRESS selects, or undefined (disabled, another bus, or an empty slot). */
  #selected(): PciFunction | undefined {
    if (!(this.address & CONFIG_ENABLE) || (this.address >>> 16) & 0xff) return undefined;
    return this.#functions.get((this.address >>> 8) & 0xff);
  }

  read(offset: number, size: number): number {
    if (offset >= 4) {
      const fn = this.#selected();
      return fn ? fn.read((this.address & 0xfc) + offset - 4, size) : 2 ** (8 * size) - 1;
    }
    if (offset === 0 && size === 4) return this.address >>> 0;
    if (offset === RESET_CONTROL_OFFSET && size === 1) return this.#resetControl.read(0, 1);
    return 2 ** (8 * size) - 1; // not CONFIG_ADDRESS: an I/O cycle nobody claims
  }

  write(offset: number, size: number, value: number): void {
    if (offset >= 4) this.#selected()?.write((this.address & 0xfc) + offset - 4, size, value);
    else if (offset === 0 && size === 4) this.address = (value & CONFIG_ADDRESS_MASK) >>> 0;
    else if (offset === RESET_CONTROL_OFFSET && size === 1) this.#resetControl.write(0, 1, value);
  }
}
