/**
 * io_exit_handoff: what one port I/O exit of a Worker vCPU costs on the
 * emulator while another vCPU runs. A vmm Machine with 2 vCPUs boots a flat
 * 32-bit guest: the boot vCPU starts the other with INIT/SIPI (which then
 * spins on `jmp $`, or halts with `--ap=halt`), does `--outs` OUTs to port
 * 0x80 between two writes to a marker port, and exits through isa-debug-exit.
 * Prints wall and CPU time per OUT between the markers (process.cpuUsage:
 * every thread, so a spinning vCPU's share counts), one line per run, and the
 * medians. The Workers' start is outside the markers.
 * `--cpus=1` is the reference: one vCPU on the calling thread.
 *
 *   deno run -A bench/io_exit_handoff.ts [--outs=N] [--runs=R] [--ap=spin|halt] [--cpus=1|2]
 *   bun bench/io_exit_handoff.ts [...]
 *
 * @module
 */
import process from "node:process";
import { Machine } from "../vmm/machine.ts";
import { median, printTable, runtimeName } from "./_report.ts";

/** Where the guest is loaded (32-bit flat protected mode), and the AP's page (SIPI vector 0x08). */
const AT = 0x10000, AP_PAGE = 0x8000;
const DEBUG_EXIT = 0x501, MARK_PORT = 0xe9;

/** `mov dword [addr], value` */
function movMem(addr: number, value: number): number[] {
  return [0xc7, 0x05, ...le32(addr), ...le32(value)];
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}

/** The boot vCPU's code: APIC on, INIT and SIPI to APIC 1, `outs` OUTs to 0x80, isa-debug-exit 0. */
function bspCode(outs: number): Uint8Array {
  return new Uint8Array([
    ...movMem(0xfee000f0, 0x1ff), // SVR: APIC software enabled
    ...movMem(0xfee00310, 1 << 24), // ICR high: destination APIC 1
    ...movMem(0xfee00300, 0x4500), // INIT, assert
    ...movMem(0xfee00300, 0x4600 | (AP_PAGE >> 12)), // SIPI
    0xe6, // out MARK_PORT, al
    MARK_PORT,
    0xb9, // mov ecx, outs
    ...le32(outs),
    0xe6, // .loop: out 0x80, al
    0x80,
    0x49, // dec ecx
    0x75, // jnz .loop
    0xfb,
    0xe6, // out MARK_PORT, al
    MARK_PORT,
    0xb0, // mov al, 0
    0x00,
    0x66, // mov dx, DEBUG_EXIT
    0xba,
    DEBUG_EXIT & 0xff,
    DEBUG_EXIT >> 8,
    0xee, // out dx, al
    0xf4, // hlt
  ]);
}

/** The other vCPU's code (real mode, at the SIPI's page): spin, or halt with interrupts off. */
const AP_CODE = { spin: [0xeb, 0xfe], halt: [0xfa, 0xf4, 0xeb, 0xfc] } as const;

/** One run: wall and CPU ms per OUT. */
async function measure(outs: number, cpus: number, ap: keyof typeof AP_CODE): Promise<{ wall: number; cpu: number }> {
  const machine = Machine.create({
    backend: "emu",
    cpus,
    flat: { file: { name: "bsp", data: bspCode(outs) }, mode: "protected", at: AT },
    debugExit: DEBUG_EXIT,
  });
  try {
    machine.ram.write(AP_PAGE, new Uint8Array(AP_CODE[ap]), "AP code");
    const marks: { wall: number; cpu: number }[] = [];
    machine.bus.register(MARK_PORT, 1, "bench marker", {
      read: () => 0xff,
      write: () => {
        const u = process.cpuUsage();
        marks.push({ wall: performance.now(), cpu: (u.user + u.system) / 1000 });
      },
    });
    const r = await machine.run({ timeoutMs: 600_000 });
    if (r.reason !== "debug-exit") throw new Error(`the guest stopped: ${r.reason} (${r.detail})`);
    if (marks.length !== 2) throw new Error(`${marks.length} marker writes, expected 2`);
    return { wall: (marks[1].wall - marks[0].wall) / outs, cpu: (marks[1].cpu - marks[0].cpu) / outs };
  } finally {
    machine.close();
  }
}

async function main(): Promise<void> {
  const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
  const outs = Number(args.outs ?? 2000), runs = Number(args.runs ?? 3), cpus = Number(args.cpus ?? 2);
  const ap = (args.ap ?? "spin") as keyof typeof AP_CODE;
  if (!(outs > 0) || !(runs > 0) || !(ap in AP_CODE)) throw new RangeError("--outs, --runs > 0; --ap=spin|halt");
  console.log(`io_exit_handoff: ${runtimeName()}, ${cpus} vCPU(s), other vCPU ${ap}, ${outs} OUTs per run`);
  const rows: string[][] = [];
  const walls: number[] = [], cpuTimes: number[] = [];
  for (let i = 0; i < runs; i++) {
    const m = await measure(outs, cpus, ap);
    walls.push(m.wall);
    cpuTimes.push(m.cpu);
    rows.push([`run ${i + 1}`, (m.wall * 1000).toFixed(1), (m.cpu * 1000).toFixed(1)]);
  }
  rows.push(["median", (median(walls) * 1000).toFixed(1), (median(cpuTimes) * 1000).toFixed(1)]);
  printTable(["", "wall us/OUT", "CPU us/OUT"], rows);
}

await main();
