/**
 * More vCPU and VM state: KVM_GET/SET_XSAVE and KVM_GET_XSAVE2,
 * KVM_GET/SET_CLOCK, KVM_GET/SET_SREGS2, KVM_NMI, KVM_SMI,
 * KVM_GET/SET_TSC_KHZ and KVM_KVMCLOCK_CTRL. The emulator refuses each
 * cleanly, except the TSC frequency and the kvmclock, which it has.
 */
import assert from "node:assert/strict";
import { type Kvm, KvmError } from "../../mod.ts";
import * as C from "../../abi/constants.ts";
import { backendTest } from "../_support/harness.ts";
import { CODE, describe, load, machine, realMode, runToOut } from "../_support/guests.ts";
import { emuRefuses, ivt, kvmTest } from "./_vmm.ts";

const isKvmError = (code: string) => (e: unknown) => e instanceof KvmError && e.code === code;

kvmTest("getXsave/setXsave: XMM0 set through the XSAVE area reads back through KVM_GET_FPU", {
  KVM_CAP_XSAVE: C.KVM_CAP_XSAVE,
}, (kvm) => {
  using m = machine(kvm);
  const xsave = m.vcpu.getXsave();
  assert.equal(xsave.length, 4096);
  const xmm0 = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  xsave.set(xmm0, 160); // the legacy region's XMM0 (FXSAVE layout)
  xsave[512] |= 2; // XSTATE_BV.SSE in the XSAVE header: the SSE state is not in its init (zero) state
  m.vcpu.setXsave(xsave);
  assert.deepEqual([...m.vcpu.getFpu().xmm[0]], [...xmm0]);
  assert.deepEqual([...m.vcpu.getXsave().subarray(160, 176)], [...xmm0]);
  assert.throws(() => m.vcpu.setXsave(new Uint8Array(100)), /state: 100 bytes/);
});

kvmTest("getXsave2 is KVM_CAP_XSAVE2's size and agrees with getXsave", { KVM_CAP_XSAVE2: C.KVM_CAP_XSAVE2 }, (kvm) => {
  using m = machine(kvm);
  const xsave2 = m.vcpu.getXsave2();
  assert.equal(xsave2.length, Math.max(4096, m.vm.checkExtension(C.KVM_CAP_XSAVE2)));
  assert.deepEqual([...xsave2.subarray(0, 512)], [...m.vcpu.getXsave().subarray(0, 512)]);
  m.vcpu.setXsave(xsave2);
});

/** KVM_GET_CLOCK/KVM_SET_CLOCK: the clock moves, and KVM_CLOCK_REALTIME adds the realtime elapsed since `realtime`. */
function clockMoves(kvm: Kvm): void {
  using vm = kvm.createVm();
  const before = vm.getClock();
  const ahead = 10_000_000_000n; // 10 s
  vm.setClock({ clock: before.clock + ahead });
  const after = vm.getClock();
  assert.ok(
    after.clock >= before.clock + ahead && after.clock < before.clock + 2n * ahead,
    `${before.clock} -> ${after.clock}`,
  );
  vm.setClock(vm.getClock()); // a getClock() result is accepted as it is
  assert.throws(() => vm.setClock({ clock: 1 as unknown as bigint }), /data\.clock/);
  assert.throws(() => vm.setClock({ clock: 0n, flags: 1 }), RangeError);
  const now = vm.getClock();
  if (now.flags & C.KVM_CLOCK_REALTIME) {
    vm.setClock({ clock: 0n, flags: C.KVM_CLOCK_REALTIME, realtime: now.realtime - 5_000_000_000n });
    const moved = vm.getClock().clock;
    assert.ok(moved >= 5_000_000_000n && moved < 6_000_000_000n, `5 s of realtime elapsed: ${moved}`);
  }
}
kvmTest("getClock/setClock move the VM's kvmclock", { KVM_CAP_ADJUST_CLOCK: C.KVM_CAP_ADJUST_CLOCK }, clockMoves);
// The emulator's kvmclock (emu/pvclock.ts): KVM_CAP_ADJUST_CLOCK answers the flags its KVM_GET_CLOCK reports.
backendTest("getClock/setClock move the VM's kvmclock", (kvm) => {
  clockMoves(kvm);
  assert.equal(kvm.checkExtension(C.KVM_CAP_ADJUST_CLOCK), C.KVM_CLOCK_TSC_STABLE | C.KVM_CLOCK_REALTIME);
  using vm = kvm.createVm();
  assert.ok(vm.getClock().clock < 1_000_000_000n, "a new VM's clock starts at 0");
}, { only: ["emu"] });

kvmTest("getSregs2/setSregs2 agree with KVM_GET/SET_SREGS", { KVM_CAP_SREGS2: C.KVM_CAP_SREGS2 }, (kvm) => {
  using m = machine(kvm);
  const s2 = m.vcpu.getSregs2();
  const s = m.vcpu.getSregs();
  assert.deepEqual(s2.cs, s.cs);
  assert.deepEqual([s2.cr0, s2.cr4, s2.efer, s2.apicBase], [s.cr0, s.cr4, s.efer, s.apicBase]);
  assert.equal(s2.pdptrs.length, 4);
  m.vcpu.setSregs2({ ...s2, cs: { ...s2.cs, selector: 0, base: 0n } });
  const back = m.vcpu.getSregs();
  assert.equal(back.cs.selector, 0);
  assert.equal(back.cs.base, 0n);
  assert.throws(() => m.vcpu.setSregs2({ ...s2, pdptrs: [0n] as unknown as typeof s2.pdptrs }), /sregs\.pdptrs/);
});

