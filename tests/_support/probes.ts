/**
 * Probes of host-KVM behaviour that several test files depend on, for
 * `featureTest` (tests/_support/guests.ts): each builds one small guest, runs it once
 * (every run bounded by a timeout), and returns undefined when the backend
 * did what the manuals say, or else a sentence saying what it did instead.
 * The emulator implements all of them, so there they return undefined; a
 * hardware KVM runs most of them natively. Probes used by one file only live
 * in that file.
 *
 * @module
 */
import type { Kvm, Vcpu, VcpuExit } from "../../mod.ts";
import { type Bench, bench, describe, enter, enterReal, FREE_INDEX, gate, K_CODE, put, setGdt, setIdt } from "./sys.ts";
import { bench64, put64 } from "./long64.ts";
import { setGate } from "./long_mode.ts";

/** How long one probe run may take before it counts as a hang. */
const PROBE_TIMEOUT_MS = 3000;
/** A value the probes' guests write to port 0xe9 when they got where they should. */
const GOOD = 0x600d;

/** What a probe run did: the 4-byte values written to port 0xe9, then the first other exit. */
export interface ProbeRun {
  out: number[];
  exit: VcpuExit;
}

/** Runs `vcpu` (each run bounded) until an exit other than a 4-byte `out` to port 0xe9, at most `max` exits. */
export function probeRun(vcpu: Vcpu, max = 16): ProbeRun {
  const out: number[] = [];
  let exit: VcpuExit = vcpu.run({ timeoutMs: PROBE_TIMEOUT_MS });
  while (exit.reason === "io" && exit.direction === "out" && exit.port === 0xe9 && exit.size === 4) {
    out.push(new DataView(exit.data.buffer, exit.data.byteOffset, 4).getUint32(0, true));
    if (out.length >= max) break;
    exit = vcpu.run({ timeoutMs: PROBE_TIMEOUT_MS });
  }
  return { out, exit };
}

/** Undefined when the run wrote `expected` first, else "`what`: " and what the run did. */
export function unlessOut(run: ProbeRun, expected: readonly number[], what: string): string | undefined {
  if (expected.every((x, i) => run.out[i] === x)) return undefined;
  if (run.out.length === 0) return `${what}: ${describe(run.exit)}`;
  const out = run.out.map((x) => `0x${x.toString(16)}`).join(", ");
  return `${what}: the guest wrote [${out}] to port 0xe9, then ${describe(run.exit)}`;
}

/** A 32-bit protected-mode bench (tests/_support/sys.ts, IOPL 3) with `code` at 0x1000 (hex), entered at `cpl`. */
export function bench32(kvm: Kvm, code: string, cpl: 0 | 3 = 0): Bench {
  const b = bench(kvm);
  put(b, 0x1000, code);
  enter(b, { cpl, rflags: 0x3000n, idtLimit: 0x40 * 8 - 1 });
  return b;
}

// mov eax, 0x600d / out 0xe9, eax / hlt
const REPORT_GOOD = "b80d600000 e7e9 f4";

/**
 * Paging outside long mode, 32-bit or PAE, set through KVM_SET_SREGS with the first 128 KiB identity-mapped
 * (tables from 0x10000): the host keeps CR0.PG and the guest runs under it.
 */
function legacyPaging(kvm: Kvm, pae: boolean): string | undefined {
  using b = bench(kvm);
  const v = b.view;
  if (pae) {
    v.setBigUint64(0x10000, 0x11000n | 1n, true); // PDPTE 0
    v.setBigUint64(0x11000, 0x12000n | 7n, true); // PDE 0
    for (let page = 0; page < 0x20; page++) v.setBigUint64(0x12000 + 8 * page, BigInt((page << 12) | 7), true);
  } else {
    v.setUint32(0x10000, 0x11000 | 7, true);
    for (let page = 0; page < 0x20; page++) v.setUint32(0x11000 + 4 * page, (page << 12) | 7, true);
  }
  put(b, 0x1000, REPORT_GOOD);
  enter(b, { cr0: 0x80000011n, cr3: 0x10000n, cr4: pae ? 0x20n : 0n });
  const cr0 = b.vcpu.getSregs().cr0;
  if (!(cr0 & 0x80000000n)) {
    return `KVM_SET_SREGS drops CR0.PG outside long mode (cr0 reads back 0x${cr0.toString(16)})`;
  }
  return unlessOut(probeRun(b.vcpu), [GOOD], `32-bit code under ${pae ? "PAE" : "32-bit"} paging does not run`);
}

