/**
 * The 64-bit siblings of the part-1 exit and guest-debug conformance tests:
 * every exit kind a small 64-bit guest produces, at CPL 0 (run by the
 * kernel's instruction emulator on kvm_pvm) and at CPL 3 (run natively),
 * and guest debugging through setGuestDebug in long mode.
 *
 * Here the exits; guest debugging through setGuestDebug is in debug_test.ts beside this file.
 *
 * Sibling map (part-1 test → test in tests/emu/long/{exits,debug}_test.ts):
 * - tests/api/exits_test "exit io out" → "long exit io out at CPL 0/3: ... 1, 2 and 4 bytes" (CPL 3 through the TSS I/O
 *   bitmap)
 * - tests/api/exits_test "exit io in" → "long exit io in: ..." (a 32-bit IN zero-extends into RAX)
 * - tests/api/exits_test "exit io: rep outsb ..." → "long exit io: rep outsb ..." (RCX/RSI/RIP per exit, upper-half RSI)
 * - tests/emu/exits_test "OUT, REP OUTSB, REP INSB and IN" → "long exit io: rep insb ..."
 * - tests/api/exits_test "exit io from CPL 3" → "long exit io from CPL 3 ...", and the I/O permission rule of part 1 →
 *   "long exit io at CPL 3: a port the TSS I/O bitmap denies is #GP(0)"
 * - tests/api/exits_test "exit mmio: reads outside every slot ..." and tests/emu/exits_test "MMIO reads restart ..." →
 *   "long exit mmio: accesses through a page mapped beyond every slot ...", "... an 8-byte read and write" and
 *   "... an 8-byte access splits at a page boundary only ..."
 * - tests/api/exits_test and tests/emu/exits_test "read-only slot" → "long exit mmio: a write to a read-only slot ..."
 * - tests/api/exits_test "exit hlt" → "long exit hlt"
 * - tests/api/exits_test "exit shutdown" and tests/emu/exits_test "a triple fault" → "long exit shutdown ..." (CPL 0 and CPL 3)
 * - tests/api/exits_test "exit internal_error: fetching code from outside every slot" → "long exit: fetching from a page
 *   beyond every slot"
 * - tests/api/exits_test "exit intr" (three tests) → "long exit intr ..." (CPL 0 and CPL 3 loops)
 * - tests/api/debug_test "single-step" and tests/emu/exits_test "single-step, INT3 and hardware-breakpoint" →
 *   "long debug single-step at CPL 0/3 ..." and "... on upper-half addresses"
 * - tests/api/debug_test "hardware exec breakpoint" → "long debug hardware exec breakpoint at CPL 0/3 ..." and "... on an
 *   upper-half address"
 * - tests/api/debug_test "int3 with softwareBreakpoints" → "long debug int3 at CPL 0/3 with softwareBreakpoints" (probed)
 * - tests/api/debug_test "hardware write breakpoint" → "long debug hardware write breakpoint" and "... on an upper-half
 *   address" (probed)
 * - tests/api/debug_test "setGuestDebug(null) ..." → "long debug: setGuestDebug(null) ..."
 *
 * No 64-bit subject, or covered elsewhere:
 * - tests/api/debug_test "setGuestDebug(null) at an I/O exit under single-step": a property of the I/O exit path,
 *   not of the mode; the real-mode test covers it.
 * - tests/emu/exits_test "an instruction the core lacks", "setRunAlarm", "immediate_exit", "self-modifying code":
 *   emulator-internal tests of the Kernel interface; its "#DE through an IDT interrupt gate" has its 64-bit
 *   sibling in tests/emu/long/system_test.ts.
 * - tests/emu/long/mode_system_test "REP OUTSB exits once per byte; REP INSW ..." already covers REP INSW.
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest } from "../../_support/harness.ts";
import { describe, load, runTo, runToOut } from "../../_support/guests.ts";
import { collect, expectOut } from "../../_support/sys.ts";
import { bench64 } from "../../_support/long64.ts";
import * as check from "../../api/_exit_checks.ts";
import {
  enterLongMode,
  LM_CODE,
  LM_DATA,
  LM_GDT,
  LM_IDT,
  LM_TSS,
  type LongMachine,
  longMachine,
  P,
  SEL64_TSS,
  U,
  view,
  W,
} from "../../_support/long_mode.ts";

/** rflags with IOPL 3, for CPL 3 port I/O. */
const RFLAGS_IOPL3 = 0x3202n;
/**
 * Gives the TSS an I/O permission bitmap for ports 0-0x3ff at offset 0x68 (the TSS limit grows to cover it):
 * `denied` ports have their bit set, the others are allowed to CPL 3 code whatever its IOPL. (kvm_pvm runs
 * CPL 3 code with IOPL 0 whatever RFLAGS says, so there the bitmap decides.)
 */
