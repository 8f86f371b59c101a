/**
 * System instructions and debug features: SYSENTER and SYSEXIT, RDPMC's
 * privilege rule, the guest's own single step (TF), data and execution
 * breakpoints (DR7), data watchpoints set through KVM_SET_GUEST_DEBUG,
 * KVM_GUESTDBG_INJECT_DB/INJECT_BP, exception injection through
 * KVM_SET_VCPU_EVENTS, KVM_INTERRUPT and the interrupt window, and 16-bit
 * protected mode. Each runs on KVM too; where the host's KVM lacks a
 * feature (kvm_pvm: its kernel's instruction emulator, which runs CPL 0,
 * checks no data breakpoints; KVM_SET_GUEST_DEBUG data breakpoints are not
 * reported; a 16-bit interrupt gate pushes a 32-bit frame; the interrupt
 * window is not reported), the test's probe says so and its KVM half is
 * skipped with that finding.
 *
 * @module
 */
import assert from "node:assert/strict";
import { backendTest } from "../_support/harness.ts";
import { benchTest, featureTest } from "../_support/guests.ts";
import { probeGuestDataBreakpoints, probeGuestDebugWatchpoints, probeRun, unlessOut } from "../_support/probes.ts";
import {
  bench,
  descriptor,
  enter,
  enterReal,
  expectOut,
  FREE_INDEX,
  gate,
  K_CODE,
  put,
  setGdt,
  setIdt,
  STUBS,
} from "../_support/sys.ts";
import { openBackend } from "../../backend.ts";
import type { BackendName, Kvm } from "../../mod.ts";
import * as R from "../../abi/requests.ts";
import { kvmGuestDebug, kvmRun, kvmUserspaceMemoryRegion } from "../../abi/structs.ts";
import { KVM_GUESTDBG_INJECT_BP, KVM_GUESTDBG_INJECT_DB } from "../../abi/constants.ts";
import { getRegs, getSregs, runOnce, setRegs, setSregs, type TestGuest } from "../../emu/_testing.ts";

const IOPL3 = 0x3000n;
const DR6_BS = 0xffff4ff0;

// 0x1000 (CPL 0): wrmsr SYSENTER_CS = 0x08, SYSENTER_ESP = 0x7800, SYSENTER_EIP = 0x1100
//   mov edx, 0x1200 / mov ecx, 0x5800 / sysexit
// 0x1200 (CPL 3): out cs, ss, esp / sysenter
// 0x1100 (CPL 0): out cs, ss, esp / pushfd / pop eax / out eax / hlt
backendTest("SYSEXIT to CPL 3 and SYSENTER back: flat segments from IA32_SYSENTER_CS", (kvm) => {
  using b = bench(kvm);
  put(
    b,
    0x1000,
    "b974010000b80800000031d20f30b975010000b8007800000f30b976010000b8001100000f30ba00120000b9005800000f35",
  );
  put(b, 0x1100, "8cc8e7e98cd0e7e989e0e7e99c58e7e9f4");
  put(b, 0x1200, "8cc8e7e98cd0e7e989e0e7e90f34");
  enter(b, { rflags: IOPL3 | 0x200n });
  // EFLAGS: IOPL 3 kept, IF cleared by SYSENTER, ZF and PF from xor edx, edx.
  expectOut(b.vcpu, [0x1b, 0x23, 0x5800, 0x08, 0x10, 0x7800, 0x3046]);
});

// 0x1000 (CPL 3): xor ecx, ecx / mov eax, 0x1234 / mov edx, 0x5678 / rdpmc (#GP: CR4.PCE is clear)
backendTest("RDPMC at CPL 3 without CR4.PCE is #GP(0)", (kvm) => {
  using b = bench(kvm);
  put(b, 0x1000, "31c9b834120000ba785600000f33e7e989d0e7e9b9000000400f33");
  enter(b, { cpl: 3, rflags: IOPL3 });
  expectOut(b.vcpu, [13, 0, 0x100c, 0x1b]);
});

