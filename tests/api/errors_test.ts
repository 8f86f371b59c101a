/**
 * Errors: what the kernel refuses becomes a KvmError with its errno name and
 * the ioctl's name; a bad argument throws TypeError or RangeError naming the
 * parameter before any ioctl; and after either, the VM is still usable.
 *
 * @module
 */
import assert from "node:assert/strict";
import { KvmError } from "../../mod.ts";
import type { Kvm, Vcpu } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import { CODE, load, type Machine, machine, realMode, runTo, runToOut } from "../_support/guests.ts";

/** Runs a small guest on `m` (out 0xe9 then hlt): the VM still works. */
function assertStillRuns(m: Machine, value = 0x5c): void {
  load(m.mem, CODE, [
    `b0 ${value.toString(16)}`, // mov al, value
    "e6 e9", //                   out 0xe9, al
    "f4", //                      hlt
  ]);
  realMode(m.vcpu, CODE);
  assert.equal(runToOut(m.vcpu, 0xe9), value);
  runTo(m.vcpu, "hlt");
}

/** `state` after `edit` changed it in place: what a getter answered, with one member made invalid. */
function edited<T>(state: T, edit: (state: T) => void): T {
  edit(state);
  return state;
}

/** A predicate for assert.throws: a KvmError with this code (and operation). */
function kvmError(code: string, operation?: string) {
  return (e: unknown) => {
    assert.ok(e instanceof KvmError, `expected a KvmError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (operation) assert.equal(e.operation, operation);
    return true;
  };
}

/** A predicate for assert.throws: this error class, with `name` (the parameter) at the start of its message. */
function argError(kind: typeof TypeError | typeof RangeError, name: string) {
  return (e: unknown) => {
    assert.ok(e instanceof kind, `expected a ${kind.name}, got ${e}`);
    assert.ok(e.message.startsWith(`${name}:`) || e.message.startsWith(`${name}.`), `"${e.message}" names ${name}`);
    return true;
  };
}

backendTest("KvmError: errno, code and operation; an Error named KvmError", (kvm) => {
  using vm = kvm.createVm();
  vm.createVcpu(0);
  try {
    vm.createVcpu(0);
    assert.fail("a second vCPU 0 was created");
  } catch (e) {
    assert.ok(e instanceof KvmError && e instanceof Error);
    assert.deepEqual([e.name, e.errno, e.code, e.operation], ["KvmError", 17, "EEXIST", "KVM_CREATE_VCPU"]);
    assert.match(e.message, /KVM_CREATE_VCPU/);
    assert.match(e.message, /EEXIST/);
  }
});

backendTest("errors: a duplicate vCPU id is EEXIST, and the VM and the first vCPU still run", (kvm) => {
  using m = machine(kvm);
  assert.throws(() => m.vm.createVcpu(0), kvmError("EEXIST", "KVM_CREATE_VCPU"));
  assertStillRuns(m);
  assert.equal(m.vm.createVcpu(1).id, 1);
});

backendTest("errors: a misaligned guestPhysAddr and an unaligned allocateMemory size are RangeErrors", (kvm) => {
  using m = machine(kvm);
  const mem = m.vm.allocateMemory(0x1000);
  const region = { slot: 1, guestPhysAddr: 0x20001, memory: mem };
  assert.throws(() => m.vm.setUserMemoryRegion(region), argError(RangeError, "region.guestPhysAddr"));
  assert.throws(() => m.vm.setUserMemoryRegion({ ...region, guestPhysAddr: 0x20800n }), RangeError);
  assert.throws(() => m.vm.allocateMemory(0x1001), argError(RangeError, "size"));
  assert.throws(() => m.vm.allocateMemory(0), argError(RangeError, "size"));
  mem.free(); // the refused regions left no user behind
  assertStillRuns(m);
});

backendTest("errors: overlapping slots are EEXIST; the memory stays free to release; the VM runs on", (kvm) => {
  using m = machine(kvm); // slot 0: 0-64 KiB
  const mem = m.vm.allocateMemory(0x2000);
  assert.throws(
    () => m.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0xf000, memory: mem }),
    kvmError("EEXIST", "KVM_SET_USER_MEMORY_REGION"),
  );
  mem.free();
  assert.equal(mem.bytes.length, 0);
  assertStillRuns(m);
});

/** Calls that must throw a TypeError or RangeError naming the parameter, on a fresh machine. */
const badCalls: ReadonlyArray<
  [string, (m: Machine, kvm: Kvm) => unknown, typeof TypeError | typeof RangeError, string]
> = [
  ["createVcpu(-1)", (m) => m.vm.createVcpu(-1), RangeError, "id"],
  ["createVcpu('1')", (m) => m.vm.createVcpu("1" as never), TypeError, "id"],
  ["createVcpu(1.5)", (m) => m.vm.createVcpu(1.5), TypeError, "id"],
  ["allocateMemory('4096')", (m) => m.vm.allocateMemory("4096" as never), TypeError, "size"],
  ["allocateMemory(-4096)", (m) => m.vm.allocateMemory(-4096), RangeError, "size"],
  [
    "region with an unknown key",
    (m) => m.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x20000, memory: null, extra: 1 } as never),
    TypeError,
    "region",
  ],
  [
    "region.flags with an unknown flag",
    (m) => m.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x20000, memory: null, flags: { dirty: true } } as never),
    TypeError,
    "region.flags",
  ],
  [
    "region.memory not a GuestMemory",
    (m) => m.vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x20000, memory: new Uint8Array(4096) } as never),
    TypeError,
    "region.memory",
  ],
  [
    "region.slot -1",
    (m) => m.vm.setUserMemoryRegion({ slot: -1, guestPhysAddr: 0x20000, memory: null }),
    RangeError,
    "region.slot",
  ],
  ["getDirtyLog(-1)", (m) => m.vm.getDirtyLog(-1), RangeError, "slot"],
  ["Kvm.checkExtension(-1)", (_, kvm) => kvm.checkExtension(-1), RangeError, "cap"],
  ["Vm.checkExtension('1')", (m) => m.vm.checkExtension("1" as never), TypeError, "cap"],
  ["irqLine level 2", (m) => m.vm.irqLine(1, 2 as never), TypeError, "level"],
  ["irqLine irq -1", (m) => m.vm.irqLine(-1, 1), RangeError, "irq"],
  ["createPit2(2)", (m) => m.vm.createPit2(2), RangeError, "flags"],
  ["setTssAddr(2 ** 32)", (m) => m.vm.setTssAddr(2 ** 32), RangeError, "addr"],
  ["setIdentityMapAddr(-1)", (m) => m.vm.setIdentityMapAddr(-1), RangeError, "addr"],
  ["setRegs with a number", (m) => m.vcpu.setRegs({ ...m.vcpu.getRegs(), rax: 1 as never }), TypeError, "regs.rax"],
  ["setRegs with a negative", (m) => m.vcpu.setRegs({ ...m.vcpu.getRegs(), rbx: -1n }), RangeError, "regs.rbx"],
  ["setRegs with 2 ** 64", (m) => m.vcpu.setRegs({ ...m.vcpu.getRegs(), rcx: 1n << 64n }), RangeError, "regs.rcx"],
  ["setRegs with an unknown key", (m) => m.vcpu.setRegs({ ...m.vcpu.getRegs(), r16: 0n } as never), TypeError, "regs"],
  ["setRegs(null)", (m) => m.vcpu.setRegs(null as never), TypeError, "regs"],
  [
    "setSregs segment type 16",
    (m) => m.vcpu.setSregs(edited(m.vcpu.getSregs(), (s) => s.cs.type = 16)),
    RangeError,
    "sregs.cs.type",
  ],
  ["getMsrs([-1])", (m) => m.vcpu.getMsrs([-1]), RangeError, "indices.0"],
  ["getMsrs(0x10)", (m) => m.vcpu.getMsrs(0x10 as never), TypeError, "indices"],
  ["setMsrs data a number", (m) => m.vcpu.setMsrs([{ index: 0x174, data: 1 as never }]), TypeError, "entries.0.data"],
  ["translate(-1)", (m) => m.vcpu.translate(-1), RangeError, "linearAddress"],
  ["interrupt(256)", (m) => m.vcpu.interrupt(256), RangeError, "vector"],
  ["setMpState(-1)", (m) => m.vcpu.setMpState(-1), RangeError, "state"],
  ["setLapic of 10 bytes", (m) => m.vcpu.setLapic(new Uint8Array(10)), RangeError, "state"],
  [
    "setXcrs with 17 entries",
    (m) => m.vcpu.setXcrs(Array.from({ length: 17 }, () => ({ xcr: 0, value: 1n }))),
    RangeError,
    "xcrs",
  ],
  [
    "setFpu with an 8-byte xmm",
    (m) => m.vcpu.setFpu(edited(m.vcpu.getFpu(), (f) => f.xmm[0] = new Uint8Array(8))),
    RangeError,
    "fpu.xmm.0",
  ],
  [
    "setCpuid2 edx -1",
    (m) => m.vcpu.setCpuid2([{ function: 0, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: -1 }]),
    RangeError,
    "entries.0.edx",
  ],
  ["setDebugRegs with 1 db", (m) => m.vcpu.setDebugRegs({ ...m.vcpu.getDebugRegs(), db: [0n] }), RangeError, "regs.db"],
  [
    "setVcpuEvents nmi.pending 256",
    (m) => m.vcpu.setVcpuEvents(edited(m.vcpu.getVcpuEvents(), (e) => e.nmi.pending = 256)),
    RangeError,
    "events.nmi.pending",
  ],
  ["run with an unknown option", (m) => m.vcpu.run({ timeout: 5 } as never), TypeError, "options"],
  ["run({ timeoutMs: -1 })", (m) => m.vcpu.run({ timeoutMs: -1 }), RangeError, "options.timeoutMs"],
  ["run({ timeoutMs: '5' })", (m) => m.vcpu.run({ timeoutMs: "5" as never }), TypeError, "options.timeoutMs"],
  [
    "setGuestDebug with an unknown key",
    (m) => m.vcpu.setGuestDebug({ singlestep: true, trace: true } as never),
    TypeError,
    "debug",
  ],
  ["setGuestDebug(undefined)", (m) => m.vcpu.setGuestDebug(undefined as never), TypeError, "debug"],
  [
    "five hardware breakpoints",
    (m) => m.vcpu.setGuestDebug({ hardwareBreakpoints: [1, 2, 3, 4, 5].map((a) => ({ address: a * 8 })) }),
    RangeError,
    "debug.hardwareBreakpoints",
  ],
  [
    "an exec breakpoint of length 4",
    (m) => m.vcpu.setGuestDebug({ hardwareBreakpoints: [{ address: 0x1000, length: 4 }] }),
    RangeError,
    "debug.hardwareBreakpoints.0.length",
  ],
  [
    "a write breakpoint not aligned to its length",
    (m) => m.vcpu.setGuestDebug({ hardwareBreakpoints: [{ address: 0x1002, kind: "write", length: 4 }] }),
    RangeError,
    "debug.hardwareBreakpoints.0.address",
  ],
  [
    "a breakpoint kind 'read'",
    (m) => m.vcpu.setGuestDebug({ hardwareBreakpoints: [{ address: 0x1000, kind: "read" as never }] }),
    TypeError,
    "debug.hardwareBreakpoints.0.kind",
  ],
];

backendTest("errors: bad arguments throw TypeError or RangeError naming the parameter", (kvm) => {
  using m = machine(kvm);
  for (const [what, call, kind, name] of badCalls) {
    assert.throws(() => call(m, kvm), argError(kind, name), what);
  }
  assertStillRuns(m);
});

backendTest("errors: a refused setRegs/setSregs/setGuestDebug leaves the vCPU as it was", (kvm) => {
  using m = machine(kvm);
  realMode(m.vcpu, CODE);
  const regs = m.vcpu.getRegs();
  const sregs = m.vcpu.getSregs();
  assert.throws(() => m.vcpu.setRegs({ ...regs, rip: 0x2000n, rax: -1n }), RangeError);
  assert.throws(() => m.vcpu.setSregs({ ...sregs, cr0: 0x8000_0011n, efer: -1n }), RangeError);
  const step = (v: Vcpu) => v.setGuestDebug({ singlestep: true, hardwareBreakpoints: [{ address: 1, length: 4 }] });
  assert.throws(() => step(m.vcpu), RangeError);
  assert.deepEqual(m.vcpu.getRegs(), regs);
  assert.deepEqual(m.vcpu.getSregs(), sregs);
  assertStillRuns(m, 0x6d); // no single-step exit: the debug settings were not applied
});

backendTest("errors: the kernel's refusals name the ioctl: EEXIST irqchip, ENOENT dirty log, EINVAL XCR0", (kvm) => {
  using vm = kvm.createVm();
  vm.createIrqchip();
  assert.throws(() => vm.createIrqchip(), kvmError("EEXIST", "KVM_CREATE_IRQCHIP"));
  assert.throws(() => vm.getDirtyLog(5), kvmError("ENOENT", "KVM_GET_DIRTY_LOG"));
  using m = machine(kvm);
  assert.throws(() => m.vcpu.setXcrs([{ xcr: 0, value: 0n }]), kvmError("EINVAL", "KVM_SET_XCRS"));
  assertStillRuns(m);
});
