/**
 * QEMU's fw_cfg in its traditional I/O interface: a 16-bit selector at port
 * 0x510 and a data byte at 0x511 (reads walk the selected item and give 0
 * past its end; selecting an item rewinds it). Items: the signature "QEMU",
 * the interface ID (traditional only: no DMA), the UUID, the RAM size, the
 * CPU counts, the kernel, initrd and command line with their addresses and
 * sizes, and the file directory (0x19) for named items.
 *
 * @module
 */
import type { PortDevice } from "./bus.ts";

/** The well-known selectors. */
export const FwCfgKey = {
  SIGNATURE: 0x00,
  ID: 0x01,
  UUID: 0x02,
  RAM_SIZE: 0x03,
  NOGRAPHIC: 0x04,
  NB_CPUS: 0x05,
  MACHINE_ID: 0x06,
  KERNEL_ADDR: 0x07,
  KERNEL_SIZE: 0x08,
  KERNEL_CMDLINE: 0x09,
  INITRD_ADDR: 0x0a,
  INITRD_SIZE: 0x0b,
  BOOT_DEVICE: 0x0c,
  NUMA: 0x0d,
  BOOT_MENU: 0x0e,
  MAX_CPUS: 0x0f,
  KERNEL_ENTRY: 0x10,
  KERNEL_DATA: 0x11,
  INITRD_DATA: 0x12,
  CMDLINE_ADDR: 0x13,
  CMDLINE_SIZE: 0x14,
  CMDLINE_DATA: 0x15,
  SETUP_ADDR: 0x16,
  SETUP_SIZE: 0x17,
  SETUP_DATA: 0x18,
  FILE_DIR: 0x19,
  FILE_FIRST: 0x20,
} as const;

/** What the machine tells fw_cfg. */
export interface FwCfgOptions {
  /** Bytes of RAM (FW_CFG_RAM_SIZE). */
  ramSize: number;
  /** Number of vCPUs (FW_CFG_NB_CPUS). */
  cpus: number;
  /** The kernel (FW_CFG_KERNEL_*; `setup` is a bzImage's real-mode part, FW_CFG_SETUP_*). */
  kernel?: { addr: number; entry: number; data: Uint8Array; setup?: { addr: number; data: Uint8Array } };
  /** The initrd (FW_CFG_INITRD_*). */
  initrd?: { addr: number; data: Uint8Array };
  /** The command line (FW_CFG_CMDLINE_*). */
  cmdline?: { addr: number; text: string };
}

function u16(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, (v >> 8) & 0xff]);
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

function u64(v: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
}

/** The device. Register it at 0x510 (2 ports; QEMU's data port is 0x511). */
export class FwCfg implements PortDevice {
  readonly #items = new Map<number, Uint8Array>();
  readonly #files: { name: string; key: number }[] = [];
  #selected = 0;
  #offset = 0;

  /** Makes the device with its items built from `options`. */
  constructor(options: FwCfgOptions) {
    const enc = new TextEncoder();
    this.set(FwCfgKey.SIGNATURE, enc.encode("QEMU"));
    this.set(FwCfgKey.ID, u32(1)); // bit 0: the traditional interface; bit 1 (DMA) clear
    const uuid = new Uint8Array(16);
    crypto.getRandomValues(uuid);
    this.set(FwCfgKey.UUID, uuid);
    this.set(FwCfgKey.RAM_SIZE, u64(options.ramSize));
    this.set(FwCfgKey.NOGRAPHIC, u16(1));
    this.set(FwCfgKey.NB_CPUS, u16(options.cpus));
    this.set(FwCfgKey.MAX_CPUS, u16(options.cpus));
    this.set(FwCfgKey.BOOT_MENU, u16(0));
    this.set(FwCfgKey.NUMA, u64(0));
    const k = options.kernel;
    if (k) {
      this.set(FwCfgKey.KERNEL_ADDR, u32(k.addr));
      this.set(FwCfgKey.KERNEL_SIZE, u32(k.data.length));
      this.set(FwCfgKey.KERNEL_ENTRY, u32(k.entry));
      this.set(FwCfgKey.KERNEL_DATA, k.data);
      if (k.setup) {
        this.set(FwCfgKey.SETUP_ADDR, u32(k.setup.addr));
        this.set(FwCfgKey.SETUP_SIZE, u32(k.setup.data.length));
        this.set(FwCfgKey.SETUP_DATA, k.setup.data);
      }
    }
    const i = options.initrd;
    if (i) {
      this.set(FwCfgKey.INITRD_ADDR, u32(i.addr));
      this.set(FwCfgKey.INITRD_SIZE, u32(i.data.length));
      this.set(FwCfgKey.INITRD_DATA, i.data);
    }
    const c = options.cmdline;
    if (c) {
      const text = enc.encode(c.text + "\0");
      this.set(FwCfgKey.KERNEL_CMDLINE, u32(c.addr));
      this.set(FwCfgKey.CMDLINE_ADDR, u32(c.addr));
      this.set(FwCfgKey.CMDLINE_SIZE, u32(text.length));
      this.set(FwCfgKey.CMDLINE_DATA, text);
    }
    this.#updateDirectory();
  }

  /** Sets item `key` to `data`. */
  set(key: number, data: Uint8Array): void {
    this.#items.set(key, data);
  }

  /** Adds a named file (e.g. "opt/org.example/config") and returns its selector. */
  addFile(name: string, data: Uint8Array): number {
    if (new TextEncoder().encode(name).length > 55) throw new RangeError(`fw_cfg file "${name}": longer than 55 bytes`);
    if (this.#files.some((f) => f.name === name)) throw new RangeError(`fw_cfg file "${name}": already added`);
    const key = FwCfgKey.FILE_FIRST + this.#files.length;
    this.#files.push({ name, key });
    this.set(key, data);
    this.#updateDirectory();
    return key;
  }

  /** The file directory: a big-endian count, then per file size (BE32), select (BE16), reserved (16), name[56]. */
  #updateDirectory(): void {
    const files = [...this.#files].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    const dir = new Uint8Array(4 + 64 * files.length);
    const v = new DataView(dir.buffer);
    v.setUint32(0, files.length);
    files.forEach((f, n) => {
      const at = 4 + 64 * n;
      v.setUint32(at, this.#items.get(f.key)!.length);
      v.setUint16(at + 4, f.key);
      dir.set(new TextEncoder().encode(f.name), at + 8);
    });
    this.set(FwCfgKey.FILE_DIR, dir);
  }

  read(offset: number, size: number): number {
    if (offset !== 1) return 0;
    const item = this.#items.get(this.#selected);
    let v = 0;
    // Wider reads of the data port return consecutive bytes, first byte lowest.
    for (let i = 0; i < size; i++) {
      const b = item && this.#offset < item.length ? item[this.#offset] : 0;
      if (item && this.#offset < item.length) this.#offset++;
      v |= b << (8 * i);
    }
    return v >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    if (offset === 0 && size === 2) {
      this.#selected = value & 0xffff; // a selector nobody set reads as zeros
      this.#offset = 0;
    }
    // Writes to the data port are ignored, as in QEMU since 2.4.
  }
}
