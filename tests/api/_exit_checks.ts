/**
 * The checks that the exit tests of every mode share (tests/api/exits_test.ts in real and protected mode,
 * tests/emu/long/exits_test.ts in long mode): the guest is loaded and started by the test, these run it
 * through its exits.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { GuestMemory, Vcpu, Vm } from "../../mod.ts";
import { describe, runTo, runToOut } from "../_support/guests.ts";

/** The bytes a `rep outsb` guest writes: the first five of these, from the data the test placed. */
export const REP_OUTSB_TEXT: readonly number[] = [...new TextEncoder().encode("kvmkit")];

/**
 * The operand-size prefixes of code whose default operand size is 16 bits (real mode) or 32 bits (protected and
 * 64-bit mode): what a 16-bit and what a 32-bit operand needs there.
 */
function operandPrefixes(mode: 16 | 64): { o16: string; o32: string } {
  return mode === 16 ? { o16: "", o32: "66 " } : { o16: "66 ", o32: "" };
}

/**
 * The guest of expectOuts, encoded for `mode`: `out 0xe9, al` of 0x41, `out dx, ax` of 0x1234 and `out dx, eax` of
 * 0x89abcdef to port 0x3f8, then `end` (its last instruction).
 */
export function outGuest(mode: 16 | 64, end: string): string[] {
  const { o16, o32 } = operandPrefixes(mode);
  return [
    "b0 41", //                    mov al, 0x41
    "e6 e9", //                    out 0xe9, al
    `${o16}ba f8 03`, //           mov dx, 0x3f8
    `${o16}b8 34 12`, //           mov ax, 0x1234
    `${o16}ef`, //                 out dx, ax
    `${o32}b8 ef cd ab 89`, //     mov eax, 0x89abcdef
    `${o32}ef`, //                 out dx, eax
    end,
  ];
}

/** Runs outGuest through its three io exits (KVM_EXIT_IO, direction out), checking the port, size and bytes of each. */
export function expectOuts(vcpu: Vcpu): void {
  assert.equal(runToOut(vcpu, 0xe9, 1), 0x41);
  assert.equal(runToOut(vcpu, 0x3f8, 2), 0x1234);
  assert.equal(runToOut(vcpu, 0x3f8, 4), 0x89abcdef);
}

/**
 * The guest of answerIns, encoded for `mode`: `in al, dx` into bl, `in ax, dx` into cx and `in eax, dx` (left in
 * eax) from port 0x1234, then hlt.
 */
export function inGuest(mode: 16 | 64): string[] {
  const { o16, o32 } = operandPrefixes(mode);
  return [
    `${o16}ba 34 12`, // mov dx, 0x1234
    "ec", //             in al, dx
    "88 c3", //          mov bl, al
    `${o16}ed`, //       in ax, dx
    `${o16}89 c1`, //    mov cx, ax
    `${o32}ed`, //       in eax, dx
    "f4", //             hlt
  ];
}

/**
 * Runs a guest that does `in al, dx`, `in ax, dx` and `in eax, dx` from `port` through its three io exits
 * (KVM_EXIT_IO, direction in), checking each and answering 0xab, 0xbeef and 0xdeadbeef.
 */
export function answerIns(vcpu: Vcpu, port: number): void {
  const answers = [[1, [0xab]], [2, [0xef, 0xbe]], [4, [0xef, 0xbe, 0xad, 0xde]]] as const;
  for (const [size, bytes] of answers) {
    const exit = runTo(vcpu, "io");
    assert.equal(exit.direction, "in", describe(exit));
    assert.deepEqual([exit.port, exit.size, exit.count, exit.data.length], [port, size, 1, size]);
    exit.data.set(bytes);
  }
}

/**
 * Runs a guest whose `rep outsb` writes five bytes of REP_OUTSB_TEXT to port 0xe9 through its five io exits
 * (count 1 each, as KVM splits it) and then to its hlt; `registers(i)` checks the registers after exit `i`.
 */
