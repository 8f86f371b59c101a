/**
 * Every exit kind a small guest produces: io out and in, `rep outsb`, mmio
 * read and write (including a write to a read-only slot), hlt, shutdown from
 * a triple fault, internal_error from fetching code outside memory, and intr
 * from run({ timeoutMs }).
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/harness.ts";
import { CODE, describe, load, machine, protectedMode, realMode, runTo, runToOut } from "../_support/guests.ts";
import * as check from "./_exit_checks.ts";

backendTest("exit io out: port, size, count and the bytes written, for 1, 2 and 4 bytes", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, check.outGuest(16, "f4")); // ... hlt
  realMode(m.vcpu, CODE);
  check.expectOuts(m.vcpu);
  runTo(m.vcpu, "hlt");
});

backendTest("exit io in: the answer written into exit.data arrives in the guest's register", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, check.inGuest(16));
  realMode(m.vcpu, CODE);
  check.answerIns(m.vcpu, 0x1234);
  runTo(m.vcpu, "hlt");
  const regs = m.vcpu.getRegs();
  assert.equal(regs.rbx & 0xffn, 0xabn);
  assert.equal(regs.rcx & 0xffffn, 0xbeefn);
  assert.equal(regs.rax & 0xffffffffn, 0xdeadbeefn);
});

backendTest("exit io: rep outsb is reported as one exit per byte (count 1), as KVM splits it", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "be 00 20", // mov si, 0x2000
    "b9 05 00", // mov cx, 5
    "ba e9 00", // mov dx, 0xe9
    "fc", //       cld
    "f3 6e", //    rep outsb
    "f4", //       hlt
  ]);
  m.mem.bytes.set(check.REP_OUTSB_TEXT, 0x2000);
  realMode(m.vcpu, CODE);
  check.expectRepOutsb(m.vcpu, (i) => {
    const regs = m.vcpu.getRegs();
    assert.deepEqual([regs.rip, regs.rcx & 0xffffn, regs.rsi & 0xffffn], [
      BigInt(CODE + 10),
      BigInt(4 - i),
      BigInt(0x2001 + i),
    ]);
  });
  const regs = m.vcpu.getRegs();
  assert.equal(regs.rcx & 0xffffn, 0n);
  assert.equal(regs.rsi & 0xffffn, 0x2005n);
});

backendTest("exit mmio: reads outside every slot are answered through exit.data; writes carry data and len", (kvm) => {
  using m = machine(kvm); // 64 KiB: guest-physical 0x20000 is in no slot
  load(m.mem, CODE, [
    "b8 00 20", //    mov ax, 0x2000
    "8e d8", //       mov ds, ax          ; ds.base = 0x20000
    "a0 10 00", //    mov al, [0x10]      ; mmio read, 1 byte
    "a2 20 00", //    mov [0x20], al      ; mmio write, 1 byte
    "a1 30 00", //    mov ax, [0x30]      ; mmio read, 2 bytes
    "66 a3 40 00", // mov [0x40], eax     ; mmio write, 4 bytes
    "f4", //          hlt
  ]);
  realMode(m.vcpu, CODE);
  const read1 = runTo(m.vcpu, "mmio");
  assert.deepEqual([read1.physAddr, read1.isWrite, read1.len], [0x20010n, false, 1], describe(read1));
  read1.data.set([0x5a]);
  const write1 = runTo(m.vcpu, "mmio");
  assert.deepEqual([write1.physAddr, write1.isWrite, write1.len], [0x20020n, true, 1], describe(write1));
  assert.deepEqual([...write1.data], [0x5a]);
  const read2 = runTo(m.vcpu, "mmio");
  assert.deepEqual([read2.physAddr, read2.isWrite, read2.len], [0x20030n, false, 2], describe(read2));
  read2.data.set([0x34, 0x12]);
  const write4 = runTo(m.vcpu, "mmio");
  assert.deepEqual([write4.physAddr, write4.isWrite, write4.len], [0x20040n, true, 4], describe(write4));
  assert.deepEqual([...write4.data], [0x34, 0x12, 0, 0]);
  runTo(m.vcpu, "hlt");
  assert.equal(m.vcpu.getRegs().rax & 0xffffn, 0x1234n);
});

backendTest("exit mmio: a write to a read-only slot becomes an mmio write; reads see the memory", (kvm) => {
  using m = machine(kvm);
  check.withReadOnlyPage(m.vm, 0x10000, (rom) => {
    load(m.mem, CODE, [
      "b8 00 10", //       mov ax, 0x1000
      "8e d8", //          mov ds, ax           ; ds.base = 0x10000
      "a0 10 00", //       mov al, [0x10]       ; reads the read-only slot
      "e6 e9", //          out 0xe9, al
      "c6 06 20 00 66", // mov byte [0x20], 0x66 ; writes it
      "f4", //             hlt
    ]);
    realMode(m.vcpu, CODE);
    assert.equal(runToOut(m.vcpu, 0xe9), 0x99);
    const write = runTo(m.vcpu, "mmio");
    assert.deepEqual([write.physAddr, write.isWrite, write.len, [...write.data]], [0x10020n, true, 1, [0x66]]);
    runTo(m.vcpu, "hlt");
    assert.equal(rom.bytes[0x20], 0, "the read-only slot's memory is unchanged");
  });
});

backendTest("exit hlt: the guest stops after hlt with its registers as it left them", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "b8 34 12", // mov ax, 0x1234
    "f4", //       hlt
  ]);
  realMode(m.vcpu, CODE);
  runTo(m.vcpu, "hlt");
  const regs = m.vcpu.getRegs();
  assert.equal(regs.rax & 0xffffn, 0x1234n);
  assert.equal(regs.rip, BigInt(CODE + 4));
});

backendTest("exit shutdown: a #UD with an empty IDT in protected mode triple-faults", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "0f 0b", // ud2
    "f4", //    hlt
  ]);
  protectedMode(m.vcpu, m.mem, CODE);
  check.expectTripleFault(m.vcpu, 0n);
});

backendTest("exit internal_error: fetching code from outside every slot cannot be emulated", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "ea 00 00 00 20", // jmp 0x2000:0x0000 ; guest-physical 0x20000, in no slot
  ]);
  realMode(m.vcpu, CODE);
  const exit = runTo(m.vcpu, "internal_error");
  assert.equal(exit.suberror, 1, `KVM_INTERNAL_ERROR_EMULATION: ${describe(exit)}`);
  assert.ok(exit.data.every((d) => typeof d === "bigint"));
});

backendTest("exit intr: run({ timeoutMs }) stops a guest that loops forever, and the vCPU runs on", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "eb fe", // jmp $
  ]);
  realMode(m.vcpu, CODE);
  check.expectTimeouts(m.vcpu, CODE);
  m.mem.bytes[CODE] = 0xf4; // hlt, in place of the jmp
  runTo(m.vcpu, "hlt");
});

backendTest("exit intr: run({ timeoutMs }) returns the guest's own exit when it comes first", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, ["f4"]); // hlt
  realMode(m.vcpu, CODE);
  check.expectOwnExitFirst(m.vcpu);
});

backendTest("exit intr: run({ timeoutMs: 0 }) returns intr rather than running without a limit", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, [
    "66 b9 00 00 04 00", // mov ecx, 0x40000   ; ~0.3 s of guest time at CPL 0 here
    "66 49", //             l: dec ecx
    "75 fc", //             jnz l
    "e6 e9", //             out 0xe9, al
    "f4", //                hlt
  ]);
  realMode(m.vcpu, CODE);
  // The time is up before the guest starts: a guest that would otherwise
  // run on must come back with "intr", not when it happens to exit.
  check.expectNoTime(m.vcpu);
});

backendTest("exit io from CPL 3: a protected-mode user guest with IOPL 3 reaches the host", (kvm) => {
  using m = machine(kvm);
  load(m.mem, CODE, check.USER_OUT_GUEST);
  protectedMode(m.vcpu, m.mem, CODE, 3);
  check.expectUserOut(m.vcpu);
});
