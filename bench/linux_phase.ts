/**
 * One phase of a Linux boot on the emulator, for profiling the block
 * compiler: boots build/linux-guest/bzImage (tools/linux_guest.sh) with the
 * early console on the serial port until the console shows `--until` (by
 * default the kernel's banner, "Linux version": the phase is then mostly
 * the bzImage's XZ decompressor, about 4.5 G instructions), and prints the wall and CPU seconds, the
 * instructions the vCPU ran (its run loop's count) and the block compiler's
 * counters. Run it under `deno run --cpu-prof` to see where the time goes.
 *
 * `--insns N` stops instead once the compiled blocks ran N instructions
 * (a fixed amount of work, to compare CPU seconds between versions).
 *
 * `--pvh` boots build/linux-guest/vmlinux through its PVH entry instead
 * (no decompressor), with printk.time=1 as `kvmkit run` does: for the
 * kernel's init phases, `--until` a line of its log.
 *
 * `--append TEXT` adds TEXT to the kernel's command line (`cryptomgr.notests`, say, to leave out the crypto
 * self-tests' RSA work, as CI's PVH boot does).
 *
 * Run:
 *
 *   deno run -A bench/linux_phase.ts [--pvh] [--until TEXT] [--timeout SECONDS] [--mode on|eager|off] [--insns N]
 *     [--append TEXT]
 *
 * @module
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import { Kvm } from "../mod.ts";
import { HANDLE } from "../_handle.ts";
import type { EmuVcpu } from "../emu/vcpu.ts";
import { Machine } from "../vmm/machine.ts";
import { GUEST_DIR, guestMissing } from "../tests/vmm/_vmm_linux.ts";

/** What the console shows on the way: the decompressor's start and end, the kernel's banner and command line. */
const MILESTONES = [
  "Decompressing Linux",
  "Booting the kernel",
  "Linux version",
  "Command line:",
  "pid_max",
  "Mount-cache",
  "devtmpfs: initialized",
  "PCI: Using",
  "clocksource: Switched",
  "Unpacking initramfs",
  "Freeing initrd",
  "Freeing unused kernel image",
  "Run /init",
];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** The emulator vCPUs of the kernel behind `kvm`'s VMs. */
function vcpus(m: Machine): EmuVcpu[] {
  const kernel = m.vm[HANDLE].kernel as unknown as { vcpuOf?(fd: number): EmuVcpu | undefined };
  const out: EmuVcpu[] = [];
  for (let fd = 0; fd < 4096 && kernel.vcpuOf; fd++) {
    const v = kernel.vcpuOf(fd);
    if (v) out.push(v);
  }
  return out;
}

async function main(): Promise<void> {
  const missing = guestMissing();
  if (missing) {
    console.log(`linux_phase: ${missing}`);
    return;
  }
  const until = arg("--until", "Linux version");
  const timeoutS = Number(arg("--timeout", "300"));
  const mode = arg("--mode", "on") as "on" | "eager" | "off";
  const insns = Number(arg("--insns", "Infinity"));
  const pvh = process.argv.includes("--pvh");
  const append = arg("--append", "");
  using kvm = Kvm.open({ backend: "emu", blockCompiler: mode });
  let text = "";
  // CPU and wall seconds when each milestone first shows on the console.
  const seen: { text: string; cpu: number; wall: number }[] = [];
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  using m = Machine.create({
    kvm,
    memory: 256 * 2 ** 20,
    kernel: pvh
      ? { name: "vmlinux", data: new Uint8Array(readFileSync(GUEST_DIR + "vmlinux")) }
      : { name: "bzImage", data: new Uint8Array(readFileSync(GUEST_DIR + "bzImage")) },
    initrds: [{ name: "initramfs", data: new Uint8Array(readFileSync(GUEST_DIR + "initramfs.cpio.gz")) }],
    cmdline: (pvh ? "console=ttyS0 panic=-1 printk.time=1" : "console=ttyS0 earlyprintk=serial panic=-1") +
      (append ? ` ${append}` : ""),
    output: (b) => {
      text += new TextDecoder().decode(b);
      for (const t of MILESTONES) {
        if (!seen.some((s) => s.text === t) && text.includes(t)) {
          const c = process.cpuUsage(cpu0);
          seen.push({ text: t, cpu: (c.user + c.system) / 1e6, wall: (performance.now() - start) / 1000 });
        }
      }
      if (text.includes(until)) m.stop("quit", 0, `"${until}" printed`);
    },
  });
  // Stop once the blocks have run `--insns` instructions (checked between the vCPU's slices).
  const poll = setInterval(() => {
    if (vcpus(m).reduce((t, v) => t + v.cpu.blocks.stats.insns, 0) >= insns) m.stop("quit", 0, `${insns} instructions`);
  }, 20);
  const r = await m.run({ timeoutMs: timeoutS * 1000 });
  clearInterval(poll);
  const wall = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const stats = vcpus(m).map((v) => ({ ...v.cpu.blocks.stats, blocks: v.cpu.blocks.size }));
  const ran = stats.reduce((t, s) => t + s.insns, 0), cpuS = (cpu.user + cpu.system) / 1e6;
  console.log(`until ${JSON.stringify(until)}: ${r.reason} (${r.detail})`);
  console.log(
    `wall ${wall.toFixed(2)} s, cpu ${cpuS.toFixed(2)} s, mode ${mode}, ${
      (ran / 1e6).toFixed(0)
    } M instructions in blocks, ${(ran / 1e6 / cpuS).toFixed(1)} M per CPU second`,
  );
  for (const s of seen) console.log(`${s.text.padEnd(20)} cpu ${s.cpu.toFixed(2)} s, wall ${s.wall.toFixed(2)} s`);
  const d = seen.find((s) => s.text === MILESTONES[0]), e = seen.find((s) => s.text === MILESTONES[1]);
  if (d && e) console.log(`decompressor: cpu ${(e.cpu - d.cpu).toFixed(2)} s, wall ${(e.wall - d.wall).toFixed(2)} s`);
  console.log(`blocks: ${JSON.stringify(stats)}`);
  console.log(`console (last 400 characters): ${JSON.stringify(text.slice(-400))}`);
}

await main();
process.exit(0);
