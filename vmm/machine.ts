/**
 * A PC: guest RAM with its e820 map, the in-kernel irqchip and PIT (GSI
 * routing as QEMU sets it: IRQ 0 reaches IOAPIC pin 2), the devices on the
 * port bus (16550A on COM1, CMOS RTC, i8042, ACPI PM block and reset
 * register, PCI configuration mechanism #1 with a host bridge, fw_cfg, port
 * 0x80, port 0x92, optional isa-debug-exit), the HPET on the MMIO bus, the ACPI
 * tables, a kernel or flat binary loaded into it, and its vCPUs.
 *
 * One vCPU runs on the calling thread, in slices, yielding to the event loop
 * between them (so the terminal's input reaches the UART). Several run each in
 * a Worker (vmm/_vcpu_worker.ts). Their I/O and MMIO exits are completed on
 * this thread, where the devices live: on the emulator, which executes every
 * vCPU on this thread anyway, before the Worker sees them (Vcpu.handoff's
 * `onExit`); on kvm the Worker sends them here through a SharedArrayBuffer
 * and a message and waits. The application processors start in the
 * wait-for-SIPI state of the in-kernel local APIC: the guest starts them with
 * INIT/SIPI.
 *
 * @module
 */
import { Kvm } from "../mod.ts";
import type { Vcpu, VcpuExit, Vm } from "../mod.ts";
import { KVM_PIT_SPEAKER_DUMMY } from "../constants.ts";
import { buildAcpi, PM_BASE, RESET_PORT } from "./acpi.ts";
import { IoBus, MmioBus } from "./bus.ts";
import { type CpuMode, enter, setupCpuid } from "./cpu.ts";
import { FwCfg } from "./fw_cfg.ts";
import { Hpet, HPET_BASE, HPET_SIZE } from "./hpet.ts";
import { I8042 } from "./i8042.ts";
import { type BootFile, type LoadedGuest, loadFlat, loadKernel } from "./loaders/mod.ts";
import { DebugExit, PostCode, SystemControlA } from "./misc.ts";
import { PCI_CONFIG_ADDRESS, PCI_CONFIG_PORTS, PciHost } from "./pci.ts";
import { AcpiPm, ResetControl } from "./pm.ts";
import { BIOS_START, GuestRam } from "./ram.ts";
import { CmosRtc } from "./rtc.ts";
import { vmClockMs, vmWallClockMs } from "./clock.ts";
import { Uart16550 } from "./uart.ts";
import { WORKER_CTL, WorkerCtl } from "./_worker_protocol.ts";
import { yieldMacrotask } from "../internal/yield.ts";

/** COM1. */
export const COM1_PORT = 0x3f8, COM1_IRQ = 4;
/** QEMU's fw_cfg ports. */
export const FW_CFG_PORT = 0x510;

/** How to build a machine. */
export interface MachineOptions {
  /** The backend (default "auto"). Ignored when `kvm` is given. */
  backend?: "auto" | "kvm" | "emu";
  /** An open Kvm to use (the machine does not close it). */
  kvm?: Kvm;
  /** Bytes of RAM (default 256 MiB). */
  memory?: number;
  /** vCPUs (default 1). */
  cpus?: number;
  /** A bzImage, multiboot or PVH ELF kernel. */
  kernel?: BootFile;
  /** Initrds (multiboot: modules). */
  initrds?: readonly BootFile[];
  /** The kernel command line. */
  cmdline?: string;
  /** A flat binary instead of a kernel. */
  flat?: { file: BootFile; mode: CpuMode; at: number };
  /** The isa-debug-exit port, if any. */
  debugExit?: number;
  /** Receives what the guest writes to COM1 (default: dropped). Called in chunks. */
  output?: (bytes: Uint8Array) => void;
  /** "exits": every exit is described to `traceOutput`; "insns": every instruction's address (one vCPU). */
  trace?: "exits" | "insns";
  /** Where trace lines go (default console.error). */
  traceOutput?: (line: string) => void;
}

