/**
 * Helpers of the VMM-plumbing suites (tests/vmm_*_test.ts): a test that
 * runs on the kvm backend only where this host's KVM has a capability (and
 * otherwise skips, saying which), and the emulator's clean refusal of an
 * ioctl it does not implement.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm, KvmError } from "../../mod.ts";
import { backendTest, backendUnavailable, skip } from "../_support/harness.ts";
import { CODE, load, type Machine, machine, realMode, runTo, runToOut } from "../_support/guests.ts";

/** Why this host's KVM lacks capability `cap` (named `capName`), or undefined when it has it (or kvm cannot run). */
function kvmLacks(cap: number, capName: string): string | undefined {
  if (backendUnavailable("kvm") !== undefined) return undefined; // backendTest skips, saying why
  using kvm = Kvm.open({ backend: "kvm" });
  using vm = kvm.createVm();
  return vm.checkExtension(cap) === 0 ? `this host's KVM lacks ${capName} (KVM_CHECK_EXTENSION ${cap} = 0)` : undefined;
}

/** Registers `fn` on the kvm backend where the host has every capability in `caps`; else skips, saying which. */
export function kvmTest(name: string, caps: Record<string, number>, fn: (kvm: Kvm) => void | Promise<void>): void {
  for (const [capName, cap] of Object.entries(caps)) {
    const why = kvmLacks(cap, capName);
    if (why !== undefined) return skip(`${name} [kvm]`, why);
  }
  backendTest(name, fn, { only: ["kvm"] });
}

/**
 * On the emulator: `checkExtension(cap)` is 0 on the system and the VM
 * descriptor, `fn` (which issues the ioctl) throws a KvmError with one of
 * `codes` (the kernel's answer to an ioctl it does not know), and the VM
 * still runs a guest afterwards.
 */
export function emuRefuses(
  name: string,
  cap: number,
  fn: (m: Machine) => void,
  codes: readonly string[] = ["ENOTTY", "EINVAL"],
): void {
  backendTest(`${name}: refused cleanly`, (kvm) => {
    using m = machine(kvm);
    assert.equal(kvm.checkExtension(cap), 0, `KVM_CHECK_EXTENSION ${cap} on the system descriptor`);
    assert.equal(m.vm.checkExtension(cap), 0, `KVM_CHECK_EXTENSION ${cap} on the VM descriptor`);
    assert.throws(
      () => fn(m),
      (e) => e instanceof KvmError && codes.includes(e.code),
      `expected a KvmError ${codes.join("/")}`,
    );
    stillRuns(m);
    // Emulator only, on every host: what is asserted is the emulator's refusal of an ioctl it does not implement.
  }, { only: ["emu"] });
}

/** The machine still runs a guest: mov al, 0x41; out 0xe9, al; hlt. */
export function stillRuns(m: Machine): void {
  load(m.mem, CODE, [
    "b0 41", // mov al, 0x41
    "e6 e9", // out 0xe9, al
    "f4", //    hlt
  ]);
  realMode(m.vcpu, CODE);
  assert.equal(runToOut(m.vcpu, 0xe9), 0x41);
  runTo(m.vcpu, "hlt");
}

/** A Machine whose VM has an in-kernel irqchip (created before the vCPU, as KVM requires). */
export function irqMachine(kvm: Kvm): Machine {
  return machine(kvm, { size: 0x10000, irqchip: true });
}

/** Writes a real-mode IVT entry: vector `vector` -> 0000:`handler`. */
export function ivt(m: Machine, vector: number, handler: number): void {
  new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset).setUint32(vector * 4, handler, true);
}
