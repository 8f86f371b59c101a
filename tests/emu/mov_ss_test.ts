/**
 * Debug exceptions around MOV SS and POP SS (SDM vol. 3, 6.8.3 and 17.3.1):
 * the instruction after a MOV SS holds the debug traps of the MOV SS (its data
 * breakpoints and its single step) until the boundary after that instruction,
 * where they are reported in one #DB together with the instruction's own; an
 * instruction that delivers an event instead (INT1, a fault) is followed by the
 * held #DB before the handler's first instruction. Intel processors do not
 * break on an execution breakpoint of the instruction after a MOV SS (AMD
 * processors do), and IRET restores RF, so a #DB handler resumes the
 * instruction it broke on instead of breaking on it forever. DR6 bits
 * accumulate: one #DB reports every condition it covers.
 *
 * The 64-bit programs run at CPL 3 (natively on kvm_pvm) with their debug
 * registers set through KVM_SET_DEBUGREGS; the #DB handler at CPL 0 reports
 * the pushed RIP and DR6, clears DR6, sets RF in the frame and returns.
 * Where this host's KVM does not do what the manuals say, a probe says what it
 * did and that test's KVM half is skipped.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import { featureTest } from "../_support/guests.ts";
import { bench64, put64 } from "../_support/long64.ts";
import { type LongMachine, setGate } from "../_support/long_mode.ts";
import { probeRun, unlessOut } from "../_support/probes.ts";
import { bench, describe, enter, gate, put, setIdt } from "../_support/sys.ts";

/** The #DB handler: push rax / mov rax, [rsp+8] / out 0xe9, eax / mov rax, dr6 / out 0xe9, eax / xor eax, eax /
 * mov dr6, rax / or dword [rsp+24], 0x10000 (RF) / pop rax / iretq. */
const DB_HANDLER64 = "50 488b442408 e7e9 0f21f0 e7e9 31c0 0f23f0 814c241800000100 58 48cf";
const DB_AT = 0x3400;
/** Where the 64-bit programs read the selector MOV SS loads (0x23, the user data segment). */
const SS_WORD = 0x8000;
/** DR6 as read: the bits that read as 1, plus B0-B3 and BS. */
const DR6 = 0xffff0ff0, B0 = 1, B1 = 2, BS = 0x4000;
/** DR7: L0/L1, and R/W = read-or-write with LEN = 2 bytes for breakpoint 0 or 1. */
const L0 = 1, L1 = 4, RW0_2 = (3 << 16) | (1 << 18), RW1_4 = (3 << 20) | (3 << 22);
/** rflags at CPL 3 with TF. */
const USER_TF = 0x302n;

/** A 64-bit CPL 3 program with the #DB handler, the debug registers set through KVM_SET_DEBUGREGS. */
function user64(kvm: Kvm, code: string, dr: readonly number[], dr7: number, rflags?: bigint): LongMachine {
  const m = bench64(kvm, code, { cpl: 3, rflags });
  put64(m, DB_AT, DB_HANDLER64);
  setGate(m.mem, 1, BigInt(DB_AT));
  new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset).setUint16(SS_WORD, 0x23, true);
  const db = [0, 1, 2, 3].map((i) => BigInt(dr[i] ?? 0));
  m.vcpu.setDebugRegs({ db, dr6: BigInt(DR6), dr7: BigInt(dr7 | 0x400), flags: 0n });
  return m;
}

/** Runs to the final `hlt` (#GP at CPL 3, reported by the stub), comparing what the guest wrote. */
function expectReports(m: LongMachine, expected: readonly number[]): void {
  const run = probeRun(m.vcpu, 32);
  assert.deepEqual(run.out.map((x) => x.toString(16)), expected.map((x) => (x >>> 0).toString(16)), describe(run.exit));
  assert.equal(run.exit.reason, "hlt", describe(run.exit));
}

/** What the #GP stub reports for the final `hlt` at `rip`. */
const gpAt = (rip: number) => [13, 0, rip, 0x2b];

