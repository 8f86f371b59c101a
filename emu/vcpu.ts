/**
 * The vCPU descriptor: KVM_RUN and the vCPU ioctls (like the vCPU half of
 * kvm_main.c and x86.c), answering with the kernel's struct bytes and
 * errno values.
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import {
  KVM_EXIT_HLT,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_MMIO,
  KVM_GUESTDBG_ENABLE,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_UNINITIALIZED,
} from "../abi/constants.ts";
import * as R from "../abi/requests.ts";
import { kvmCpuidEntry2, kvmTranslation } from "../abi/structs.ts";
import type { EmuVm } from "./vm.ts";
import { RunPage } from "./run_page.ts";
import {
  getFpuSse,
  getFpuX87,
  getRegs,
  getSregs,
  resetCpu,
  setFpuSse,
  setFpuX87,
  setRegs,
  setSregs,
} from "./vcpu_state.ts";
import { Cpu } from "./x86/cpu.ts";
import { CoreExit } from "./x86/exit.ts";
import { run, runOne } from "./x86/exec.ts";
import { HostFault } from "./x86/memory.ts";
import { amdSaveRestore } from "./x86/fpu/image.ts";
import { IF } from "./x86/flags.ts";
import { queueNmi } from "./x86/nmi.ts";
import { resetMsrs } from "./x86/msr.ts";
import { walkInfo } from "./x86/paging.ts";
import * as X from "./vcpu_extra.ts";
import { VcpuIrq } from "./irqchip/vcpu_irq.ts";

/** KVM_MP_STATE_SIPI_RECEIVED. */
const MP_STATE_SIPI_RECEIVED = 4;

