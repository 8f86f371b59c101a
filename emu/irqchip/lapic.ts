/**
 * One vCPU's local APIC in the in-kernel irqchip (the kernel's lapic.c):
 * the register page (kvm_lapic_state, each register at its MMIO offset) as
 * xAPIC MMIO and as x2APIC MSRs; TPR (one with CR8), PPR, IRR/ISR/TMR and
 * EOI with the broadcast to the IOAPIC for level-triggered vectors; SVR
 * software enable; the LVT; the timer in one-shot, periodic and
 * TSC-deadline modes on guest time (clock.ts; a 1 GHz APIC bus, as KVM's);
 * and the ICR, whose IPIs the VM's bus delivers.
 *
 * @module
 */
import type { Cpu } from "../x86/cpu.ts";
import {
  APIC_ARBPRI,
  APIC_BASE_ENABLE,
  APIC_BASE_EXTD,
  APIC_DFR,
  APIC_EOI,
  APIC_ESR,
  APIC_ICR,
  APIC_ICR2,
  APIC_ID,
  APIC_IRR,
  APIC_ISR,
  APIC_LDR,
  APIC_LVR,
  APIC_LVT0,
  APIC_LVT1,
  APIC_LVTERR,
  APIC_LVTT,
  APIC_PROCPRI,
  APIC_SELF_IPI,
  APIC_SPIV,
  APIC_TASKPRI,
  APIC_TDCR,
  APIC_TMCCT,
  APIC_TMICT,
  APIC_TMR,
  type ApicMessage,
  DM_FIXED,
  DM_INIT,
  DM_LOWEST,
  DM_NMI,
  DM_SIPI,
  X2APIC_READABLE,
  X2APIC_WRITABLE,
} from "./apic.ts";
import { nowMs, nowNs } from "./clock.ts";
import { tscAt } from "../x86/msr.ts";

/** Size of kvm_lapic_state (KVM_APIC_REG_SIZE). */
export const LAPIC_PAGE_SIZE = 1024;

const LVT_MASKED = 0x10000, SPIV_ENABLED = 0x100;
const LVT_MASK = 0x10000 | 0x1000 | 0xff;
const LINT_MASK = LVT_MASK | 0x700 | 0x2000 | 0x4000 | 0x8000;
/** What each LVT register keeps (timer, thermal, PMC, LINT0, LINT1, error); the timer's mode bits are added. */
const LVT_WRITABLE = [LVT_MASK, LVT_MASK | 0x700, LVT_MASK | 0x700, LINT_MASK, LINT_MASK, LVT_MASK];
const NR_LVT = 6;
/** LVTT timer modes (bits 18:17) besides one-shot (0). */
const TIMER_PERIODIC = 1, TIMER_TSCDEADLINE = 2;
/** KVM's shortest periodic timer period (min_timer_period_us = 200). */
const MIN_PERIOD_NS = 200_000;

/** The VM side of a local APIC: the bus for its IPIs, the EOI broadcast, and the vCPU it belongs to. */
export interface LapicHost {
  /** Delivers `msg` sent by `from`; the number of APICs that accepted it. */
  deliver(msg: ApicMessage, from: Lapic | null): number;
  /** `vector` ended (EOI; `level`: its TMR bit): the IOAPIC's ack notifiers, and remote IRR for a level one. */
  eoiBroadcast(vector: number, level: boolean): void;
  /** An event arrived for the vCPU: look for an interrupt, wake it if it sleeps. */
  wake(): void;
  /** NMI, INIT or SIPI (with its vector) for this vCPU. */
  signal(mode: number, vector: number): void;
}

/** A local APIC. */
export class Lapic {
  readonly regs = new Uint8Array(LAPIC_PAGE_SIZE);
  readonly #r = new Uint32Array(this.regs.buffer);
  readonly vcpuId: number;
  readonly cpu: Cpu;
  readonly host: LapicHost;
  /** TPR bits 3:0, which CR8 cannot hold, valid while CR8 still is `#tprHigh`. */
  #tprLow = 0;
  #tprHigh = 0;
  /** The timer: when it expires (nowNs, Infinity when idle), its period (ns), when it started. */
  #expire = Infinity;
  #period = 0;
  #start = 0;
  /** IA32_TSC_DEADLINE. */
  tscDeadline = 0n;
  /** Lowest-priority arbitration: how many of those this APIC took. */
  arbPrio = 0;

  constructor(cpu: Cpu, vcpuId: number, host: LapicHost) {
    this.cpu = cpu;
    this.vcpuId = vcpuId;
    this.host = host;
    this.reset();
  }

  reg(off: number): number {
    return this.#r[off >> 2];
  }