/** Whether the backend presents a GenuineIntel CPU. */
function intel(kvm: Kvm): boolean {
  const leaf0 = kvm.supportedCpuid().find((e) => e.function === 0);
  return leaf0 !== undefined && leaf0.ebx === 0x756e6547; // "Genu"
}

/** An execution breakpoint set through KVM_SET_DEBUGREGS on 64-bit CPL 3 code raises #DB. */
function probeUserBreakpoints(kvm: Kvm): string | undefined {
  // 0x4000: nop / hlt, breakpoint 0 on the nop.
  using m = user64(kvm, "90 f4", [0x4000], L0);
  return unlessOut(
    probeRun(m.vcpu),
    [0x4000, (DR6 | B0) >>> 0],
    "an execution breakpoint set by KVM_SET_DEBUGREGS on CPL 3 code never fires",
  );
}

/** TF over MOV SS: the single step is reported after the instruction that follows the MOV SS. */
function probeMovSsSingleStep(kvm: Kvm): string | undefined {
  // mov eax, 0x23 / mov ss, eax / nop / hlt, TF set from the start.
  using m = user64(kvm, "b823000000 8ed0 90 f4", [], 0, USER_TF);
  return unlessOut(
    probeRun(m.vcpu),
    [0x4005, (DR6 | BS) >>> 0, 0x4008],
    "single-stepping MOV SS traps right after it instead of after the next instruction",
  );
}

/** INT1 right after MOV SS in 64-bit CPL 3 code delivers #DB. */
function probeInt1AfterMovSs(kvm: Kvm): string | undefined {
  using m = user64(kvm, "b823000000 8ed0 f1 f4", [], 0);
  return unlessOut(probeRun(m.vcpu), [0x4008, DR6], "INT1 right after MOV SS does not deliver #DB");
}

featureTest(
  "MOV SS blocking: an execution breakpoint on the instruction after MOV SS (Intel: inhibited), then IRET with RF resumes",
  probeUserBreakpoints,
  (kvm) => {
    // 0x4000 mov eax, 0x23 / 0x4005 mov ss, eax / 0x4007 nop / 0x4008 nop / 0x4009 hlt; breakpoints on both nops.
    using m = user64(kvm, "b823000000 8ed0 90 90 f4", [0x4007, 0x4008], L0 | L1);
    // The breakpoint on 0x4008 faults once; the handler's IRETQ restores RF, so the nop then runs.
    const second = [0x4008, DR6 | B1, ...gpAt(0x4009)];
    expectReports(m, intel(kvm) ? second : [0x4007, DR6 | B0, ...second]);
  },
);

backendTest(
  "MOV SS blocking: an AMD processor breaks on the instruction after MOV SS",
  (kvm) => {
    using m = user64(kvm, "b823000000 8ed0 90 90 f4", [0x4007, 0x4008], L0 | L1);
    expectReports(m, [0x4007, DR6 | B0, 0x4008, DR6 | B1, ...gpAt(0x4009)]);
  },
  { only: ["emu"], vendor: "amd" },
);

backendTest(
  "MOV SS / POP SS blocking in 32-bit code at CPL 0: the execution breakpoint after them (Intel: inhibited, AMD: fires once), the run ends",
  (kvm) => {
    const good = "b80d600000 e7e9 f4"; // mov eax, 0x600d / out 0xe9, eax / hlt
    // 0x1000 mov eax, 0x1016 / mov dr0, eax / mov eax, 1 / mov dr7, eax (16 bytes), then at 0x1010:
    const arm = "b816100000 0f23c0 b801000000 0f23f8";
    const programs = {
      "mov ss": "66b81000 8ed0", // 0x1010 mov ax, 0x10 / 0x1014 mov ss, ax / 0x1016 good
      "pop ss": "6a10 90 90 90 17", // 0x1010 push 0x10 / nop x3 / 0x1015 pop ss / 0x1016 good
    };
    for (const [what, code] of Object.entries(programs)) {
      using b = bench(kvm);
      put(b, 0x1000, arm + code + good);
      // The #DB handler (if it ran): report the pushed EIP, set RF in the frame, return.
      put(b, 0x1800, "8b0424 e7e9 814c240800000100 cf");
      enter(b, { rflags: 0x3000n }); // enter() points all 32 vectors at the reporting stubs: replace #DB after it.
      setIdt(b, 1, gate(0xe, 0x08, 0x1800));
      const run = probeRun(b.vcpu, 8);
      const expected = intel(kvm) ? [0x600d] : [0x1016, 0x600d];
      assert.deepEqual(run.out, expected, `${what}: ${describe(run.exit)}`);
      assert.equal(run.exit.reason, "hlt", `${what}: ${describe(run.exit)}`);
    }
  },
);

