/**
 * Multiboot (version 1) kernels: the header in the first 8 KiB, ELF program
 * headers or the header's a.out address fields, the multiboot information
 * (memory sizes, the memory map, the command line, modules, the boot loader's
 * name; the command line is the kernel's name, a space, then the arguments) and the 32-bit entry with eax = 0x2badb002 and ebx pointing at the
 * information. Modules are loaded page aligned above the kernel, one per
 * initrd, each with its name as its string, as QEMU's -initrd passes them.
 *
 * @module
 */
import { isElf, loadSegments, parseElf } from "./elf.ts";
import { BOOT_INFO, BOOT_INFO_SIZE, type BootContext, BootError, type LoadedGuest } from "./types.ts";
import { EBDA_START, HIGH_MEMORY } from "../ram.ts";

export const MULTIBOOT_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
const SEARCH = 8192;
const F_PAGE_ALIGN = 1 << 0, F_MEMORY = 1 << 1, F_VIDEO = 1 << 2, F_AOUT = 1 << 16;
const KNOWN_REQUIREMENTS = F_PAGE_ALIGN | F_MEMORY | F_VIDEO;

/** The multiboot header found in a file. */
export interface MultibootHeader {
  offset: number;
  flags: number;
  headerAddr: number;
  loadAddr: number;
  loadEndAddr: number;
  bssEndAddr: number;
  entryAddr: number;
}

/** Finds the multiboot header (4-byte aligned, in the first 8 KiB, with a valid checksum). */
export function findMultiboot(file: Uint8Array): MultibootHeader | undefined {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (let at = 0; at + 12 <= Math.min(file.length, SEARCH); at += 4) {
    if (v.getUint32(at, true) !== MULTIBOOT_MAGIC) continue;
    const flags = v.getUint32(at + 4, true);
    if (((MULTIBOOT_MAGIC + flags + v.getUint32(at + 8, true)) >>> 0) !== 0) continue;
    const u = (o: number) => at + o + 4 <= file.length ? v.getUint32(at + o, true) : 0;
    return {
      offset: at,
      flags,
      headerAddr: u(12),
      loadAddr: u(16),
      loadEndAddr: u(20),
      bssEndAddr: u(24),
      entryAddr: u(28),
    };
  }
  return undefined;
}

