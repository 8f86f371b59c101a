/**
 * Every guest-visible clock of the emulator reads the one guest time of
 * emu/irqchip/clock.ts, which leaves out the host time stolen from the VM
 * (a slice the host preempted) by running slower, never backwards, until it
 * has paid it back: the TSC (RDTSC), the local APIC timer's current count,
 * the PIT's count and kvmclock (KVM_GET_CLOCK) agree with each other across
 * stolen time, and none of them goes backwards.
 *
 * A real-mode guest starts the x2APIC timer (divide by 1, one-shot from
 * 0xffffffff) and loads the PIT's channel 0 (mode 0, count 65536) between
 * two RDTSCs, then samples RDTSC, TMCCT, the latched PIT count and RDTSC
 * again, and exits; between samples the host steals 20 ms and waits, so
 * that guest time falls behind host time by what it pays back meanwhile.
 * Each count must match the time the TSC says passed since its start,
 * bracketed by the RDTSCs around the start and around the sample: a clock
 * that reads host time instead runs ahead of the TSC by what was paid. The
 * clock's own arithmetic is checked too: host time minus guest time grows
 * by exactly the stolen time less the debt left, the rate stays between
 * MIN_RATE and 1, and a debt is capped.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MSR_IA32_TSC } from "../../abi/constants.ts";
import { debt, hostMsAt, nowMs, nowNs, steal, stolen } from "../../emu/irqchip/clock.ts";
import { backendTest, test } from "../_support/harness.ts";
import { CODE, describe, load, machine, realMode } from "../_support/guests.ts";

/** Where the guest leaves the TSC before and after its starts, and each sample's TSC, TMCCT, PIT count and TSC. */
const START = 0x800, SAMPLE = 0x810;
/** Samples, the host time stolen before each, and the host time waited after each steal (ms). */
const SAMPLES = 8, STEAL_MS = 20, WAIT_MS = 20;
/** The PIT's input clock (Hz). */
const PIT_HZ = 1_193_182;
/** Slack for the counts' rounding (ns). */
const SLACK_NS = 2_000;

/** mov ecx, msr; mov eax, value; xor edx, edx; wrmsr */
function wrmsr(msr: number, value: number): string[] {
  return [`66 b9 ${le32(msr)}`, `66 b8 ${le32(value)}`, "66 31 d2", "0f 30"];
}

/** rdtsc; mov [at], eax; mov [at + 4], edx */
function rdtsc(at: number): string[] {
  return ["0f 31", `66 a3 ${le16(at)}`, `66 89 16 ${le16(at + 4)}`];
}