// Real mode, 0x1000: pushf / mov bp, sp / or word [bp], 0x100 / popf / mov ax, 1 / mov ax, 2 / pushf
//   mov bp, sp / and word [bp], ~0x100 / popf / mov ax, 3 / mov eax, 0x77 / out 0xe9, eax / hlt
// 0x1100 (#DB): push bp / mov bp, sp / push eax / movzx eax, word [bp+2] / out 0xe9, eax / mov eax, dr6
//   out 0xe9, eax / xor eax, eax / mov dr6, eax / pop eax / pop bp / iret
backendTest("TF: a #DB trap after each instruction that began with TF set, DR6.BS set", (kvm) => {
  using b = bench(kvm);
  put(b, 0x1000, "9c89e5814e0000019db80100b802009c89e5816600fffe9db8030066b87700000066e7e9f4");
  put(b, 0x1100, "5589e56650660fb7460266e7e90f21f066e7e96631c00f23f066585dcf");
  enterReal(b, 0x1000, { 1: 0x1100 });
  const traps = [0x100c, 0x100f, 0x1010, 0x1012, 0x1017, 0x1018].flatMap((ip) => [ip, DR6_BS]);
  expectOut(b.vcpu, [...traps, 0x77]);
});

// 0x1000 (CPL 3): pushfd / or dword [esp], 0x100 / popfd / nop / nop / hlt
// 0x1100 (#DB, CPL 0): out [esp], [esp+4], [esp+8], dr6 / hlt
backendTest("TF at CPL 3: the #DB trap reaches the CPL 0 handler", (kvm) => {
  using b = bench(kvm);
  put(b, 0x1000, "9c810c24000100009d9090f4");
  put(b, 0x1100, "8b0424e7e98b442404e7e98b442408e7e90f21f0e7e9f4");
  enter(b, { cpl: 3, rflags: IOPL3 });
  setIdt(b, 1, gate(0xe, K_CODE, 0x1100));
  expectOut(b.vcpu, [0x100a, 0x1b, 0x3102, DR6_BS]);
});

// Real mode, 0x1000: mov eax, 0x9000 / mov dr0, eax / mov eax, 0xd0001 (L0, write, 4 bytes) / mov dr7, eax
//   mov dword [0x9000], 0x11 / mov ebx, [0x9000] / mov byte [0x9003], 0x22 / mov eax, 0x77 / out 0xe9, eax / hlt
// 0x1100 (#DB): as in the TF test
benchTest("the guest's DR7 write breakpoint: a #DB trap after each write into its range", probeGuestDataBreakpoints, {
  0x1000: "66b8009000000f23c066b801000d000f23f866c706009011000000668b1e0090c60603902266b87700000066e7e9f4",
  0x1100: "5589e56650660fb7460266e7e90f21f066e7e96631c00f23f066585dcf",
}, (b) => {
  enterReal(b, 0x1000, { 1: 0x1100 });
  expectOut(b.vcpu, [0x101b, 0xffff0ff1, 0x1025, 0xffff0ff1, 0x77]);
});

// Real mode, 0x1000: mov eax, target / mov dr0, eax / mov eax, 1 (L0, execution) / mov dr7, eax / nop / nop
//   target: mov eax, 0x77 / out 0xe9, eax / hlt
// 0x1100 (#DB): push bp / mov bp, sp / push eax / movzx eax, word [bp+2] / out 0xe9, eax / mov eax, dr6
//   out 0xe9, eax / xor eax, eax / mov dr6, eax / mov dr7, eax / pop eax / pop bp / iret
backendTest("the guest's DR7 execution breakpoint: a #DB fault before the instruction", (kvm) => {
  using b = bench(kvm);
  put(b, 0x1000, "66b8141000000f23c066b8010000000f23f8909066b87700000066e7e9f4");
  put(b, 0x1100, "5589e56650660fb7460266e7e90f21f066e7e96631c00f23f00f23f866585dcf");
  enterReal(b, 0x1000, { 1: 0x1100 });
  expectOut(b.vcpu, [0x1014, 0xffff0ff1, 0x77]);
});

// 0x1000 (CPL 0): mov eax, 0x11 / mov [0x9000], eax / mov ebx, [0x9000] / mov [0x9004], al / mov cl, [0x9004]
//   mov [0x9008], eax / hlt
benchTest(
  "KVM_SET_GUEST_DEBUG watchpoints: a debug exit after the access, DR6 naming the breakpoint",
  probeGuestDebugWatchpoints,
  { 0x1000: "b811000000a3009000008b1d00900000a2049000008a0d04900000a308900000f4" },
  (b) => {
    enter(b);
    b.vcpu.setGuestDebug({
      hardwareBreakpoints: [
        { address: 0x9000, kind: "write", length: 4 },
        { address: 0x9004, kind: "readwrite", length: 1 },
      ],
    });
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      const e = b.vcpu.run({ timeoutMs: 10_000 });
      if (e.reason !== "debug") {
        seen.push(e.reason);
        break;
      }
      seen.push(`debug ${e.exception} pc=${e.pc.toString(16)} dr6=${e.dr6.toString(16)} dr7=${e.dr7.toString(16)}`);
    }
    assert.deepEqual(seen, [
      "debug 1 pc=100a dr6=ffff0ff1 dr7=3d000a",
      "debug 1 pc=1015 dr6=ffff0ff2 dr7=3d000a",
      "debug 1 pc=101b dr6=ffff0ff2 dr7=3d000a",
      "hlt",
    ]);
  },
);

