/**
 * ACPI tables built at start, laid out in one block in the BIOS area: RSDP
 * (revision 2), RSDT and XSDT, FADT (revision 6: PM1a event and control
 * blocks, the PM timer, the reset register, SCI on IRQ 9, an i8042 present,
 * no VGA), FACS, a DSDT whose AML (aml.ts) defines \_S5 (so an OS can enter
 * S5 by writing SLP_TYP 5 with SLP_EN to PM1a control) and the PCI host
 * bridge \_SB.PCI0 (a PNP0A03 root bridge of segment 0, bus 0, whose _CRS
 * gives the buses, configuration mechanism #1's ports, the I/O space around
 * them and the memory between RAM and the IOAPIC), and the MADT (a local APIC
 * per vCPU, the IOAPIC, and the interrupt source overrides IRQ 0 -> GSI 2 and
 * IRQ 9 -> GSI 9 level/high), and the HPET table (hpet.ts).
 *
 * @module
 */
import {
  ADDRESS_BUS,
  ADDRESS_IO,
  ADDRESS_MEMORY,
  type Aml,
  device,
  dwordAddress,
  eisaId,
  integer,
  IO_ENTIRE_RANGE,
  ioPort,
  MEMORY_READ_WRITE_NON_CACHEABLE,
  name,
  pkg,
  resourceTemplate,
  scope,
  wordAddress,
} from "./aml.ts";
import { HPET_BASE, HPET_BLOCK_ID } from "./hpet.ts";
import { PCI_CONFIG_ADDRESS, PCI_CONFIG_PORTS } from "./pci.ts";
import { LOW_RAM_LIMIT } from "./ram.ts";

/** Ports of the ACPI fixed hardware (see pm.ts). */
export const PM_BASE = 0x600;
export const PM1A_EVT = PM_BASE, PM1A_CNT = PM_BASE + 4, PM_TMR = PM_BASE + 8;
/** The reset register (the PC's reset control port). */
export const RESET_PORT = 0xcf9, RESET_VALUE = 0x06;
/** The SCI's IRQ. */
export const SCI_IRQ = 9;
/** SLP_TYP for S5 in \_S5. */
export const SLP_TYP_S5 = 5;
/** The IOAPIC and the local APICs. */
export const IOAPIC_ADDR = 0xfec00000, LAPIC_ADDR = 0xfee00000;

/** What the tables describe. */
export interface AcpiOptions {
  /** Guest-physical address of the block (16-byte aligned, in 0xe0000-0xfffff so the RSDP can be found by scanning). */
  base: number;
  /** vCPUs: one MADT Local APIC entry each, APIC IDs 0..cpus-1. */
  cpus: number;
  /**
   * Bytes of RAM from address 0 below 4 GiB (GuestRam.lowSize): the PCI memory window starts there. Default
   * LOW_RAM_LIMIT, the most there can be.
   */
  lowMemory?: number;
}

/** The tables: `bytes` go at `base`; the RSDP is at `rsdp`; `tables` gives each table's address by signature. */
export interface AcpiTables {
  /** The whole block, to copy to `base`. */
  bytes: Uint8Array;
  /** Guest-physical address of the RSDP. */
  rsdp: number;
  /** Guest-physical address of each table, by signature ("FACP", "APIC", ...). */
  tables: Record<string, number>;
}

const enc = new TextEncoder();

/** Sets the byte at `at` so that `bytes[start, end)` sums to 0 mod 256. */
function checksum(bytes: Uint8Array, start: number, end: number, at: number): void {
  bytes[at] = 0;
  let sum = 0;
  for (let i = start; i < end; i++) sum += bytes[i];
  bytes[at] = (256 - (sum & 0xff)) & 0xff;
}

/** A table with the standard 36-byte header. */
function table(signature: string, revision: number, body: Uint8Array): Uint8Array {
  const t = new Uint8Array(36 + body.length);
  const v = new DataView(t.buffer);
  t.set(enc.encode(signature), 0);
  v.setUint32(4, t.length, true);
  t[8] = revision;
  t.set(enc.encode("KVMKIT"), 10);
  t.set(enc.encode("KVMKITVM"), 16);
  v.setUint32(24, 1, true);
  t.set(enc.encode("KVMK"), 28);
  v.setUint32(32, 1, true);
  t.set(body, 36);
  checksum(t, 0, t.length, 9);
  return t;
}

/** A Generic Address Structure in system I/O space. */
function gas(v: DataView, at: number, port: number, bits: number, access: number): void {
  v.setUint8(at, 1); // system I/O
  v.setUint8(at + 1, bits);
  v.setUint8(at + 2, 0);
  v.setUint8(at + 3, access); // 1 byte, 2 word, 3 dword
  v.setBigUint64(at + 4, BigInt(port), true);
}

