/**
 * The software TLB across privilege changes (SDM vol. 3, 4.10.2 and 4.10.4):
 * the emulator keeps the translations it made at CPL 3 and those it made at
 * CPL 0-2 apart, so SYSCALL/SYSRET, interrupts and IRET switch between them
 * instead of dropping every entry. A translation made for one level never
 * serves the other (a supervisor-only page stays out of reach of CPL 3 code,
 * for data and for instruction fetch), and INVLPG and MOV to CR3 drop both
 * levels' entries.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import { bench64, put64 } from "../_support/long64.ts";
import { type LongMachine, P, setPte, W } from "../_support/long_mode.ts";
import { probeRun } from "../_support/probes.ts";
import { describe } from "../_support/sys.ts";

const STAR = 0xc0000081, LSTAR = 0xc0000082;
const LSTAR_AT = 0x3400;

/** A 64-bit machine running `code` at `cpl` with SYSCALL to LSTAR_AT (CS 0x08) and SYSRETQ to CS 0x2b. */
function syscallMachine(kvm: Kvm, code: string, cpl: 0 | 3): LongMachine {
  const m = bench64(kvm, code, { cpl });
  const sregs = m.vcpu.getSregs();
  sregs.efer |= 1n; // SCE
  m.vcpu.setSregs(sregs);
  m.vcpu.setMsrs([
    { index: STAR, data: (0x18n << 48n) | (0x08n << 32n) },
    { index: LSTAR, data: BigInt(LSTAR_AT) },
  ]);
  return m;
}

// CPL 3: reads the word at 0x8000 into EDX and makes system call EAX, four times (EAX = 0, 1, 2, 3).
const READ_AND_CALL = [
  "8b142500800000 31c0 0f05", // mov edx, [0x8000] / xor eax, eax / syscall
  "8b142500800000 b801000000 0f05", // mov edx, [0x8000] / mov eax, 1 / syscall
  "8b142500800000 b802000000 0f05",
  "8b142500800000 b803000000 0f05",
].join(" ");
// The handler reports EDX, then by EAX: 0 maps linear 0x8000 to frame 0xa000 (its PTE, nothing invalidated);
// 1 does that and INVLPG [0x8000]; 2 maps it back to frame 0x8000 and reloads CR3; 3 halts. Then SYSRETQ.
const PAGE_HANDLER = [
  "50 89d0 e7e9 58", // push rax / mov eax, edx / out 0xe9, eax / pop rax
  "83f803 7432 83f802 7419", // cmp eax, 3 / je stop / cmp eax, 2 / je back
  "c7042540300100 27a00000", // mov dword [0x13040], 0xa027 (the PTE of 0x8000: P, W, U, A)
  "85c0 741b 0f013c2500800000 eb11", // test eax, eax / jz ret / invlpg [0x8000] / jmp ret
  "c7042540300100 27800000 0f20d8 0f22d8", // back: mov dword [0x13040], 0x8027 / mov rax, cr3 / mov cr3, rax
  "480f07 f4", // ret: sysretq / stop: hlt
].join(" ");

backendTest(
  "TLB: a translation made at CPL 3 outlives SYSCALL and SYSRET; INVLPG and MOV to CR3 drop it",
  (kvm) => {
    using m = syscallMachine(kvm, READ_AND_CALL, 3);
    put64(m, LSTAR_AT, PAGE_HANDLER);
    const v = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset);
    v.setUint32(0x8000, 0x11111111, true);
    v.setUint32(0xa000, 0x22222222, true);
    const run = probeRun(m.vcpu);
    assert.equal(run.exit.reason, "hlt", describe(run.exit));
    // The second read still sees frame 0x8000 (the PTE changed without an invalidation: the TLB may keep it,
    // and the emulator's keeps it across the privilege changes); INVLPG and the CR3 reload make the change seen.
    assert.deepEqual(run.out, [0x11111111, 0x11111111, 0x22222222, 0x11111111]);
  },
  { only: ["emu"] },
);

// CPL 0: reads 0xa000 and calls 0x5000 (both supervisor-only pages, now in the TLB and the fetch cache), then
// SYSRETQ to 0x4100 at CPL 3 (RFLAGS = 2).
const KERNEL_THEN_USER = "8b042500a00000 e8f40f0000 b900410000 41bb02000000 480f07";

/** Runs KERNEL_THEN_USER with `user` at 0x4100; the #PF's report: vector, error code, RIP and CS of the fault. */
function supervisorPages(kvm: Kvm, user: string): number[] {
  using m = syscallMachine(kvm, KERNEL_THEN_USER, 0);
  put64(m, 0x4100, user);
  put64(m, 0x5000, "c3"); // ret
  setPte(m.mem, 0xa000, P | W);
  setPte(m.mem, 0x5000, P | W);
  const run = probeRun(m.vcpu);
  assert.equal(run.exit.reason, "hlt", describe(run.exit));
  return run.out;
}

backendTest("TLB: a supervisor-only page the kernel just read is a #PF for CPL 3 after SYSRET", (kvm) => {
  // mov eax, [0xa000]: #PF, error code P | U (a read), at 0x4100 in CS 0x2b.
  assert.deepEqual(supervisorPages(kvm, "8b042500a00000"), [14, 5, 0x4100, 0x2b]);
});

backendTest("TLB: a supervisor-only page the kernel just ran is a #PF for a CPL 3 fetch after SYSRET", (kvm) => {
  // call 0x5000: the fetch there faults (P | U, with I/D when EFER.NXE is set), RIP 0x5000 in CS 0x2b.
  const [vector, code, rip, cs] = supervisorPages(kvm, "e8fb0e0000");
  assert.deepEqual([vector, code & ~0x10, rip, cs], [14, 5, 0x5000, 0x2b]);
});
