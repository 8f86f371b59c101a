/**
 * The loaders, and the choice among them: a bzImage takes the Linux boot
 * protocol; a file with a multiboot header takes multiboot; an ELF with a
 * Xen PVH note takes the PVH entry.
 *
 * @module
 */
import { isBzImage, loadBzImage } from "./linux.ts";
import { findMultiboot, loadMultiboot } from "./multiboot.ts";
import { loadPvh, pvhEntry } from "./pvh.ts";
import { isElf } from "./elf.ts";
import { type BootContext, BootError, type LoadedGuest } from "./types.ts";

export { loadFlat } from "./flat.ts";
export { loadBzImage, readBootParams } from "./linux.ts";
export { loadMultiboot } from "./multiboot.ts";
export { loadPvh } from "./pvh.ts";
export * from "./types.ts";

/** The format of a kernel file, or a message saying why it has none kvmkit boots. */
export function kernelFormat(file: Uint8Array, name: string): "bzImage" | "multiboot" | "pvh" {
  if (isBzImage(file)) return "bzImage";
  if (findMultiboot(file)) return "multiboot";
  if (isElf(file)) {
    if (pvhEntry(file, name) !== undefined) return "pvh";
    throw new BootError(`${name}: an ELF file with neither a multiboot header nor a Xen PVH note`);
  }
  throw new BootError(`${name}: not a bzImage, multiboot or PVH kernel (for a raw binary use --flat)`);
}

/** Loads a kernel of any supported format. */
export function loadKernel(file: Uint8Array, name: string, ctx: BootContext): LoadedGuest {
  switch (kernelFormat(file, name)) {
    case "bzImage":
      return loadBzImage(file, name, ctx);
    case "multiboot":
      return loadMultiboot(file, name, ctx);
    case "pvh":
      return loadPvh(file, name, ctx);
  }
}
