/**
 * Guest time: the host's monotonic clock (performance.now()), in
 * nanoseconds, which the TSC, the LAPIC timer and the PIT all follow.
 *
 * @module
 */

/** Host monotonic time in nanoseconds (exact to the clock's resolution; below 2^53 for 104 days). */
export function nowNs(): number {
  return performance.now() * 1e6;
}
