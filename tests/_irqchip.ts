/**
 * Helpers of the in-kernel irqchip suites (tests/irqchip_*_test.ts): a VM
 * with KVM_CREATE_IRQCHIP (and optionally KVM_CREATE_PIT2) and one vCPU,
 * the instruction snippets real-mode guests use to program the 8259s and
 * the 8254, and the host side's loop that collects the marks a guest's
 * interrupt handlers write to port 0xe8.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm, Vcpu } from "../mod.ts";
import { CODE, describe, load, type Machine, realMode } from "./_guests.ts";

/** Where handlers go, 0x40 bytes apart. */
export const HANDLERS = 0x2000;
/** The port a handler writes its mark to, and the port the main program reports on. */
export const MARK = 0xe8, READY = 0xe9;

/** A VM with the in-kernel irqchip (and the PIT, with `pit` its flags), 64 KiB of memory at 0, and vCPU 0. */
export function irqchipMachine(kvm: Kvm, options: { pit?: number } = {}): Machine {
  const vm = kvm.createVm();
  vm.createIrqchip();
  if (options.pit !== undefined) vm.createPit2(options.pit);
  const mem = vm.allocateMemory(0x10000);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem });
  const vcpu = vm.createVcpu(0);
  return {
    vm,
    mem,
    vcpu,
    [Symbol.dispose]() {
      vm.close();
      mem.free();
    },
  };
}

/** `out port, al` with al = value (port above 0xff through dx). */
export function outb(port: number, value: number): string[] {
  const v = `b0 ${hex8(value)}`;
  if (port < 0x100) return [v, `e6 ${hex8(port)}`];
  return [`ba ${hex8(port & 0xff)} ${hex8(port >> 8)}`, v, "ee"];
}

/** `in al, port; out 0xe8, al`: reports a register. */
export function report(port: number): string[] {
  return [`e4 ${hex8(port)}`, `e6 ${hex8(MARK)}`];
}

function hex8(v: number): string {
  return (v & 0xff).toString(16).padStart(2, "0");
}

/**
 * ICW1-ICW4 of both 8259s (master vectors from `base`, slave from `base + 8`, the slave on IRQ2), then the masks
 * (OCW1). `icw4`: 1 (8086 mode), or 3 with auto-EOI.
 */
export function picInit(base: number, masterMask: number, slaveMask: number, icw4 = 1): string[] {
  return [
    ...outb(0x20, 0x11),
    ...outb(0x21, base),
    ...outb(0x21, 0x04),
    ...outb(0x21, icw4),
    ...outb(0xa0, 0x11),
    ...outb(0xa1, base + 8),
    ...outb(0xa1, 0x02),
    ...outb(0xa1, icw4),
    ...outb(0x21, masterMask),
    ...outb(0xa1, slaveMask),
  ];
}

/** `out 0xe9, al` (ready: the host acts), then `sti` and `hlt` forever. */
export const READY_THEN_IDLE = ["e6 e9", "fb", "f4", "eb fd"];

/**
 * A real-mode handler for `vector` at HANDLERS + 0x40 * `slot`: `body`, then `out 0xe8, mark`, a non-specific EOI
 * to each port of `eoi` (0xa0 before 0x20 for the slave), and IRET. The IVT entry is written too.
 */
export function handler(
  m: Machine,
  slot: number,
  vector: number,
  mark: number,
  eoi: number[],
  body: string[] = [],
): void {
  const at = HANDLERS + 0x40 * slot;
  load(m.mem, at, [...body, `b0 ${hex8(mark)}`, `e6 ${hex8(MARK)}`, ...eoi.flatMap((p) => outb(p, 0x20)), "cf"]);
  new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset).setUint32(vector * 4, at, true);
}

/** Loads `code` at CODE and starts vCPU 0 there in real mode. */
export function start(m: Machine, code: string[]): void {
  load(m.mem, CODE, code);
  realMode(m.vcpu, CODE);
}

/** Runs to the next `out` to `port` (within `ms`), returning its byte; fails on any other exit. */
export function nextOut(vcpu: Vcpu, port: number, ms = 5000): number {
  const e = vcpu.run({ timeoutMs: ms });
  assert.ok(
    e.reason === "io" && e.direction === "out" && e.port === port,
    `expected out 0x${port.toString(16)}, got ${describe(e)}`,
  );
  return e.data[0];
}

/** Runs for `ms` and asserts that nothing happens (the guest idles in HLT): the run ends with "intr". */
export function quiet(vcpu: Vcpu, ms = 100): void {
  const e = vcpu.run({ timeoutMs: ms });
  assert.equal(e.reason, "intr", `expected no interrupt, got ${describe(e)}`);
}