/** A real-mode guest driven through the raw Kernel interface (the facade does not expose the INJECT flags). */
function rawGuest(backend: BackendName, code: Record<number, string>): TestGuest & Disposable {
  const { kernel: k, fd: sys } = openBackend(backend, "/dev/kvm", undefined);
  const vm = k.ioctlValue(sys, R.KVM_CREATE_VM, 0);
  const m = k.mmap(-1, 0x10000);
  if (typeof m === "number") throw new Error(`mmap: ${m}`);
  const region = { slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: 0x10000n, userspaceAddr: m.address };
  assert.equal(k.ioctl(vm, R.KVM_SET_USER_MEMORY_REGION, kvmUserspaceMemoryRegion.toBytes(region)), 0);
  const vcpu = k.ioctlValue(vm, R.KVM_CREATE_VCPU, 0);
  assert.equal(k.prepareVcpu(vcpu), 0);
  const rm = k.mmap(vcpu, k.ioctlValue(sys, R.KVM_GET_VCPU_MMAP_SIZE, 0));
  if (typeof rm === "number") throw new Error(`mmap run: ${rm}`);
  const mem = new Uint8Array(m.buffer);
  for (const [at, hexCode] of Object.entries(code)) mem.set(hexCode.match(/../g)!.map((x) => parseInt(x, 16)), +at);
  const g: TestGuest & Disposable = {
    k,
    sys,
    vm,
    vcpu,
    mem,
    memAddr: m.address,
    run: new DataView(rm.buffer),
    runBytes: new Uint8Array(rm.buffer),
    [Symbol.dispose]() {
      k.close(vcpu);
      k.close(vm);
      k.munmap(rm);
      k.munmap(m);
      k.close(sys);
    },
  };
  const s = getSregs(g);
  s.cs = { ...s.cs, base: 0n, selector: 0 };
  assert.equal(setSregs(g, s), 0);
  setRegs(g, { ...getRegs(g), rip: 0x1000n, rsp: 0x7000n, rflags: 2n });
  return g;
}

/** Runs a raw guest to `hlt`, collecting the 4-byte `out`s to port 0xe9. */
function rawCollect(g: TestGuest): number[] {
  const out: number[] = [];
  for (let i = 0; i < 20; i++) {
    const e = runOnce(g);
    if (e.reason === 5) return out;
    assert.equal(e.reason, 2, `exit ${e.reason}`);
    out.push(new DataView(e.io!.data.buffer, e.io!.data.byteOffset, 4).getUint32(0, true));
  }
  throw new Error("no hlt");
}

// Real mode, 0x1000: nop / nop / mov eax, 0x77 / out 0xe9, eax / hlt
// 0x1100 (#DB) and 0x1200 (#BP): push bp / mov bp, sp / movzx eax, word [bp+2] / out 0xe9, eax
//   mov eax, 0x11 (0x33 for #BP) / out 0xe9, eax / pop bp / iret
const INJECTIONS: Array<[number, string, number]> = [
  [KVM_GUESTDBG_INJECT_DB, "INJECT_DB", 0x11],
  [KVM_GUESTDBG_INJECT_BP, "INJECT_BP", 0x33],
];
for (const [flag, name, handlerMark] of INJECTIONS) {
  backendTest(`KVM_GUESTDBG_${name}: the exception is delivered before the next instruction`, (_kvm, backend) => {
    using g = rawGuest(backend, {
      0x1000: "909066b87700000066e7e9f4",
      0x1100: "5589e5660fb7460266e7e966b81100000066e7e95dcf",
      0x1200: "5589e5660fb7460266e7e966b83300000066e7e95dcf",
      4: "00110000",
      12: "00120000",
    });
    const dbg = kvmGuestDebug.toBytes({ control: flag, arch: { debugreg: new Array<bigint>(8).fill(0n) } });
    assert.equal(g.k.ioctl(g.vcpu, R.KVM_SET_GUEST_DEBUG, dbg), 0);
    assert.deepEqual(rawCollect(g).map((x) => x.toString(16)), [0x1000, handlerMark, 0x77].map((x) => x.toString(16)));
  });
}