/** KVM_MAX_CPUID_ENTRIES. */
export const EMU_MAX_CPUID_ENTRIES = 256;

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
  /** performance.now() deadline of the alarm once started (at KVM_RUN, or a sleep's check), else 0. */
  alarmAt = 0;
  /** The alarm ended the last KVM_RUN (the kernel's descriptor reports it as its run signal). */
  alarmFired = false;
  /** The run loop's question: is the alarm's time up? (With an irqchip, time also acts on the devices here.) */
  readonly #alarmDue = (): boolean => {
    if (this.irq !== null) this.irq.chip.poll(this.irq.lapic);
    if (this.alarmMs === 0) return false;
    const now = performance.now();
    if (this.alarmAt === 0) {
      this.alarmAt = now + this.alarmMs;
      return false;
    }
    return now >= this.alarmAt;
  };
  mpState = KVM_MP_STATE_RUNNABLE;
  /** KVM_SET_FPU contents (the core has no x87/SSE yet). */
  fpu = X.defaultFpu();
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

  /** Dispatches a vCPU ioctl: the result, or -errno. */
  ioctl(request: number, arg: Uint8Array, value = 0): number {
    if (request === R.KVM_RUN) return this.#run(); // the hot path: no view of an argument it does not have
    const view = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
    const need = (n: number) => arg.byteLength >= n;
    // _IOR requests only read; anything else may change state a cached translation depends on.
    if (request >>> 30 !== 2) this.#stale = true;
    switch (request) {
      case R.KVM_GET_REGS:
        if (!need(144)) return -Errno.EFAULT;
        getRegs(this.cpu, view);
        return 0;
      case R.KVM_SET_REGS:
        if (!need(144)) return -Errno.EFAULT;
        setRegs(this.cpu, view);
        return 0;
      case R.KVM_GET_SREGS:
        if (!need(312)) return -Errno.EFAULT;
        getSregs(this.cpu, view);
        return 0;
      case R.KVM_SET_SREGS:
        if (!need(312)) return -Errno.EFAULT;
        return setSregs(this.cpu, view) ? 0 : -Errno.EINVAL;
      case R.KVM_GET_MSRS:
      case R.KVM_SET_MSRS:
        return X.msrs(this.cpu, view, request === R.KVM_SET_MSRS);
      case R.KVM_TRANSLATE:
        return this.#translate(arg);
      case R.KVM_INTERRUPT: {
        if (!need(4)) return -Errno.EFAULT;
        const irq = view.getUint32(0, true);
        if (irq >= 256) return -Errno.EINVAL;
        if (this.vm.irqchip) return -Errno.ENXIO;
        this.cpu.pendingIrq = irq;
        return 0;
      }
      case R.KVM_NMI:
        queueNmi(this.cpu);
        return 0;
      case R.KVM_SET_GUEST_DEBUG:
        return X.setGuestDebug(this.cpu, view);
      case R.KVM_GET_FPU:
        if (!need(this.fpu.length)) return -Errno.EFAULT;
        arg.set(this.fpu);
        getFpuSse(this.cpu, view);
        getFpuX87(this.cpu, view);
        return 0;
      case R.KVM_SET_FPU:
        if (!need(this.fpu.length)) return -Errno.EFAULT;
        this.fpu.set(arg.subarray(0, this.fpu.length));
        setFpuSse(this.cpu, view);
        setFpuX87(this.cpu, view);
        return 0;
      case R.KVM_SET_CPUID2:
        return this.#setCpuid(view);
      case R.KVM_GET_CPUID2:
        return X.writeCpuid(view, this.cpu.cpuidTable, false);
      case R.KVM_GET_MP_STATE:
        if (!need(4)) return -Errno.EFAULT;
        this.irq?.acceptEvents();
        view.setUint32(0, this.mpState, true);
        return 0;
      case R.KVM_SET_MP_STATE: {
        if (!need(4)) return -Errno.EFAULT;
        const s = view.getUint32(0, true);
        if (s > 4 || (!this.vm.irqchip && s !== KVM_MP_STATE_RUNNABLE)) return -Errno.EINVAL;
        if (s === MP_STATE_SIPI_RECEIVED) {
          // As the kernel: INIT received, with a SIPI (vector 0, the kernel's stale one) pending.
          this.mpState = KVM_MP_STATE_INIT_RECEIVED;
          this.irq?.queueSipi(0);
        } else this.mpState = s;
        return 0;
      }
      case R.KVM_GET_VCPU_EVENTS:
        return X.getEvents(this.cpu, view);
      case R.KVM_SET_VCPU_EVENTS:
        return X.setEvents(this.cpu, view);
      case R.KVM_GET_DEBUGREGS:
        return X.getDebugRegs(this.cpu, view);
      case R.KVM_SET_DEBUGREGS:
        return X.setDebugRegs(this.cpu, view);
      case R.KVM_GET_LAPIC:
      case R.KVM_SET_LAPIC:
        if (this.irq === null) return -Errno.EINVAL;
        if (!need(1024)) return -Errno.EFAULT;
        if (request === R.KVM_GET_LAPIC) this.irq.lapic.save(arg);
        else this.irq.lapic.load(arg);
        return 0;
      case R.KVM_GET_TSC_KHZ:
        return this.cpu.tscKhz;
      case R.KVM_SET_TSC_KHZ:
        return this.#setTscKhz(value >>> 0);
      case R.KVM_GET_XCRS:
        return X.getXcrs(this.cpu, view);
      case R.KVM_SET_XCRS:
        return X.setXcrs(this.cpu, view);
      case R.KVM_SET_SIGNAL_MASK:
        if (!need(4)) return -Errno.EFAULT;
        return view.getUint32(0, true) === 8 ? 0 : -Errno.EINVAL;
      default:
        return -Errno.EINVAL;
    }
  }

  /** KVM_RUN: completes the last exit, then runs until the next one. */
  #run(): number {
    const cpu = this.cpu, page = this.run;
    if (this.lastExit) this.#complete(this.lastExit);
    this.lastExit = undefined;
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
    // The deadline counts from the start of the run, however slowly its first instructions go.
    if (this.alarmMs !== 0 && this.alarmAt === 0) this.alarmAt = performance.now() + this.alarmMs;
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
    const e = cpu.exits.shift()!;
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
    for (;;) {
      irq.chip.poll(irq.lapic);
      const before = this.mpState;
      irq.acceptEvents();
      if (before === KVM_MP_STATE_UNINITIALIZED && this.mpState !== before) return -Errno.EAGAIN;
      if (irq.blocked) {
        if (!this.#sleep(irq)) {
          cpu.exits.push(new CoreExit(KVM_EXIT_INTR));
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

  /** KVM_SET_TSC_KHZ: the guest TSC's rate (0: the default), keeping its current value. */
  #setTscKhz(khz: number): number {
    const cpu = this.cpu, k = khz || 1_000_000;
    const now = performance.now(), tsc = BigInt(Math.floor(now * cpu.tscKhz)) + cpu.tscOffset;
    cpu.tscKhz = k;
    cpu.tscOffset = tsc - BigInt(Math.floor(now * k));
    return 0;
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

  /** KVM_TRANSLATE: as the kernel reports it, writeable is always 1 and usermode 0. */
  #translate(arg: Uint8Array): number {
    if (arg.byteLength < kvmTranslation.size) return -Errno.EFAULT;
    const t = kvmTranslation.fromBytes(arg);
    // In long mode the walk uses bits 47:0 (the kernel's walker does not check canonical form).
    const lin = Number(t.linearAddress & (this.cpu.efer & 0x400 ? 0xffffffffffffn : 0xffffffffn));
    let phys = -1;
    if (!(this.cpu.cr0 & 0x80000000)) phys = lin;
    else {
      const r = walkInfo(this.cpu, lin, false, false, false, false);
      if (typeof r !== "number") phys = r.phys;
    }
    const ok = phys >= 0;
    arg.set(kvmTranslation.toBytes({
      linearAddress: t.linearAddress,
      physicalAddress: ok ? BigInt(phys) : 0xffffffffffffffffn,
      valid: ok ? 1 : 0,
      writeable: 1,
      usermode: 0,
    }));
    return 0;
  }

  #setCpuid(view: DataView): number {
    if (view.byteLength < 8) return -Errno.EFAULT;
    const nent = view.getUint32(0, true);
    if (nent > EMU_MAX_CPUID_ENTRIES) return -Errno.E2BIG;
    if (view.byteLength < 8 + nent * kvmCpuidEntry2.size) return -Errno.EFAULT;
    const entries = [];
    for (let i = 0; i < nent; i++) entries.push(kvmCpuidEntry2.decode(view, 8 + i * kvmCpuidEntry2.size));
    this.cpu.cpuidTable = entries;
    return 0;
  }

  /** Whether KVM_SET_GUEST_DEBUG enabled debugging (for tests and diagnostics). */
  get debugging(): boolean {
    return (this.cpu.debugControl & KVM_GUESTDBG_ENABLE) !== 0;
  }
}