function ioBitmap(m: LongMachine, denied: readonly number[] = []): void {
  const v = view(m.mem), map = LM_TSS + 0x68;
  v.setUint16(LM_TSS + 0x66, 0x68, true);
  for (let i = 0; i < 0x80; i++) v.setUint8(map + i, 0);
  for (const port of denied) v.setUint8(map + (port >> 3), v.getUint8(map + (port >> 3)) | (1 << (port & 7)));
  v.setUint8(map + 0x80, 0xff);
  const limit = 0x68 + 0x80;
  v.setUint16(LM_GDT + SEL64_TSS, limit, true);
  const sregs = m.vcpu.getSregs();
  m.vcpu.setSregs({ ...sregs, tr: { ...sregs.tr, limit } });
}
for (const cpl of [0, 3] as const) {
  backendTest(
    `long exit io out at CPL ${cpl}: port, size, count and the bytes written, for 1, 2 and 4 bytes`,
    (kvm) => {
      using m = longMachine(kvm);
      load(m.mem, LM_CODE, check.outGuest(64, "eb fe")); // ... jmp $
      enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl });
      if (cpl === 3) ioBitmap(m);
      check.expectOuts(m.vcpu);
      assert.equal(m.vcpu.run({ timeoutMs: 20 }).reason, "intr");
    },
  );
}

backendTest("long exit io at CPL 3: a port the TSS I/O bitmap denies is #GP(0), no exit", (kvm) => {
  using m = bench64(kvm, "66baf803 ec f4", { cpl: 3 }); // mov dx, 0x3f8 / in al, dx / hlt
  ioBitmap(m, [0x3f8]);
  expectOut(m.vcpu, [13, 0, LM_CODE + 4, 0x2b]);
});

backendTest("long exit io in: the answer arrives in the register; a 32-bit IN zero-extends into RAX", (kvm) => {
  using m = longMachine(kvm);
  load(m.mem, LM_CODE, check.inGuest(64));
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rax: -1n & 0xffffffffffffffffn, rbx: 0x1111111111111111n, rcx: 0n });
  check.answerIns(m.vcpu, 0x1234);
  runTo(m.vcpu, "hlt");
  const regs = m.vcpu.getRegs();
  assert.equal(regs.rbx, 0x11111111111111abn, "an 8-bit move keeps the upper bits");
  assert.equal(regs.rcx, 0xbeefn);
  assert.equal(regs.rax, 0xdeadbeefn, "in eax, dx clears bits 63:32");
});

