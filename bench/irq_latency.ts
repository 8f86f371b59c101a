/**
 * irq_latency: how fast an interrupt reaches the guest, and how accurate the
 * local APIC timer is, on each backend in one run.
 *
 * Run:
 *
 *   deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/irq_latency.ts
 *   bun bench/irq_latency.ts
 *
 * Options: --n=N (interrupts per latency measurement, default 300), --ticks=N (timer periods observed, default
 * 100), --backend=kvm|emu|both (default both; kvm is skipped, saying why, where it cannot run).
 *
 * - irqLine -> handler: a real-mode guest idles in `sti; hlt` with the 8259 programmed and IRQ 5 unmasked. The host
 *   takes the time, raises and lowers line 5 (KVM_IRQ_LINE), and runs the vCPU until the handler's first
 *   instruction, `out 0xe8`, exits. So the figure is the whole path a VMM sees: injecting, entering the guest,
 *   delivering through the IVT, the exit.
 * - signalMsi -> handler: the same with KVM_SIGNAL_MSI to the local APIC, a 32-bit protected-mode guest.
 * - LAPIC timer: the timer in periodic mode at the requested period (divide by 1, TMICT in ns of the 1 GHz APIC
 *   bus); its handler exits with `out 0xe8`, and the host takes the time of each exit. Observed: the mean period
 *   over `ticks` periods, and the largest deviation of one period from the request.
 *
 * kvm here is kvm_pvm, which emulates the guest's CPL 0 code: its figures include that emulation.
 *
 * @module
 */
import process from "node:process";
import { X86_CR0_PE } from "../constants.ts";
import { Kvm, type Vcpu, type Vm } from "../mod.ts";
import { flatSegment } from "../examples/_shared.ts";
import { startRealMode } from "./_guest.ts";

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k, v ?? ""] as const;
  }),
);
const N = Number(args.get("n") ?? 300);
const TICKS = Number(args.get("ticks") ?? 100);
const which = args.get("backend") ?? "both";
const backends = (which === "both" ? ["kvm", "emu"] : [which]) as ("kvm" | "emu")[];

const GDT = 0x500, IDT = 0x800, CODE = 0x1000, HANDLER = 0x2000, IDLE = 0x1f00, MARK = 0xe8;

function hex(code: string): number[] {
  return code.trim().split(/\s+/).map((b) => parseInt(b, 16));
}

function le32(v: number): string {
  return [0, 8, 16, 24].map((s) => ((v >>> s) & 0xff).toString(16).padStart(2, "0")).join(" ");
}

/** `mov dword [addr], value`. */
function store32(addr: number, value: number): string {
  return `c7 05 ${le32(addr)} ${le32(value)}`;
}

interface Machine {
  vm: Vm;
  vcpu: Vcpu;
  mem: Uint8Array;
  close(): void;
}

function machine(kvm: Kvm): Machine {
  const vm = kvm.createVm();
  vm.createIrqchip();
  const memory = vm.allocateMemory(0x10000);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory });
  const vcpu = vm.createVcpu(0);
  vcpu.setCpuid2(kvm.supportedCpuid());
  return {
    vm,
    vcpu,
    mem: memory.bytes,
    close() {
      vm.close();
      memory.free();
    },
  };
}

/** Runs until `out 0xe8`; throws on anything else. */
function toMark(vcpu: Vcpu): void {
  const e = vcpu.run({ timeoutMs: 5000 });
  if (e.reason !== "io" || e.port !== MARK) throw new Error(`expected out 0xe8, got ${e.reason}`);
}

/** Real mode, PIC at 0x20 with IRQ 5 unmasked; the handler marks, EOIs and IRETs. */
function realModePic(m: Machine): void {
  m.mem.set(
    hex(`b0 11 e6 20 b0 20 e6 21 b0 04 e6 21 b0 01 e6 21 b0 df e6 21
         b0 11 e6 a0 b0 28 e6 a1 b0 02 e6 a1 b0 01 e6 a1 b0 ff e6 a1
         e6 e9 fb f4 eb fd`),
    CODE,
  );
  m.mem.set(hex("e6 e8 b0 20 e6 20 cf"), HANDLER); // out 0xe8, al; EOI; iret
  new DataView(m.mem.buffer, m.mem.byteOffset).setUint32(0x25 * 4, HANDLER, true);
  startRealMode(m.vcpu, CODE, 0xf000);
  const e = m.vcpu.run({ timeoutMs: 5000 });
  if (e.reason !== "io" || e.port !== 0xe9) throw new Error(`the guest did not start: ${e.reason}`);
}

/**
 * Flat 32-bit protected mode with an IDT whose `vector` gate leads to a handler that marks, EOIs the local APIC
 * and goes back to the idle loop (no IRET: this host's KVM cannot emulate a protected-mode IRET at CPL 0).
 */
