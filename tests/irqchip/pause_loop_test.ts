/**
 * Pause-loop exiting on the emulator: a vCPU whose slices the owner's thread
 * schedules (the Worker proxy's `yieldOnHalt`) and that executes PAUSE in a
 * loop ends its KVM_RUN after PLE_WINDOW PAUSEs when another vCPU of the VM
 * is runnable (kvm_vcpu_on_spin), and spins on otherwise. The vCPUs run on
 * the test's thread, one KVM_RUN at a time, as the owner runs them.
 */
import assert from "node:assert/strict";
import { KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_SIPI_RECEIVED } from "../../abi/constants.ts";
import { HANDLE } from "../../_handle.ts";
import { type GuestMemory, Kvm, type Vm } from "../../mod.ts";
import type { EmuVcpu } from "../../emu/vcpu.ts";
import { PLE_WINDOW } from "../../emu/irqchip/vcpu_irq.ts";
import { test } from "../_support/harness.ts";
import { CODE, load, realMode } from "../_support/guests.ts";
import { irqchipMachine } from "./_irqchip.ts";

/** The emulator's kernel as the proxy sees it. */
interface OwnerKernel {
  yieldOnHalt(fd: number): void;
  vcpuOf(fd: number): EmuVcpu | undefined;
}

/** The emulator's kernel behind `vm` and the descriptor of its vCPU `id` (whose VM has `mem` in slot 0). */
function emuVcpu(vm: Vm, mem: GuestMemory, id: number): { kernel: OwnerKernel; fd: number; emu: EmuVcpu } {
  const kernel = vm[HANDLE].kernel as unknown as OwnerKernel;
  for (let fd = 0; fd < 1 << 16; fd++) {
    const emu = kernel.vcpuOf(fd);
    if (emu?.id === id && emu.vm.slots.byId.get(0)?.bytes?.buffer === mem.bytes.buffer) return { kernel, fd, emu };
  }
  throw new Error(`no emulator vCPU ${id} runs this memory`);
}

// spin: inc ecx; pause; jmp spin
const SPIN = ["66 41", "f3 90", "eb fa"];

for (const mode of ["off", "on"] as const) {
  test(`emu, block compiler ${mode}: a PAUSE loop yields its slice only when another vCPU is runnable`, () => {
    using kvm = Kvm.open({ backend: "emu", blockCompiler: mode });
    using m = irqchipMachine(kvm);
    const ap = m.vm.createVcpu(1);
    const { kernel, fd, emu } = emuVcpu(m.vm, m.mem, 0);
    kernel.yieldOnHalt(fd);
    load(m.mem, CODE, SPIN);
    realMode(m.vcpu, CODE);

    // The AP waits for INIT/SIPI: nobody to yield to, so the loop spins until the run's alarm (a run's first
    // instructions may be slow to start: runs until one of them spun past the window).
    let spun = 0, most = 0;
    for (let i = 0; i < 100 && most <= 2 * PLE_WINDOW; i++) {
      assert.equal(m.vcpu.run({ timeoutMs: 20 }).reason, "intr");
      const rcx = Number(m.vcpu.getRegs().rcx);
      most = Math.max(most, rcx - spun);
      spun = rcx;
    }
    assert.ok(most > 2 * PLE_WINDOW, `at most ${most} iterations in a 20 ms run: the loop should have run on`);
    assert.equal(emu.irq!.pauseExits, 0);

    // Back to the loop's start, so that each PAUSE follows one INC.
    m.vcpu.setRegs({ ...m.vcpu.getRegs(), rip: BigInt(CODE), rcx: 0n });
    spun = 0;
    // An AP with a SIPI to take is runnable: the run ends at the PLE_WINDOW-th PAUSE of this run, long before its
    // alarm; so it does with a runnable AP.
    ap.setMpState(KVM_MP_STATE_SIPI_RECEIVED);
    assert.equal(m.vcpu.run({ timeoutMs: 10_000 }).reason, "intr");
    assert.equal(Number(m.vcpu.getRegs().rcx) - spun, PLE_WINDOW);
    assert.equal(emu.irq!.pauseExits, 1);
    ap.setMpState(KVM_MP_STATE_RUNNABLE);
    assert.equal(m.vcpu.run({ timeoutMs: 10_000 }).reason, "intr");
    assert.equal(Number(m.vcpu.getRegs().rcx) - spun, 2 * PLE_WINDOW);
    assert.equal(emu.irq!.pauseExits, 2);
  });
}
