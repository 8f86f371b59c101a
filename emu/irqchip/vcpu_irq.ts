/**
 * A vCPU's side of the in-kernel irqchip: its local APIC, the INIT and SIPI
 * it received (the kernel's apic->pending_events and
 * kvm_apic_accept_events), the MSRs the APIC owns (APIC base, x2APIC
 * registers, TSC deadline), whether a halted vCPU has something to do, and
 * its sleep: until the next timer deadline, the run alarm or (on the owner
 * thread of Worker vCPUs) a wake-up from another vCPU.
 *
 * @module
 */
import {
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_UNINITIALIZED,
} from "../../abi/constants.ts";
import type { Cpu } from "../x86/cpu.ts";
import { IF } from "../x86/flags.ts";
import { attachMsrDevice, resetMsrDevices } from "../x86/msr.ts";
import { queueNmi } from "../x86/nmi.ts";
import { CS } from "../x86/state.ts";
import { resetCpu } from "../vcpu_state.ts";
import type { Irqchip } from "./irqchip.ts";
import { APIC_BASE_BSP, APIC_BASE_ENABLE, APIC_BASE_EXTD, DM_INIT, DM_NMI, DM_SIPI } from "./apic.ts";
import type { Lapic } from "./lapic.ts";
import { hostMsAt } from "./clock.ts";

/** How often a sleeping vCPU looks at its irqfds (ms). */
const IRQFD_POLL_MS = 1;
/** The longest single sleep (ms): a sleep with no deadline still wakes now and then. */
const MAX_SLEEP_MS = 50;
/** The longest wait of a halted Worker vCPU before its mailbox looks for a kick again (ms). */
const IDLE_POLL_MS = 10;
/**
 * Pause-loop exiting: the PAUSEs a vCPU executes in one run before it gives up its slice to another runnable vCPU
 * (KVM's ple_window, counted in PAUSEs). On the owner's thread only one vCPU runs at a time, so a vCPU spinning on
 * what another vCPU must do (csd_lock_wait, a contended lock, stop_machine) waits for that vCPU's turn anyway.
 */
export const PLE_WINDOW = 64;
/** What a pause-loop exit adds to the run loop's count (Cpu.work): more than its longest check interval. */
const PLE_WORK = 1 << 16;
/** MSR indices. */
const MSR_APIC_BASE = 0x1b, MSR_TSC_DEADLINE = 0x6e0;

/** A sleep of `ms` milliseconds that blocks the thread (no busy wait). */
const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}

/** What the vCPU's irqchip side reads and writes of the vCPU. */
export interface IrqVcpu {
  readonly id: number;
  readonly cpu: Cpu;
  mpState: number;
}

/** The irqchip state of one vCPU. */
export class VcpuIrq {
  readonly lapic: Lapic;
  readonly chip: Irqchip;
  readonly #vcpu: IrqVcpu;
  #pendingInit = false;
  #pendingSipi = -1;
  /** Resolvers of `idle()` promises, called by a wake-up. */
  #wakers: (() => void)[] = [];
  /**
   * The owner thread's scheduling of Worker vCPUs (the proxy's slices): a halted vCPU with nothing to do ends
   * KVM_RUN at once instead of sleeping, and a vCPU spinning on PAUSE ends it when another vCPU is runnable.
   */
  yieldOnHalt = false;
  /** PAUSEs in this run (pause-loop exiting). */
  #pauses = 0;
  /** A pause-loop exit ends this run: the run loop's alarm check sees it. */
  spinYield = false;
  /** Runs a pause-loop exit ended (kvm_vcpu_on_spin's directed yields). */
  pauseExits = 0;

