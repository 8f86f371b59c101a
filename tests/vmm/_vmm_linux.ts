/**
 * Helpers of the Linux boot tests and bench/linux_boot.ts: where the guest
 * built by tools/linux_guest.sh lives, why it cannot run here (files
 * missing, or an emulator that cannot run Linux's early boot yet, found by a
 * probe), and a boot that records when the marker and the power-off came.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import type { Kvm } from "../../mod.ts";
import { Machine, type MachineResult } from "../../vmm/machine.ts";

/** The folder tools/linux_guest.sh fills. */
export const GUEST_DIR = new URL("../../build/linux-guest/", import.meta.url).pathname;
/** What /init prints. */
export const MARKER = "KVMKIT-MARKER";

/** Why the guest files are not there, or undefined. */
export function guestMissing(): string | undefined {
  for (const f of ["bzImage", "vmlinux", "initramfs.cpio.gz"]) {
    if (!existsSync(GUEST_DIR + f)) return `${GUEST_DIR}${f} is missing: run tools/linux_guest.sh`;
  }
  return undefined;
}

/**
 * Why the emulator cannot boot Linux yet, or undefined: a 64-bit guest loads
 * a GDT through a higher-half address and far-returns through it, as
 * startup_64 does (tests/guests/vmm_high_gdt.asm).
 */
export async function emulatorCannotBootLinux(kvm: Kvm): Promise<string | undefined> {
  const data = new Uint8Array(readFileSync(new URL("../guests/vmm_high_gdt.bin", import.meta.url)));
  using m = Machine.create({
    kvm,
    memory: 16 * 2 ** 20,
    flat: { file: { name: "high_gdt", data }, mode: "long", at: 0x100000 },
    debugExit: 0xf4,
  });
  // PML4[511] -> a PDPT at 0x8000 whose entry 510 is the first page directory: 0xffffffff80000000 maps 0-1 GiB.
  const v = m.ram.view(0x8000, 0x1000);
  v.setBigUint64(510 * 8, 0xb000n | 3n, true);
  m.ram.view(0x9000, 0x1000).setBigUint64(511 * 8, 0x8000n | 3n, true);
  const r = await m.run({ timeoutMs: 10_000 });
  if (r.exitCode === 3) return undefined;
  return `the emulator cannot far-return through a GDT at a higher-half address as Linux's startup_64 does ` +
    `(${r.detail}; emu/x86/segment.ts readDescriptor truncates the descriptor address to 32 bits)`;
}

/** A Linux boot's timeline. */
export interface LinuxBoot {
  result: MachineResult;
  /**
   * Seconds to the marker, or undefined: from the call, so loading the kernel and the initrd and building the machine
   * count, as QEMU's do in bench/linux_boot.ts's row for it (timed from its spawn).
   */
  marker: number | undefined;
  /** Seconds from the call to the run's end (the power-off), on the marker's clock. */
  end: number;
  console: string;
}

/** Boots the test guest: `kernel` is "bzImage" or "vmlinux". `input` is typed once `prompt` appears. */
export async function bootLinux(
  kvm: Kvm,
  options: {
    kernel: "bzImage" | "vmlinux";
    cmdline: string;
    cpus?: number;
    timeoutMs: number;
    script?: [string, string][];
    /** Stop ("quit") as soon as the console shows this text. */
    until?: string;
  },
): Promise<LinuxBoot> {
  let text = "";
  let marker: number | undefined;
  const start = performance.now();
  const script = [...(options.script ?? [])];
  using m = Machine.create({
    kvm,
    memory: 256 * 2 ** 20,
    cpus: options.cpus ?? 1,
    kernel: { name: options.kernel, data: new Uint8Array(readFileSync(GUEST_DIR + options.kernel)) },
    initrds: [{ name: "initramfs", data: new Uint8Array(readFileSync(GUEST_DIR + "initramfs.cpio.gz")) }],
    cmdline: options.cmdline,
    output: (b) => {
      text += new TextDecoder().decode(b);
      if (marker === undefined && text.includes(MARKER)) marker = (performance.now() - start) / 1000;
      // Without ACPI (acpi=off) Linux cannot power off: it says so and halts with interrupts off.
      if (text.includes("reboot: System halted")) m.stop("halted", 0, "Linux halted (no ACPI to power off)");
      if (options.until !== undefined && text.includes(options.until)) m.stop("quit", 0, `"${options.until}" printed`);
      while (script.length && text.includes(script[0][0])) {
        const [, typed] = script.shift()!;
        setTimeout(() => m.input(new TextEncoder().encode(typed)), 200);
      }
    },
  });
  const result = await m.run({ timeoutMs: options.timeoutMs });
  return { result, marker, end: (performance.now() - start) / 1000, console: text };
}
