/**
 * Guest debugging through setGuestDebug (KVM_SET_GUEST_DEBUG) in long mode, the 64-bit siblings of the part-1
 * guest-debug tests (sibling map in exits_test.ts): single-step, hardware execution and write breakpoints (also
 * on upper-half addresses), int3 with software breakpoints, at CPL 0 and CPL 3.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { GuestDebug, Kvm } from "../../../mod.ts";
import { backendTest } from "../../_support/harness.ts";
import { describe, featureTest, load, runTo, runToOut } from "../../_support/guests.ts";
import { probeGuestDebugWatchpoints } from "../../_support/probes.ts";
import { bench64 } from "../../_support/long64.ts";
import { enterLongMode, LM_CODE, type LongMachine, longMachine, view } from "../../_support/long_mode.ts";
import {
  DR6_B0,
  DR6_BS,
  expectDebugExit,
  expectDebugOff,
  expectExecBreakpoints,
  expectSteps,
  FREE_RUN_GUEST,
} from "../../api/_debug_checks.ts";

/** rflags with IOPL 3, for CPL 3 port I/O. */
const RFLAGS_IOPL3 = 0x3202n;
/** Stops of one KVM_SET_GUEST_DEBUG feature in 64-bit CPL 3 code ("90 90 f4": nop / nop / hlt, #GP reported). */
function userDebugExit(kvm: Kvm, what: string, debug: GuestDebug): string | undefined {
  using m = bench64(kvm, "90 90 f4", { cpl: 3, rflags: RFLAGS_IOPL3 });
  m.vcpu.setGuestDebug(debug);
  const exit = m.vcpu.run({ timeoutMs: 3000 });
  if (exit.reason === "debug" && exit.exception === 1 && exit.pc === BigInt(LM_CODE + 1)) return undefined;
  const rip = m.vcpu.getRegs().rip.toString(16), want = (LM_CODE + 1).toString(16);
  return `${what} in CPL 3 code gives ${describe(exit)} (rip 0x${rip}), not a debug exit at 0x${want}`;
}

/** Single-stepping 64-bit CPL 3 code: a debug exit after the first instruction. */
function probeUserSingleStep(kvm: Kvm): string | undefined {
  return userDebugExit(kvm, "single-stepping", { singlestep: true });
}

/** A KVM_SET_GUEST_DEBUG execution breakpoint in 64-bit CPL 3 code: a debug exit before the second instruction. */
function probeUserExecBreakpoint(kvm: Kvm): string | undefined {
  return userDebugExit(kvm, "an execution breakpoint", { hardwareBreakpoints: [{ address: LM_CODE + 1 }] });
}

/** int3 at `cpl` with KVM_GUESTDBG_USE_SW_BP: a debug exit with exception 3 at the int3. */
function probeInt3(cpl: 0 | 3): (kvm: Kvm) => string | undefined {
  return (kvm) => {
    using m = bench64(kvm, "cc f4", { cpl, rflags: cpl === 3 ? RFLAGS_IOPL3 : 2n }); // int3 / hlt
    m.vcpu.setGuestDebug({ softwareBreakpoints: true });
    const exit = m.vcpu.run({ timeoutMs: 3000 });
    if (exit.reason === "debug" && exit.exception === 3 && exit.pc === BigInt(LM_CODE)) return undefined;
    return `int3 at CPL ${cpl} with softwareBreakpoints gives ${describe(exit)}`;
  };
}

/** Jumps to the upper-half alias of LM_CODE + 12, runs two nops there and halts. */
const UPPER_HALF_NOPS = [
  "48 b8 0c 40 00 00 80 ff ff ff", // mov rax, 0xffffff800000400c (the upper-half alias of LM_CODE + 12)
  "ff e0", //                         jmp rax
  "90", //                            nop        ; LM_CODE + 12, run at 0xffffff800000400c
  "90", //                            nop        ; + 13, at 0xffffff800000400d
  "f4", //                            hlt
];

for (const cpl of [0, 3] as const) {
  const name = `long debug single-step at CPL ${cpl}: one exception-1 exit per instruction, dr6.BS`;
  const body = (kvm: Kvm) => {
    using m = longMachine(kvm);
    load(m.mem, LM_CODE, [
      "90", //                            nop                     ; LM_CODE
      "48 b8 88 77 66 55 44 33 22 11", // mov rax, 0x1122334455667788 ; + 1
      "48 ff c0", //                      inc rax                 ; + 11
      "e6 80", //                         out 0x80, al            ; + 14
      "eb fe", //                         jmp $                   ; + 16
    ]);
    enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl, rflags: cpl === 3 ? RFLAGS_IOPL3 : 2n });
    expectSteps(m.vcpu, [LM_CODE + 1, LM_CODE + 11, LM_CODE + 14]);
    m.vcpu.setGuestDebug(null);
    assert.equal(runToOut(m.vcpu, 0x80), 0x89);
    assert.equal(m.vcpu.getRegs().rax, 0x1122334455667789n);
  };
  if (cpl === 3) featureTest(name, probeUserSingleStep, body);
  else backendTest(name, body);
}

for (const cpl of [0, 3] as const) {
  const name = `long debug hardware exec breakpoint at CPL ${cpl}: stops before the instruction, dr6 names the slot`;
  const body = (kvm: Kvm) => {
    using m = longMachine(kvm);
    load(m.mem, LM_CODE, [
      "90", //    nop                  ; LM_CODE
      "90", //    nop                  ; + 1
      "b0 42", // mov al, 0x42         ; + 2: the breakpoint
      "e6 e9", // out 0xe9, al
      "eb fe", // jmp $
    ]);
    enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl, rflags: cpl === 3 ? RFLAGS_IOPL3 : 2n });
    expectExecBreakpoints(m.vcpu, LM_CODE);
  };
  if (cpl === 3) featureTest(name, probeUserExecBreakpoint, body);
  else backendTest(name, body);
}

