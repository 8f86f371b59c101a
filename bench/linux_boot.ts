/**
 * Time to boot Debian's Linux (tools/linux_guest.sh) to the marker its
 * /init prints and to its power-off, with the same bzImage, initramfs and
 * command line, on kvmkit's emulator, on KVM (bounded: this host's kvm_pvm
 * emulates guest CPL 0 slowly) and on QEMU's TCG (`qemu-system-x86_64
 * -accel tcg`), in one run. Prints a table and the ratio emulator/TCG.
 *
 * Run:
 *
 *   deno run -A bench/linux_boot.ts [--kernel bzImage|vmlinux] [--timeout SECONDS]
 *   bun bench/linux_boot.ts
 *
 * @module
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { Kvm } from "../mod.ts";
import { bootLinux, emulatorCannotBootLinux, GUEST_DIR, guestMissing, MARKER } from "../tests/vmm/_vmm_linux.ts";

const CMDLINE = "console=ttyS0 panic=-1 quiet";

interface Row {
  name: string;
  marker?: number;
  end?: number;
  note: string;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** QEMU TCG: the seconds to the marker and to QEMU's exit after the power-off. */
function qemu(kernel: string, timeoutS: number): Promise<Row> {
  return new Promise((resolve) => {
    const start = performance.now();
    let marker: number | undefined;
    let text = "";
    let child;
    try {
      child = spawn("qemu-system-x86_64", [
        "-accel",
        "tcg",
        "-M",
        "pc",
        "-m",
        "256",
        "-kernel",
        GUEST_DIR + kernel,
        "-initrd",
        GUEST_DIR + "initramfs.cpio.gz",
        "-append",
        CMDLINE,
        "-display",
        "none",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-no-reboot",
      ], { stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      return resolve({ name: "QEMU TCG", note: `cannot start qemu-system-x86_64: ${(e as Error).message}` });
    }
    const timer = setTimeout(() => child.kill(), timeoutS * 1000);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ name: "QEMU TCG", note: `qemu-system-x86_64: ${e.message} (apt-get install qemu-system-x86)` });
    });
    child.stdout!.on("data", (b: Uint8Array) => {
      text += new TextDecoder().decode(b);
      if (marker === undefined && text.includes(MARKER)) marker = (performance.now() - start) / 1000;
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      const end = (performance.now() - start) / 1000;
      resolve({ name: "QEMU TCG", marker, end: marker !== undefined ? end : undefined, note: `exit ${code}` });
    });
  });
}

async function kvmkit(backend: "emu" | "kvm", kernel: "bzImage" | "vmlinux", timeoutS: number): Promise<Row> {
  const name = backend === "emu" ? "kvmkit emulator" : "kvmkit KVM";
  let kvm: Kvm;
  try {
    kvm = Kvm.open({ backend });
  } catch (e) {
    return { name, note: `unavailable: ${(e as Error).message}` };
  }
  try {
    if (backend === "emu") {
      const why = await emulatorCannotBootLinux(kvm);
      if (why) return { name, note: `not run: ${why}` };
    }
    const boot = await bootLinux(kvm, { kernel, cmdline: CMDLINE, timeoutMs: timeoutS * 1000 });
    const r = boot.result;
    return {
      name,
      marker: boot.marker,
      end: r.reason === "poweroff" ? boot.end : undefined,
      note: `${r.reason} (${r.detail}), ${r.exits} exits, ${boot.console.length} console bytes`,
    };
  } finally {
    kvm.close();
  }
}

async function main(): Promise<void> {
  const missing = guestMissing();
  if (missing) {
    console.log(`linux_boot: ${missing}`);
    return;
  }
  const kernel = arg("--kernel", "bzImage") as "bzImage" | "vmlinux";
  const timeout = Number(arg("--timeout", "300"));
  console.log(`Linux boot: ${kernel}, 256 MiB, "${CMDLINE}"`);
  const rows = [await qemu(kernel, timeout), await kvmkit("emu", kernel, timeout), await kvmkit("kvm", kernel, 30)];
  const s = (v?: number) => (v === undefined ? "-" : `${v.toFixed(2)} s`).padStart(10);
  console.log(`${"".padEnd(16)} ${"marker".padStart(10)} ${"power-off".padStart(10)}  note`);
  for (const r of rows) console.log(`${r.name.padEnd(16)} ${s(r.marker)} ${s(r.end)}  ${r.note}`);
  const [tcg, emu] = rows;
  if (tcg.marker && emu.marker) console.log(`emulator/TCG (to the marker): ${(emu.marker / tcg.marker).toFixed(2)}x`);
  else console.log("emulator/TCG: n/a (both must reach the marker)");
}

await main();
process.exit(0);
