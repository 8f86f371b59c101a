/**
 * One emulated vCPU: its CPU, its kvm_run page, its MP state, and KVM_RUN
 * (completing the last exit, running until the next one, the run alarm,
 * and with an in-kernel irqchip, sleeping in HLT). Its other ioctls are
 * the table in vcpu_ioctls.ts.
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import {
  KVM_EXIT_HLT,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_MMIO,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_UNINITIALIZED,
} from "../abi/constants.ts";
import type { EmuVm } from "./vm.ts";
import { RunPage } from "./run_page.ts";
import { defaultFpu, resetCpu } from "./vcpu_state.ts";
import { Cpu } from "./x86/cpu.ts";
import { type CoreExit, releaseExit, takeExit } from "./x86/exit.ts";
import { run, runOne } from "./x86/exec.ts";
import { HostFault } from "./x86/memory.ts";
import { amdSaveRestore } from "./x86/fpu/image.ts";
import { IF } from "./x86/flags.ts";
import { resetMsrs } from "./x86/msr.ts";
import { VcpuIrq } from "./irqchip/vcpu_irq.ts";

/** One emulated vCPU. */
export class EmuVcpu {
  readonly id: number;
  readonly vm: EmuVm;
  readonly cpu: Cpu;
  readonly run = new RunPage();
  /** The exit last reported through kvm_run (completed on the next KVM_RUN). */
  lastExit: CoreExit | undefined;
  /** setRunAlarm's time in ms, or 0 for none. */
  alarmMs = 0;
  /**
   * performance.now() deadline of the alarm once started, else 0. The clock starts at the run loop's first check
   * (64 instructions in) or a sleep's, not at KVM_RUN: a run that exits sooner (an I/O exit's round trip) never
   * reads it, and reading it was a sixth of that round trip.
   */
  alarmAt = 0;
  /** The alarm ended the last KVM_RUN (the kernel's descriptor reports it as its run signal). */
  alarmFired = false;
  /** The run loop's question: is the alarm's time up? (With an irqchip, time also acts on the devices here.) */
  readonly #alarmDue = (): boolean => {
    if (this.irq !== null) {
      this.irq.chip.poll(this.irq.lapic);
      // A pause-loop exit: another vCPU runs while this one spins.
      if (this.irq.spinYield) return true;
    }
    if (this.alarmMs === 0) return false;
    const now = performance.now();
    if (this.alarmAt === 0) {
      this.alarmAt = now + this.alarmMs;
      return false;
    }
    return now >= this.alarmAt;
  };
  mpState = KVM_MP_STATE_RUNNABLE;
  /** The kvm_fpu bytes the core does not keep (KVM_SET_FPU's reserved members); x87 and SSE state is the Cpu's. */
  fpu = defaultFpu();
  /** The local APIC and the rest of the in-kernel irqchip's per-vCPU state, with KVM_CREATE_IRQCHIP. */
  readonly irq: VcpuIrq | null;
  #slotGeneration = -1;
  #tlbGeneration = -1;
  /** An ioctl other than KVM_RUN or a read may have changed what the software TLB caches. */
  #stale = true;

  constructor(vm: EmuVm, id: number) {
    this.vm = vm;
    this.id = id;
    this.cpu = new Cpu(vm.slots, vm.vendor, vm.blockCompiler);
    resetCpu(this.cpu, id === 0);
    resetMsrs(this.cpu, vm.vendor);
    this.irq = vm.irqchip ? new VcpuIrq(vm.irqchip, this) : null;
  }

  /** Marks what the software TLB caches as possibly stale (an ioctl other than KVM_RUN or a read was made). */
  invalidate(): void {
    this.#stale = true;
  }

  /** KVM_RUN: completes the last exit, then runs until the next one. */
  kvmRun(): number {
    const cpu = this.cpu, page = this.run;
    const last = this.lastExit;
    if (last !== undefined) {
      this.lastExit = undefined;
      this.#complete(last);
      // Completed: nothing refers to it now (the core's exits are only ever queued, then kept here).
      releaseExit(last);
    }
    this.alarmFired = false;
    if (page.immediateExit || (this.alarmAt !== 0 && performance.now() >= this.alarmAt)) {
      this.alarmFired = !page.immediateExit;
      this.alarmAt = this.alarmMs = 0;
      // As the kernel does, an IN or MMIO read waiting for its data completes before the EINTR.
      if (cpu.replay.length === 0 || cpu.exits.length !== 0 || !this.#finishPending()) {
        page.setExitReason(KVM_EXIT_INTR);
        return -Errno.EINTR;
      }
    }
    if (cpu.exits.length === 0) {
      this.#prepare();
      cpu.halted = false;
      cpu.requestIrqWindow = page.requestInterruptWindow;
      try {
        if (this.irq === null) run(cpu, this.#alarmDue);
        else {
          const r = this.#runWithIrqchip(this.irq);
          if (r < 0) return r;
        }
      } catch (e) {
        if (e instanceof HostFault) return -Errno.EFAULT;
        throw e;
      }
      // KVM saves the guest's x87 state at every exit; an AMD part drops FOP/FIP/FDP then unless ES is set.
      if (cpu.vendor.name === "amd") amdSaveRestore(cpu.fpu);
    }
    // Nearly always the only one: pop() is cheaper than shift().
    const e = cpu.exits.length === 1 ? cpu.exits.pop()! : cpu.exits.shift()!;
    page.writeExit(e);
    page.setCommon(
      (cpu.eflRest & IF) !== 0,
      // With an in-kernel PIC the kernel always reports ready_for_interrupt_injection.
      this.irq !== null || ((cpu.eflRest & IF) !== 0 && cpu.shadow === 0 && cpu.pendingIrq < 0),
      cpu.cr8,
      cpu.apicBase,
    );
    if (e.reason === KVM_EXIT_INTR) {
      this.alarmAt = this.alarmMs = 0;
      this.alarmFired = true;
      releaseExit(e);
      return -Errno.EINTR;
    }
    this.lastExit = e;
    return 0;
  }

  /**
   * KVM_RUN with the in-kernel irqchip: INIT and SIPI are taken, HLT is not an exit but a sleep until an interrupt
   * (or the next timer deadline, or the run alarm), and a vCPU waiting for INIT/SIPI sleeps too. 0 when an exit is
   * queued; -EAGAIN when a vCPU that had not been initialized received its INIT (as the kernel answers).
   */
  #runWithIrqchip(irq: VcpuIrq): number {
    const cpu = this.cpu;
    cpu.intrRequest = true;
    irq.startRun();
    for (;;) {
      irq.chip.poll(irq.lapic);
      const before = this.mpState;
      irq.acceptEvents();
      if (before === KVM_MP_STATE_UNINITIALIZED && this.mpState !== before) return -Errno.EAGAIN;
      if (irq.blocked) {
        if (!this.#sleep(irq)) {
          cpu.exits.push(takeExit(KVM_EXIT_INTR));
          return 0;
        }
        continue;
      }
      run(cpu, this.#alarmDue);
      if (cpu.exits.length === 1 && cpu.exits[0].reason === KVM_EXIT_HLT) {
        cpu.exits.length = 0;
        cpu.halted = false;
        this.mpState = KVM_MP_STATE_HALTED;
        continue;
      }
      return 0;
    }
  }

  /** A blocked vCPU waits: false when the run must end now (its alarm, or a Worker's slice yields). */
  #sleep(irq: VcpuIrq): boolean {
    const now = performance.now();
    if (this.alarmMs !== 0) {
      if (this.alarmAt === 0) this.alarmAt = now + this.alarmMs;
      if (now >= this.alarmAt) return false;
    }
    if (irq.yieldOnHalt) return false;
    irq.sleepUntil(this.alarmAt || Infinity);
    return true;
  }

  /**
   * Before running guest code: a new run epoch (decoded code is compared with memory once per run, as the host may
   * have written it), decoded code dropped if the memory slots changed, the TLB dropped if they or a dirty log or
   * any vCPU state changed.
   */
  #prepare(): void {
    const cpu = this.cpu, slots = this.vm.slots;
    cpu.runEpoch++;
    if (this.#slotGeneration !== slots.generation) {
      this.#slotGeneration = slots.generation;
      cpu.dropCode();
      this.#stale = true;
    }
    if (this.#stale || this.#tlbGeneration !== slots.tlbGeneration) {
      this.#tlbGeneration = slots.tlbGeneration;
      this.#stale = false;
      cpu.mem.flush();
    }
  }

  /** Runs just the instruction waiting for its IN or MMIO data; true when that queued another exit. */
  #finishPending(): boolean {
    const cpu = this.cpu;
    this.#prepare();
    try {
      runOne(cpu);
    } catch (e) {
      if (!(e instanceof HostFault)) throw e;
    }
    return cpu.exits.length !== 0;
  }

  /** Hands the data userspace wrote for an IN or an MMIO read to the restarted instruction. */
  #complete(e: CoreExit): void {
    if (e.reason === KVM_EXIT_IO && e.dir === 0) this.cpu.replay.push(this.run.ioData(e.size * e.count));
    else if (e.reason === KVM_EXIT_MMIO && e.dir === 0) this.cpu.replay.push(this.run.mmioData(e.size));
  }
}
