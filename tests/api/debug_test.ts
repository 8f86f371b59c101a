/**
 * Guest debugging through setGuestDebug: single-step, software breakpoints
 * (int3), hardware exec and write breakpoints, and turning it off.
 *
 * Two features are probed first on each backend, because some hosts' KVM
 * does not implement them (kvm_pvm ignores KVM_GUESTDBG_USE_SW_BP and never
 * reports data breakpoints): where a backend lacks one, its test is skipped
 * and says what the backend did instead.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import { probeGuestDebugWatchpoints } from "../_support/probes.ts";
import {
  DR6_B0,
  expectDebugExit,
  expectDebugOff,
  expectExecBreakpoints,
  expectSteps,
  FREE_RUN_GUEST,
} from "./_debug_checks.ts";
import {
  CODE,
  describe,
  featureTest,
  load,
  machine,
  protectedMode,
  realMode,
  runTo,
  runToOut,
  view,
} from "../_support/guests.ts";

/** int3 in real mode, with the IVT entry of #BP pointing at a handler that writes 0x77 to port 0xe9. */
function probeSoftwareBreakpoints(kvm: Kvm): string | undefined {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "cc", //    int3
    "f4", //    hlt
    "b0 77", // mov al, 0x77           ; the #BP handler, at CODE + 2
    "e6 e9", // out 0xe9, al
    "f4", //    hlt
  ]);
  view(m.mem).setUint32(3 * 4, CODE + 2, true); // IVT[3] = 0000:CODE+2
  realMode(m.vcpu, CODE);
  m.vcpu.setGuestDebug({ softwareBreakpoints: true });
  const exit = m.vcpu.run({ timeoutMs: 3000 });
  if (exit.reason === "debug") return undefined;
  return `KVM_GUESTDBG_USE_SW_BP is ignored: int3 went to the guest's own #BP handler (${describe(exit)})`;
}

backendTest("debug single-step: one exception-1 exit per instruction, pc at the next one, dr6.BS set", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "90", //    nop                  ; CODE
    "b0 42", // mov al, 0x42         ; CODE + 1
    "fe c0", // inc al               ; CODE + 3
    "e6 80", // out 0x80, al         ; CODE + 5
    "f4", //    hlt                  ; CODE + 7
  ]);
  realMode(m.vcpu, CODE);
  expectSteps(m.vcpu, [CODE + 1, CODE + 3, CODE + 5]);
  // Off again, before the out: the guest runs on to its hlt. (Whether a step
  // that completes an I/O exit reports a debug exit, and whether hlt does under
  // single-step, differs between hosts.)
  m.vcpu.setGuestDebug(null);
  assert.equal(runToOut(m.vcpu, 0x80), 0x43);
  runTo(m.vcpu, "hlt");
  assert.equal(m.vcpu.getRegs().rip, BigInt(CODE + 8));
});

/**
 * Single-steps a guest into an `out`, turns debugging off at the I/O exit,
 * and runs on: returns the exit that follows (a hlt, when stepping stopped).
 */
function stepIntoOutThenStop(kvm: Kvm): string {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "b0 42", // mov al, 0x42        ; CODE
    "e6 80", // out 0x80, al        ; CODE + 2
    "f4", //    hlt                 ; CODE + 4
  ]);
  realMode(m.vcpu, CODE);
  m.vcpu.setGuestDebug({ singlestep: true });
  assert.equal(runTo(m.vcpu, "debug").pc, BigInt(CODE + 2));
  assert.equal(runToOut(m.vcpu, 0x80), 0x42);
  m.vcpu.setGuestDebug(null);
  return describe(m.vcpu.run({ timeoutMs: 3000 }));
}

function probeStepStopsAfterIo(kvm: Kvm): string | undefined {
  const exit = stepIntoOutThenStop(kvm);
  if (exit === describe({ reason: "hlt" })) return undefined;
  return `single-stepping goes on after setGuestDebug(null) at an I/O exit: ${exit}`;
}

featureTest(
  "debug: setGuestDebug(null) at an I/O exit under single-step stops the stepping",
  probeStepStopsAfterIo,
  (kvm) => {
    assert.equal(stepIntoOutThenStop(kvm), describe({ reason: "hlt" }));
  },
);

featureTest(
  "debug int3 with softwareBreakpoints: exception 3 at the int3, not the guest's handler",
  probeSoftwareBreakpoints,
  (kvm) => {
    using m = machine(kvm);
    load(m.mem, CODE, [
      "b0 11", // mov al, 0x11        ; CODE
      "cc", //    int3                ; CODE + 2
      "e6 e9", // out 0xe9, al        ; CODE + 3
      "f4", //    hlt
    ]);
    protectedMode(m.vcpu, m.mem, CODE); // 32-bit, CPL 0, no IDT: a #BP reaching the guest would triple-fault
    m.vcpu.setGuestDebug({ softwareBreakpoints: true });
    expectDebugExit(m.vcpu, 3, CODE + 2);
    // A debugger resumes after the int3 it owns.
    m.vcpu.setRegs({ ...m.vcpu.getRegs(), rip: BigInt(CODE + 3) });
    assert.equal(runToOut(m.vcpu, 0xe9), 0x11);
    runTo(m.vcpu, "hlt");
  },
);

backendTest("debug hardware exec breakpoint: stops before the instruction, dr6 names the slot", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "90", //    nop                  ; CODE
    "90", //    nop                  ; CODE + 1
    "b0 42", // mov al, 0x42         ; CODE + 2: the breakpoint
    "e6 e9", // out 0xe9, al
    "f4", //    hlt
  ]);
  realMode(m.vcpu, CODE);
  expectExecBreakpoints(m.vcpu, CODE);
  runTo(m.vcpu, "hlt");
});

featureTest("debug hardware write breakpoint: exits after the write, dr6.B0 set", probeGuestDebugWatchpoints, (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "90", //             nop
    "c6 06 04 30 55", // mov byte [0x3004], 0x55  ; CODE + 1
    "e6 e9", //          out 0xe9, al              ; CODE + 6
    "f4", //             hlt
  ]);
  realMode(m.vcpu, CODE);
  m.vcpu.setGuestDebug({ hardwareBreakpoints: [{ address: 0x3000, kind: "write", length: 8 }] });
  const exit = expectDebugExit(m.vcpu, 1, CODE + 6);
  assert.ok(exit.dr6 & DR6_B0, describe(exit));
  assert.equal(m.mem.bytes[0x3004], 0x55, "a data breakpoint traps after the write");
  runToOut(m.vcpu, 0xe9);
  runTo(m.vcpu, "hlt");
});

backendTest("debug: setGuestDebug(null) after breakpoints and single-step lets the guest run freely", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, FREE_RUN_GUEST);
  realMode(m.vcpu, CODE);
  expectDebugOff(m.vcpu, CODE);
});