backendTest("long debug hardware exec breakpoint on an upper-half address at CPL 0", (kvm) => {
  using m = longMachine(kvm);
  load(m.mem, LM_CODE, UPPER_HALF_NOPS);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  m.vcpu.setGuestDebug({ hardwareBreakpoints: [{ address: 0xffffff800000400dn }] });
  const exit = expectDebugExit(m.vcpu, 1, 0xffffff800000400dn);
  assert.equal(exit.dr6 & 0xfn, DR6_B0, describe(exit));
  assert.equal(m.vcpu.getRegs().rip, 0xffffff800000400dn);
  m.vcpu.setGuestDebug(null);
  runTo(m.vcpu, "hlt");
  assert.equal(m.vcpu.getRegs().rip, 0xffffff800000400fn);
});

backendTest("long debug single-step on upper-half addresses at CPL 0: each exit's pc is the whole RIP", (kvm) => {
  using m = longMachine(kvm);
  load(m.mem, LM_CODE, UPPER_HALF_NOPS);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  m.vcpu.setGuestDebug({ singlestep: true });
  for (const pc of [BigInt(LM_CODE + 10), 0xffffff800000400cn, 0xffffff800000400dn, 0xffffff800000400en]) {
    const exit = runTo(m.vcpu, "debug");
    assert.deepEqual([exit.exception, exit.pc], [1, pc], describe(exit));
    assert.ok(exit.dr6 & DR6_BS, describe(exit));
  }
  m.vcpu.setGuestDebug(null);
  runTo(m.vcpu, "hlt");
  assert.equal(m.vcpu.getRegs().rip, 0xffffff800000400fn);
});

for (const cpl of [0, 3] as const) {
  featureTest(
    `long debug int3 at CPL ${cpl} with softwareBreakpoints: exception 3 at the int3, not the guest's handler`,
    probeInt3(cpl),
    (kvm) => {
      using m = bench64(kvm, "b011 cc e6e9 ebfe", { cpl, rflags: cpl === 3 ? RFLAGS_IOPL3 : 2n });
      // mov al, 0x11 / int3 / out 0xe9, al / jmp $
      m.vcpu.setGuestDebug({ softwareBreakpoints: true });
      expectDebugExit(m.vcpu, 3, LM_CODE + 2);
      m.vcpu.setRegs({ ...m.vcpu.getRegs(), rip: BigInt(LM_CODE + 3) });
      assert.equal(runToOut(m.vcpu, 0xe9), 0x11);
    },
  );
}

/**
 * A test of KVM_SET_GUEST_DEBUG's write breakpoints (probed: skipped where this host's KVM has none): `code` at
 * LM_CODE, the vCPU in 64-bit mode there, then `fn`.
 */
function watchpointTest(name: string, code: string[], fn: (m: LongMachine) => void): void {
  featureTest(name, probeGuestDebugWatchpoints, (kvm) => {
    using m = longMachine(kvm);
    load(m.mem, LM_CODE, code);
    enterLongMode(m.vcpu, BigInt(LM_CODE));
    fn(m);
  });
}

watchpointTest(
  "long debug hardware write breakpoint: exits after an 8-byte write into the watched range",
  [
    "90", //                               nop
    "48 c7 04 25 00 80 00 00 55 00 00 00", // mov qword [0x8000], 0x55   ; + 1
    "e6 e9", //                            out 0xe9, al                ; + 13
    "f4", //                               hlt
  ],
  (m) => {
    m.vcpu.setGuestDebug({ hardwareBreakpoints: [{ address: 0x8004, kind: "write", length: 4 }] });
    const exit = expectDebugExit(m.vcpu, 1, LM_CODE + 13);
    assert.ok(exit.dr6 & DR6_B0, describe(exit));
    assert.equal(view(m.mem).getBigUint64(0x8000, true), 0x55n, "a data breakpoint traps after the write");
    runToOut(m.vcpu, 0xe9);
    runTo(m.vcpu, "hlt");
  },
);

watchpointTest(
  "long debug hardware write breakpoint on an upper-half address: the whole address, the whole pc",
  [
    "48 b8 0c 40 00 00 80 ff ff ff", // mov rax, 0xffffff800000400c (the upper-half alias of LM_CODE + 12)
    "ff e0", //                         jmp rax
    "48 b9 00 80 00 00 80 ff ff ff", // mov rcx, 0xffffff8000008000   ; + 12
    "c7 01 55 00 00 00", //             mov dword [rcx], 0x55         ; + 22: the alias of 0x8000
    "c7 04 25 00 80 00 00 66 00 00 00", // mov dword [0x8000], 0x66   ; + 28: the same byte, another address
    "f4", //                            hlt                           ; + 39
  ],
  (m) => {
    m.vcpu.setGuestDebug({ hardwareBreakpoints: [{ address: 0xffffff8000008000n, kind: "write", length: 4 }] });
    const exit = runTo(m.vcpu, "debug");
    assert.deepEqual([exit.exception, exit.pc], [1, 0xffffff800000401cn], describe(exit));
    assert.ok(exit.dr6 & DR6_B0, describe(exit));
    runTo(m.vcpu, "hlt");
    assert.equal(view(m.mem).getUint32(0x8000, true), 0x66);
  },
);

backendTest("long debug: setGuestDebug(null) after breakpoints and single-step lets the guest run freely", (kvm) => {
  using m = longMachine(kvm);
  load(m.mem, LM_CODE, FREE_RUN_GUEST);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  expectDebugOff(m.vcpu, LM_CODE);
});
