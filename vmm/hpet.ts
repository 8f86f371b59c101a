/**
 * The HPET (IA-PC HPET Specification 1.0a), memory-mapped at 0xfed00000 and
 * described by the ACPI HPET table (acpi.ts): a 64-bit main counter at
 * 100 MHz (a 10 ns period, as QEMU's) that runs while ENABLE_CNF is set, and
 * three timers with 64-bit comparators, each one-shot or periodic (the
 * comparator then advances by the period the last write without
 * Tn_VAL_SET_CNF gave), 32-bit mode, and edge or level interrupts routed to
 * an IOAPIC input (Tn_INT_ROUTE_CNF; the capability offers inputs 20-23,
 * which no ISA device uses) or, with LEG_RT_CNF, the legacy replacement
 * route (timer 0 to IRQ 0, which is GSI 2, timer 1 to IRQ 8), offered
 * (LEG_RT_CAP) only when `legacyReplacement` asks. The machine does not ask:
 * Linux would move its tick from the in-kernel PIT to timer 0, served between
 * run slices, and the one PVH boot tried that way on the emulator (on a host
 * busy with other work) spent 112 s of guest time after "hpet0: at MMIO"
 * where an earlier boot on the PIT's tick spent 14 s: to be measured cleanly
 * before it is offered. Level
 * interrupts hold their line and their bit of the general interrupt status
 * register until the guest writes 1 there.
 *
 * Timers fire from host timers (setTimeout, so in any run mode) and from
 * {@linkcode Hpet.poll}, which the machine's run loop calls between run
 * slices, bounding each slice by {@linkcode Hpet.dueInMs}: a timer fires
 * on time while the guest is halted or busy. A timer whose interrupt is
 * disabled is not armed (its comparator is not advanced meanwhile). The
 * counter runs on the `now` it is given, which the machine makes the VM's
 * clock (vmm/clock.ts): on the emulator that runs slower than the host's
 * while the guest pays back time the host took from it, so a host timer
 * that fires before the counter reached its match waits for the rest.
 *
 * Not offered: FSB (MSI) delivery. Registers are 64 bits wide and may be
 * accessed as 32-bit halves (Linux's hpet_readl) or in any size within one.
 *
 * @module
 */
import type { MmioDevice } from "./bus.ts";

/** Where the registers are, and how many bytes they span. */
export const HPET_BASE = 0xfed00000, HPET_SIZE = 0x400;
/** The counter's period in femtoseconds (10 ns: 100 MHz). */
export const HPET_PERIOD_FS = 10_000_000;
/** Timers in the block. */
export const HPET_TIMERS = 3;
/** IOAPIC inputs a timer may be routed to (Tn_INT_ROUTE_CAP): 20-23. */
export const HPET_ROUTE_CAP = 0x00f00000;
/** The register offsets: capabilities and ID, configuration, interrupt status, main counter, timer n's block. */
export const HPET_ID = 0x000, HPET_CFG = 0x010, HPET_STATUS = 0x020, HPET_COUNTER = 0x0f0;
/** Timer n's configuration, comparator and FSB route are at HPET_T0 + n * HPET_T_STRIDE + 0, 8, 0x10. */
export const HPET_T0 = 0x100, HPET_T_STRIDE = 0x20;
/** General configuration: ENABLE_CNF, LEG_RT_CNF. */
export const HPET_CFG_ENABLE = 1n, HPET_CFG_LEGACY = 2n;
/** The GSIs of timers 0 and 1 under the legacy replacement route (IRQ 0 is GSI 2, as the MADT says; IRQ 8). */
export const HPET_LEGACY_GSI = [2, 8];
/** Timer configuration bits. */
export const HPET_TN_LEVEL = 1n << 1n, HPET_TN_ENABLE = 1n << 2n, HPET_TN_PERIODIC = 1n << 3n;
export const HPET_TN_PERIODIC_CAP = 1n << 4n, HPET_TN_64BIT_CAP = 1n << 5n, HPET_TN_SETVAL = 1n << 6n;
export const HPET_TN_32BIT = 1n << 8n, HPET_TN_ROUTE_SHIFT = 9n;
const TN_ROUTE = 0x1fn << HPET_TN_ROUTE_SHIFT;
const TN_WRITABLE = HPET_TN_LEVEL | HPET_TN_ENABLE | HPET_TN_PERIODIC | HPET_TN_SETVAL | HPET_TN_32BIT | TN_ROUTE;
/** ID: revision 1, the last timer's number, a 64-bit counter, Intel's vendor ID, the period (LEG_RT_CAP apart). */
const ID = 1n | (BigInt(HPET_TIMERS - 1) << 8n) | (1n << 13n) | (0x8086n << 16n) | (BigInt(HPET_PERIOD_FS) << 32n);
/** ID: LEG_RT_CAP, the legacy replacement route offered. */
export const HPET_ID_LEGACY = 1n << 15n;
/** The longest host timer armed, in ms (setTimeout's limit); a match further away (a 64-bit wrap) is never armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The ID register's low half: the ACPI HPET table's Event Timer Block ID. */
export const HPET_BLOCK_ID = Number(ID & 0xffffffffn);
const U64 = (1n << 64n) - 1n, U32 = (1n << 32n) - 1n;
/** Nanoseconds per counter tick. */
const NS_PER_TICK = HPET_PERIOD_FS / 1e6;

