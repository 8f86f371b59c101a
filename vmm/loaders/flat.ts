/**
 * Flat binaries: the file's bytes at an address, started in real mode
 * (cs = the 64 KiB segment holding the address, ip = the rest; ds, es and ss
 * = cs; sp = 0, so the stack is the segment's top), flat 32-bit protected mode
 * or 64-bit long mode (the first 4 GiB identity-mapped), at the address, with
 * the stack pointer at the address (growing down below the code).
 *
 * @module
 */
import { BOOT_GDT, type CpuMode, PAGE_TABLES, PAGE_TABLES_END } from "../cpu.ts";
import type { GuestRam } from "../ram.ts";
import { BootError, type LoadedGuest } from "./types.ts";

/** Loads `file` at `at` to start in `mode`. */
export function loadFlat(file: Uint8Array, name: string, ram: GuestRam, mode: CpuMode, at: number): LoadedGuest {
  if (!Number.isSafeInteger(at) || at < 0) throw new BootError(`--at ${at}: not an address`);
  if (file.length === 0) throw new BootError(`${name}: empty file`);
  const end = at + file.length;
  if (mode === "real" && (at >= 0x100000 || end > 0x110000)) {
    throw new BootError(
      `${name}: a real-mode binary must start below 1 MiB and end below 1 MiB + 64 KiB ` +
        `(0x${at.toString(16)}-0x${end.toString(16)})`,
    );
  }
  const overlaps = (lo: number, hi: number) => at < hi && end > lo;
  if (mode !== "real" && overlaps(BOOT_GDT, BOOT_GDT + 0x28)) {
    throw new BootError(`${name}: overlaps the boot GDT at 0x${BOOT_GDT.toString(16)}; load it elsewhere (--at)`);
  }
  if (mode === "long" && overlaps(PAGE_TABLES, PAGE_TABLES_END)) {
    throw new BootError(
      `${name}: overlaps the page tables at 0x${PAGE_TABLES.toString(16)}-0x${
        (PAGE_TABLES_END - 1).toString(16)
      }; load it elsewhere (--at)`,
    );
  }
  ram.write(at, file, name);
  const cs = (at >> 4) & 0xf000;
  return {
    format: "flat",
    entry: mode === "real" ? { mode, ip: at - cs * 16, cs, sp: 0 } : { mode, ip: at, sp: at },
    fwCfg: { kernel: { addr: at, entry: at, data: file } },
    description: `flat binary at 0x${at.toString(16)} in ${mode} mode`,
  };
}