backendTest("nmi: a queued NMI runs the guest's vector 2 handler", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "e6 e9", // out 0xe9, al   ; ready
    "eb fe", // jmp $
  ]);
  load(m.mem, 0x1100, [
    "b0 4e", // mov al, 'N'
    "e6 e8", // out 0xe8, al
    "f4", //    hlt
  ]);
  ivt(m, 2, 0x1100);
  realMode(m.vcpu, CODE);
  runToOut(m.vcpu, 0xe9);
  m.vcpu.nmi();
  const exit = m.vcpu.run({ timeoutMs: 5000 });
  assert.ok(exit.reason === "io" && exit.port === 0xe8 && exit.data[0] === 0x4e, describe(exit));
});

backendTest("smi: pending in the vCPU events, or ENOTTY where KVM lacks KVM_CAP_X86_SMM", (kvm) => {
  using m = machine(kvm);
  if (m.vm.checkExtension(C.KVM_CAP_X86_SMM) === 0) {
    console.log("note: this host's KVM lacks KVM_CAP_X86_SMM: checking that KVM_SMI is refused");
    assert.throws(() => m.vcpu.smi(), isKvmError("ENOTTY"));
    return;
  }
  m.vcpu.smi();
  const events = m.vcpu.getVcpuEvents();
  assert.ok(events.flags & 8, "KVM_VCPUEVENT_VALID_SMM");
  assert.equal(events.smi.pending, 1);
}, { only: ["kvm"] });

function tscKhzRoundTrip(kvm: Kvm): void {
  using m = machine(kvm);
  const khz = m.vcpu.getTscKhz();
  assert.ok(khz > 100_000, `${khz} kHz`);
  m.vcpu.setTscKhz(khz); // the host's own frequency needs no KVM_CAP_TSC_CONTROL
  assert.equal(m.vcpu.getTscKhz(), khz);
  assert.throws(() => m.vcpu.setTscKhz(-1), /khz/);
}
kvmTest("getTscKhz/setTscKhz", { KVM_CAP_GET_TSC_KHZ: C.KVM_CAP_GET_TSC_KHZ }, tscKhzRoundTrip);
// The emulator's guest time follows the host clock at any rate (KVM_CAP_TSC_CONTROL).
backendTest("getTscKhz/setTscKhz", (kvm) => {
  tscKhzRoundTrip(kvm);
  using m = machine(kvm);
  m.vcpu.setTscKhz(2_500_000);
  assert.equal(m.vcpu.getTscKhz(), 2_500_000);
}, { only: ["emu"] });

kvmTest("kvmclockCtrl: EINVAL until the guest's kvmclock is on", {
  KVM_CAP_KVMCLOCK_CTRL: C.KVM_CAP_KVMCLOCK_CTRL,
}, (kvm) => {
  using m = machine(kvm);
  assert.throws(() => m.vcpu.kvmclockCtrl(), isKvmError("EINVAL"));
  m.vcpu.setMsrs([{ index: C.MSR_KVM_SYSTEM_TIME_NEW, data: 0x3000n | 1n }]);
  m.vcpu.kvmclockCtrl();
});

backendTest("the state ioctls validate before any ioctl", (kvm) => {
  using m = machine(kvm);
  assert.throws(() => m.vcpu.setXsave(new Uint8Array(4095)), RangeError);
  assert.throws(() => m.vcpu.setXsave([] as unknown as Uint8Array), TypeError);
  assert.throws(() => m.vcpu.setTscKhz(1.5), TypeError);
  assert.throws(() => m.vcpu.setTscKhz(2 ** 31), RangeError);
  assert.throws(() => m.vm.setClock({ clock: -1n }), RangeError);
  assert.throws(() => m.vm.enableCap(-1), /cap/);
  assert.throws(() => m.vm.enableCap(1, { args: [1, 2, 3, 4, 5] }), RangeError);
});

emuRefuses("getXsave", C.KVM_CAP_XSAVE, (m) => m.vcpu.getXsave());
emuRefuses("setXsave", C.KVM_CAP_XSAVE, (m) => m.vcpu.setXsave(new Uint8Array(4096)));
emuRefuses("getXsave2", C.KVM_CAP_XSAVE2, (m) => m.vcpu.getXsave2());
emuRefuses("getSregs2", C.KVM_CAP_SREGS2, (m) => m.vcpu.getSregs2());
emuRefuses("setSregs2", C.KVM_CAP_SREGS2, (m) => {
  const { interruptBitmap: _, ...s } = m.vcpu.getSregs();
  m.vcpu.setSregs2({ ...s, flags: 0n, pdptrs: [0n, 0n, 0n, 0n] });
});
emuRefuses("smi", C.KVM_CAP_X86_SMM, (m) => m.vcpu.smi());
emuRefuses("kvmclockCtrl", C.KVM_CAP_KVMCLOCK_CTRL, (m) => m.vcpu.kvmclockCtrl());