// 0x1000 (CPL 0): xor ecx, ecx / mov eax, 0x1234 / mov edx, 0x5678 / rdpmc / out 0xe9, eax / mov eax, edx
//   out 0xe9, eax / mov ecx, 0x40000000 / rdpmc
backendTest("RDPMC at CPL 0: without a virtual PMU even counter 0 is #GP(0)", (kvm) => {
  using b = bench(kvm);
  put(b, 0x1000, "31c9b834120000ba785600000f33e7e989d0e7e9b9000000400f33");
  enter(b);
  expectOut(b.vcpu, [13, 0, 0x100c, 8]);
});

// 16-bit protected mode (16-bit code and stack segments at 0x08/0x10; 0x40 is 32-bit code for the #GP stub)
// 0x1000: mov eax, esp / out 0xe9, eax / ud2 / mov eax, esp / out 0xe9, eax / call 0x08:0x1200
//   mov eax, esp / out 0xe9, eax / mov ax, 0x10 / mov ds, ax / mov eax, [0xfffe] (#GP: past the limit)
// 0x1100 (#UD through a 32-bit interrupt gate to this 16-bit code): out esp, [esp] (EIP), [esp+4] (CS),
//   [esp+8] (EFLAGS) / add dword [esp], 2 / o32 retf 4
// 0x1200: out esp, [esp] (IP and CS) / retf
/** Runs the 16-bit protected-mode guest above with `handler` at 0x1100 for #UD through a gate of `gateType`. */
function expect16BitGuest(kvm: Kvm, handler: string, gateType: number, outs: readonly number[]): void {
  using b = bench(kvm);
  put(b, 0x1000, "6689e066e7e90f0b6689e066e7e99a001208006689e066e7e9b810008ed866a1feff");
  put(b, 0x1100, handler);
  put(b, 0x1200, "6689e066e7e966678b042466e7e9cb");
  enter(b, { bits16: true });
  setGdt(b, FREE_INDEX, descriptor(0, 0xffffffff, 0xb, { g: 1 }));
  setIdt(b, 6, gate(gateType, K_CODE, 0x1100));
  setIdt(b, 13, gate(0xe, 0x40, STUBS + 13 * 16));
  expectOut(b.vcpu, outs);
}

backendTest("16-bit protected mode: a 32-bit gate into 16-bit code, far CALL/RETF, limit checks", (kvm) => {
  const handler = "6689e066e7e966678b042466e7e966678b44240466e7e966678b44240866e7e966678304240266ca0400";
  const outs = [0x7000, 0x6ff4, 0x1006, 8, 0x10002, 0x7000, 0x6ffc, 0x81013, 0x7000, 13, 0, 0x101e, 8];
  expect16BitGuest(kvm, handler, 0xe, outs);
});

/** #UD in 16-bit protected mode through a 16-bit interrupt gate: the handler writes ESP, 6 bytes below 0x7000. */
function probe16BitGate(kvm: Kvm): string | undefined {
  using b = bench(kvm);
  put(b, 0x1000, "0f0b"); // ud2
  put(b, 0x1100, "6689e0 66e7e9 f4"); // mov eax, esp / out 0xe9, eax / hlt
  enter(b, { bits16: true });
  setIdt(b, 6, gate(6, K_CODE, 0x1100));
  return unlessOut(probeRun(b.vcpu), [0x7000 - 6], "a 16-bit interrupt gate does not push a 16-bit frame");
}

// As above, with vector 6 a 16-bit interrupt gate and this handler at 0x1100: out esp, [esp] (IP and CS),
//   word [esp+4] (FLAGS) / add word [esp], 2 / retf 2
featureTest("16-bit protected mode: a 16-bit interrupt gate pushes a 16-bit frame", probe16BitGate, (kvm) => {
  const handler = "6689e066e7e966678b042466e7e966670fb744240466e7e96783042402ca0200";
  expect16BitGuest(kvm, handler, 6, [0x7000, 0x6ffa, 0x81006, 2, 0x7000, 0x6ffc, 0x81013, 0x7000, 13, 0, 0x101e, 8]);
});

