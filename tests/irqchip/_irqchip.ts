/**
 * Helpers of the in-kernel irqchip suites (tests/irqchip/*_test.ts, which
 * import them as one namespace, `irq`): a VM with KVM_CREATE_IRQCHIP (and
 * optionally KVM_CREATE_PIT2) and one vCPU, the instruction snippets
 * real-mode guests use to program the 8259s and the 8254, and the host
 * side's loop that collects the marks a guest's interrupt handlers write to
 * port 0xe8.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Kvm, Kvm as KvmClass, type Vcpu } from "../../mod.ts";
import { backendTest, backendUnavailable, skip } from "../_support/harness.ts";
import { CODE, describe, load, type Machine, machine, protectedMode, realMode, SEL_CODE0 } from "../_support/guests.ts";
import type { MarksJob, MarksReport } from "./_irqchip_worker.ts";

/** Where handlers go, 0x40 bytes apart. */
export const HANDLERS = 0x2000;
/** The port a handler writes its mark to, and the port the main program reports on. */
export const MARK = 0xe8, READY = 0xe9;

/** A VM with the in-kernel irqchip (and the PIT, with `pit` its flags), 64 KiB of memory at 0, and vCPU 0. */
export function irqchipMachine(kvm: Kvm, options: { pit?: number } = {}): Machine {
  return machine(kvm, { size: 0x10000, irqchip: true, pit: options.pit });
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

// ---- 32-bit protected mode, for the local APIC and the IOAPIC at their MMIO addresses ----------------------------

/** The local APIC's and the IOAPIC's default addresses. */
export const LAPIC = 0xfee00000, IOAPIC = 0xfec00000;
/** The IDT of protected-mode guests (256 gates). */
export const IDT = 0x800;

/** Little-endian bytes of a 32-bit value, as hex. */
export function le32(v: number): string {
  return [0, 8, 16, 24].map((s) => hex8(v >>> s)).join(" ");
}

/** Little-endian bytes of a 16-bit value, as hex. */
export function le16(v: number): string {
  return [0, 8].map((s) => hex8(v >>> s)).join(" ");
}

/** `mov dword [addr], value`. */
export function store32(addr: number, value: number): string[] {
  return [`c7 05 ${le32(addr)} ${le32(value)}`];
}

/** `mov eax, [addr]`, then `shr eax, shift` and `out 0xe8, al`: reports one byte of a 32-bit register. */
export function report32(addr: number, shift = 0): string[] {
  return [`a1 ${le32(addr)}`, ...(shift ? [`c1 e8 ${hex8(shift)}`] : []), `e6 ${hex8(MARK)}`];
}

/** An IOAPIC register write: IOREGSEL, then IOWIN. */
export function ioapicWrite(reg: number, value: number): string[] {
  return [...store32(IOAPIC, reg), ...store32(IOAPIC + 0x10, value)];
}

/** Masks every line of both 8259s, as an OS that uses the IOAPIC does first (their lines reach LINT0 too). */
export const PIC_OFF = [...outb(0x21, 0xff), ...outb(0xa1, 0xff)];

/** Software-enables the local APIC: SVR = 0x1ff (spurious vector 0xff). */
export const LAPIC_ENABLE = store32(LAPIC + 0xf0, 0x1ff);

/**
 * How a guest that uses the IOAPIC begins: both 8259s masked, the local APIC enabled, and IOAPIC pin `pin`'s
 * redirection entry set to `low` (its low dword: vector, trigger mode, mask) with destination APIC 0.
 */
export function ioapicRoute(pin: number, low: number): string[] {
  return [...PIC_OFF, ...LAPIC_ENABLE, ...ioapicWrite(0x10 + 2 * pin, low), ...ioapicWrite(0x11 + 2 * pin, 0)];
}
/** EOI to the local APIC. */
export const LAPIC_EOI = store32(LAPIC + 0xb0, 0);

/**
 * Turns the local APIC on in x2APIC mode through RDMSR/WRMSR: IA32_APIC_BASE |= EN | EXTD, then SVR (MSR 0x80f)
 * = 0x1ff. `o32` is "66 " in 16-bit code (for 32-bit operands), "" in 32- and 64-bit code.
 */
export function x2apicEnable(o32: "" | "66 " = ""): string[] {
  return [
    `${o32}b9 1b 00 00 00`, // mov ecx, IA32_APIC_BASE
    "0f 32", //               rdmsr
    `${o32}0d 00 0c 00 00`, // or eax, 0xc00 (enable, x2APIC)
    "0f 30", //               wrmsr
    `${o32}b9 0f 08 00 00`, // mov ecx, SVR
    `${o32}b8 ff 01 00 00`, // mov eax, 0x1ff
    `${o32}31 d2`, //         xor edx, edx
    "0f 30", //               wrmsr
  ];
}

/** Loads `code` at CODE and starts vCPU 0 there in flat 32-bit protected mode with the IDT at IDT. */
export function start32(m: Machine, code: string[]): void {
  load(m.mem, CODE, code);
  protectedMode(m.vcpu, m.mem, CODE);
  const s = m.vcpu.getSregs();
  s.idt = { base: BigInt(IDT), limit: 256 * 8 - 1 };
  m.vcpu.setSregs(s);
}

/**
 * An irqchipMachine whose 32-bit guest routes IOAPIC pin `pin` as `low` says (ioapicRoute), then reports ready and
 * idles (READY_THEN_IDLE): the bench of the tests that raise one IOAPIC line.
 */
export function ioapicMachine(kvm: Kvm, pin: number, low: number): Machine {
  const m = irqchipMachine(kvm);
  start32(m, [...ioapicRoute(pin, low), ...READY_THEN_IDLE]);
  return m;
}

/** The idle loop 32-bit handlers return to: `sti; hlt; jmp` back to the `sti`. */
export const IDLE32 = 0x1f00;

/**
 * A 32-bit handler for `vector` at HANDLERS + 0x40 * `slot` (an interrupt gate): `body`, `out 0xe8, mark`, an EOI
 * to the local APIC unless `eoi` is false, then back to IDLE32 with the frame dropped. Not IRETD: the host KVM's
 * instruction emulator, which runs CPL 0 code on this host, has no protected-mode IRET (emulate.c's em_iret).
 */
export function handler32(
  m: Machine,
  slot: number,
  vector: number,
  mark: number,
  body: string[] = [],
  eoi = true,
): void {
  const at = HANDLERS + 0x40 * slot;
  load(m.mem, IDLE32, ["fb", "f4", "eb fc"]);
  load(m.mem, at, [
    ...body,
    `b0 ${hex8(mark)}`,
    `e6 ${hex8(MARK)}`,
    ...(eoi ? LAPIC_EOI : []),
    "83 c4 0c", //              add esp, 12
    `b8 ${le32(IDLE32)}`, //    mov eax, IDLE32
    "ff e0", //                 jmp eax
  ]);
  const v = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset);
  v.setUint32(IDT + vector * 8, (SEL_CODE0 << 16) | (at & 0xffff), true);
  v.setUint32(IDT + vector * 8 + 4, (at & 0xffff0000) | 0x8e00, true);
}