  #set(off: number, v: number): void {
    this.#r[off >> 2] = v;
  }

  /** The reset register page (kvm_lapic_reset): every LVT masked, LINT0 ExtINT on the boot vCPU, software-disabled. */
  reset(): void {
    this.regs.fill(0);
    this.#set(APIC_ID, ((this.vcpuId & 0xff) << 24) >>> 0);
    this.#set(APIC_LVR, 0x14 | ((NR_LVT - 1) << 16));
    for (let i = 0; i < NR_LVT; i++) this.#set(APIC_LVTT + 0x10 * i, LVT_MASKED);
    if (this.vcpuId === 0) this.#set(APIC_LVT0, 0x700);
    this.#set(APIC_DFR, 0xffffffff);
    this.#set(APIC_SPIV, 0xff);
    if (this.x2apic) this.#set(APIC_LDR, x2apicLdr(this.vcpuId));
    this.#expire = Infinity;
    this.#period = 0;
    this.tscDeadline = 0n;
    this.#tprLow = 0;
    this.cpu.cr8 = 0;
  }

  get hwEnabled(): boolean {
    return (this.cpu.apicBase & APIC_BASE_ENABLE) !== 0;
  }

  get x2apic(): boolean {
    return (this.cpu.apicBase & (APIC_BASE_ENABLE | APIC_BASE_EXTD)) === (APIC_BASE_ENABLE | APIC_BASE_EXTD);
  }

  get swEnabled(): boolean {
    return (this.reg(APIC_SPIV) & SPIV_ENABLED) !== 0;
  }

  /** The APIC ID as the bus matches it: the vCPU id in x2APIC mode, else bits 31:24 of APIC_ID. */
  get apicId(): number {
    return this.x2apic ? this.vcpuId : this.reg(APIC_ID) >>> 24;
  }

  get tpr(): number {
    const hi = this.cpu.cr8 & 0xf;
    return (hi << 4) | (hi === this.#tprHigh ? this.#tprLow : 0);
  }

  set tpr(v: number) {
    this.cpu.cr8 = (v >> 4) & 0xf;
    this.#tprHigh = this.cpu.cr8;
    this.#tprLow = v & 0xf;
    this.cpu.intrRequest = true;
  }

  /** The highest vector set in the 256-bit register at `base` (ISR, TMR, IRR), or -1. */
  #highest(base: number): number {
    for (let i = 7; i >= 0; i--) {
      const w = this.#r[(base >> 2) + 4 * i];
      if (w) return i * 32 + 31 - Math.clz32(w);
    }
    return -1;
  }

  #bit(base: number, v: number): boolean {
    return ((this.#r[(base >> 2) + 4 * (v >> 5)] >>> (v & 31)) & 1) !== 0;
  }

  #setBit(base: number, v: number, on: boolean): void {
    const i = (base >> 2) + 4 * (v >> 5), m = 1 << (v & 31);
    this.#r[i] = on ? this.#r[i] | m : this.#r[i] & ~m;
  }

  get ppr(): number {
    const tpr = this.tpr, isrv = Math.max(this.#highest(APIC_ISR), 0);
    return (tpr & 0xf0) >= (isrv & 0xf0) ? tpr : isrv & 0xf0;
  }

  /** The vector this APIC would deliver to its CPU now, or -1 (none, or PPR blocks it). */
  pending(): number {
    if (!this.hwEnabled) return -1;
    const irr = this.#highest(APIC_IRR);
    return irr < 0 || (irr & 0xf0) <= this.ppr ? -1 : irr;
  }

  /** The CPU takes vector `v`: from IRR to ISR. */
  acknowledge(v: number): void {
    this.#setBit(APIC_IRR, v, false);
    this.#setBit(APIC_ISR, v, true);
  }

  /** Whether the PIC's INTR reaches this CPU: LINT0 unmasked in ExtINT mode, or the APIC globally disabled. */
  get acceptsPic(): boolean {
    const lvt0 = this.reg(APIC_LVT0);
    return !this.hwEnabled || ((lvt0 & LVT_MASKED) === 0 && (lvt0 & 0x700) === 0x700);
  }

  /** __apic_accept_irq: 1 when accepted. */
  accept(msg: ApicMessage): number {
    switch (msg.mode) {
      case DM_LOWEST:
        this.arbPrio++;
      // falls through
      case DM_FIXED:
        if ((msg.trig && !msg.level) || !this.swEnabled) return 0;
        this.#setBit(APIC_TMR, msg.vector, msg.trig !== 0);
        this.#setBit(APIC_IRR, msg.vector, true);
        this.host.wake();
        return 1;
      case DM_NMI:
      case DM_SIPI:
        this.host.signal(msg.mode, msg.vector);
        return 1;
      case DM_INIT:
        if (msg.trig && !msg.level) return 0;
        this.host.signal(DM_INIT, 0);
        return 1;
      default:
        return 0;
    }
  }

  /** kvm_apic_match_dest. */
  matches(msg: ApicMessage, from: Lapic | null): boolean {
    switch (msg.shorthand) {
      case 1:
        return from === this;
      case 2:
        return true;
      case 3:
        return from !== this;
    }
    if (this.x2apic) {
      if (msg.dest === 0xffffffff) return true;
      if (!msg.logical) return msg.dest === this.vcpuId;
      const ldr = this.reg(APIC_LDR);
      return (ldr >>> 16) === (msg.dest >>> 16) && (ldr & msg.dest & 0xffff) !== 0;
    }
    const mda = msg.dest & 0xff;
    if (mda === 0xff) return true;
    if (!msg.logical) return mda === this.apicId;
    const id = this.reg(APIC_LDR) >>> 24;
    if ((this.reg(APIC_DFR) >>> 28) === 0xf) return (id & mda) !== 0;
    return (id >> 4) === (mda >> 4) && (id & mda & 0xf) !== 0;
  }

  /** EOI: the highest in-service vector ends; a level-triggered one is broadcast to the IOAPIC. */
  eoi(): void {
    const v = this.#highest(APIC_ISR);
    if (v < 0) return;
    this.#setBit(APIC_ISR, v, false);
    this.host.eoiBroadcast(v, this.#bit(APIC_TMR, v));
    this.cpu.requestInterrupt();
  }

  // ---- the timer -------------------------------------------------------------------------------------------

  get #timerMode(): number {
    return (this.reg(APIC_LVTT) >> 17) & 3;
  }

  /** The APIC bus cycles per timer tick (TDCR). */
  get #divide(): number {
    const v = this.reg(APIC_TDCR);
    return 1 << ((((v & 3) | ((v & 8) >> 1)) + 1) & 7);
  }

  /** When the timer next needs attention (nowNs), or Infinity. */
  get deadline(): number {
    return this.#expire;
  }

  #startTimer(now: number): void {
    const tmict = this.reg(APIC_TMICT);
    this.#expire = Infinity;
    if (tmict === 0 || this.#timerMode === TIMER_TSCDEADLINE) {
      this.#period = 0;
      return;
    }
    let period = tmict * this.#divide;
    if (this.#timerMode === TIMER_PERIODIC) period = Math.max(period, MIN_PERIOD_NS);
    this.#period = period;
    this.#start = now;
    this.#expire = now + period;
  }

  /** Arms the TSC-deadline timer from `tscDeadline` (0 disarms). */
  #armDeadline(): void {
    if (this.#timerMode !== TIMER_TSCDEADLINE || this.tscDeadline === 0n) {
      if (this.#timerMode === TIMER_TSCDEADLINE) this.#expire = Infinity;
      return;
    }
    // The deadline in TSC ticks, from the same instant of guest time as the expiry's.
    const ms = nowMs(), ticks = Number(this.tscDeadline - tscAt(this.cpu, ms));
    this.#expire = (ms + Math.max(ticks, 0) / this.cpu.tscKhz) * 1e6;
  }

  /** Fires the timer if its time has come. */
  poll(now: number): void {
    if (now < this.#expire) return;
    const mode = this.#timerMode;
    if (mode === TIMER_PERIODIC && this.#period > 0) {
      // Missed periods coalesce into one interrupt, as the kernel's pending count does.
      const n = Math.floor((now - this.#expire) / this.#period) + 1;
      this.#expire += n * this.#period;
      this.#start = this.#expire - this.#period;
    } else {
      this.#expire = Infinity;
      if (mode === TIMER_TSCDEADLINE) this.tscDeadline = 0n;
    }
    this.#localDeliver(APIC_LVTT);
  }

  /** kvm_apic_local_deliver: an LVT entry's interrupt, unless masked. */
  #localDeliver(lvt: number): void {
    const r = this.reg(lvt);
    if (!this.hwEnabled || r & LVT_MASKED) return;
    this.accept({
      dest: 0,
      logical: 0,
      mode: (r >> 8) & 7,
      vector: r & 0xff,
      level: 1,
      trig: (r >> 15) & 1,
      shorthand: 1,
    });
  }

  /** TMCCT: the ticks left in the current period, 0 when the timer is idle. */
  #currentCount(now: number): number {
    if (this.reg(APIC_TMICT) === 0 || this.#period === 0) return 0;
    if (this.#expire === Infinity) return 0;
    const left = this.#expire - now;
    if (left <= 0) return 0;
    return Math.floor((left % this.#period) / this.#divide);
  }

  /**
   * The timer mode bits a guest may set: periodic once KVM_SET_CPUID2 gave the vCPU a CPUID (the kernel sets its
   * mask there, zero before), TSC-deadline too where that CPUID has it.
   */
  get #timerModeMask(): number {
    const table = this.cpu.cpuidTable;
    if (table.length === 0) return 0;
    const leaf1 = table.find((e) => e.function === 1);
    return leaf1 && leaf1.ecx & (1 << 24) ? 3 << 17 : 1 << 17;
  }

  // ---- register access -------------------------------------------------------------------------------------

  /** Reads register `off` (a multiple of 16). */
  read(off: number): number {
    switch (off) {
      case APIC_TASKPRI:
        return this.tpr;
      case APIC_PROCPRI:
        return this.ppr;
      case APIC_ARBPRI:
        return 0;
      case APIC_TMCCT:
        return this.#currentCount(nowNs());
      case APIC_ID:
        return this.x2apic ? this.vcpuId : this.reg(APIC_ID);
      default:
        return this.reg(off);
    }
  }

  /** Writes register `off`; false for a register the guest may not write in this mode (#GP in x2APIC). */
  write(off: number, val: number): boolean {
    val >>>= 0;
    switch (off) {
      case APIC_ID:
        if (this.x2apic) return false;
        this.#set(APIC_ID, val & 0xff000000);
        break;
      case APIC_TASKPRI:
        this.tpr = val & 0xff;
        break;
      case APIC_EOI:
        this.eoi();
        break;
      case APIC_LDR:
        if (this.x2apic) return false;
        this.#set(APIC_LDR, val & 0xff000000);
        break;
      case APIC_DFR:
        if (this.x2apic) return false;
        this.#set(APIC_DFR, (val | 0x0fffffff) >>> 0);
        break;
      case APIC_SPIV: {
        this.#set(APIC_SPIV, val & 0x3ff);
        if (!(val & SPIV_ENABLED)) {
          for (let i = 0; i < NR_LVT; i++) {
            const at = APIC_LVTT + 0x10 * i;
            this.#set(at, (this.reg(at) | LVT_MASKED) >>> 0);
          }
        }
        this.cpu.requestInterrupt();
        break;
      }
      case APIC_ICR:
        this.#set(APIC_ICR, val & ~0x1000);
        this.sendIpi(val & ~0x1000, this.x2apic ? this.reg(APIC_ICR2) : this.reg(APIC_ICR2) >>> 24);
        break;
      case APIC_ICR2:
        if (this.x2apic) return false;
        this.#set(APIC_ICR2, val & 0xff000000);
        break;
      case APIC_LVTT: {
        if (!this.swEnabled) val |= LVT_MASKED;
        const old = this.#timerMode;
        this.#set(APIC_LVTT, val & (LVT_MASK | this.#timerModeMask));
        const mode = this.#timerMode;
        if (old !== mode && (old === TIMER_TSCDEADLINE || mode === TIMER_TSCDEADLINE)) {
          this.#expire = Infinity;
          this.#period = 0;
          this.#set(APIC_TMICT, 0);
          this.tscDeadline = 0n;
        }
        break;
      }
      case 0x330:
      case 0x340:
      case APIC_LVT0:
      case APIC_LVT1:
      case APIC_LVTERR: {
        if (!this.swEnabled) val |= LVT_MASKED;
        this.#set(off, val & LVT_WRITABLE[(off - APIC_LVTT) >> 4]);
        if (off === APIC_LVT0) this.cpu.requestInterrupt();
        break;
      }
      case APIC_TMICT:
        if (this.#timerMode === TIMER_TSCDEADLINE) break;
        this.#set(APIC_TMICT, val);
        this.#startTimer(nowNs());
        break;
      case APIC_TDCR:
        this.#set(APIC_TDCR, val & 0xb);
        break;
      case APIC_ESR:
        if (this.x2apic && val !== 0) return false;
        this.#set(APIC_ESR, 0);
        break;
      case APIC_SELF_IPI:
        if (!this.x2apic) return false;
        this.sendIpi(0x40000 | (val & 0xff), 0);
        break;
      default:
        return !this.x2apic;
    }
    return true;
  }

  /** Sends the IPI an ICR write describes (kvm_apic_send_ipi). */
  sendIpi(low: number, dest: number): void {
    this.host.deliver({
      dest,
      logical: (low >> 11) & 1,
      mode: (low >> 8) & 7,
      vector: low & 0xff,
      level: (low >> 14) & 1,
      trig: (low >> 15) & 1,
      shorthand: (low >> 18) & 3,
    }, this);
  }

  /** A read of `len` bytes at offset `off` of the xAPIC page: all ones while disabled or in x2APIC mode. */
  mmioRead(off: number, len: number): number {
    if (!this.hwEnabled || this.x2apic) return len === 4 ? 0xffffffff : (2 ** (8 * len)) - 1;
    if ((off & 3) + len > 4 || off >= 0x400) return 0;
    const v = this.read(off & 0xff0) >>> (8 * (off & 3));
    return len === 4 ? v >>> 0 : v & ((1 << (8 * len)) - 1);
  }

  /** A write at offset `off`: only 4-byte writes at a register's offset count, as the kernel's. */
  mmioWrite(off: number, len: number, val: number): void {
    if (!this.hwEnabled || this.x2apic || len !== 4 || off & 0xf || off >= 0x400) return;
    this.write(off, val);
  }

  /** RDMSR of x2APIC MSR `index` (0x800-0x8ff): undefined for #GP. */
  readMsr(index: number): bigint | undefined {
    if (!this.x2apic) return undefined;
    const off = (index - 0x800) << 4;
    if (off === APIC_ICR) return (BigInt(this.reg(APIC_ICR2)) << 32n) | BigInt(this.reg(APIC_ICR));
    if (!X2APIC_READABLE.has(off)) return undefined;
    return BigInt(this.read(off) >>> 0);
  }

  /** WRMSR of x2APIC MSR `index`: false for #GP. */
  writeMsr(index: number, value: bigint): boolean {
    if (!this.x2apic) return false;
    const off = (index - 0x800) << 4;
    if (off === APIC_ICR) {
      this.#set(APIC_ICR2, Number(value >> 32n));
      const low = Number(value & 0xffffffffn) & ~0x1000;
      this.#set(APIC_ICR, low);
      this.sendIpi(low, Number(value >> 32n));
      return true;
    }
    if (value >> 32n || !X2APIC_WRITABLE.has(off)) return false;
    return this.write(off, Number(value));
  }

  /** A write of the APIC base MSR (kvm_lapic_set_base). */
  setBase(value: number): void {
    const old = this.cpu.apicBase;
    this.cpu.apicBase = value;
    if ((old ^ value) & APIC_BASE_EXTD && value & APIC_BASE_EXTD) this.#set(APIC_LDR, x2apicLdr(this.vcpuId));
    if ((old ^ value) & APIC_BASE_ENABLE && value & APIC_BASE_ENABLE) {
      this.#set(APIC_ID, ((this.vcpuId & 0xff) << 24) >>> 0);
    }
    this.cpu.requestInterrupt();
  }

  /** WRMSR IA32_TSC_DEADLINE: ignored unless the timer is in TSC-deadline mode. */
  setTscDeadline(v: bigint): void {
    if (this.#timerMode !== TIMER_TSCDEADLINE) return;
    this.tscDeadline = v;
    this.#armDeadline();
  }

  /** KVM_GET_LAPIC: the page, with TMCCT and TPR/PPR as they read now. */
  save(out: Uint8Array): void {
    const v = new DataView(out.buffer, out.byteOffset, LAPIC_PAGE_SIZE);
    out.set(this.regs.subarray(0, LAPIC_PAGE_SIZE));
    v.setUint32(APIC_TASKPRI, this.tpr, true);
    v.setUint32(APIC_PROCPRI, this.ppr, true);
    v.setUint32(APIC_TMCCT, this.#currentCount(nowNs()), true);
  }

  /** KVM_SET_LAPIC: the page; TPR to CR8, the timer restarted from TMCCT (or TMICT). */
  load(page: Uint8Array): void {
    this.regs.set(page.subarray(0, LAPIC_PAGE_SIZE));
    if (this.x2apic) this.#set(APIC_LDR, x2apicLdr(this.vcpuId));
    this.tpr = this.reg(APIC_TASKPRI) & 0xff;
    const now = nowNs(), count = this.reg(APIC_TMCCT);
    this.#set(APIC_TMCCT, 0);
    this.#startTimer(now);
    if (count > 0 && this.#period > 0) this.#expire = now + Math.min(count * this.#divide, this.#period);
    this.cpu.requestInterrupt();
  }
}

/** The x2APIC logical ID of APIC `id`: cluster in bits 31:16, one bit of 16 in bits 15:0. */
function x2apicLdr(id: number): number {
  return (((id >> 4) << 16) | (1 << (id & 0xf))) >>> 0;
}
