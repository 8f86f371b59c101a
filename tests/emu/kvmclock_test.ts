/**
 * kvmclock (Documentation/virt/kvm/x86/msr.rst): a 64-bit guest of our own
 * (tests/guests/kvmclock.asm) finds KVM's CPUID leaves, enables the clock
 * through MSR_KVM_SYSTEM_TIME_NEW and MSR_KVM_WALL_CLOCK_NEW, and reads it
 * as Linux's pvclock_clocksource_read does. The times it reads lie between
 * KVM_GET_CLOCK's before and after the run and advance as its TSC does; the
 * pvclock_vcpu_time_info and pvclock_wall_clock it was given are checked
 * member by member, and KVM_SET_CLOCK and KVM_SET_TSC_KHZ rewrite them.
 * An INIT disables the vCPU's clock and leaves the VM's wall clock, as
 * kvm_vcpu_reset's kvmclock_reset does.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { GuestMemory, Kvm, VcpuExit } from "../../mod.ts";
import { KVM_CAP_TSC_CONTROL, MSR_IA32_TSC, MSR_KVM_SYSTEM_TIME_NEW } from "../../abi/constants.ts";
import { KVM_FEATURE_CLOCKSOURCE2 } from "../../emu/cpuid.ts";
import { MSR_KVM_WALL_CLOCK_NEW, PVCLOCK_TSC_STABLE_BIT, timeScale } from "../../emu/pvclock.ts";
import { CODE, load, type Machine, machine, realMode } from "../_support/guests.ts";
import { backendTest, test } from "../_support/harness.ts";
import { bench64 } from "../_support/long64.ts";
import { LM_CODE, type LongMachine } from "../_support/long_mode.ts";
import { probeRun } from "../_support/probes.ts";
import { describe } from "../_support/sys.ts";

const GUEST = new Uint8Array(readFileSync(new URL("../guests/kvmclock.bin", import.meta.url)));
/** Where the guest puts its pvclock_vcpu_time_info and pvclock_wall_clock (kvmclock.asm PVTI, WALL). */
const PVTI = 0x8000, WALL = 0x8040;
/** "KVMK": the first word of KVM's CPUID signature. */
const KVMK = 0x4b4d564b;

/** One pvclock_vcpu_time_info, as the guest reads it. */
interface TimeInfo {
  version: number;
  tscTimestamp: bigint;
  systemTime: bigint;
  mul: number;
  shift: number;
  flags: number;
}

function timeInfo(m: LongMachine): TimeInfo {
  const v = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset + PVTI, 32);
  return {
    version: v.getUint32(0, true),
    tscTimestamp: v.getBigUint64(8, true),
    systemTime: v.getBigUint64(16, true),
    mul: v.getUint32(24, true),
    shift: v.getInt8(28),
    flags: v.getUint8(29),
  };
}

/** pvclock_clocksource_read's arithmetic: the clock at guest TSC `tsc`. */
function clockAt(t: TimeInfo, tsc: bigint): bigint {
  let delta = BigInt.asUintN(64, tsc - t.tscTimestamp);
  delta = t.shift >= 0 ? BigInt.asUintN(64, delta << BigInt(t.shift)) : delta >> BigInt(-t.shift);
  return BigInt.asUintN(64, t.systemTime + ((delta * BigInt(t.mul)) >> 32n));
}

/** The guest's TSC rate as Linux's pvclock_tsc_khz derives it from mul and shift. */
function pvclockKhz(t: TimeInfo): number {
  const khz = (1_000_000n << 32n) / BigInt(t.mul);
  return Number(t.shift < 0 ? khz << BigInt(-t.shift) : khz >> BigInt(t.shift));
}

/** A 64-bit bench holding the guest. */
function guestMachine(kvm: Kvm): LongMachine {
  const m = bench64(kvm, "f4");
  m.mem.bytes.set(GUEST, LM_CODE);
  return m;
}

/** Runs the guest (at TSC rate `khz` when given): its outputs and KVM_GET_CLOCK just before and after. */
function runGuest(kvm: Kvm, m: LongMachine, khz?: number) {
  m.vcpu.setCpuid2(kvm.supportedCpuid());
  if (khz !== undefined) m.vcpu.setTscKhz(khz);
  const before = m.vm.getClock().clock;
  const run = probeRun(m.vcpu);
  const after = m.vm.getClock().clock;
  assert.equal(run.exit.reason, "hlt", `${run.out.map((x) => x.toString(16))}, then ${describe(run.exit)}`);
  assert.equal(run.out.length, 11, `${run.out.map((x) => x.toString(16))}`);
  const u64 = (i: number) => BigInt(run.out[i]) | (BigInt(run.out[i + 1]) << 32n);
  return { out: run.out, before, after, t1: u64(3), tsc1: u64(5), t2: u64(7), tsc2: u64(9) };
}