/** What the HPET needs of the machine. */
export interface HpetOptions {
  /** Drives IOAPIC input `gsi` (a pulse is true then false). */
  irq(gsi: number, level: boolean): void;
  /** Offers the legacy replacement route (LEG_RT_CAP; default false, so LEG_RT_CNF stays 0). */
  legacyReplacement?: boolean;
  /** The time the counter counts, in milliseconds (default performance.now; the machine gives the VM's clock). */
  now?: () => number;
  /** Calls `fn` after `ms` milliseconds; returns a cancel function (default setTimeout). */
  setTimer?: (ms: number, fn: () => void) => () => void;
}

/** One timer: its configuration, comparator, period, the time (`now`'s) of its next match and the host timer armed for it. */
interface Timer {
  conf: bigint;
  cmp: bigint;
  period: bigint;
  dueMs: number | undefined;
  cancel: (() => void) | undefined;
}

/** The HPET's registers. */
export class Hpet implements MmioDevice {
  readonly #o: HpetOptions;
  readonly #now: () => number;
  readonly #setTimer: (ms: number, fn: () => void) => () => void;
  /** The ID register, and the general configuration bits the guest may set. */
  readonly #id: bigint;
  readonly #configWritable: bigint;
  #config = 0n;
  #status = 0n;
  /** The counter when it last stopped or was written, and the time (`now`'s) it started counting from. */
  #counterBase = 0n;
  #startMs = 0;
  readonly #timers: Timer[] = [];