/** 32-bit paging: see {@linkcode legacyPaging}. */
export function probeLegacyPaging(kvm: Kvm): string | undefined {
  return legacyPaging(kvm, false);
}

/** PAE paging outside long mode: see {@linkcode legacyPaging}. */
export function probePaePaging(kvm: Kvm): string | undefined {
  return legacyPaging(kvm, true);
}

/**
 * Call gates: a far CALL at CPL 3 through a DPL 3 call gate to CPL 0 code, which calls through a second
 * gate at its own level.
 */
export function probeCallGates(kvm: Kvm): string | undefined {
  using b = bench32(kvm, "9a 00000000 4300", 3); // call 0x43:0
  put(b, 0x1100, "9a 00000000 4800"); // call 0x48:0
  put(b, 0x1200, REPORT_GOOD);
  setGdt(b, FREE_INDEX, gate(0xc, K_CODE, 0x1100, 3));
  setGdt(b, FREE_INDEX + 1, gate(0xc, K_CODE, 0x1200));
  return unlessOut(probeRun(b.vcpu), [GOOD], "a far CALL through call gates (CPL 3 to 0, then 0 to 0) fails");
}

/** Hardware task switches: a far JMP at CPL 0 to an available 32-bit TSS. */
export function probeTaskSwitch(kvm: Kvm): string | undefined {
  using b = bench32(kvm, "ea 00000000 4000"); // jmp 0x40:0
  const tss = 0x3100, v = b.view;
  v.setUint32(tss + 0x20, 0x1100, true); // EIP
  v.setUint32(tss + 0x24, 2, true); // EFLAGS
  v.setUint32(tss + 0x38, 0x5000, true); // ESP
  [0x10, 0x08, 0x10, 0x10, 0x10, 0x10].forEach((sel, i) => v.setUint32(tss + 0x48 + 4 * i, sel, true));
  setGdt(b, FREE_INDEX, 0x0000_8900_0000_0067n | (BigInt(tss) << 16n)); // 32-bit TSS, available
  put(b, 0x1100, REPORT_GOOD);
  return unlessOut(probeRun(b.vcpu), [GOOD], "a far JMP to a TSS does not switch tasks");
}

/** LAR at CPL 0 in 32-bit protected mode: the access rights of the flat code segment (0x08). */
export function probeLarAtCpl0(kvm: Kvm): string | undefined {
  // mov ebx, 0x08 / lar eax, ebx / out 0xe9, eax / hlt
  using b = bench32(kvm, "bb08000000 0f02c3 e7e9 f4");
  return unlessOut(probeRun(b.vcpu), [0xcf9b00], "LAR at CPL 0 does not answer 0xcf9b00 for the flat code segment");
}

/** LAR at CPL 0 in 64-bit mode: the access rights of the 64-bit user code segment (0x2b). */
export function probeLarAtCpl0Long(kvm: Kvm): string | undefined {
  // mov ebx, 0x2b / lar eax, ebx / out 0xe9, eax / hlt
  using m = bench64(kvm, "bb2b000000 0f02c3 e7e9 f4");
  return unlessOut(probeRun(m.vcpu), [0xaffb00], "64-bit LAR at CPL 0 does not answer 0xaffb00 for 0x2b");
}

/** INT n at CPL 3 through a DPL 3 interrupt gate to CPL 0, in 32-bit protected mode. */
export function probeIntFromCpl3(kvm: Kvm): string | undefined {
  using b = bench32(kvm, "cd30 f4", 3); // int 0x30
  put(b, 0x1100, REPORT_GOOD);
  setIdt(b, 0x30, gate(0xe, K_CODE, 0x1100, 3));
  return unlessOut(probeRun(b.vcpu), [GOOD], "INT 0x30 at CPL 3 does not reach its DPL 3 gate");
}

/** INT n at CPL 3 through a DPL 3 interrupt gate to CPL 0, in 64-bit mode. */
export function probeIntFromCpl3Long(kvm: Kvm): string | undefined {
  using m = bench64(kvm, "cd30 f4", { cpl: 3 }); // int 0x30
  put64(m, 0x3400, REPORT_GOOD);
  setGate(m.mem, 0x30, 0x3400n, { dpl: 3 });
  return unlessOut(probeRun(m.vcpu), [GOOD], "INT 0x30 at CPL 3 does not reach its DPL 3 gate");
}

