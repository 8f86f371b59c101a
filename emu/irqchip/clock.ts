/**
 * Guest time: the host's monotonic clock (performance.now()) less the time
 * this thread could not run its guests at all (the host preempted it while
 * a vCPU had work: `steal`), in milliseconds. It is the one clock of every
 * guest-visible time source of the emulator: the TSC (x86/msr.ts readTsc,
 * and through it the guest's kvmclock reading and the TSC-deadline timer),
 * kvmclock's reference instants (pvclock.ts, KVM_GET_CLOCK), the LAPIC timer,
 * the PIT, and the platform's HPET, ACPI PM timer and RTC, which read
 * KVM_GET_CLOCK (vmm/clock.ts).
 *
 * Every emulated vCPU of a thread runs on that thread (emu/proxy.ts slices),
 * so when the host deschedules it the guest's CPUs stop, as a paused VM's
 * do; QEMU keeps kvmclock still across such a stop (KVM_GET_CLOCK at stop,
 * KVM_SET_CLOCK at cont), and guest time leaves that time out here.
 * Otherwise, on a loaded host, each of the guest's 4 ms ticks comes after
 * ever less of its own progress, until its CPUs do little but take timer
 * interrupts (issue #16). A steal is known only after the fact (at the end
 * of a slice in which the guest may have read its clock), so it is not
 * taken back at once, which would turn the clock back: it becomes a debt
 * that guest time pays by running at a lower rate (at least MIN_RATE of the
 * host's) until it is paid, so that guest time is continuous and never goes
 * backwards.
 *
 * The clock is the thread's (module state): every VM of a thread stops when
 * the thread does. Each VM's clocks start from their own offsets
 * (kvmclock_offset, a vCPU's TSC offset), so a steal only changes how fast
 * they run.
 *
 * @module
 */

/** The slowest guest time runs while it pays a debt (guest ms per host ms). */
const MIN_RATE = 0.25;
/** How soon a debt is meant to be paid (host ms): the rate is 1 - debt / REPAY_MS, at least MIN_RATE. */
const REPAY_MS = 50;
/**
 * The largest debt kept (ms). Under a steal of more than 1 - MIN_RATE of the host's time the debt grows without
 * bound, and after the load ended the guest would run at MIN_RATE for a third of that again: what exceeds this is
 * forgiven (it passes as guest time, as all stolen time did before).
 */
const MAX_DEBT_MS = 1000;

/** The anchor: guest time `g0` at host time `h0`, running at `rate` until host time `paid`, then at 1. */
let h0 = 0, g0 = 0, rate = 1, paid = 0;
/** All the host time stolen so far (ms), paid, owed or forgiven. */
let stolenMs = 0;

/** Guest time (ms) at host time `h` (performance.now() ms) on the current anchor. */
function guestAt(h: number): number {
  if (h <= paid) return g0 + (h - h0) * rate;
  return g0 + (paid - h0) * rate + (h - paid);
}

/** Guest time in milliseconds. */
export function nowMs(): number {
  return guestAt(performance.now());
}

/** Guest time in nanoseconds (exact to the clock's resolution; below 2^53 for 104 days). */
export function nowNs(): number {
  return guestAt(performance.now()) * 1e6;
}

/** The host's performance.now() (ms) at which guest time reaches `ns` on the current anchor (Infinity for Infinity). */
export function hostMsAt(ns: number): number {
  const g = ns / 1e6, gPaid = g0 + (paid - h0) * rate;
  if (g <= gPaid) return h0 + (g - g0) / rate;
  return paid + (g - gPaid);
}

/** All the host time stolen from this thread's guests so far (ms). */
export function stolen(): number {
  return stolenMs;
}

/** What guest time still owes (ms): the host time it will yet leave out. */
export function debt(): number {
  const h = performance.now();
  return h >= paid ? 0 : (paid - h) * (1 - rate);
}

/**
 * `ms` of host time passed while this thread's guests could not run: guest time owes them, and runs slower until
 * it has paid (the debt left of earlier steals adds up, to MAX_DEBT_MS).
 */
export function steal(ms: number): void {
  if (!(ms > 0)) return;
  stolenMs += ms;
  const h = performance.now(), g = guestAt(h);
  const owed = Math.min(MAX_DEBT_MS, (h >= paid ? 0 : (paid - h) * (1 - rate)) + ms);
  h0 = h;
  g0 = g;
  rate = Math.max(MIN_RATE, 1 - owed / REPAY_MS);
  paid = rate < 1 ? h + owed / (1 - rate) : h; // a debt too small to slow the clock at all is forgiven
  if (rate >= 1) rate = 1;
}
