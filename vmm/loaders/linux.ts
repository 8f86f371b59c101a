/**
 * The Linux x86 boot protocol for bzImage kernels (setup header 2.10 or
 * later): the protected-mode kernel at 1 MiB, the zero page (boot_params)
 * with the setup header, e820 map, command line, initrd and ACPI RSDP, and
 * the 64-bit entry (startup_64, at the load address + 0x200) with the first
 * 4 GiB identity-mapped, or the 32-bit entry when the kernel has no
 * XLF_KERNEL_64.
 *
 * @module
 */
import type { GuestRam } from "../ram.ts";
import {
  BOOT_INFO,
  type BootContext,
  BootError,
  CMDLINE_ADDR,
  concatInitrds,
  KERNEL_ADDR,
  type LoadedGuest,
  writeCmdline,
} from "./types.ts";

/** Offsets in boot_params (the zero page) and its setup header. */
const BP = {
  acpiRsdpAddr: 0x070,
  extRamdiskImage: 0x0c0,
  extRamdiskSize: 0x0c4,
  extCmdLinePtr: 0x0c8,
  e820Entries: 0x1e8,
  setupSects: 0x1f1,
  vidMode: 0x1fa,
  jump: 0x200,
  header: 0x202,
  version: 0x206,
  typeOfLoader: 0x210,
  loadflags: 0x211,
  code32Start: 0x214,
  ramdiskImage: 0x218,
  ramdiskSize: 0x21c,
  heapEndPtr: 0x224,
  cmdLinePtr: 0x228,
  initrdAddrMax: 0x22c,
  relocatableKernel: 0x234,
  xloadflags: 0x236,
  cmdlineSize: 0x238,
  prefAddress: 0x258,
  initSize: 0x260,
  e820Table: 0x2d0,
} as const;

const LOADED_HIGH = 0x01, CAN_USE_HEAP = 0x80;
const XLF_KERNEL_64 = 0x01;
const E820_MAX = 128;

/** True when `file` is a bzImage ("HdrS" at 0x202). */
export function isBzImage(file: Uint8Array): boolean {
  return file.length > 0x264 && file[0x202] === 0x48 && file[0x203] === 0x64 && file[0x204] === 0x72 &&
    file[0x205] === 0x53;
}

/** The setup header's version as "2.15". */
function versionText(v: number): string {
  return `${v >> 8}.${v & 0xff}`;
}