/** The guest's readings: between KVM_GET_CLOCK's, advancing as its TSC at `khz` does. */
function checkReadings(g: ReturnType<typeof runGuest>, khz: number): void {
  const { before, after, t1, t2, tsc1, tsc2 } = g;
  assert.ok(
    before <= t1 && t1 < t2 && t2 <= after,
    `KVM_GET_CLOCK ${before}, guest ${t1}, ${t2}, KVM_GET_CLOCK ${after}`,
  );
  const byTsc = Number(tsc2 - tsc1) * 1e6 / khz, byClock = Number(t2 - t1);
  assert.ok(Math.abs(byClock - byTsc) <= 2 + byTsc * 1e-6, `clock +${byClock} ns, TSC +${byTsc} ns at ${khz} kHz`);
}

backendTest(
  "kvmclock: a guest finds KVM's leaves, enables the clock and reads it as its TSC advances",
  (kvm, backend) => {
    using m = guestMachine(kvm);
    const g = runGuest(kvm, m);
    assert.ok(g.out[0] >= 0x40000001, `highest KVM leaf 0x${g.out[0].toString(16)}`);
    assert.equal(g.out[1], KVMK);
    assert.ok(g.out[2] & KVM_FEATURE_CLOCKSOURCE2, `features 0x${g.out[2].toString(16)}`);
    const khz = m.vcpu.getTscKhz();
    checkReadings(g, khz);
    const t = timeInfo(m);
    assert.ok(t.version > 0 && t.version % 2 === 0, `version ${t.version}`);
    assert.ok(Math.abs(pvclockKhz(t) - khz) <= 1, `mul ${t.mul} shift ${t.shift} for ${khz} kHz`);
    assert.equal(m.vcpu.getMsrs([MSR_KVM_SYSTEM_TIME_NEW])[0].data, BigInt(PVTI | 1));
    if (backend === "emu") {
      assert.deepEqual([t.mul, t.shift], [2 ** 31, 1], "1 GHz: ns = tsc exactly");
      assert.equal(t.flags, PVCLOCK_TSC_STABLE_BIT);
    }
    // pvclock_wall_clock: realtime at the clock's zero, so it plus the clock is the host's realtime.
    const w = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset + WALL, 12);
    assert.equal(w.getUint32(0, true) % 2, 0, "wall clock version even");
    const wallNs = BigInt(w.getUint32(4, true)) * 1_000_000_000n + BigInt(w.getUint32(8, true));
    const skewMs = Number(wallNs + m.vm.getClock().clock - BigInt(Date.now()) * 1_000_000n) / 1e6;
    assert.ok(Math.abs(skewMs) < 100, `wall clock + kvmclock is ${skewMs} ms from Date.now()`);
  },
);

backendTest("kvmclock: a TSC rate of 2.5 GHz gives a scaled structure the guest reads consistently", (kvm) => {
  if (kvm.checkExtension(KVM_CAP_TSC_CONTROL) === 0) return;
  using m = guestMachine(kvm);
  checkReadings(runGuest(kvm, m, 2_500_000), 2_500_000);
  assert.equal(pvclockKhz(timeInfo(m)), 2_500_000);
}, { only: ["emu"] });

backendTest("kvmclock: KVM_SET_CLOCK and KVM_SET_TSC_KHZ rewrite the enabled structure", (kvm) => {
  using m = guestMachine(kvm);
  runGuest(kvm, m);
  const version = timeInfo(m).version;
  const guestNow = () => clockAt(timeInfo(m), m.vcpu.getMsrs([MSR_IA32_TSC])[0].data);
  const ahead = 3_600_000_000_000n; // an hour
  m.vm.setClock({ clock: m.vm.getClock().clock + ahead });
  const [c, read] = [m.vm.getClock().clock, guestNow()];
  assert.ok(timeInfo(m).version > version, "rewritten");
  assert.ok(read >= c - 1_000_000n && read <= c + 1_000_000n, `guest reads ${read}, KVM_GET_CLOCK ${c}`);
  m.vcpu.setTscKhz(3_000_000);
  assert.equal(pvclockKhz(timeInfo(m)), 3_000_000);
  const [c2, read2] = [m.vm.getClock().clock, guestNow()];
  assert.ok(read2 >= c2 - 1_000_000n && read2 <= c2 + 1_000_000n, `guest reads ${read2}, KVM_GET_CLOCK ${c2}`);
}, { only: ["emu"] });

/** Where the INIT test's guest puts its pvclock_vcpu_time_info and pvclock_wall_clock. */
const INIT_PVTI = 0x8000, INIT_WALL = 0x8100;
/** The reset vector's page: 64 KiB below 4 GiB, so CS base 0xffff0000 plus IP 0xfff0 is memory. */
const RESET_BASE = 0xffff0000, RESET_IP = 0xfff0;
/**
 * Real mode at CODE: kvmclock on at INIT_PVTI, the wall clock at INIT_WALL, `out 0xe9` (1); then the local APIC in
 * x2APIC mode and an INIT to itself (APIC 0) through the ICR.
 */
