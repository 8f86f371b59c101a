/**
 * The platform's time base: the VM's own clock (KVM_GET_CLOCK), which the
 * HPET, the ACPI PM timer and the CMOS RTC count from, so that they agree
 * with the guest's TSC, kvmclock and local APIC timers. On KVM it is the
 * host's monotonic clock plus kvmclock_offset; on the emulator it is guest
 * time, which leaves out the host time the VM's thread was preempted
 * (emu/irqchip/clock.ts): a platform timer on host time would run ahead of
 * the guest's TSC there, and Linux's clocksource watchdog, which checks the
 * TSC against the HPET or the PM timer, would find it skewed.
 *
 * A read is one ioctl (1.5-4 µs on the emulator, with the struct decoded), so
 * the devices read it when the guest reads them or arms a timer, not in a loop.
 *
 * @module
 */
import type { Vm } from "../mod.ts";

/** Milliseconds of `vm`'s clock (KVM_GET_CLOCK), for a device's `now` option: monotonic, at the guest's rate. */
export function vmClockMs(vm: Vm): () => number {
  return () => Number(vm.getClock().clock) / 1e6;
}

/**
 * Milliseconds since the epoch for the CMOS RTC: the host's wall clock when this is called, advanced by `vm`'s
 * clock from then on (QEMU's `-rtc clock=vm`), so the time of day the guest reads from the RTC keeps its pace with
 * its other clocks.
 */
export function vmWallClockMs(vm: Vm): () => number {
  const clock = vmClockMs(vm), epoch = Date.now() - clock();
  return () => epoch + clock();
}