function le16(v: number): string {
  return [v & 0xff, (v >> 8) & 0xff].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

function le32(v: number): string {
  return `${le16(v & 0xffff)} ${le16(v >>> 16)}`;
}

function guest(): string[] {
  const sample = [
    ...rdtsc(SAMPLE),
    "66 b9 39 08 00 00", // mov ecx, 0x839 (TMCCT)
    "0f 32", //             rdmsr
    `66 a3 ${le16(SAMPLE + 8)}`, // mov [SAMPLE + 8], eax
    "b0 00", //             mov al, 0: latch channel 0
    "e6 43", //             out 0x43, al
    "e4 40", //             in al, 0x40
    "88 c3", //             mov bl, al
    "e4 40", //             in al, 0x40
    "88 c7", //             mov bh, al
    `89 1e ${le16(SAMPLE + 12)}`, // mov [SAMPLE + 12], bx
    ...rdtsc(SAMPLE + 16),
    "e6 80", //             out 0x80, al: to the host
  ];
  const length = sample.join(" ").split(" ").length + 2;
  return [
    ...wrmsr(0x83e, 0xb), //             TDCR: divide by 1
    ...wrmsr(0x832, 0x10040), //         LVT timer: one-shot, masked
    "b0 30", //                          mov al, 0x30: channel 0, lobyte/hibyte, mode 0
    "e6 43", //                          out 0x43, al
    "b0 00", //                          mov al, 0
    "e6 40", //                          out 0x40, al: the count's low byte
    ...rdtsc(START),
    "b0 00", //                          mov al, 0
    "e6 40", //                          out 0x40, al: the high byte, which loads 65536
    ...wrmsr(0x838, 0xffffffff), //      TMICT: the timer starts
    ...rdtsc(START + 8),
    ...sample,
    `eb ${(0x100 - length).toString(16)}`, // jmp back to the sample
  ];
}

backendTest(
  "clocks: the TSC, the LAPIC timer, the PIT and kvmclock agree across stolen time and never go backwards",
  async (kvm) => {
    using m = machine(kvm, { irqchip: true, pit: 0 });
    const { mem, vm, vcpu } = m;
    vcpu.setCpuid2(kvm.supportedCpuid());
    // x2APIC on, so that real-mode code reaches the timer through RDMSR/WRMSR.
    vcpu.setMsrs([{ index: 0x1b, data: 0xfee00000n | 0x100n | 0x400n | 0x800n }]);
    const khz = vcpu.getTscKhz();
    load(mem, CODE, guest());
    realMode(vcpu, CODE);
    const data = new DataView(mem.bytes.buffer, mem.bytes.byteOffset);
    const tsc = (at: number) => data.getBigUint64(at, true);
    /** Guest ns between two TSC values. */
    const ns = (from: bigint, to: bigint) => Number(to - from) * 1e6 / khz;

    const start = instant(), stolenStart = stolen();
    let last: { tsc: bigint; tmcct: number; clock: bigint } | undefined;
    let clock0: { clock: bigint; before: bigint; after: bigint } | undefined;
    for (let i = 0; i < SAMPLES; i++) {
      const exit = vcpu.run();
      assert.ok(exit.reason === "io" && exit.port === 0x80, `sample ${i}: ${describe(exit)}`);
      const a0 = tsc(START), b0 = tsc(START + 8);
      const before = tsc(SAMPLE), tmcct = data.getUint32(SAMPLE + 8, true), pit = data.getUint16(SAMPLE + 12, true);
      const after = tsc(SAMPLE + 16);
      assert.ok(before < after, `sample ${i}: the TSC went from ${before} to ${after}`);
      // The LAPIC timer counted one per ns since TMICT's write, which lies between the start's RDTSCs.
      const lapicNs = 0xffffffff - tmcct, lo = ns(b0, before) - SLACK_NS, hi = ns(a0, after) + SLACK_NS;
      assert.ok(lapicNs >= lo && lapicNs <= hi, `sample ${i}: TMCCT says ${lapicNs} ns, the TSC ${lo}-${hi} ns`);
      // The PIT counted down from 65536 at PIT_HZ (mod 65536): some tick count within the TSC's bracket gives it.
      const tickLo = Math.floor((ns(b0, before) - SLACK_NS) * PIT_HZ / 1e9);
      const tickHi = Math.ceil((ns(a0, after) + SLACK_NS) * PIT_HZ / 1e9);
      let found = tickHi - tickLo >= 0x10000;
      for (let t = tickLo; t <= tickHi && !found; t++) found = ((0x10000 - t) & 0xffff) === pit;
      assert.ok(found, `sample ${i}: the PIT reads ${pit}, the TSC says ${tickLo}-${tickHi} ticks since its load`);
      // kvmclock, between two reads of the TSC (KVM_GET_MSRS), moves as the TSC does.
      const hostBefore = vcpu.getMsrs([MSR_IA32_TSC])[0].data;
      const clock = vm.getClock().clock;
      const hostAfter = vcpu.getMsrs([MSR_IA32_TSC])[0].data;
      if (clock0 === undefined) clock0 = { clock, before: hostBefore, after: hostAfter };
      else {
        const d = Number(clock - clock0.clock), dLo = ns(clock0.after, hostBefore), dHi = ns(clock0.before, hostAfter);
        assert.ok(
          d >= dLo - SLACK_NS && d <= dHi + SLACK_NS,
          `sample ${i}: kvmclock moved ${d} ns, the TSC ${dLo}-${dHi}`,
        );
      }
      // None goes backwards.
      if (last) {
        assert.ok(before > last.tsc, `sample ${i}: the TSC went back from ${last.tsc} to ${before}`);
        assert.ok(tmcct <= last.tmcct, `sample ${i}: TMCCT went up from ${last.tmcct} to ${tmcct}`);
        assert.ok(clock >= last.clock, `sample ${i}: kvmclock went back from ${last.clock} to ${clock}`);
      }
      last = { tsc: after, tmcct, clock };
      // The host takes the thread away (as a preempted slice does), and time passes.
      steal(STEAL_MS);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, WAIT_MS);
    }
    // Guest time fell behind host time by what it paid of the stolen time: all of it but the debt left.
    const end = instant();
    const paid = (stolen() - stolenStart) - (end.debt - start.debt);
    const behind = (end.host - start.host) - (end.guest - start.guest);
    assert.ok(paid > STEAL_MS, `paid ${paid} ms of ${stolen() - stolenStart}`);
    assert.ok(Math.abs(behind - paid) < 0.5, `guest time fell ${behind} ms behind host time, having paid ${paid} ms`);
    await paidBack();
  },
  { only: ["emu"] },
);

/** Waits until guest time has paid its debt, so that later tests see guest time run at the host's rate. */
async function paidBack(): Promise<void> {
  while (debt() > 0) await new Promise((r) => setTimeout(r, Math.max(1, Math.ceil(debt() / 0.75))));
}

/** Host time, guest time and the debt at one instant: read again until the reads took at most 20 µs. */
function instant(): { host: number; guest: number; debt: number } {
  for (;;) {
    const host = performance.now(), guest = nowMs(), d = debt();
    if (performance.now() - host <= 0.02) return { host, guest, debt: d };
  }
}

test("clock: guest time never goes backwards, runs at a quarter to all of host time, and its debt is capped", async () => {
  let prev = instant();
  for (let i = 0; i < 2000; i++) {
    if (i % 100 === 0) steal(i % 300 === 0 ? 60 : 5);
    const now = instant();
    assert.ok(now.guest >= prev.guest, `guest time went back from ${prev.guest} to ${now.guest}`);
    assert.ok(now.guest - prev.guest <= now.host - prev.host + 0.05, `guest time ran ahead of host time`);
    prev = now;
  }
  // Over a stretch of host time the rate is at least MIN_RATE (0.25), even with a debt far above what it pays.
  steal(100);
  const a = instant();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  const b = instant();
  assert.ok(b.guest - a.guest >= 0.25 * (b.host - a.host) - 0.05, `${b.guest - a.guest} ms in ${b.host - a.host} ms`);
  // hostMsAt: a sleeping vCPU's deadline in host time is never early, and not before guest time could reach it.
  const p = performance.now(), target = nowNs() + 5e6, at = hostMsAt(target);
  assert.ok(at >= p + 5, `5 ms of guest time from host ${p} end at host ${at}`);
  while (performance.now() < at) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  assert.ok(nowNs() >= target - 1000, `at host ${at} guest time is ${nowNs()}, short of ${target}`);
  // A debt beyond a second is forgiven.
  const s = stolen();
  steal(5000);
  assert.equal(stolen(), s + 5000);
  assert.ok(debt() <= 1000 && debt() > 900, `debt ${debt()} ms`);
  await paidBack();
  assert.equal(debt(), 0);
});
