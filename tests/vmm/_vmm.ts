/**
 * Helpers of the VMM-plumbing suites (tests/vmm_*_test.ts): a test that
 * runs on the kvm backend only where this host's KVM has a capability (and
 * otherwise skips, saying which), the emulator's clean refusal of an ioctl
 * it does not implement, a guest whose MSR accesses exit to userspace, and
 * `kvmkit run`'s arguments for a boot-sector guest.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm, KvmError, type Vm } from "../../mod.ts";
import {
  KVM_CAP_X86_MSR_FILTER,
  KVM_CAP_X86_USER_SPACE_MSR,
  KVM_MSR_EXIT_REASON_FILTER,
  MSR_IA32_SYSENTER_CS,
} from "../../abi/constants.ts";
import { backendTest, backendUnavailable, skip } from "../_support/harness.ts";
import { CODE, load, type Machine, machine, realMode, runTo, runToOut } from "../_support/guests.ts";

/**
 * `kvmkit run`'s arguments for the boot-sector guest tests/guests/`name`: a flat image in real mode at 0x7c00,
 * isa-debug-exit at port 0xf4.
 */
export function bootSectorArgs(name: string): string[] {
  const file = new URL(`../guests/${name}`, import.meta.url).pathname;
  return ["--flat", file, "--mode", "real", "--at", "0x7c00", "--debug-exit", "0xf4"];
}

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

/** The capabilities {@linkcode msrExits} needs of the host's KVM. */
export const MSR_EXIT_CAPS = { KVM_CAP_X86_USER_SPACE_MSR, KVM_CAP_X86_MSR_FILTER };

/** Denies reads and writes of MSRs 0x174-0x17b to the guest (KVM_X86_SET_MSR_FILTER). */
export function denySysenterCs(vm: Vm): void {
  vm.setMsrFilter({
    ranges: [{ flags: { read: true, write: true }, base: MSR_IA32_SYSENTER_CS, bitmap: new Uint8Array(1) }],
  });
}

/**
 * Starts `code` at CODE in real mode on a VM whose guest's RDMSR and WRMSR of MSRs 0x174-0x17b exit to userspace:
 * KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR) for filtered MSRs, then {@linkcode denySysenterCs}.
 */
export function msrExits(m: Machine, code: string[]): void {
  m.vm.enableCap(KVM_CAP_X86_USER_SPACE_MSR, { args: [KVM_MSR_EXIT_REASON_FILTER] });
  denySysenterCs(m.vm);
  load(m.mem, CODE, code);
  realMode(m.vcpu, CODE);
}

/** Writes a real-mode IVT entry: vector `vector` -> 0000:`handler`. */
export function ivt(m: Machine, vector: number, handler: number): void {
  new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset).setUint32(vector * 4, handler, true);
}