// Real mode, 0x1000: cli / mov eax, 1 / out 0xe9, eax / sti / mov eax, 2 / out 0xe9, eax / hlt
// 0x1100 (vector 0x20): push eax / mov eax, 0x20 / out 0xe9, eax / pop eax / iret
const IRQ_GUEST = {
  0x1000: "fa66b80100000066e7e9fb66b80200000066e7e9f4",
  0x1100: "665066b82000000066e7e96658cf",
  0x80: "00110000",
};

/** One run of IRQ_GUEST with request_interrupt_window set after its first `out`: a KVM_EXIT_IRQ_WINDOW_OPEN? */
function probeInterruptWindow(kvm: Kvm): string | undefined {
  using g = rawGuest(kvm.backend, IRQ_GUEST);
  const first = runOnce(g).reason;
  if (first !== 2) return `IRQ_GUEST's first exit is ${first}, not KVM_EXIT_IO`;
  g.runBytes[kvmRun.offsetOf("request_interrupt_window")] = 1;
  const exit = runOnce(g);
  if (exit.reason === 7) return undefined;
  return `request_interrupt_window is not answered with KVM_EXIT_IRQ_WINDOW_OPEN (7) once STI's shadow has passed: ` +
    `exit ${exit.reason} at rip 0x${getRegs(g).rip.toString(16)}`;
}

backendTest(
  "KVM_INTERRUPT while IF is clear: delivered once IF is set and the STI shadow has passed",
  (_kvm, backend) => {
    using g = rawGuest(backend, IRQ_GUEST);
    const at = (name: string) => kvmRun.offsetOf(name);
    assert.equal(runOnce(g).reason, 2);
    assert.equal(g.run.getUint8(at("if_flag")), 0, "IF clear");
    assert.equal(g.run.getUint8(at("ready_for_interrupt_injection")), 0);
    assert.equal(g.k.ioctl(g.vcpu, R.KVM_INTERRUPT, new Uint8Array([0x20, 0, 0, 0])), 0);
    // The handler runs between `mov eax, 2` (in the shadow) and its `out`.
    assert.deepEqual(rawCollect(g).map((x) => x.toString(16)), ["20", "2"]);
  },
);

featureTest(
  "request_interrupt_window: KVM_EXIT_IRQ_WINDOW_OPEN once IF is set and the STI shadow has passed",
  probeInterruptWindow,
  (kvm) => {
    using g = rawGuest(kvm.backend, IRQ_GUEST);
    const at = (name: string) => kvmRun.offsetOf(name);
    assert.equal(runOnce(g).reason, 2);
    g.runBytes[at("request_interrupt_window")] = 1;
    assert.equal(runOnce(g).reason, 7, "KVM_EXIT_IRQ_WINDOW_OPEN");
    assert.equal(getRegs(g).rip, 0x1011n, "after the instruction in the STI shadow");
    assert.equal(g.run.getUint8(at("if_flag")), 1);
    assert.equal(g.run.getUint8(at("ready_for_interrupt_injection")), 1);
    g.runBytes[at("request_interrupt_window")] = 0;
    assert.equal(g.k.ioctl(g.vcpu, R.KVM_INTERRUPT, new Uint8Array([0x20, 0, 0, 0])), 0);
    assert.deepEqual(rawCollect(g).map((x) => x.toString(16)), ["20", "2"]);
  },
);

// 0x1000 (CPL 0): nop / hlt
backendTest("KVM_SET_VCPU_EVENTS injects an exception with its error code; GET reports it until it runs", (kvm) => {
  using b = bench(kvm);
  put(b, 0x1000, "90f4");
  enter(b);
  const events = b.vcpu.getVcpuEvents();
  events.exception = { injected: 1, nr: 13, hasErrorCode: 1, pending: 0, errorCode: 0x1234 };
  b.vcpu.setVcpuEvents(events);
  const seen = b.vcpu.getVcpuEvents().exception;
  assert.deepEqual(
    { injected: seen.injected, nr: seen.nr, hasErrorCode: seen.hasErrorCode, errorCode: seen.errorCode },
    { injected: 1, nr: 13, hasErrorCode: 1, errorCode: 0x1234 },
  );
  expectOut(b.vcpu, [13, 0x1234, 0x1000, 8]);
  assert.equal(b.vcpu.getVcpuEvents().exception.injected, 0);
});