/** Why a machine stopped. */
export type StopReason = "poweroff" | "reset" | "halted" | "debug-exit" | "quit" | "timeout" | "error";

/** Why a machine stopped, as stop() was told. */
export interface MachineStop {
  /** Why. */
  reason: StopReason;
  /** The status a VMM process should exit with. */
  code: number;
  /** What caused it, e.g. "ACPI S5", "triple fault". */
  detail: string;
}

/** How a run ended. */
export interface MachineResult {
  /** Why it stopped. */
  reason: StopReason;
  /** The status a VMM process should exit with: 0, or (v << 1) | 1 for isa-debug-exit, or 1 on an error. */
  exitCode: number;
  /** What caused it, e.g. "ACPI S5", "triple fault", the internal error. */
  detail: string;
  /** Wall-clock seconds of the run. */
  seconds: number;
  /** Exits handled (not counting the run slices' own interruptions). */
  exits: number;
}

/** Describes an exit in one line (bigints in hex). */
export function describeExit(exit: VcpuExit): string {
  return JSON.stringify(exit, (_k, v) => {
    if (typeof v === "bigint") return `0x${v.toString(16)}`;
    if (v instanceof Uint8Array) return [...v].map((b) => b.toString(16).padStart(2, "0")).join("");
    return v;
  });
}

/** The longest run slice of the vCPU on the calling thread, in ms, between its yields to the event loop. */
const SLICE_MS = 10;

/** The machine. Create it with {@linkcode Machine.create}, then `run()`; `close()` when done. */
export class Machine implements Disposable {
  /** The open KVM system (the backend). */
  readonly kvm: Kvm;
  /** The VM. */
  readonly vm: Vm;
  /** Guest RAM and its e820 map. */
  readonly ram: GuestRam;
  /** The port bus with every device. */
  readonly bus: IoBus = new IoBus();
  /** COM1, the 16550A at 0x3f8. */
  readonly uart: Uart16550;
  /** The CMOS RTC at 0x70. */
  readonly rtc: CmosRtc;
  /** QEMU's fw_cfg at 0x510. */
  readonly fwCfg: FwCfg;
  /** Port 0x80. */
  readonly postCode: PostCode = new PostCode();
  /** PCI configuration mechanism #1 (0xcf8-0xcff) and bus 0 with its host bridge. */
  readonly pci: PciHost;
  /** The MMIO devices (outside RAM and the in-kernel APICs). */
  readonly mmio: MmioBus = new MmioBus();
  /** The HPET at 0xfed00000. */
  readonly hpet: Hpet;
  /** The loaded guest: format, entry state, description. */
  readonly guest: LoadedGuest;
  /** Number of vCPUs. */
  readonly cpus: number;
  /** Guest-physical addresses of the RSDP and of each ACPI table. */
  readonly acpi: { rsdp: number; tables: Record<string, number> };
  readonly #ownsKvm: boolean;
  readonly #vcpus: Vcpu[] = [];
  readonly #options: MachineOptions;
  readonly #trace: (line: string) => void;
  #out: number[] = [];
  #stop: MachineStop | undefined;
  #wake: (() => void) | undefined;
  #exits = 0;
  /** COM1's output will be flushed once the current slice of the Worker vCPUs ends. */
  #flushQueued = false;
  #closed = false;
  #workers: { worker: Worker; ctl: WorkerCtl; vcpu: Vcpu; done: Promise<void> }[] = [];

