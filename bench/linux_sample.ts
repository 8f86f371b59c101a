/**
 * Where a Linux boot on the emulator spends its time, console line by
 * console line: boots build/linux-guest/vmlinux through PVH (1 vCPU, the
 * same command line as `kvmkit run ... --backend emu` with printk.time=1)
 * and, for each interval between two console lines, records the CPU seconds
 * it took, the KVM_RUNs, the block compiler's counters, the TLB flushes
 * (full ones by the RIP that asked, INVLPGs by 1 GiB region) and the
 * writes to code pages it saw, a sample of the guest's RIP every
 * `--every` ms (taken between the vCPU's slices), and the RIPs at which the
 * interpreter ran instead of a block (each arrival counted). Writes one JSON
 * object per interval to `--out`, for a script to symbolize with the
 * kernel's System.map.
 *
 * Run:
 *
 *   deno run -A bench/linux_sample.ts [--out FILE] [--every MS] [--timeout SECONDS] [--mode on|eager|off]
 *
 * @module
 */
import process from "node:process";
import { readFileSync, writeFileSync } from "node:fs";
import { Kvm } from "../mod.ts";
import { HANDLE } from "../_handle.ts";
import type { EmuVcpu } from "../emu/vcpu.ts";
import { getRip } from "../emu/x86/long/access.ts";
import { regionOf } from "../emu/x86/memory.ts";
import { Machine } from "../vmm/machine.ts";
import { GUEST_DIR, guestMissing } from "../tests/vmm/_vmm_linux.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** RIP as 16 hex digits (the kernel's addresses are negative as signed numbers). */
function hex(rip: number): string {
  return BigInt.asUintN(64, BigInt(rip)).toString(16).padStart(16, "0");
}

/** What one interval between console lines saw. */
interface Interval {
  line: string;
  cpu: number;
  samples: Record<string, number>;
  interpreted: Record<string, number>;
  flushes: Record<string, number>;
  invlpg: Record<string, number>;
  runs: number;
  codeWrites: Record<string, number>;
  stats: Record<string, number>;
}

function fresh(): Interval {
  return {
    line: "",
    cpu: 0,
    samples: {},
    interpreted: {},
    flushes: {},
    invlpg: {},
    runs: 0,
    codeWrites: {},
    stats: {},
  };
}

function bump(m: Record<string, number>, k: string): void {
  m[k] = (m[k] ?? 0) + 1;
}

async function main(): Promise<void> {
  const missing = guestMissing();
  if (missing) {
    console.log(`linux_sample: ${missing}`);
    return;
  }
  const out = arg("--out", "/tmp/linux_sample.jsonl");
  const every = Number(arg("--every", "2"));
  const timeoutS = Number(arg("--timeout", "400"));
  const mode = arg("--mode", "on") as "on" | "eager" | "off";
  using kvm = Kvm.open({ backend: "emu", blockCompiler: mode });
  const intervals: Interval[] = [];
  let cur = fresh(), pending = "";
  let cpu0 = process.cpuUsage();
  let stats0: Record<string, number> = {};
  let vcpu: EmuVcpu | undefined;
  let runs0 = 0;
  const statsNow = (): Record<string, number> => ({ ...vcpu!.cpu.blocks.stats });
  using m = Machine.create({
    kvm,
    memory: 256 * 2 ** 20,
    kernel: { name: "vmlinux", data: new Uint8Array(readFileSync(GUEST_DIR + "vmlinux")) },
    initrds: [{ name: "initramfs", data: new Uint8Array(readFileSync(GUEST_DIR + "initramfs.cpio.gz")) }],
    cmdline: "console=ttyS0 panic=-1 printk.time=1",
    output: (b) => {
      pending += new TextDecoder().decode(b);
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const c = process.cpuUsage(cpu0);
        cpu0 = process.cpuUsage();
        cur.line = pending.slice(0, nl).replace(/\r$/, "");
        cur.cpu = (c.user + c.system) / 1e6;
        if (vcpu) {
          cur.runs = vcpu.cpu.runEpoch - runs0;
          runs0 = vcpu.cpu.runEpoch;
          const s = statsNow();
          for (const k of Object.keys(s)) cur.stats[k] = s[k] - (stats0[k] ?? 0);
          stats0 = s;
        }
        intervals.push(cur);
        cur = fresh();
        pending = pending.slice(nl + 1);
      }
    },
  });
  const kernel = m.vm[HANDLE].kernel as unknown as { vcpuOf(fd: number): EmuVcpu | undefined };
  for (let fd = 0; fd < 4096 && !vcpu; fd++) vcpu = kernel.vcpuOf(fd);
  const cpu = vcpu!.cpu, mem = cpu.mem, blocks = cpu.blocks;
  stats0 = statsNow();
  // Instance wrappers around the methods whose calls are counted.
  const flush = mem.flush.bind(mem), flushPage = mem.flushPage.bind(mem), hot = blocks.hot.bind(blocks);
  const codeWritten = cpu.codeWritten.bind(cpu);
  // Full flushes by the RIP that asked for one; INVLPGs by 1 GiB region of the page (memory.ts regionOf).
  mem.flush = () => (bump(cur.flushes, hex(getRip(cpu))), flush());
  mem.flushPage = (lin: number) => (bump(cur.invlpg, regionOf(lin).toString(16)), flushPage(lin));
  blocks.hot = (
    pfn: number,
    off: number,
    epoch: number,
  ) => (bump(cur.interpreted, hex(getRip(cpu))), hot(pfn, off, epoch));
  cpu.codeWritten = (
    pfn: number,
  ) => (bump(cur.codeWrites, `${pfn.toString(16)}@${hex(getRip(cpu))}`), codeWritten(pfn));
  const poll = setInterval(() => bump(cur.samples, hex(getRip(cpu))), every);
  const r = await m.run({ timeoutMs: timeoutS * 1000 });
  clearInterval(poll);
  cur.line = `(end: ${r.reason} ${r.detail})`;
  intervals.push(cur);
  writeFileSync(out, intervals.map((i) => JSON.stringify(i)).join("\n") + "\n");
  console.log(`linux_sample: ${r.reason} (${r.detail}), ${intervals.length} intervals in ${out}`);
}

await main();
process.exit(0);