featureTest("MOV SS blocking: TF over MOV SS traps once, after the next instruction", probeMovSsSingleStep, (kvm) => {
  // 0x4000 mov eax, 0x23 / 0x4005 mov ss, eax / 0x4007 nop / 0x4008 nop / 0x4009 hlt.
  using m = user64(kvm, "b823000000 8ed0 90 90 f4", [], 0, USER_TF);
  expectReports(m, [0x4005, DR6 | BS, 0x4008, DR6 | BS, 0x4009, DR6 | BS, ...gpAt(0x4009)]);
});

featureTest(
  "MOV SS blocking: a data breakpoint of MOV SS is reported after the next instruction, with its single step in one #DB",
  probeUserBreakpoints,
  (kvm) => {
    // 0x4000 mov ss, [0x8000] / 0x4007 nop / 0x4008 hlt; breakpoint 0 reads or writes 0x8000.
    const code = "8e142500800000 90 f4";
    {
      using m = user64(kvm, code, [SS_WORD], L0 | RW0_2);
      expectReports(m, [0x4008, DR6 | B0, ...gpAt(0x4008)]);
    }
    using m = user64(kvm, code, [SS_WORD], L0 | RW0_2, USER_TF);
    expectReports(m, [0x4008, DR6 | B0 | BS, ...gpAt(0x4008)]);
  },
);

featureTest("MOV SS blocking: INT1 after MOV SS delivers one #DB", probeInt1AfterMovSs, (kvm) => {
  // 0x4000 mov eax, 0x23 / 0x4005 mov ss, eax / 0x4007 int1 / 0x4008 hlt.
  using m = user64(kvm, "b823000000 8ed0 f1 f4", [], 0);
  expectReports(m, [0x4008, DR6, ...gpAt(0x4008)]);
});

featureTest(
  "MOV SS blocking: a data breakpoint of MOV SS followed by INT1 is delivered before the handler's first instruction",
  (kvm) => probeUserBreakpoints(kvm) ?? probeInt1AfterMovSs(kvm),
  (kvm) => {
    // 0x4000 mov ss, [0x8000] / 0x4007 int1 / 0x4008 hlt. INT1 delivers #DB (DR6 unchanged); the held data
    // breakpoint follows at once, at the handler's address, which reports first.
    using m = user64(kvm, "8e142500800000 f1 f4", [SS_WORD], L0 | RW0_2);
    expectReports(m, [DB_AT, DR6 | B0, 0x4008, DR6, ...gpAt(0x4008)]);
  },
);

featureTest(
  "a code and a data breakpoint on one instruction: a #DB fault before it, a #DB trap after it",
  probeUserBreakpoints,
  (kvm) => {
    // 0x4000 mov eax, [0x8000] / 0x4007 hlt; breakpoint 0 on the instruction, breakpoint 1 on its operand.
    {
      using m = user64(kvm, "8b042500800000 f4", [0x4000, SS_WORD], L0 | L1 | RW1_4);
      expectReports(m, [0x4000, DR6 | B0, 0x4007, DR6 | B1, ...gpAt(0x4007)]);
    }
    // A handler that leaves DR6 alone sees the bits accumulate: B0 from the fault is still there at the trap.
    using m = user64(kvm, "8b042500800000 f4", [0x4000, SS_WORD], L0 | L1 | RW1_4);
    put64(m, DB_AT, "50 488b442408 e7e9 0f21f0 e7e9 814c241800000100 58 48cf");
    expectReports(m, [0x4000, DR6 | B0, 0x4007, DR6 | B0 | B1, ...gpAt(0x4007)]);
  },
);