backendTest("long exit io: rep outsb from an upper-half RSI is one exit per byte, RIP on the instruction", (kvm) => {
  using m = longMachine(kvm);
  load(m.mem, LM_CODE, [
    "48 be 00 80 00 00 80 ff ff ff", // mov rsi, 0xffffff8000008000 (the alias of LM_DATA)
    "b9 05 00 00 00", //                mov ecx, 5
    "66 ba e9 00", //                   mov dx, 0xe9
    "fc", //                            cld
    "f3 6e", //                         rep outsb
    "f4", //                            hlt
  ]);
  m.mem.bytes.set(check.REP_OUTSB_TEXT, LM_DATA);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  check.expectRepOutsb(m.vcpu, (i) => {
    const regs = m.vcpu.getRegs();
    assert.deepEqual([regs.rip, regs.rcx, regs.rsi], [
      BigInt(LM_CODE + 20),
      BigInt(4 - i),
      0xffffff8000008001n + BigInt(i),
    ]);
  });
  assert.equal(m.vcpu.getRegs().rip, BigInt(LM_CODE + 23));
});

backendTest("long exit io: rep insb asks for every byte in one exit, written at RDI", (kvm) => {
  using m = longMachine(kvm);
  load(m.mem, LM_CODE, [
    "bf 00 81 00 00", // mov edi, 0x8100
    "b9 06 00 00 00", // mov ecx, 6
    "66 ba 60 00", //    mov dx, 0x60
    "f3 6c", //          rep insb
    "f4", //             hlt
  ]);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  const exit = runTo(m.vcpu, "io");
  assert.deepEqual([exit.direction, exit.port, exit.size, exit.count], ["in", 0x60, 1, 6], describe(exit));
  exit.data.set([1, 2, 3, 4, 5, 6]);
  runTo(m.vcpu, "hlt");
  assert.deepEqual([...m.mem.bytes.subarray(0x8100, 0x8107)], [1, 2, 3, 4, 5, 6, 0]);
  const regs = m.vcpu.getRegs();
  assert.deepEqual([regs.rdi, regs.rcx], [0x8106n, 0n]);
});

backendTest("long exit mmio: accesses through a page mapped beyond every slot, 1 to 8 bytes", (kvm) => {
  using m = longMachine(kvm);
  // Linear 0x6000 maps guest-physical 0x800000, in no slot (memory is 4 MiB).
  view(m.mem).setBigUint64(0x13000 + 6 * 8, 0x800000n | P | W | U, true);
  load(m.mem, LM_CODE, [
    "8a 04 25 10 60 00 00", //    mov al, [0x6010]
    "88 04 25 20 60 00 00", //    mov [0x6020], al
    "66 8b 04 25 30 60 00 00", // mov ax, [0x6030]
    "89 04 25 40 60 00 00", //    mov [0x6040], eax
    "f4", //                      hlt
  ]);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  const steps: Array<[number, boolean, number[]]> = [
    [0x800010, false, [0x5a]],
    [0x800020, true, [0x5a]],
    [0x800030, false, [0x34, 0x12]],
    [0x800040, true, [0x34, 0x12, 0, 0]],
  ];
  mmioSteps(m, steps);
  runTo(m.vcpu, "hlt");
  assert.equal(m.vcpu.getRegs().rax, 0x1234n);
});

backendTest("long exit mmio: an 8-byte read and write are one exit each (len 8)", (kvm) => {
  using m = longMachine(kvm);
  view(m.mem).setBigUint64(0x13000 + 6 * 8, 0x800000n | P | W | U, true); // linear 0x6000 -> 0x800000, no slot
  load(m.mem, LM_CODE, [
    "48 8b 1c 25 48 60 00 00", // mov rbx, [0x6048]
    "48 89 1c 25 50 60 00 00", // mov [0x6050], rbx
    "f4", //                      hlt
  ]);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  mmioSteps(m, [[0x800048, false, [1, 2, 3, 4, 5, 6, 7, 8]], [0x800050, true, [1, 2, 3, 4, 5, 6, 7, 8]]]);
  runTo(m.vcpu, "hlt");
  assert.equal(m.vcpu.getRegs().rbx, 0x0807060504030201n);
});

