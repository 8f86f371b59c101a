/**
 * The platform's timers count the VM's clock (vmm/clock.ts: KVM_GET_CLOCK),
 * so on the emulator, whose guest time leaves out the host time stolen from
 * the VM (emu/irqchip/clock.ts), the HPET's main counter and the ACPI PM
 * timer agree with the guest's TSC across stolen time and never go
 * backwards, and the RTC's time of day falls behind the host's wall clock by
 * what guest time paid back. An HPET host timer that fires before the
 * counter's clock reached its match (that clock ran slower than the host's)
 * waits for the rest instead of interrupting early.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MSR_IA32_TSC } from "../../abi/constants.ts";
import { debt, steal } from "../../emu/irqchip/clock.ts";
import { backendTest, test } from "../_support/harness.ts";
import { machine } from "../_support/guests.ts";
import { vmClockMs, vmWallClockMs } from "../../vmm/clock.ts";
import {
  Hpet,
  HPET_CFG,
  HPET_CFG_ENABLE,
  HPET_COUNTER,
  HPET_PERIOD_FS,
  HPET_T0,
  HPET_TN_ENABLE,
  HPET_TN_ROUTE_SHIFT,
} from "../../vmm/hpet.ts";
import { AcpiPm } from "../../vmm/pm.ts";

/** Samples, the host time stolen before each, and the host time waited after each steal (ms). */
const SAMPLES = 6, STEAL_MS = 20, WAIT_MS = 20;
/** Nanoseconds per HPET counter tick; PM timer ticks per second. */
const HPET_NS = HPET_PERIOD_FS / 1e6, PM_HZ = 3_579_545;
/** Slack for the counters' rounding (ns). */
const SLACK_NS = 2_000;

function read(hpet: Hpet, offset: number): bigint {
  const b = new Uint8Array(8);
  hpet.read(offset, b);
  return b.reduceRight((v, x) => (v << 8n) | BigInt(x), 0n);
}

function write(hpet: Hpet, offset: number, value: bigint): void {
  const b = new Uint8Array(8);
  for (let i = 0; i < 8; i++) b[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  hpet.write(offset, b);
}

/** The PM timer's 32-bit count (port offset 8 of the PM block). */
function pmTimer(pm: AcpiPm): number {
  return pm.read(8, 4);
}

backendTest(
  "platform clock: the HPET and the ACPI PM timer on the VM's clock agree with the TSC across stolen time",
  async (kvm) => {
    using m = machine(kvm);
    const { vm, vcpu } = m;
    const khz = vcpu.getTscKhz();
    const hpet = new Hpet({ irq: () => {}, now: vmClockMs(vm) });
    const pm = new AcpiPm({ poweroff: () => {}, reset: () => {}, now: vmClockMs(vm) });
    const wall = vmWallClockMs(vm);
    write(hpet, HPET_CFG, HPET_CFG_ENABLE);
    const tsc = () => vcpu.getMsrs([MSR_IA32_TSC])[0].data;
    /** Guest ns between two TSC values. */
    const ns = (from: bigint, to: bigint) => Number(to - from) * 1e6 / khz;
    let first: { before: bigint; after: bigint; counter: bigint; pm: number } | undefined;
    let last: { counter: bigint; pm: number } | undefined;
    for (let i = 0; i < SAMPLES; i++) {
      const before = tsc(), counter = read(hpet, HPET_COUNTER), pmCount = pmTimer(pm), after = tsc();
      if (first === undefined) first = { before, after, counter, pm: pmCount };
      else {
        const lo = ns(first.after, before) - SLACK_NS, hi = ns(first.before, after) + SLACK_NS;
        const hpetNs = Number(counter - first.counter) * HPET_NS;
        assert.ok(hpetNs >= lo && hpetNs <= hi, `sample ${i}: the HPET counted ${hpetNs} ns, the TSC ${lo}-${hi} ns`);
        const pmNs = ((pmCount - first.pm) >>> 0) * 1e9 / PM_HZ;
        assert.ok(pmNs >= lo && pmNs <= hi, `sample ${i}: the PM timer counted ${pmNs} ns, the TSC ${lo}-${hi} ns`);
      }
      if (last) {
        assert.ok(counter >= last.counter, `sample ${i}: the HPET went back from ${last.counter} to ${counter}`);
        assert.ok(((pmCount - last.pm) >>> 0) < 2 ** 31, `sample ${i}: the PM timer went back`);
      }
      last = { counter, pm: pmCount };
      steal(STEAL_MS);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, WAIT_MS);
    }
    // The RTC's clock fell behind the host's wall clock by what guest time paid back (over 20 ms of the 120 stolen).
    const behind = Date.now() - wall();
    assert.ok(behind > STEAL_MS, `the RTC's clock is ${behind} ms behind the wall clock`);
    while (debt() > 0) await new Promise((r) => setTimeout(r, Math.max(1, Math.ceil(debt() / 0.75))));
  },
  { only: ["emu"] },
);

test("platform clock: an HPET host timer that comes before the counter's match waits for the rest", () => {
  let now = 0;
  const timers: { ms: number; fn: () => void }[] = [];
  const irqs: [number, boolean][] = [];
  const hpet = new Hpet({
    irq: (gsi, level) => irqs.push([gsi, level]),
    now: () => now,
    setTimer: (ms, fn) => {
      const t = { ms, fn };
      timers.push(t);
      return () => timers.splice(timers.indexOf(t), 1);
    },
  });
  write(hpet, HPET_CFG, HPET_CFG_ENABLE);
  // Timer 0, one-shot, edge, to GSI 20, matching 1 ms from now (100,000 ticks).
  write(hpet, HPET_T0, HPET_TN_ENABLE | (20n << HPET_TN_ROUTE_SHIFT));
  write(hpet, HPET_T0 + 8, 100_000n);
  assert.deepEqual(timers.map((t) => t.ms), [1]);
  // The host timer fires after 1 ms of host time, in which the counter's clock ran half as fast.
  now = 0.5;
  timers.shift()!.fn();
  assert.deepEqual(irqs, [], "interrupted at counter 50,000 of 100,000");
  assert.deepEqual(timers.map((t) => t.ms), [0.5]);
  assert.equal(hpet.dueInMs(), 0.5);
  now = 1;
  timers.shift()!.fn();
  assert.deepEqual(irqs, [[20, true], [20, false]]);
});