  constructor(chip: Irqchip, vcpu: IrqVcpu) {
    this.chip = chip;
    this.#vcpu = vcpu;
    this.lapic = chip.attach(vcpu.id, vcpu.cpu, {
      wake: () => this.wake(),
      signal: (mode, vector) => this.#signal(mode, vector),
      pause: () => this.#pause(),
      runnable: () => !this.blocked,
    });
    // As kvm_arch_vcpu_create: only the boot vCPU starts runnable; the others wait for INIT and SIPI.
    if (vcpu.id !== 0) vcpu.mpState = KVM_MP_STATE_UNINITIALIZED;
    const lapic = this.lapic;
    attachMsrDevice(vcpu.cpu, {
      read(index: number): bigint | undefined | null {
        if (index === MSR_TSC_DEADLINE) return lapic.tscDeadline;
        if (index >= 0x800 && index <= 0x8ff) return lapic.readMsr(index);
        return null;
      },
      write(index: number, value: bigint): boolean | null {
        if (index === MSR_TSC_DEADLINE) {
          lapic.setTscDeadline(value);
          return true;
        }
        if (index === MSR_APIC_BASE) return setApicBase(lapic, value);
        if (index >= 0x800 && index <= 0x8ff) return lapic.writeMsr(index, value);
        return null;
      },
    });
  }

  /** Something for this vCPU changed: the CPU looks for an interrupt, and a sleeping vCPU wakes. */
  wake(): void {
    this.#vcpu.cpu.requestInterrupt();
    const w = this.#wakers;
    if (w.length) {
      this.#wakers = [];
      for (const f of w) f();
    }
  }

  /** A run begins: the pause-loop count starts again. */
  startRun(): void {
    this.#pauses = 0;
    this.spinYield = false;
  }