backendTest(
  "long exit mmio: an 8-byte access splits at a page boundary only; an 8-byte ADD reads, then writes",
  (kvm) => {
    using m = longMachine(kvm);
    const v = view(m.mem);
    v.setBigUint64(0x13000 + 6 * 8, 0x800000n | P | W | U, true); // linear 0x6000 -> 0x800000, no slot
    v.setBigUint64(0x13000 + 7 * 8, 0x801000n | P | W | U, true); // linear 0x7000 -> 0x801000, no slot
    v.setBigUint64(0x5ff8, 0x1122334455667788n, true);
    load(m.mem, LM_CODE, [
      "48 8b 1c 25 fc 6f 00 00", // mov rbx, [0x6ffc]   ; MMIO in both pages: 4 + 4 bytes
      "48 8b 0c 25 fa 5f 00 00", // mov rcx, [0x5ffa]   ; RAM, then 2 bytes of MMIO
      "48 89 1c 25 fd 7f 00 00", // mov [0x7ffd], rbx   ; 3 bytes of MMIO, then RAM at 0x8000
      "48 01 1c 25 48 60 00 00", // add [0x6048], rbx
      "f4", //                      hlt
    ]);
    enterLongMode(m.vcpu, BigInt(LM_CODE));
    mmioSteps(m, [
      [0x800ffc, false, [0xf0, 0xf1, 0xf2, 0xf3]],
      [0x801000, false, [0xf4, 0xf5, 0xf6, 0xf7]],
      [0x800000, false, [0xa0, 0xa1]],
      [0x801ffd, true, [0xf0, 0xf1, 0xf2]],
      [0x800048, false, [1, 2, 3, 4, 5, 6, 7, 8]],
      [0x800048, true, [0xf1, 0xf3, 0xf5, 0xf7, 0xf9, 0xfb, 0xfd, 0xff]],
    ]);
    runTo(m.vcpu, "hlt");
    const regs = m.vcpu.getRegs();
    assert.deepEqual([regs.rbx, regs.rcx], [0xf7f6f5f4f3f2f1f0n, 0xa1a0112233445566n]);
    assert.deepEqual([...m.mem.bytes.subarray(0x8000, 0x8005)], [0xf3, 0xf4, 0xf5, 0xf6, 0xf7]);
  },
);

/** Runs through mmio exits [physical address, write?, bytes]: checks writes' data, answers reads. */
function mmioSteps(m: LongMachine, steps: ReadonlyArray<readonly [number, boolean, readonly number[]]>): void {
  for (const [addr, isWrite, data] of steps) {
    const e = runTo(m.vcpu, "mmio");
    assert.deepEqual([e.physAddr, e.isWrite, e.len], [BigInt(addr), isWrite, data.length], describe(e));
    if (isWrite) assert.deepEqual([...e.data.subarray(0, e.len)], data);
    else e.data.set(data);
  }
}

backendTest("long exit mmio: a write to a read-only slot becomes an mmio write; reads see the memory", (kvm) => {
  using m = longMachine(kvm);
  check.withReadOnlyPage(m.vm, 0x400000, (rom) => {
    view(m.mem).setBigUint64(0x13000 + 6 * 8, 0x400000n | P | W | U, true); // linear 0x6000 -> the ROM
    load(m.mem, LM_CODE, [
      "8a 04 25 10 60 00 00", //                mov al, [0x6010]
      "e6 e9", //                               out 0xe9, al
      "c6 04 25 20 60 00 00 66", // mov byte [0x6020], 0x66
      "c7 04 25 28 60 00 00 fe ff ff ff", // mov dword [0x6028], -2
      "f4", //                      hlt
    ]);
    enterLongMode(m.vcpu, BigInt(LM_CODE));
    assert.equal(runToOut(m.vcpu, 0xe9), 0x99);
    const w1 = runTo(m.vcpu, "mmio");
    assert.deepEqual([w1.physAddr, w1.isWrite, w1.len, [...w1.data]], [0x400020n, true, 1, [0x66]]);
    const w4 = runTo(m.vcpu, "mmio");
    assert.deepEqual([w4.physAddr, w4.isWrite, w4.len, [...w4.data]], [0x400028n, true, 4, [0xfe, 0xff, 0xff, 0xff]]);
    runTo(m.vcpu, "hlt");
    assert.equal(rom.bytes[0x20], 0, "the read-only slot's memory is unchanged");
    assert.equal(rom.bytes[0x28], 0);
  });
});