/** IRET or RETF from CPL 0 to CPL 3 in 32-bit protected mode: the CPL 3 code's `hlt` is then #GP(0). */
function returnToCpl3(kvm: Kvm, how: "IRET" | "RETF"): string | undefined {
  // push 0x23 / push 0x6000 / (push 0x3002 for IRET) / push 0x1b / push 0x1100 / iret or retf
  const code = how === "IRET" ? "6a23 6800600000 6802300000 6a1b 6800110000 cf" : "6a23 6800600000 6a1b 6800110000 cb";
  using b = bench32(kvm, code);
  put(b, 0x1100, "f4"); // hlt (#GP at CPL 3)
  return unlessOut(probeRun(b.vcpu), [13, 0, 0x1100, 0x1b], `${how} from CPL 0 to CPL 3 fails`);
}

/** IRET from CPL 0 to CPL 3 in 32-bit protected mode. */
export function probeIretToCpl3(kvm: Kvm): string | undefined {
  return returnToCpl3(kvm, "IRET");
}

/** RETF from CPL 0 to CPL 3 in 32-bit protected mode. */
export function probeRetfToCpl3(kvm: Kvm): string | undefined {
  return returnToCpl3(kvm, "RETF");
}

/** RETFQ from CPL 0 to 64-bit CPL 3 code: its `hlt` is then #GP(0). */
export function probeRetfqToCpl3(kvm: Kvm): string | undefined {
  // push 0x23 / push 0x5800 / push 0x2b / push 0x5100 / retfq
  using m = bench64(kvm, "6a23 6800580000 6a2b 6800510000 48cb");
  put64(m, 0x5100, "f4");
  return unlessOut(probeRun(m.vcpu), [13, 0, 0x5100, 0x2b], "RETFQ from CPL 0 to CPL 3 fails");
}

/**
 * The guest's own data breakpoints at CPL 0: DR0/DR7 watching a 4-byte write, in real mode. The #DB handler
 * writes 1, the code after the watched write 0x77.
 */
export function probeGuestDataBreakpoints(kvm: Kvm): string | undefined {
  using b = bench(kvm);
  // mov eax, 0x9000 / mov dr0, eax / mov eax, 0xd0001 / mov dr7, eax / mov dword [0x9000], 0x11
  // mov eax, 0x77 / out 0xe9, eax / hlt
  put(b, 0x1000, "66b800900000 0f23c0 66b801000d00 0f23f8 66c706009011000000 66b877000000 66e7e9 f4");
  put(b, 0x1100, "66b801000000 66e7e9 f4"); // #DB: mov eax, 1 / out 0xe9, eax / hlt
  enterReal(b, 0x1000, { 1: 0x1100 });
  return unlessOut(probeRun(b.vcpu), [1], "a DR7 write breakpoint at CPL 0 does not trap");
}

/** As {@linkcode probeGuestDataBreakpoints}, at CPL 0 in 64-bit mode: the #DB reporting stub writes vector 1. */
export function probeGuestDataBreakpointsLong(kvm: Kvm): string | undefined {
  // mov eax, 0x8000 / mov dr0, rax / mov eax, 0xd0001 / mov dr7, rax / mov dword [0x8000], 0x11
  // mov eax, 0x77 / out 0xe9, eax / hlt
  using m = bench64(kvm, "b800800000 0f23c0 b801000d00 0f23f8 c704250080000011000000 b877000000 e7e9 f4");
  return unlessOut(probeRun(m.vcpu), [1], "a DR7 write breakpoint at CPL 0 does not trap");
}

/** KVM_SET_GUEST_DEBUG data breakpoints: a write to a watched byte in real mode, followed by an out. */
export function probeGuestDebugWatchpoints(kvm: Kvm): string | undefined {
  using b = bench(kvm);
  put(b, 0x1000, "c606003055 e6e9 f4"); // mov byte [0x3000], 0x55 / out 0xe9, al / hlt
  enterReal(b, 0x1000);
  b.vcpu.setGuestDebug({ hardwareBreakpoints: [{ address: 0x3000, kind: "write", length: 1 }] });
  const exit = b.vcpu.run({ timeoutMs: PROBE_TIMEOUT_MS });
  if (exit.reason === "debug") return undefined;
  return `KVM_SET_GUEST_DEBUG data breakpoints are not reported: a write to a watched byte gave ${describe(exit)}`;
}