/** Loads a bzImage. */
export function loadBzImage(file: Uint8Array, name: string, ctx: BootContext): LoadedGuest {
  const { ram } = ctx;
  if (!isBzImage(file)) throw new BootError(`${name}: not a bzImage (no "HdrS" setup header at 0x202)`);
  const h = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = h.getUint16(BP.version, true);
  if (version < 0x20a) {
    throw new BootError(`${name}: boot protocol ${versionText(version)}; kvmkit needs 2.10 or later`);
  }
  if (!(file[BP.loadflags] & LOADED_HIGH)) throw new BootError(`${name}: a zImage (not loaded high): not supported`);
  const setupSects = file[BP.setupSects] || 4;
  const kernelOffset = (setupSects + 1) * 512;
  if (kernelOffset >= file.length) throw new BootError(`${name}: ${setupSects} setup sectors but the file ends first`);
  const kernel = file.subarray(kernelOffset);
  const initSize = h.getUint32(BP.initSize, true);
  const long = (h.getUint16(BP.xloadflags, true) & XLF_KERNEL_64) !== 0;

  // The protected-mode kernel at 1 MiB. A relocatable kernel decompresses at pref_address (LOAD_PHYSICAL_ADDR,
  // 16 MiB) when loaded below it, and needs init_size bytes from there.
  const prefAddress = version >= 0x20a ? Number(h.getBigUint64(BP.prefAddress, true)) : KERNEL_ADDR;
  const kernelEnd = Math.max(KERNEL_ADDR + kernel.length, Math.max(prefAddress, KERNEL_ADDR) + initSize);
  if (kernelEnd > ram.lowSize) {
    throw new BootError(
      `${name}: the kernel needs ${Math.ceil(kernelEnd / 2 ** 20)} MiB of RAM to decompress; ` +
        `give the guest more --mem`,
    );
  }
  ram.write(KERNEL_ADDR, kernel, "kernel");

  // The zero page: the setup header as the file has it, then what the loader fills in.
  const bp = ram.slice(BOOT_INFO, 0x1000, "boot_params");
  bp.fill(0);
  const headerEnd = 0x202 + file[0x201];
  bp.set(file.subarray(BP.setupSects, headerEnd), BP.setupSects);
  const v = new DataView(bp.buffer, bp.byteOffset, 0x1000);
  v.setUint16(BP.vidMode, 0xffff, true); // "normal"
  bp[BP.typeOfLoader] = 0xff; // an unregistered loader
  bp[BP.loadflags] = (bp[BP.loadflags] | CAN_USE_HEAP) & ~0x20; // heap usable; print early messages (QUIET off)
  v.setUint16(BP.heapEndPtr, 0xfe00, true);
  v.setUint32(BP.code32Start, KERNEL_ADDR, true);

  const cmdlineSize = version >= 0x206 ? h.getUint32(BP.cmdlineSize, true) : 255;
  v.setUint32(BP.cmdLinePtr, writeCmdline(ram, ctx.cmdline, cmdlineSize + 1), true);

  let initrd: { addr: number; data: Uint8Array } | undefined;
  if (ctx.initrds.length > 0) {
    const data = concatInitrds(ctx.initrds);
    const max = h.getUint32(BP.initrdAddrMax, true);
    const top = Math.min(max + 1, ram.lowSize);
    const addr = Math.floor((top - data.length) / 0x1000) * 0x1000;
    if (addr < kernelEnd) {
      throw new BootError(
        `the initrd (${data.length} bytes) does not fit between the kernel's end (0x${kernelEnd.toString(16)}) ` +
          `and 0x${top.toString(16)}: give the guest more --mem`,
      );
    }
    ram.write(addr, data, "initrd");
    v.setUint32(BP.ramdiskImage, addr, true);
    v.setUint32(BP.ramdiskSize, data.length, true);
    initrd = { addr, data };
  }

  writeE820(v, ram);
  if (version >= 0x20e) v.setBigUint64(BP.acpiRsdpAddr, BigInt(ctx.rsdp), true);

  const entry = long ? KERNEL_ADDR + 0x200 : KERNEL_ADDR;
  return {
    format: "bzImage",
    entry: { mode: long ? "long" : "protected", ip: entry, sp: 0, regs: { rsi: BOOT_INFO } },
    fwCfg: {
      kernel: {
        addr: KERNEL_ADDR,
        entry,
        data: kernel,
        setup: { addr: 0x90000, data: file.subarray(0, kernelOffset) },
      },
      initrd,
      cmdline: { addr: CMDLINE_ADDR, text: ctx.cmdline },
    },
    description: `bzImage, boot protocol ${versionText(version)}, ${long ? "64" : "32"}-bit entry at 0x${
      entry.toString(16)
    }`,
  };
}

/** The e820 table of boot_params. */
function writeE820(v: DataView, ram: GuestRam): void {
  const map = ram.e820();
  if (map.length > E820_MAX) throw new BootError(`${map.length} e820 entries (at most ${E820_MAX})`);
  map.forEach((e, i) => {
    const at = BP.e820Table + 20 * i;
    v.setBigUint64(at, BigInt(e.addr), true);
    v.setBigUint64(at + 8, BigInt(e.size), true);
    v.setUint32(at + 16, e.type, true);
  });
  v.setUint8(BP.e820Entries, map.length);
}

/** For tests: the zero page's e820 entries and the fields a loader fills, read back from guest RAM. */
export function readBootParams(ram: GuestRam): {
  cmdLinePtr: number;
  ramdiskImage: number;
  ramdiskSize: number;
  acpiRsdpAddr: number;
  typeOfLoader: number;
  e820: { addr: number; size: number; type: number }[];
} {
  const v = ram.view(BOOT_INFO, 0x1000);
  const n = v.getUint8(BP.e820Entries);
  const e820 = [];
  for (let i = 0; i < n; i++) {
    const at = BP.e820Table + 20 * i;
    e820.push({
      addr: Number(v.getBigUint64(at, true)),
      size: Number(v.getBigUint64(at + 8, true)),
      type: v.getUint32(at + 16, true),
    });
  }
  return {
    cmdLinePtr: v.getUint32(BP.cmdLinePtr, true),
    ramdiskImage: v.getUint32(BP.ramdiskImage, true),
    ramdiskSize: v.getUint32(BP.ramdiskSize, true),
    acpiRsdpAddr: Number(v.getBigUint64(BP.acpiRsdpAddr, true)),
    typeOfLoader: v.getUint8(BP.typeOfLoader),
    e820,
  };
}