backendTest("long exit hlt: the guest stops after hlt with its 64-bit registers as it left them", (kvm) => {
  using m = longMachine(kvm);
  load(m.mem, LM_CODE, [
    "48 b8 f0 de bc 9a 78 56 34 12", // mov rax, 0x123456789abcdef0
    "f4", //                            hlt
  ]);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  runTo(m.vcpu, "hlt");
  const regs = m.vcpu.getRegs();
  assert.equal(regs.rax, 0x123456789abcdef0n);
  assert.equal(regs.rip, BigInt(LM_CODE + 11));
});

for (const cpl of [0, 3] as const) {
  backendTest(`long exit shutdown: a #UD at CPL ${cpl} with an empty IDT triple-faults`, (kvm) => {
    using m = longMachine(kvm);
    load(m.mem, LM_CODE, [
      "0f 0b", // ud2
      "f4", //    hlt
    ]);
    enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl });
    check.expectTripleFault(m.vcpu, BigInt(LM_IDT));
  });
}

for (const cpl of [0, 3] as const) {
  backendTest(`long exit intr: run({ timeoutMs }) stops a CPL ${cpl} loop, and the vCPU runs on`, (kvm) => {
    using m = longMachine(kvm);
    load(m.mem, LM_CODE, [
      "eb fe", // jmp $
    ]);
    enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl });
    check.expectTimeouts(m.vcpu, LM_CODE);
    if (cpl === 0) {
      m.mem.bytes[LM_CODE] = 0xf4; // hlt, in place of the jmp
      runTo(m.vcpu, "hlt");
    }
  });
}

backendTest("long exit intr: run({ timeoutMs }) returns the guest's own exit when it comes first", (kvm) => {
  using m = longMachine(kvm);
  load(m.mem, LM_CODE, ["f4"]); // hlt
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  check.expectOwnExitFirst(m.vcpu);
});

backendTest("long exit intr: run({ timeoutMs: 0 }) returns intr rather than running without a limit", (kvm) => {
  using m = longMachine(kvm);
  load(m.mem, LM_CODE, [
    "b9 00 00 04 00", // mov ecx, 0x40000
    "ff c9", //          l: dec ecx
    "75 fc", //          jnz l
    "e6 e9", //          out 0xe9, al
    "f4", //             hlt
  ]);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  check.expectNoTime(m.vcpu);
});

backendTest("long exit io from CPL 3: a 64-bit user guest with IOPL 3 reaches the host", (kvm) => {
  // (With IOPL 0 the TSS of longMachine, whose I/O bitmap offset is 0, allows port 0xe9 too; kvm_pvm runs CPL 3
  // code with IOPL 0 whatever RFLAGS says, so on KVM it is the bitmap that lets this `out` through.)
  using m = longMachine(kvm);
  load(m.mem, LM_CODE, check.USER_OUT_GUEST);
  enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3, rflags: RFLAGS_IOPL3 });
  check.expectUserOut(m.vcpu);
});

backendTest("long exit: fetching from a page beyond every slot", (kvm) => {
  using m = longMachine(kvm);
  view(m.mem).setBigUint64(0x13000 + 5 * 8, 0x800000n | P | W | U, true); // linear 0x5000 -> 0x800000, no slot
  load(m.mem, LM_CODE, [
    "b8 00 50 00 00", // mov eax, 0x5000
    "ff e0", //          jmp rax
  ]);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  const { exit } = collect(m.vcpu);
  assert.equal(exit.reason, "internal_error", describe(exit));
});