  /**
   * PAUSE. Past PLE_WINDOW of them in one run, a vCPU that yields on halt ends its run if another vCPU is runnable
   * (kvm_vcpu_on_spin): a compiled block stops after this instruction (codeGen) and the run loop asks its alarm at
   * once (work), which answers spinYield.
   */
  #pause(): void {
    if (!this.yieldOnHalt || ++this.#pauses < PLE_WINDOW) return;
    this.#pauses = 0;
    if (!this.chip.othersRunnable(this.#vcpu.id)) return;
    this.pauseExits++;
    this.spinYield = true;
    const cpu = this.#vcpu.cpu;
    cpu.codeGen++;
    cpu.work += PLE_WORK;
  }

  #signal(mode: number, vector: number): void {
    if (mode === DM_NMI) queueNmi(this.#vcpu.cpu);
    else if (mode === DM_INIT) this.#pendingInit = true;
    else if (mode === DM_SIPI) this.#pendingSipi = vector;
    this.wake();
  }

  /** kvm_apic_accept_events: INIT resets the vCPU (an AP then waits for SIPI); SIPI starts one that waits. */
  acceptEvents(): void {
    const v = this.#vcpu;
    if (this.#pendingInit) {
      this.#pendingInit = false;
      initReset(v.cpu, this.lapic);
      v.mpState = v.cpu.apicBase & APIC_BASE_BSP ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_INIT_RECEIVED;
    }
    if (this.#pendingSipi >= 0) {
      const vector = this.#pendingSipi;
      this.#pendingSipi = -1;
      if (v.mpState === KVM_MP_STATE_INIT_RECEIVED) {
        const cpu = v.cpu;
        cpu.segSel[CS] = vector << 8;
        cpu.segBase[CS] = vector << 12;
        cpu.eip = 0;
        cpu.ripHigh = 0;
        v.mpState = KVM_MP_STATE_RUNNABLE;
      }
    }
  }

  /** KVM_SET_MP_STATE's SIPI_RECEIVED: INIT received, with a SIPI pending. */
  queueSipi(vector: number): void {
    this.#pendingSipi = vector;
  }

  /** Whether a halted vCPU wakes: an NMI, INIT or SIPI, or (IF=1, no shadow) an interrupt it would take. */
  hasEvents(): boolean {
    const cpu = this.#vcpu.cpu;
    if (this.#pendingInit || this.#pendingSipi >= 0) return true;
    if (cpu.nmiPending > 0 && !cpu.nmiMasked) return true;
    if (!(cpu.eflRest & IF) || cpu.shadow) return false;
    if (cpu.pendingIrq >= 0) return true;
    return (this.chip.pic.output && this.lapic.acceptsPic) || this.lapic.pending() >= 0;
  }

  /** Whether the vCPU cannot run guest code now: waiting for INIT/SIPI, or halted with nothing to do. */
  get blocked(): boolean {
    const s = this.#vcpu.mpState;
    // An INIT or SIPI is taken at the next KVM_RUN.
    if (s === KVM_MP_STATE_UNINITIALIZED || s === KVM_MP_STATE_INIT_RECEIVED) {
      return !this.#pendingInit && this.#pendingSipi < 0;
    }
    if (s !== KVM_MP_STATE_HALTED) return false;
    if (!this.hasEvents()) return true;
    this.#vcpu.mpState = KVM_MP_STATE_RUNNABLE;
    return false;
  }

  /** The next device deadline in performance.now() milliseconds (Infinity: none): guest time back to host time. */
  deadlineMs(): number {
    return hostMsAt(this.chip.deadline(this.lapic));
  }

  /** Blocks the thread until the next deadline, `limitMs` (performance.now() ms), or an irqfd poll interval. */
  sleepUntil(limitMs: number): void {
    const now = performance.now();
    let until = Math.min(this.deadlineMs(), limitMs, now + MAX_SLEEP_MS);
    if (this.chip.irqfds.length) until = Math.min(until, now + IRQFD_POLL_MS);
    sleepMs(until - now);
  }

  /**
   * A promise that settles at the next device deadline, at `limitMs`, or when something wakes this vCPU; at the
   * latest after IDLE_POLL_MS, when the mailbox looks for a kick.
   */
  idle(limitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const now = performance.now();
      let until = Math.min(this.deadlineMs(), limitMs, now + IDLE_POLL_MS);
      if (this.chip.irqfds.length) until = Math.min(until, now + IRQFD_POLL_MS);
      const timer = setTimeout(done, Math.max(0, until - now));
      const wakers = this.#wakers;
      function done(): void {
        clearTimeout(timer);
        const i = wakers.indexOf(done);
        if (i >= 0) wakers.splice(i, 1);
        resolve();
      }
      wakers.push(done);
    });
  }
}

/** WRMSR IA32_APIC_BASE with the kernel's checks: reserved bits, and no x2APIC without the global enable. */
function setApicBase(lapic: Lapic, value: bigint): boolean {
  if (value >> 36n || value & 0x2ffn) return false;
  const v = Number(value), old = lapic.cpu.apicBase;
  const mode = v & (APIC_BASE_ENABLE | APIC_BASE_EXTD), oldMode = old & (APIC_BASE_ENABLE | APIC_BASE_EXTD);
  if (mode === APIC_BASE_EXTD) return false;
  // x2APIC may only be left by disabling the APIC.
  if (oldMode === (APIC_BASE_ENABLE | APIC_BASE_EXTD) && mode === APIC_BASE_ENABLE) return false;
  lapic.setBase(v);
  return true;
}

/** kvm_vcpu_reset(init_event): the CPU's INIT state (the APIC base and MSRs kept), the local APIC reset. */
function initReset(cpu: Cpu, lapic: Lapic): void {
  const base = cpu.apicBase;
  resetCpu(cpu, (base & APIC_BASE_BSP) !== 0);
  resetMsrDevices(cpu); // kvmclock_reset
  cpu.apicBase = base;
  cpu.cr0 = 0x60000010;
  cpu.cr2 = cpu.cr3 = cpu.cr4 = 0;
  cpu.efer = 0;
  cpu.gdtBase = cpu.idtBase = 0;
  cpu.gdtLimit = cpu.idtLimit = 0xffff;
  cpu.dr6 = 0xffff0ff0;
  cpu.dr7 = 0x400;
  cpu.cpl = 0;
  cpu.ripHigh = 0;
  cpu.xcr0 = 1;
  cpu.halted = false;
  cpu.shadow = 0;
  cpu.pendingIrq = cpu.pendingException = cpu.pendingErrorCode = -1;
  cpu.nmiPending = 0;
  cpu.nmiInjected = cpu.nmiMasked = false;
  cpu.mem.flush();
  lapic.reset();
}