  /** Makes the block, stopped, its counter 0; `options` give its interrupt lines and clock. */
  constructor(options: HpetOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    const legacy = options.legacyReplacement ?? false;
    this.#id = legacy ? ID | HPET_ID_LEGACY : ID;
    this.#configWritable = legacy ? HPET_CFG_ENABLE | HPET_CFG_LEGACY : HPET_CFG_ENABLE;
    this.#setTimer = options.setTimer ?? ((ms, fn) => {
      const t = setTimeout(fn, ms);
      return () => clearTimeout(t);
    });
    for (let i = 0; i < HPET_TIMERS; i++) {
      const caps = (BigInt(HPET_ROUTE_CAP) << 32n) | HPET_TN_PERIODIC_CAP | HPET_TN_64BIT_CAP;
      this.#timers.push({ conf: caps, cmp: U64, period: 0n, dueMs: undefined, cancel: undefined });
    }
  }

  /** The main counter now. */
  counter(): bigint {
    if (!(this.#config & HPET_CFG_ENABLE)) return this.#counterBase;
    const ticks = BigInt(Math.floor((this.#now() - this.#startMs) * 1e6 / NS_PER_TICK));
    return (this.#counterBase + ticks) & U64;
  }

  /** Cancels every armed host timer (the machine is closing). */
  stop(): void {
    for (const t of this.#timers) this.#disarm(t);
  }

  /** The time (as `now` counts it) of the earliest armed match, or undefined when no timer is armed. */
  nextDueMs(): number | undefined {
    let due: number | undefined;
    for (const t of this.#timers) if (t.dueMs !== undefined && (due === undefined || t.dueMs < due)) due = t.dueMs;
    return due;
  }

  /** The milliseconds (as `now` counts them) to the earliest armed match, 0 if it is past, or undefined when none. */
  dueInMs(): number | undefined {
    const due = this.nextDueMs();
    return due === undefined ? undefined : Math.max(0, due - this.#now());
  }

  /** Fires every timer whose match is due by `now`; the machine calls it between run slices. */
  poll(): void {
    const now = this.#now();
    this.#timers.forEach((t, n) => {
      if (t.dueMs !== undefined && t.dueMs <= now) this.#match(t, n);
    });
  }

  /** Reads `data.length` bytes at `offset`, within one 64-bit register. */
  read(offset: number, data: Uint8Array): void {
    const value = this.#readRegister(offset & ~7) >> BigInt(8 * (offset & 7));
    for (let i = 0; i < data.length; i++) data[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }

  /** Writes `data` at `offset`, within one 64-bit register; the bytes not written keep their value. */
  write(offset: number, data: Uint8Array): void {
    const shift = BigInt(8 * (offset & 7));
    let value = 0n, mask = 0n;
    for (let i = data.length - 1; i >= 0; i--) {
      value = (value << 8n) | BigInt(data[i]);
      mask = (mask << 8n) | 0xffn;
    }
    this.#writeRegister(offset & ~7, (value << shift) & U64, (mask << shift) & U64);
  }

  #readRegister(reg: number): bigint {
    if (reg === HPET_ID) return this.#id;
    if (reg === HPET_CFG) return this.#config;
    if (reg === HPET_STATUS) return this.#status;
    if (reg === HPET_COUNTER) return this.counter();
    const t = this.#timerAt(reg);
    if (t === undefined) return 0n;
    const which = (reg - HPET_T0) % HPET_T_STRIDE;
    return which === 0 ? t.conf : which === 8 ? t.cmp : 0n;
  }

  /** Writes the bytes of `reg` that `mask` selects. */
  #writeRegister(reg: number, value: bigint, mask: bigint): void {
    const merge = (old: bigint, writable: bigint) => (old & ~(mask & writable)) | (value & mask & writable);
    if (reg === HPET_CFG) {
      const was = this.#config;
      const now = merge(was, this.#configWritable);
      if ((was ^ now) & HPET_CFG_ENABLE) {
        if (now & HPET_CFG_ENABLE) this.#startMs = this.#now();
        else this.#counterBase = this.counter();
      }
      this.#config = now;
      this.#timers.forEach((t, n) => this.#arm(t, n));
    } else if (reg === HPET_STATUS) {
      const cleared = value & mask & this.#status;
      this.#status &= ~cleared;
      this.#timers.forEach((t, n) => {
        if (cleared & (1n << BigInt(n))) this.#o.irq(this.#gsi(t, n), false);
      });
    } else if (reg === HPET_COUNTER) {
      if (!(this.#config & HPET_CFG_ENABLE)) this.#counterBase = merge(this.#counterBase, U64); // writable only stopped
    } else {
      const t = this.#timerAt(reg), n = (reg - HPET_T0) >> 5;
      if (t === undefined) return;
      const which = (reg - HPET_T0) % HPET_T_STRIDE;
      if (which === 0) this.#writeConfig(t, n, merge(t.conf, TN_WRITABLE));
      else if (which === 8) this.#writeComparator(t, n, merge(t.cmp, U64));
    }
  }

  #timerAt(reg: number): Timer | undefined {
    return reg >= HPET_T0 ? this.#timers[(reg - HPET_T0) >> 5] : undefined;
  }

  /** Timer n's configuration; a level line it held drops when the timer stops interrupting or goes edge. */
  #writeConfig(t: Timer, n: number, conf: bigint): void {
    const bit = 1n << BigInt(n);
    if (this.#status & bit && (!(conf & HPET_TN_ENABLE) || !(conf & HPET_TN_LEVEL))) {
      this.#status &= ~bit;
      this.#o.irq(this.#gsi(t, n), false);
    }
    t.conf = conf;
    if (conf & HPET_TN_32BIT) t.cmp &= U32;
    this.#arm(t, n);
  }

  /** A comparator write: the match value (one-shot, or periodic with Tn_VAL_SET_CNF), and in periodic mode the period. */
  #writeComparator(t: Timer, n: number, value: bigint): void {
    if (t.conf & HPET_TN_32BIT) value &= U32;
    if (!(t.conf & HPET_TN_PERIODIC) || t.conf & HPET_TN_SETVAL) t.cmp = value;
    if (t.conf & HPET_TN_PERIODIC) t.period = value;
    t.conf &= ~HPET_TN_SETVAL;
    this.#arm(t, n);
  }

  /** The IOAPIC input timer n is routed to: its route, or under LEG_RT_CNF GSI 2 or 8 for timers 0 and 1. */
  #gsi(t: Timer, n: number): number {
    if (this.#config & HPET_CFG_LEGACY && n < HPET_LEGACY_GSI.length) return HPET_LEGACY_GSI[n];
    return Number((t.conf & TN_ROUTE) >> HPET_TN_ROUTE_SHIFT);
  }

  #disarm(t: Timer): void {
    t.cancel?.();
    t.cancel = undefined;
    t.dueMs = undefined;
  }

  /**
   * Arms timer n for the counter's next match of its comparator when it may interrupt; `wrapped`: the match just
   * happened (a one-shot timer matches again only when the counter wraps, even if the host timer came early).
   */
  #arm(t: Timer, n: number, wrapped = false): void {
    this.#disarm(t);
    if (!(this.#config & HPET_CFG_ENABLE) || !(t.conf & HPET_TN_ENABLE)) return;
    const width = t.conf & HPET_TN_32BIT ? U32 : U64;
    const ticks = wrapped ? width + 1n : ((t.cmp - this.counter()) & width) || width + 1n;
    const ms = Number(ticks) * NS_PER_TICK / 1e6;
    if (ms > MAX_TIMER_MS) return;
    t.dueMs = this.#now() + ms;
    t.cancel = this.#setTimer(ms, () => this.#fire(t, n));
  }

  /**
   * Timer n's host timer fired: the match, unless the counter's clock has not reached it yet (it ran slower than the
   * host's meanwhile), in which case a host timer waits for the rest.
   */
  #fire(t: Timer, n: number): void {
    const left = (t.dueMs ?? -Infinity) - this.#now();
    if (left > 0) t.cancel = this.#setTimer(left, () => this.#fire(t, n));
    else this.#match(t, n);
  }

  /** The counter reached timer n's comparator: the interrupt, the next period, the next match. */
  #match(t: Timer, n: number): void {
    this.#disarm(t);
    const width = t.conf & HPET_TN_32BIT ? U32 : U64;
    const periodic = (t.conf & HPET_TN_PERIODIC) !== 0n && t.period > 0n;
    if (periodic) {
      // The comparator moves on by whole periods past the counter (several when the host timer came late).
      let behind = (this.counter() - t.cmp) & width;
      if (behind > width >> 1n) behind = 0n; // the host timer came a little early
      t.cmp = (t.cmp + (behind / t.period + 1n) * t.period) & width;
    }
    this.#interrupt(t, n);
    this.#arm(t, n, !periodic);
  }

  #interrupt(t: Timer, n: number): void {
    if (!(t.conf & HPET_TN_ENABLE)) return;
    const gsi = this.#gsi(t, n);
    const legacy = this.#config & HPET_CFG_LEGACY && n < HPET_LEGACY_GSI.length;
    if (!legacy && !((HPET_ROUTE_CAP >> gsi) & 1)) return; // a route the capability does not offer
    if (t.conf & HPET_TN_LEVEL) {
      this.#status |= 1n << BigInt(n);
      this.#o.irq(gsi, true);
    } else {
      this.#o.irq(gsi, true);
      this.#o.irq(gsi, false);
    }
  }
}
