/**
 * The platform: a PC over kvmkit's public API, on either backend. Guest RAM
 * and e820, a 16550A on COM1, the CMOS RTC, an i8042 with the reset line,
 * port 0x80, isa-debug-exit, QEMU's fw_cfg, ACPI tables with S5 and reset,
 * PCI configuration mechanism #1 with a host bridge, an HPET, the in-kernel irqchip
 * and PIT; loaders for bzImage (the Linux boot
 * protocol), ELF vmlinux (PVH), multiboot v1 kernels and flat binaries; vCPUs
 * on this thread or one per Worker. The `kvmkit` command is vmm/cli.ts.
 *
 * @example
 * ```ts
 * import { Machine } from "@kvmkit/kvmkit/vmm";
 *
 * const kernel = { name: "guest.bin", data: new Uint8Array([0xb0, 0x01, 0xe6, 0xf4]) }; // mov al, 1; out 0xf4, al
 * using machine = Machine.create({ backend: "emu", memory: 16 * 2 ** 20, flat: { file: kernel, mode: "real", at: 0x7c00 }, debugExit: 0xf4 });
 * const result = await machine.run();
 * console.log(result.reason, result.exitCode); // "debug-exit" 3
 * ```
 *
 * @module
 */
export {
  COM1_IRQ,
  COM1_PORT,
  describeExit,
  FW_CFG_PORT,
  Machine,
  type MachineOptions,
  type MachineResult,
  type MachineStop,
  type StopReason,
} from "./machine.ts";
export { IoBus, MmioBus, type MmioDevice, type PortDevice, type PortRange } from "./bus.ts";
export { Hpet, HPET_BASE, type HpetOptions } from "./hpet.ts";
export { Uart16550, type UartOptions } from "./uart.ts";
export { CmosRtc, type RtcOptions } from "./rtc.ts";
export { I8042, type I8042Options } from "./i8042.ts";
export { FwCfg, FwCfgKey, type FwCfgOptions } from "./fw_cfg.ts";
export { type AcpiOptions, type AcpiTables, buildAcpi } from "./acpi.ts";
export { AcpiPm, type PmOptions, ResetControl } from "./pm.ts";
export { hostBridge, PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA, PciFunction, PciHost } from "./pci.ts";
export { DebugExit, PostCode, ResetPort, type ResetPortBits, SystemControlA } from "./misc.ts";
export { type E820Entry, GuestRam, parseSize } from "./ram.ts";
export { type CpuMode, enter, type EntryState, setupCpuid } from "./cpu.ts";
export {
  type BootContext,
  BootError,
  type BootFile,
  kernelFormat,
  loadBzImage,
  type LoadedGuest,
  loadFlat,
  loadKernel,
  loadMultiboot,
  loadPvh,
} from "./loaders/mod.ts";
export { main as kvmkitMain, OPTIONS, type OptionSpec, parseRunArgs, type RunArgs, UsageError } from "./cli.ts";