/** The FADT's body (276-byte table, revision 6). */
function fadtBody(facs: number, dsdt: number): Uint8Array {
  const b = new Uint8Array(276 - 36);
  const v = new DataView(b.buffer);
  const o = (fadtOffset: number) => fadtOffset - 36;
  v.setUint32(o(36), facs, true); // FIRMWARE_CTRL
  v.setUint32(o(40), dsdt, true); // DSDT
  v.setUint16(o(46), SCI_IRQ, true); // SCI_INT
  // SMI_CMD 0: the machine is always in ACPI mode (SCI_EN reads 1).
  v.setUint32(o(56), PM1A_EVT, true);
  v.setUint32(o(64), PM1A_CNT, true);
  v.setUint32(o(76), PM_TMR, true);
  v.setUint8(o(88), 4); // PM1_EVT_LEN
  v.setUint8(o(89), 2); // PM1_CNT_LEN
  v.setUint8(o(91), 4); // PM_TMR_LEN
  v.setUint16(o(96), 101, true); // P_LVL2_LAT > 100: no C2
  v.setUint16(o(98), 1001, true); // P_LVL3_LAT > 1000: no C3
  v.setUint8(o(108), 0x32); // CENTURY: the RTC's century register
  v.setUint16(o(109), 0x0002 | 0x0004, true); // IAPC_BOOT_ARCH: 8042 present, VGA not present
  // Flags: WBINVD (0), PROC_C1 (2), PWR_BUTTON and SLP_BUTTON (4, 5: no fixed buttons), TMR_VAL_EXT (8),
  // RESET_REG_SUP (10).
  v.setUint32(o(112), (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 10), true);
  gas(v, o(116), RESET_PORT, 8, 1); // RESET_REG
  v.setUint8(o(128), RESET_VALUE);
  v.setUint8(o(131), 0); // FADT minor version
  // X_FIRMWARE_CTRL stays 0: FIRMWARE_CTRL holds the FACS (below 4 GiB), and the spec allows only one of them.
  v.setBigUint64(o(140), BigInt(dsdt), true); // X_DSDT
  gas(v, o(148), PM1A_EVT, 32, 2); // X_PM1a_EVT_BLK
  gas(v, o(172), PM1A_CNT, 16, 2); // X_PM1a_CNT_BLK
  gas(v, o(208), PM_TMR, 32, 3); // X_PM_TMR_BLK
  return b;
}

/** The root bridge's bus range: all of segment 0's buses. */
const PCI_BUSES = 0x100;
/** The last port of the I/O space. */
const IO_SPACE_END = 0xffff;
/** The PCI memory window ends below the first fixed device at the top of the 4 GiB space. */
const PCI_MEMORY_END = Math.min(IOAPIC_ADDR, HPET_BASE, LAPIC_ADDR) - 1;

/**
 * \_SB.PCI0, the PCI host bridge (PCI Firmware Specification 3.3, 4.1; QEMU's i440FX describes its own alike): a
 * PNP0A03 root bridge on segment 0 from bus 0, whose current resources are the bus numbers, the configuration ports
 * it decodes itself, and the windows it forwards to PCI: the ports below and above them and the memory from the end
 * of RAM (`lowMemory`) to the IOAPIC.
 */
function pciRootBridge(lowMemory: number): Aml {
  const configEnd = PCI_CONFIG_ADDRESS + PCI_CONFIG_PORTS - 1;
  const crs = resourceTemplate([
    wordAddress({ type: ADDRESS_BUS, typeFlags: 0, min: 0, max: PCI_BUSES - 1 }),
    ioPort(PCI_CONFIG_ADDRESS, PCI_CONFIG_ADDRESS, 1, PCI_CONFIG_PORTS),
    wordAddress({ type: ADDRESS_IO, typeFlags: IO_ENTIRE_RANGE, min: 0, max: PCI_CONFIG_ADDRESS - 1 }),
    wordAddress({ type: ADDRESS_IO, typeFlags: IO_ENTIRE_RANGE, min: configEnd + 1, max: IO_SPACE_END }),
    dwordAddress({
      type: ADDRESS_MEMORY,
      typeFlags: MEMORY_READ_WRITE_NON_CACHEABLE,
      min: lowMemory,
      max: PCI_MEMORY_END,
    }),
  ]);
  return device("PCI0", [
    name("_HID", eisaId("PNP0A03")),
    name("_UID", integer(0)),
    name("_SEG", integer(0)),
    name("_BBN", integer(0)),
    name("_CRS", crs),
  ]);
}

