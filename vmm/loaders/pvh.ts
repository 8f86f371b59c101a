/**
 * The PVH entry (Xen's direct boot ABI, which Linux and QEMU's -kernel
 * support for ELF kernels with a XEN_ELFNOTE_PHYS32_ENTRY note): the ELF's
 * loadable segments at their physical addresses, an hvm_start_info
 * (version 1) with the command line, the initrd as module 0, the e820-style
 * memory map and the RSDP, and the 32-bit entry: flat protected mode, paging
 * off, ebx pointing at the start info.
 *
 * @module
 */
import { elfNotes, isElf, loadSegments, parseElf } from "./elf.ts";
import {
  BOOT_INFO,
  type BootContext,
  BootError,
  CMDLINE_ADDR,
  concatInitrds,
  type LoadedGuest,
  writeCmdline,
} from "./types.ts";

/** XEN_ELFNOTE_PHYS32_ENTRY. */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
/** hvm_start_info.magic. */
export const HVM_START_MAGIC = 0x336ec578;
const MEMMAP_AT = BOOT_INFO + 0x100, MODLIST_AT = BOOT_INFO + 0x80;

/** The PVH entry point of an ELF kernel, or undefined when it has no PVH note. */
export function pvhEntry(file: Uint8Array, name: string): number | undefined {
  if (!isElf(file)) return undefined;
  const elf = parseElf(file, name);
  const note = elfNotes(file, elf).find((n) => n.name === "Xen" && n.type === XEN_ELFNOTE_PHYS32_ENTRY);
  if (!note) return undefined;
  const d = new DataView(note.desc.buffer, note.desc.byteOffset, note.desc.byteLength);
  return note.desc.length >= 8 ? Number(d.getBigUint64(0, true) & 0xffffffffn) : d.getUint32(0, true);
}

/** Loads an ELF kernel through its PVH entry. */
export function loadPvh(file: Uint8Array, name: string, ctx: BootContext): LoadedGuest {
  const entry = pvhEntry(file, name);
  if (entry === undefined) throw new BootError(`${name}: no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)`);
  const { ram } = ctx;
  const elf = parseElf(file, name);
  const end = loadSegments(file, elf, (addr, data, what) => ram.write(addr, data, `${name}: ${what}`));

  const info = ram.view(BOOT_INFO, 0x1000, "hvm_start_info");
  new Uint8Array(info.buffer, info.byteOffset, 0x1000).fill(0);
  info.setUint32(0, HVM_START_MAGIC, true);
  info.setUint32(4, 1, true); // version 1: the memory map fields exist
  writeCmdline(ram, ctx.cmdline);
  info.setBigUint64(24, BigInt(CMDLINE_ADDR), true);
  info.setBigUint64(32, BigInt(ctx.rsdp), true);

  let initrd: { addr: number; data: Uint8Array } | undefined;
  if (ctx.initrds.length > 0) {
    const data = concatInitrds(ctx.initrds);
    const addr = Math.floor((ram.lowSize - data.length) / 0x1000) * 0x1000;
    if (addr < end) throw new BootError(`the initrd does not fit above the kernel: give the guest more --mem`);
    ram.write(addr, data, "initrd");
    info.setUint32(12, 1, true); // nr_modules
    info.setBigUint64(16, BigInt(MODLIST_AT), true);
    const m = ram.view(MODLIST_AT, 32);
    m.setBigUint64(0, BigInt(addr), true);
    m.setBigUint64(8, BigInt(data.length), true);
    initrd = { addr, data };
  }

  const map = ram.e820();
  const mm = ram.view(MEMMAP_AT, 24 * map.length, "PVH memory map");
  map.forEach((e, i) => {
    mm.setBigUint64(24 * i, BigInt(e.addr), true);
    mm.setBigUint64(24 * i + 8, BigInt(e.size), true);
    mm.setUint32(24 * i + 16, e.type, true);
  });
  info.setBigUint64(40, BigInt(MEMMAP_AT), true);
  info.setUint32(48, map.length, true);

  return {
    format: "pvh",
    entry: { mode: "protected", ip: entry, sp: 0, regs: { rbx: BOOT_INFO } },
    fwCfg: {
      kernel: { addr: elf.segments.find((s) => s.type === 1)?.paddr ?? 0, entry, data: file },
      initrd,
      cmdline: { addr: CMDLINE_ADDR, text: ctx.cmdline },
    },
    description: `ELF${elf.bits} through its PVH entry at 0x${entry.toString(16)}`,
  };
}
