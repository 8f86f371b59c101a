/**
 * What every loader takes and returns.
 *
 * @module
 */
import type { EntryState } from "../cpu.ts";
import type { FwCfgOptions } from "../fw_cfg.ts";
import type { GuestRam } from "../ram.ts";

/** A file handed to the guest. */
export interface BootFile {
  /** The name the user gave (multiboot module strings, messages). */
  name: string;
  /** Guest RAM to load into. */
  data: Uint8Array;
}

/** The machine a kernel is loaded into. */
export interface BootContext {
  /** Its contents. */
  ram: GuestRam;
  /** The kernel command line. */
  cmdline: string;
  /** Initrds (Linux: concatenated; multiboot: one module each; PVH: the first module). */
  initrds: readonly BootFile[];
  /** Guest-physical address of the ACPI RSDP. */
  rsdp: number;
}

/** A loaded guest: how the boot vCPU starts, and what fw_cfg reports. */
export interface LoadedGuest {
  /** Which loader took the kernel. */
  format: "bzImage" | "pvh" | "multiboot" | "flat";
  /** The boot vCPU's entry state. */
  entry: EntryState;
  /** The kernel, initrd and command line items fw_cfg reports, as QEMU's -kernel does. */
  fwCfg: Pick<FwCfgOptions, "kernel" | "initrd" | "cmdline">;
  /** One line for the status and traces, e.g. "bzImage, boot protocol 2.15, 64-bit entry at 0x100200". */
  description: string;
}

/** Where the zero page (boot_params), multiboot information or PVH start_info goes. */
export const BOOT_INFO = 0x7000;
/** Its size (the multiboot information uses all of it: structure, map, modules, strings). */
export const BOOT_INFO_SIZE = 0x2000;
/** Where the command line goes, and its largest size. */
export const CMDLINE_ADDR = 0x20000;
export const CMDLINE_MAX = 0x10000;
/** Where kernels load by default (1 MiB). */
export const KERNEL_ADDR = 0x100000;

/** A loader's complaint about the file, with its name. */
export class BootError extends Error {
  /** Makes the error; `message` names the file. */
  constructor(message: string) {
    super(message);
    this.name = "BootError";
  }
}

/** Writes the NUL-terminated command line at {@linkcode CMDLINE_ADDR}; returns its address. */
export function writeCmdline(ram: GuestRam, cmdline: string, max = CMDLINE_MAX): number {
  const bytes = new TextEncoder().encode(cmdline);
  if (bytes.length + 1 > max) {
    throw new BootError(`the command line is ${bytes.length} bytes; this kernel takes at most ${max - 1}`);
  }
  const s = ram.slice(CMDLINE_ADDR, bytes.length + 1, "command line");
  s.set(bytes);
  s[bytes.length] = 0;
  return CMDLINE_ADDR;
}

/** Concatenates initrds (each 4-byte aligned, as Linux accepts several cpio archives back to back). */
export function concatInitrds(files: readonly BootFile[]): Uint8Array {
  let size = 0;
  for (const f of files) size = Math.ceil(size / 4) * 4 + f.data.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const f of files) {
    at = Math.ceil(at / 4) * 4;
    out.set(f.data, at);
    at += f.data.length;
  }
  return out;
}