/** The DSDT's AML: Name (_S5, Package (4) { 5, 5, 0, 0 }) and Scope (\_SB) { Device (PCI0) }. */
function dsdtBody(lowMemory: number): Uint8Array {
  const s5 = name("_S5", pkg([integer(SLP_TYP_S5), integer(SLP_TYP_S5), integer(0), integer(0)]));
  return new Uint8Array([...s5, ...scope("\\_SB", [pciRootBridge(lowMemory)])]);
}

/** The MADT's body. */
function madtBody(cpus: number): Uint8Array {
  const parts: number[] = [];
  const u32 = (x: number) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24];
  for (let id = 0; id < cpus; id++) parts.push(0, 8, id, id, ...u32(1)); // processor local APIC, enabled
  parts.push(1, 12, cpus, 0, ...u32(IOAPIC_ADDR), ...u32(0)); // IOAPIC (id after the CPUs'), GSI base 0
  parts.push(2, 10, 0, 0, ...u32(2), 0, 0); // ISA IRQ 0 -> GSI 2, bus defaults (edge, high)
  parts.push(2, 10, 0, SCI_IRQ, ...u32(SCI_IRQ), 0x0d, 0); // the SCI: level triggered, active high
  const head = [...u32(LAPIC_ADDR), ...u32(1)]; // local APIC address; PCAT_COMPAT: 8259s present
  return new Uint8Array([...head, ...parts]);
}

/** The HPET table's body: the block's ID, its registers' address (system memory), HPET number 0, no minimum tick. */
function hpetBody(): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint32(0, HPET_BLOCK_ID, true);
  v.setUint8(4, 0); // Base Address: a Generic Address Structure in system memory, 64 bits wide
  v.setUint8(5, 64);
  v.setBigUint64(8, BigInt(HPET_BASE), true);
  return b;
}

/** Builds the tables for `options.base`. */
export function buildAcpi(options: AcpiOptions): AcpiTables {
  const { base, cpus, lowMemory = LOW_RAM_LIMIT } = options;
  if (base % 16 || base < 0xe0000 || base > 0xfffff) throw new RangeError(`ACPI base 0x${base.toString(16)}`);
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 254) throw new RangeError(`ACPI: ${cpus} CPUs (1-254)`);
  if (!Number.isInteger(lowMemory) || lowMemory < 0 || lowMemory > LOW_RAM_LIMIT) {
    throw new RangeError(`ACPI: lowMemory 0x${lowMemory.toString(16)} (0-0x${LOW_RAM_LIMIT.toString(16)})`);
  }
  const out = new Uint8Array(0x1000);
  let at = 0;
  const place = (bytes: Uint8Array, align: number) => {
    at = Math.ceil(at / align) * align;
    const addr = base + at;
    out.set(bytes, at);
    at += bytes.length;
    return addr;
  };
  const tables: Record<string, number> = {};
  const rsdpAt = at;
  at += 36;
  const facs = new Uint8Array(64);
  facs.set(enc.encode("FACS"), 0);
  new DataView(facs.buffer).setUint32(4, 64, true);
  facs[32] = 2; // version
  tables.FACS = place(facs, 64);
  tables.DSDT = place(table("DSDT", 2, dsdtBody(lowMemory)), 8);
  tables.FACP = place(table("FACP", 6, fadtBody(tables.FACS, tables.DSDT)), 8);
  tables.APIC = place(table("APIC", 4, madtBody(cpus)), 8);
  tables.HPET = place(table("HPET", 1, hpetBody()), 8);
  const entries = [tables.FACP, tables.APIC, tables.HPET];
  const rsdtBody = new Uint8Array(4 * entries.length);
  const xsdtBody = new Uint8Array(8 * entries.length);
  entries.forEach((addr, i) => {
    new DataView(rsdtBody.buffer).setUint32(4 * i, addr, true);
    new DataView(xsdtBody.buffer).setBigUint64(8 * i, BigInt(addr), true);
  });
  tables.RSDT = place(table("RSDT", 1, rsdtBody), 8);
  tables.XSDT = place(table("XSDT", 1, xsdtBody), 8);
  // RSDP: "RSD PTR ", checksum, OEM ID, revision 2, RSDT, length, XSDT, extended checksum.
  const v = new DataView(out.buffer);
  out.set(enc.encode("RSD PTR "), rsdpAt);
  out.set(enc.encode("KVMKIT"), rsdpAt + 9);
  out[rsdpAt + 15] = 2;
  v.setUint32(rsdpAt + 16, tables.RSDT, true);
  v.setUint32(rsdpAt + 20, 36, true);
  v.setBigUint64(rsdpAt + 24, BigInt(tables.XSDT), true);
  checksum(out, rsdpAt, rsdpAt + 20, rsdpAt + 8);
  checksum(out, rsdpAt, rsdpAt + 36, rsdpAt + 32);
  return { bytes: out.subarray(0, at), rsdp: base + rsdpAt, tables };
}