/** Loads a multiboot kernel. */
export function loadMultiboot(file: Uint8Array, name: string, ctx: BootContext): LoadedGuest {
  const header = findMultiboot(file);
  if (!header) throw new BootError(`${name}: no multiboot header in its first 8 KiB`);
  const { ram } = ctx;
  const unknown = header.flags & 0xffff & ~KNOWN_REQUIREMENTS;
  if (unknown) throw new BootError(`${name}: the multiboot header requires features 0x${unknown.toString(16)}`);

  let entry: number, kernelEnd: number, kernelStart: number;
  if (header.flags & F_AOUT || !isElf(file)) {
    if (!(header.flags & F_AOUT)) throw new BootError(`${name}: not ELF and its multiboot header has no addresses`);
    const h = header;
    const fileStart = h.offset - (h.headerAddr - h.loadAddr);
    if (h.headerAddr < h.loadAddr || fileStart < 0) throw new BootError(`${name}: header_addr below load_addr`);
    const loadEnd = h.loadEndAddr ? h.loadEndAddr : h.loadAddr + (file.length - fileStart);
    if (loadEnd < h.loadAddr || fileStart + (loadEnd - h.loadAddr) > file.length) {
      throw new BootError(`${name}: load_end_addr 0x${loadEnd.toString(16)} is beyond the file`);
    }
    ram.write(h.loadAddr, file.subarray(fileStart, fileStart + (loadEnd - h.loadAddr)), `${name}: image`);
    const bssEnd = Math.max(h.bssEndAddr, loadEnd);
    ram.slice(loadEnd, bssEnd - loadEnd, `${name}: bss`).fill(0);
    entry = h.entryAddr;
    kernelStart = h.loadAddr;
    kernelEnd = bssEnd;
  } else {
    const elf = parseElf(file, name);
    kernelEnd = loadSegments(file, elf, (addr, data, what) => ram.write(addr, data, `${name}: ${what}`));
    kernelStart = Math.min(...elf.segments.filter((s) => s.type === 1).map((s) => s.paddr));
    entry = elf.entry;
    // An entry given as a virtual address inside a segment is translated to its physical address.
    const seg = elf.segments.find((s) => s.type === 1 && entry >= s.vaddr && entry < s.vaddr + s.memsz);
    if (seg) entry = seg.paddr + (entry - seg.vaddr);
  }
  if (kernelStart < BOOT_INFO + BOOT_INFO_SIZE && kernelEnd > BOOT_INFO) {
    throw new BootError(`${name}: loads over the multiboot information at 0x${BOOT_INFO.toString(16)}`);
  }

  // The information structure, then the memory map, modules and strings after it.
  const area = ram.slice(BOOT_INFO, BOOT_INFO_SIZE, "multiboot information");
  area.fill(0);
  const mbi = new DataView(area.buffer, area.byteOffset, area.byteLength);
  let at = 0x80;
  const str = (s: string) => {
    const b = new TextEncoder().encode(s);
    if (at + b.length + 1 > BOOT_INFO_SIZE) throw new BootError("the multiboot strings do not fit in 8 KiB");
    area.set(b, at);
    const addr = BOOT_INFO + at;
    at += b.length + 1;
    return addr;
  };
  let flags = 1 << 0 | 1 << 2 | 1 << 6 | 1 << 9; // memory sizes, command line, memory map, boot loader name
  mbi.setUint32(4, EBDA_START / 1024, true); // mem_lower, KiB
  // mem_upper: KiB from 1 MiB to the first hole.
  mbi.setUint32(8, Math.max(0, ram.lowSize - HIGH_MEMORY) / 1024, true);
  const map = ram.e820();
  const mmapAt = at;
  map.forEach((e) => {
    mbi.setUint32(at, 20, true);
    mbi.setBigUint64(at + 4, BigInt(e.addr), true);
    mbi.setBigUint64(at + 12, BigInt(e.size), true);
    mbi.setUint32(at + 20, e.type, true);
    at += 24;
  });
  mbi.setUint32(44, 24 * map.length, true);
  mbi.setUint32(48, BOOT_INFO + mmapAt, true);

  if (ctx.initrds.length > 0) {
    flags |= 1 << 3;
    const modsAt = at;
    at += 16 * ctx.initrds.length;
    let next = Math.ceil(kernelEnd / 0x1000) * 0x1000;
    ctx.initrds.forEach((m, i) => {
      ram.write(next, m.data, `module ${m.name}`);
      mbi.setUint32(modsAt + 16 * i, next, true);
      mbi.setUint32(modsAt + 16 * i + 4, next + m.data.length, true);
      mbi.setUint32(modsAt + 16 * i + 8, str(m.name), true);
      next = Math.ceil((next + m.data.length) / 0x1000) * 0x1000;
    });
    mbi.setUint32(20, ctx.initrds.length, true);
    mbi.setUint32(24, BOOT_INFO + modsAt, true);
  }
  // The kernel's name first, then its arguments, as GRUB and QEMU pass them.
  mbi.setUint32(16, str(ctx.cmdline ? `${name} ${ctx.cmdline}` : name), true);
  mbi.setUint32(64, str("kvmkit"), true);
  mbi.setUint32(0, flags, true);

  return {
    format: "multiboot",
    entry: {
      mode: "protected",
      ip: entry,
      sp: BOOT_INFO,
      regs: { rax: MULTIBOOT_BOOTLOADER_MAGIC, rbx: BOOT_INFO },
    },
    fwCfg: { kernel: { addr: kernelStart, entry, data: file } },
    description: `multiboot ${header.flags & F_AOUT ? "a.out-kludge" : "ELF"} kernel, entry at 0x${entry.toString(16)}`,
  };
}