/**
 * Whether the local APIC keeps a delivered vector in ISR until its EOI (so PPR rises with it, and a level-triggered
 * line is re-examined only at the EOI): the finding where it does not, else undefined.
 */
export function probeIsrInService(kvm: Kvm): string | undefined {
  using m = irqchipMachine(kvm);
  start32(m, [...LAPIC_ENABLE, ...READY_THEN_IDLE]);
  handler32(m, 0, 0x61, 0x61, report32(LAPIC + 0x130));
  nextOut(m.vcpu, READY);
  m.vm.signalMsi({ addressLo: LAPIC, data: 0x61 });
  const isr = nextOut(m.vcpu, MARK);
  return isr & 2
    ? undefined
    : `ISR reads 0x${isr.toString(16)} (bit of vector 0x61 clear) inside that vector's handler`;
}

/**
 * `fn` on the emulator always, and on the kernel's KVM unless `probe` (given a KVM of its own) describes how this
 * host's KVM departs from the hardware's behaviour the test asserts: then the KVM half is skipped, printing that.
 */
export function hostQuirkTest(name: string, probe: (kvm: Kvm) => string | undefined, fn: (kvm: Kvm) => void): void {
  backendTest(name, fn, { only: ["emu"] });
  let why: string | undefined;
  if (backendUnavailable("kvm") === undefined) {
    try {
      using kvm = KvmClass.open({ backend: "kvm" });
      why = probe(kvm);
    } catch {
      why = undefined; // not a quirk but a failure: the test runs and reports it
    }
  }
  if (why !== undefined) skip(`${name} [kvm]`, `this host's KVM: ${why}`);
  else backendTest(name, fn, { only: ["kvm"] });
}

/** Runs `job` in a Worker (`_irqchip_worker.ts`, its vCPUs adopted there) and resolves with its report. */
export function runInWorker(job: MarksJob): Promise<MarksReport> {
  const worker = new Worker(new URL("./_irqchip_worker.ts", import.meta.url), { type: "module" });
  return new Promise<MarksReport>((resolve) => {
    worker.onmessage = (e: MessageEvent<MarksReport>) => {
      resolve(e.data);
      worker.terminate();
    };
    worker.onerror = (e) => {
      resolve({ ok: false, error: String(e.message ?? e) });
      worker.terminate();
    };
    worker.postMessage(job);
  });
}