export function expectRepOutsb(vcpu: Vcpu, registers: (i: number) => void): void {
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) {
    const exit = runTo(vcpu, "io");
    assert.deepEqual(
      { direction: exit.direction, port: exit.port, size: exit.size, count: exit.count },
      { direction: "out", port: 0xe9, size: 1, count: 1 },
      `exit ${i}: ${describe(exit)}`,
    );
    seen.push(...exit.data);
    // Each exit has consumed its byte; rip stays on the rep outsb until the last one completes.
    registers(i);
  }
  runTo(vcpu, "hlt");
  assert.deepEqual(seen, REP_OUTSB_TEXT.slice(0, 5));
}

/** run({ timeoutMs }) of 20 and 50 ms stops a guest that loops (`jmp $`) at `rip` with an intr exit, in time. */
export function expectTimeouts(vcpu: Vcpu, rip: number): void {
  for (const ms of [20, 50]) {
    const start = performance.now();
    const exit = vcpu.run({ timeoutMs: ms });
    const elapsed = performance.now() - start;
    assert.equal(exit.reason, "intr", describe(exit));
    assert.ok(elapsed >= ms - 1 && elapsed < ms + 2000, `returned after ${elapsed} ms for timeoutMs ${ms}`);
  }
  assert.equal(vcpu.getRegs().rip, BigInt(rip));
}

/** run({ timeoutMs: 10 s }) of a guest that halts at once returns its hlt exit, well before the time is up. */
export function expectOwnExitFirst(vcpu: Vcpu): void {
  const start = performance.now();
  assert.equal(vcpu.run({ timeoutMs: 10_000 }).reason, "hlt");
  assert.ok(performance.now() - start < 5000);
}

/** run({ timeoutMs: 0 }) of a guest that would run on returns intr before it starts, not at its own exit. */
export function expectNoTime(vcpu: Vcpu): void {
  const exit = vcpu.run({ timeoutMs: 0 });
  assert.equal(exit.reason, "intr", `timeoutMs 0 ran the guest to its own exit: ${describe(exit)}`);
}

/** With an empty IDT at `idtBase` (limit 0), the guest's #UD escalates to #GP, #DF and a triple fault: shutdown. */
export function expectTripleFault(vcpu: Vcpu, idtBase: bigint): void {
  const sregs = vcpu.getSregs();
  sregs.idt = { base: idtBase, limit: 0 }; // #UD -> #GP -> #DF -> triple fault
  vcpu.setSregs(sregs);
  runTo(vcpu, "shutdown");
}

/** The guest of expectUserOut, the same bytes in every mode. */
export const USER_OUT_GUEST: readonly string[] = [
  "b0 33", // mov al, 0x33
  "e6 e9", // out 0xe9, al
  "eb fe", // jmp $
];

/** USER_OUT_GUEST at CPL 3: its `out 0xe9, al` of 0x33 reaches the host; then its `jmp $` runs until run({ timeoutMs }). */
export function expectUserOut(vcpu: Vcpu): void {
  assert.equal(runToOut(vcpu, 0xe9), 0x33);
  assert.equal(vcpu.getSregs().cs.selector & 3, 3, "the guest ran at CPL 3");
  assert.equal(vcpu.run({ timeoutMs: 20 }).reason, "intr");
}

/**
 * Runs `body` with a read-only page (KVM_SET_USER_MEMORY_REGION, slot 1, flags readonly) at `guestPhysAddr`
 * whose byte 0x10 is 0x99; then closes `vm` before it frees the page.
 */
export function withReadOnlyPage(vm: Vm, guestPhysAddr: number, body: (rom: GuestMemory) => void): void {
  const rom = vm.allocateMemory(0x1000);
  try {
    rom.bytes[0x10] = 0x99;
    vm.setUserMemoryRegion({ slot: 1, guestPhysAddr, memory: rom, flags: { readonly: true } });
    body(rom);
  } finally {
    vm.close();
    rom.free();
  }
}