  private constructor(options: MachineOptions) {
    this.#options = options;
    this.#trace = options.traceOutput ?? ((line) => console.error(line));
    this.cpus = options.cpus ?? 1;
    if (!Number.isInteger(this.cpus) || this.cpus < 1 || this.cpus > 64) {
      throw new RangeError(`cpus ${options.cpus}: expected 1 to 64`);
    }
    if (options.trace === "insns" && this.cpus > 1) throw new RangeError(`--trace insns needs --cpus 1`);
    if (!!options.kernel === !!options.flat) throw new TypeError("give exactly one of kernel and flat");
    this.#ownsKvm = !options.kvm;
    this.kvm = options.kvm ?? Kvm.open({ backend: options.backend ?? "auto" });
    try {
      this.vm = this.kvm.createVm();
      if (this.kvm.backend === "kvm") this.vm.setTssAddr(0xfffbd000); // VMX's real-mode TSS, where QEMU puts it
      this.vm.createIrqchip();
      this.vm.createPit2(KVM_PIT_SPEAKER_DUMMY); // port 0x61 in the kernel too
      this.vm.setGsiRouting(gsiRoutes());
      this.ram = new GuestRam(this.vm, options.memory ?? 256 * 2 ** 20);

      const acpi = buildAcpi({ base: BIOS_START, cpus: this.cpus, lowMemory: this.ram.lowSize });
      this.ram.write(BIOS_START, acpi.bytes, "ACPI tables");
      this.acpi = { rsdp: acpi.rsdp, tables: acpi.tables };

      const reset = (why: string) => () => this.stop("reset", 0, why);
      // The platform's timers count the VM's clock, as the guest's TSC, kvmclock and APIC timers do (vmm/clock.ts).
      const clock = vmClockMs(this.vm);
      this.uart = new Uart16550({
        output: (b) => this.#out.push(b),
        irq: (level) => this.vm.irqLine(COM1_IRQ, level),
      });
      this.bus.register(COM1_PORT, 8, "uart", this.uart);
      this.rtc = new CmosRtc({
        lowMemory: this.ram.lowSize,
        highMemory: this.ram.highSize,
        cpus: this.cpus,
        now: vmWallClockMs(this.vm),
      });
      this.bus.register(0x70, 2, "rtc", this.rtc);
      const kbc = new I8042({ irq: (level) => this.vm.irqLine(1, level), reset: reset("i8042 reset") });
      this.bus.register(0x60, 1, "i8042 data", kbc.data);
      this.bus.register(0x64, 1, "i8042 command", kbc.command);
      this.bus.register(0x80, 1, "post", this.postCode);
      this.bus.register(0x92, 1, "port 92", new SystemControlA(reset("port 0x92 reset")));
      this.bus.register(
        PM_BASE,
        12,
        "acpi pm",
        new AcpiPm({ poweroff: () => this.stop("poweroff", 0, "ACPI S5"), reset: reset("ACPI reset"), now: clock }),
      );
      // 0xcf9, the reset control register, lies inside PCI configuration mechanism #1's ports 0xcf8-0xcff.
      this.pci = new PciHost(new ResetControl(reset(`reset register 0x${RESET_PORT.toString(16)}`)));
      this.bus.register(PCI_CONFIG_ADDRESS, PCI_CONFIG_PORTS, "pci config, reset control", this.pci);
      this.hpet = new Hpet({ irq: (gsi, level) => this.vm.irqLine(gsi, level), now: clock });
      this.mmio.register(HPET_BASE, HPET_SIZE, "hpet", this.hpet);
      if (options.debugExit !== undefined) {
        this.bus.register(
          options.debugExit,
          1,
          "isa-debug-exit",
          new DebugExit((code) => this.stop("debug-exit", code, `isa-debug-exit ${code}`)),
        );
      }

      for (let id = 0; id < this.cpus; id++) {
        const vcpu = this.vm.createVcpu(id);
        setupCpuid(this.kvm, vcpu, this.cpus);
        this.#vcpus.push(vcpu);
      }
      if (options.flat) {
        const { file, mode, at } = options.flat;
        this.guest = loadFlat(file.data, file.name, this.ram, mode, at);
      } else {
        this.guest = loadKernel(options.kernel!.data, options.kernel!.name, {
          ram: this.ram,
          cmdline: options.cmdline ?? "",
          initrds: options.initrds ?? [],
          rsdp: acpi.rsdp,
        });
      }
      enter(this.#vcpus[0], this.ram, this.guest.entry);
      this.fwCfg = new FwCfg({ ramSize: this.ram.size, cpus: this.cpus, ...this.guest.fwCfg });
      const e820 = new Uint8Array(20 * this.ram.e820().length);
      this.ram.e820().forEach((e, i) => {
        const v = new DataView(e820.buffer, 20 * i, 20);
        v.setBigUint64(0, BigInt(e.addr), true);
        v.setBigUint64(8, BigInt(e.size), true);
        v.setUint32(16, e.type, true);
      });
      this.fwCfg.addFile("etc/e820", e820);
      this.bus.register(FW_CFG_PORT, 2, "fw_cfg", this.fwCfg);
      if (options.trace === "insns") this.#vcpus[0].setGuestDebug({ singlestep: true });
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Builds a machine: allocates RAM, creates the irqchip, devices and vCPUs, loads the guest. */
  static create(options: MachineOptions): Machine {
    return new Machine(options);
  }

  /** The vCPUs, boot vCPU first (with several, only kick() works on them while run() is in progress). */
  get vcpus(): readonly Vcpu[] {
    return this.#vcpus;
  }

  /** The backend in use. */
  get backend(): string {
    return this.kvm.backend;
  }

  /** Queues bytes on COM1's receiver (as if typed on its terminal). */
  input(bytes: Uint8Array | readonly number[]): void {
    this.uart.receive(bytes);
  }

  /** Why the machine stopped, once it has. */
  get stopped(): MachineStop | undefined {
    return this.#stop;
  }

  /** Exits handled so far (not counting the run slices' own interruptions). */
  get exits(): number {
    return this.#exits;
  }

  /**
   * Services one exit of vCPU `id` for a caller that runs the vCPUs itself
   * instead of run() (the gdb stub): the devices answer I/O and MMIO, any
   * other exit stops the machine as in run(), and COM1's output is flushed.
   * Returns the stop once the machine has stopped.
   */
  serviceExit(exit: VcpuExit, id: number): MachineStop | undefined {
    try {
      this.#handle(exit, id);
    } catch (e) {
      this.stop("error", 1, e instanceof Error ? e.message : String(e));
    }
    this.#flush();
    return this.#stop;
  }

  /** Stops the machine: the current run() resolves with `reason`. The first stop wins. */
  stop(reason: StopReason, code = reason === "error" ? 1 : 0, detail: string = reason): void {
    if (this.#stop) return;
    this.#stop = { reason, code, detail };
    for (const w of this.#workers) {
      Atomics.store(w.ctl.words, WORKER_CTL.STOP, 1);
      w.vcpu.kick();
    }
    this.#wake?.();
  }

  /** Runs the guest until it powers off, resets, exits through isa-debug-exit, fails, or `stop()` is called. */
  async run(options: { timeoutMs?: number } = {}): Promise<MachineResult> {
    if (this.#closed) throw new Error("the machine is closed");
    const start = performance.now();
    const timer = options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => this.stop("timeout", 124, `timeout after ${options.timeoutMs} ms`), options.timeoutMs);
    try {
      if (this.cpus === 1) await this.#runHere();
      else await this.#runWorkers();
    } catch (e) {
      this.stop("error", 1, e instanceof Error ? e.message : String(e));
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      this.#flush();
    }
    const s = this.#stop!;
    return {
      reason: s.reason,
      exitCode: s.code,
      detail: s.detail,
      seconds: (performance.now() - start) / 1000,
      exits: this.#exits,
    };
  }

  async #runHere(): Promise<void> {
    const vcpu = this.#vcpus[0];
    let last = performance.now();
    while (!this.#stop) {
      // A slice ends by the HPET's next match, so a timer fires on time while the guest halts.
      const due = this.hpet.dueInMs();
      const timeoutMs = due === undefined ? SLICE_MS : Math.min(SLICE_MS, due);
      const exit = vcpu.run({ timeoutMs });
      if (exit.reason !== "intr") this.#handle(exit, 0);
      this.hpet.poll();
      const now = performance.now();
      // Yield by host time only: a slice the HPET's deadline ended is no reason to, and Deno clamps nested
      // setTimeout(0) to 4 ms: after every short slice an HPET tick ended, the guest lost most of the thread.
      if (now - last >= SLICE_MS) {
        last = now;
        this.#flush();
        await yieldMacrotask();
      }
    }
  }

  async #runWorkers(): Promise<void> {
    if (typeof Worker === "undefined") {
      const why =
        "more than one vCPU runs each in a Web Worker, which this runtime lacks: use Deno or Bun, or --cpus 1";
      this.stop("error", 1, why);
      return;
    }
    for (const vcpu of this.#vcpus) {
      const ctl = new WorkerCtl();
      const worker = new Worker(new URL("./_vcpu_worker.ts", import.meta.url), { type: "module" });
      const done = new Promise<void>((resolve) => {
        worker.onmessage = (e: MessageEvent) => {
          const m = e.data as { t: string; detail?: string; exit?: string };
          if (m.t === "io") this.#serveIo(ctl, vcpu.id);
          else if (m.t === "exit") this.#handleForwarded(m.exit!, vcpu.id);
          else if (m.t === "error") this.stop("error", 1, `vCPU ${vcpu.id}: ${m.detail}`);
          else if (m.t === "done") resolve();
        };
        worker.onerror = (e: ErrorEvent) => {
          e.preventDefault();
          this.stop("error", 1, `vCPU ${vcpu.id} worker: ${e.message}`);
          resolve();
        };
      });
      this.#workers.push({ worker, ctl, vcpu, done });
    }
    // Hand off only once every worker exists, so a stop reaches them all.
    for (const w of this.#workers) {
      const handoff = w.vcpu.handoff({ onExit: (exit) => this.#completeHere(exit, w.vcpu.id) });
      w.worker.postMessage({ handoff, ctl: w.ctl.buffer });
    }
    if (!this.#stop) await new Promise<void>((resolve) => (this.#wake = resolve));
    await Promise.all(this.#workers.map((w) => w.done));
    for (const w of this.#workers) w.worker.terminate();
    this.#workers = [];
  }

  /**
   * Vcpu.handoff's `onExit`: on the emulator, an I/O or MMIO exit of a Worker's vCPU is completed here, in the
   * owner's slice, without a round trip through the Worker (which waited 1.5-3.5 ms for each while another vCPU
   * ran); the other exits go to the Worker. COM1's output is flushed once per slice, not per byte.
   */
  #completeHere(exit: VcpuExit, id: number): boolean {
    if (exit.reason !== "io" && exit.reason !== "mmio") return false;
    try {
      this.#handle(exit, id);
    } catch (e) {
      this.stop("error", 1, e instanceof Error ? e.message : String(e));
    }
    if (!this.#flushQueued && this.#out.length) {
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        this.#flush();
      });
    }
    return true;
  }

  /** Completes a Worker's I/O or MMIO exit (on kvm: the Worker posted it and waits). */
  #serveIo(ctl: WorkerCtl, id: number): void {
    const w = ctl.words;
    const kind = w[WORKER_CTL.KIND];
    const data = ctl.data.subarray(0, w[WORKER_CTL.SIZE] * w[WORKER_CTL.COUNT]);
    try {
      if (kind === 0) {
        this.#io(
          w[WORKER_CTL.DIR] ? "out" : "in",
          w[WORKER_CTL.PORT],
          w[WORKER_CTL.SIZE],
          w[WORKER_CTL.COUNT],
          data,
          id,
        );
      } else {
        this.#mmio(
          BigInt(w[WORKER_CTL.PORT] >>> 0) | (BigInt(w[WORKER_CTL.ADDR_HI] >>> 0) << 32n),
          w[WORKER_CTL.DIR] === 1,
          data,
          id,
        );
      }
    } catch (e) {
      this.stop("error", 1, e instanceof Error ? e.message : String(e));
    }
    this.#exits++;
    Atomics.store(w, WORKER_CTL.STATE, 2);
    Atomics.notify(w, WORKER_CTL.STATE);
    this.#flush();
  }

  #io(direction: "in" | "out", port: number, size: number, count: number, data: Uint8Array, id: number): void {
    this.bus.pio(direction, port, size, count, data);
    if (this.#options.trace === "exits") {
      const hex = [...data].map((b) => b.toString(16).padStart(2, "0")).join("");
      this.#trace(
        `cpu${id} io ${direction} 0x${port.toString(16)}/${size}x${count} ${hex} ${this.bus.nameOf(port) ?? "-"}`,
      );
    }
  }

  #mmio(addr: bigint, isWrite: boolean, data: Uint8Array, id: number): void {
    // The MMIO bus (the HPET); elsewhere reads float high and writes are dropped.
    if (isWrite) this.mmio.write(Number(addr), data);
    else this.mmio.read(Number(addr), data);
    if (this.#options.trace === "exits") {
      const hex = [...data].map((b) => b.toString(16).padStart(2, "0")).join("");
      const name = this.mmio.nameOf(Number(addr)) ?? "-";
      this.#trace(`cpu${id} mmio ${isWrite ? "write" : "read"} 0x${addr.toString(16)}/${data.length} ${hex} ${name}`);
    }
  }

  #handle(exit: VcpuExit, id: number): void {
    this.#exits++;
    switch (exit.reason) {
      case "io":
        this.#io(exit.direction, exit.port, exit.size, exit.count, exit.data, id);
        return;
      case "mmio":
        this.#mmio(exit.physAddr, exit.isWrite, exit.data, id);
        return;
      case "debug":
        if (this.#options.trace === "insns") this.#trace(`cpu${id} insn 0x${exit.pc.toString(16)}`);
        return;
      default:
        if (this.#options.trace === "exits") this.#trace(`cpu${id} ${describeExit(exit)}`);
        this.#handleForwarded(describeExit(exit), id, exit);
    }
  }

  /** An exit other than I/O: described as JSON (from a Worker) or the exit itself. */
  #handleForwarded(described: string, id: number, exit?: VcpuExit): void {
    const reason = exit?.reason ?? (JSON.parse(described) as { reason: string }).reason;
    if (reason === "shutdown") this.stop("reset", 0, `triple fault on vCPU ${id}`);
    else if (reason === "hlt") this.stop("halted", 0, `vCPU ${id} halted`);
    else if (reason === "system_event") {
      const type = (JSON.parse(described) as { type: number }).type;
      if (type === 1) this.stop("poweroff", 0, `system event: shutdown (vCPU ${id})`);
      else if (type === 2) this.stop("reset", 0, `system event: reset (vCPU ${id})`);
      else this.stop("error", 1, `vCPU ${id}: ${described}`);
    } else this.stop("error", 1, `vCPU ${id}: ${described}`);
  }

  #flush(): void {
    if (this.#out.length === 0) return;
    const bytes = new Uint8Array(this.#out);
    this.#out = [];
    this.#options.output?.(bytes);
  }

  /** Closes the VM (and its vCPUs) and frees guest RAM; closes the Kvm if the machine opened it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.hpet?.stop();
    for (const w of this.#workers) w.worker.terminate();
    this.vm?.close();
    this.ram?.free();
    if (this.#ownsKvm) this.kvm?.close();
  }

  /** Closes the machine (`using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** QEMU's routing for a PC with the in-kernel irqchip: GSI n -> PIC pin n (not 2) and IOAPIC pin n, GSI 0 -> pin 2. */
function gsiRoutes() {
  const routes: { gsi: number; type: "irqchip"; irqchip: 0 | 1 | 2; pin: number }[] = [];
  for (let i = 0; i < 16; i++) {
    if (i !== 2) routes.push({ gsi: i, type: "irqchip", irqchip: (i >> 3) as 0 | 1, pin: i & 7 });
  }
  for (let i = 0; i < 24; i++) {
    if (i !== 2) routes.push({ gsi: i, type: "irqchip", irqchip: 2, pin: i === 0 ? 2 : i });
  }
  return routes;
}