const INIT_GUEST = [
  "66 b9 01 4d 56 4b", // mov ecx, MSR_KVM_SYSTEM_TIME_NEW
  "66 b8 01 80 00 00", // mov eax, INIT_PVTI | 1 (enable)
  "66 31 d2", //          xor edx, edx
  "0f 30", //             wrmsr
  "66 b9 00 4d 56 4b", // mov ecx, MSR_KVM_WALL_CLOCK_NEW
  "66 b8 00 81 00 00", // mov eax, INIT_WALL
  "0f 30", //             wrmsr
  "66 b8 01 00 00 00", // mov eax, 1
  "66 e7 e9", //          out 0xe9, eax
  "66 b9 1b 00 00 00", // mov ecx, IA32_APIC_BASE
  "0f 32", //             rdmsr
  "66 0d 00 0c 00 00", // or eax, 0xc00 (enable, x2APIC)
  "0f 30", //             wrmsr
  "66 b9 0f 08 00 00", // mov ecx, SVR
  "66 b8 ff 01 00 00", // mov eax, 0x1ff (software enable)
  "66 31 d2", //          xor edx, edx
  "0f 30", //             wrmsr
  "66 b9 30 08 00 00", // mov ecx, ICR
  "66 31 d2", //          xor edx, edx (APIC 0: itself)
  "66 b8 00 45 00 00", // mov eax, 0x4500 (INIT, assert)
  "0f 30", //             wrmsr
  "f4", //                hlt (INIT comes first)
];
/** At the reset vector: `out 0xe9` of 2, then hlt. */
const AT_RESET = ["66 b8 02 00 00 00", "66 e7 e9", "f4"];

backendTest("kvmclock: INIT disables the vCPU's clock (kvmclock_reset) and keeps the VM's wall clock MSR", (kvm) => {
  const m = machine(kvm, { size: 0x10000, irqchip: true });
  const rom = m.vm.allocateMemory(0x10000);
  try {
    initTest(kvm, m, rom);
  } finally {
    m[Symbol.dispose]();
    rom.free(); // after the VM that maps it is closed
  }
});

/** The body of the INIT test: `m` with `rom` to map at the reset vector. */
function initTest(kvm: Kvm, m: Machine, rom: GuestMemory): void {
  m.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: RESET_BASE, memory: rom });
  load(m.mem, CODE, INIT_GUEST);
  load(rom, RESET_IP, AT_RESET);
  m.vcpu.setCpuid2(kvm.supportedCpuid());
  realMode(m.vcpu, CODE);
  const out = (exit: VcpuExit) => {
    assert.ok(exit.reason === "io" && exit.port === 0xe9, describe(exit));
    return new DataView(exit.data.buffer, exit.data.byteOffset, 4).getUint32(0, true);
  };
  const pvti = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset + INIT_PVTI, 32);
  const msrs = () => m.vcpu.getMsrs([MSR_KVM_SYSTEM_TIME_NEW, MSR_KVM_WALL_CLOCK_NEW]).map((e) => e.data);

  assert.equal(out(m.vcpu.run({ timeoutMs: 3000 })), 1);
  assert.deepEqual(msrs(), [BigInt(INIT_PVTI | 1), BigInt(INIT_WALL)], "enabled");
  assert.ok(pvti.getUint32(0, true) > 0, "the structure was written");

  assert.equal(out(m.vcpu.run({ timeoutMs: 3000 })), 2, "INIT took the vCPU to the reset vector");
  const sregs = m.vcpu.getSregs();
  assert.equal(sregs.cs.base, BigInt(RESET_BASE), "CS base after INIT");
  assert.deepEqual(msrs(), [0n, BigInt(INIT_WALL)], "MSR_KVM_SYSTEM_TIME_NEW is 0 after INIT; the wall clock stays");
  // The old structure is no longer the vCPU's: neither KVM_SET_CLOCK nor a TSC write rewrites it.
  new Uint8Array(pvti.buffer, pvti.byteOffset, 32).fill(0);
  m.vm.setClock({ clock: m.vm.getClock().clock + 1_000_000_000n });
  m.vcpu.setMsrs([{ index: MSR_IA32_TSC, data: 0n }]);
  assert.deepEqual([...new Uint8Array(pvti.buffer, pvti.byteOffset, 32)], new Array(32).fill(0), "not rewritten");
}

test("kvmclock: the scale of a TSC rate is exact to a part in 2^31", () => {
  for (const khz of [1, 1000, 999_999, 1_000_000, 1_000_001, 2_500_000, 3_333_333, 4_000_000, 2 ** 31 - 1]) {
    const { mul, shift } = timeScale(khz);
    assert.ok(mul >= 2 ** 31 && mul < 2 ** 32, `${khz} kHz: mul ${mul}`);
    const nsPerTick = mul / 2 ** 32 * 2 ** shift, exact = 1e6 / khz;
    assert.ok(Math.abs(nsPerTick - exact) <= exact * 2 ** -31, `${khz} kHz: ${nsPerTick} ns, not ${exact}`);
  }
});