function protectedLapic(m: Machine, vector: number, setup: string[]): void {
  const v = new DataView(m.mem.buffer, m.mem.byteOffset);
  v.setBigUint64(GDT + 8, 0x00cf9b000000ffffn, true);
  v.setBigUint64(GDT + 16, 0x00cf93000000ffffn, true);
  m.mem.set(hex([store32(0xfee000f0, 0x1ff), ...setup, "e6 e9 fb f4 eb fd"].join(" ")), CODE);
  m.mem.set(hex("fb f4 eb fc"), IDLE);
  m.mem.set(hex(`e6 e8 ${store32(0xfee000b0, 0)} 83 c4 0c b8 ${le32(IDLE)} ff e0`), HANDLER);
  v.setUint32(IDT + vector * 8, (0x08 << 16) | HANDLER, true);
  v.setUint32(IDT + vector * 8 + 4, 0x8e00, true);
  const s = m.vcpu.getSregs();
  s.cs = flatSegment(0x08, "code32");
  for (const k of ["ds", "es", "fs", "gs", "ss"] as const) s[k] = flatSegment(0x10, "data");
  s.gdt = { base: BigInt(GDT), limit: 23 };
  s.idt = { base: BigInt(IDT), limit: 0x7ff };
  s.cr0 |= X86_CR0_PE;
  m.vcpu.setSregs(s);
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rip: BigInt(CODE), rsp: 0xf000n, rflags: 2n });
  const e = m.vcpu.run({ timeoutMs: 5000 });
  if (e.reason !== "io" || e.port !== 0xe9) throw new Error(`the guest did not start: ${e.reason}`);
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

function latency(m: Machine, raise: () => void): string {
  const us: number[] = [];
  for (let i = 0; i < N + 20; i++) {
    const t0 = performance.now();
    raise();
    toMark(m.vcpu);
    if (i >= 20) us.push((performance.now() - t0) * 1000);
  }
  return `${quantile(us, 0.5).toFixed(1)} / ${quantile(us, 0.9).toFixed(1)} us`;
}

function timer(kvm: Kvm, periodNs: number): string {
  const m = machine(kvm);
  try {
    protectedLapic(m, 0x41, [store32(0xfee003e0, 0xb), store32(0xfee00320, 0x20041)]);
    // The timer starts when the host lets the guest write TMICT: patch the idle loop's first run to do it.
    m.mem.set(hex(`${store32(0xfee00380, periodNs)} fb f4 eb fd`), 0x3000);
    const r = m.vcpu.getRegs();
    m.vcpu.setRegs({ ...r, rip: 0x3000n });
    const times: number[] = [];
    for (let i = 0; i < TICKS + 1; i++) {
      toMark(m.vcpu);
      times.push(performance.now());
    }
    const periods = times.slice(1).map((t, i) => t - times[i]);
    const mean = (times[TICKS] - times[0]) / TICKS;
    const worst = Math.max(...periods.map((p) => Math.abs(p - periodNs / 1e6)));
    return `${(mean * 1000).toFixed(1)} us (worst period off by ${(worst * 1000).toFixed(0)} us)`;
  } finally {
    m.close();
  }
}

const rows: [string, Record<string, string>][] = [
  ["irqLine -> PIC handler, median / p90", {}],
  ["signalMsi -> LAPIC handler, median / p90", {}],
  ["LAPIC timer 1000 us periodic: observed", {}],
  ["LAPIC timer 250 us periodic: observed", {}],
];
const ran: string[] = [];
for (const backend of backends) {
  let kvm: Kvm;
  try {
    kvm = Kvm.open({ backend });
  } catch (e) {
    console.log(`${backend}: skipped (${(e as Error).message})`);
    continue;
  }
  ran.push(backend);
  try {
    let m = machine(kvm);
    realModePic(m);
    rows[0][1][backend] = latency(m, () => {
      m.vm.irqLine(5, 1);
      m.vm.irqLine(5, 0);
    });
    m.close();
    m = machine(kvm);
    protectedLapic(m, 0x45, []);
    rows[1][1][backend] = latency(m, () => m.vm.signalMsi({ addressLo: 0xfee00000, data: 0x45 }));
    m.close();
    rows[2][1][backend] = timer(kvm, 1_000_000);
    rows[3][1][backend] = timer(kvm, 250_000);
  } finally {
    kvm.close();
  }
}
const w = Math.max(...rows.map(([l]) => l.length)) + 2;
console.log("".padEnd(w) + ran.map((b) => b.padEnd(44)).join(""));
for (const [label, cells] of rows) console.log(label.padEnd(w) + ran.map((b) => (cells[b] ?? "-").padEnd(44)).join(""));
