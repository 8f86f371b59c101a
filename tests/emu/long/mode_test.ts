/**
 * Long mode on both backends: 64-bit CPL 3 programs of every integer
 * family (the host CPU runs them natively under KVM: the oracle), and
 * paging: 4 KiB and 2 MiB pages, 1 GiB pages only when CPUID says so,
 * accessed/dirty bits, NX, SMEP/SMAP, #PF error codes and CR2 through an
 * IDT handler, canonical-address faults, the upper half, KVM_TRANSLATE
 * and the KVM_SET_SREGS rules for EFER.LMA.
 *
 * CPL 3 programs end in `hlt`, a #GP that the CPL 0 handler at LM_REPORT
 * turns into an `out` exit (under kvm_pvm, user code cannot use `out`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Kvm } from "../../../mod.ts";
import { backendTest } from "../../_support/harness.ts";
import { describe, featureTest } from "../../_support/guests.ts";
import {
  A,
  bytes,
  D,
  enterLongMode,
  fillData,
  FRAME_RFLAGS,
  FRAME_RIP,
  FRAME_RSP,
  G,
  getPte,
  LM_CODE,
  LM_DATA,
  LM_RSP0,
  LM_STACK,
  type LongCase,
  type LongMachine,
  longMachine,
  NX,
  P,
  REG_NAMES,
  type RegName,
  runToReport,
  setGate,
  setPte,
  U,
  view,
  W,
} from "../../_support/long_mode.ts";

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}

function runCase(kvm: Kvm, c: LongCase): void {
  using m = longMachine(kvm);
  fillData(m.mem);
  m.mem.bytes.set(bytes(c.code), LM_CODE);
  enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), ...c.init });
  runToReport(m);
  const regs = m.vcpu.getRegs(), v = view(m.mem);
  const got: Record<string, bigint> = { ...regs, rsp: v.getBigUint64(FRAME_RSP, true) };
  for (const r of REG_NAMES) {
    const want = c.expect[r] ?? (r === "rsp" ? BigInt(LM_STACK) : c.init?.[r] ?? 0n);
    assert.equal(got[r], want, `${r}: 0x${got[r].toString(16)}, expected 0x${want.toString(16)}`);
  }
  assert.equal(v.getBigUint64(FRAME_RIP, true), BigInt(LM_CODE + bytes(c.code).length - 1), "rip at the hlt");
  assert.equal(v.getBigUint64(FRAME_RFLAGS, true) & c.flagsMask, c.rflags, "rflags");
  if (c.data) assert.equal(hex(m.mem.bytes.subarray(LM_DATA, LM_DATA + 256)), c.data, "the data page");
}

/** Register values as bigints. */
function bigints(regs: Record<string, string> = {}): Partial<Record<RegName, bigint>> {
  return Object.fromEntries(Object.entries(regs).map(([r, v]) => [r, BigInt(v)]));
}

/**
 * The 64-bit CPL 3 programs of cases.json and what the host CPU (KVM running them natively) left in the registers,
 * flags and the data page afterwards: the oracle for the emulator's long mode. Recorded by running each program
 * under KVM; the bytes were assembled with nasm from the `asm` text. Numbers are hex strings.
 */
function longCases(): LongCase[] {
  type Recorded = Omit<LongCase, "init" | "expect" | "rflags" | "flagsMask"> & {
    init?: Record<string, string>;
    expect: Record<string, string>;
    rflags: string;
    flagsMask: string;
  };
  const recorded: Recorded[] = JSON.parse(readFileSync(new URL("./cases.json", import.meta.url), "utf8"));
  return recorded.map((c) => ({
    ...c,
    init: c.init && bigints(c.init),
    expect: bigints(c.expect),
    rflags: BigInt(c.rflags),
    flagsMask: BigInt(c.flagsMask),
  }));
}

for (const c of longCases()) backendTest(`long mode CPL 3: ${c.name}`, (kvm) => runCase(kvm, c));

/** The #PF handler: pop rax (the error code) / mov rbx, cr2 / out 0xe9, al / hlt. */
const PF_HANDLER = 0x3100;
const PF_HANDLER_CODE = bytes("58 0f 20 d3 e6 e9 f4");

/** Runs CPL 3 `code` with a #PF handler; returns [error code, CR2, the faulting RIP]. */
function pageFault(kvm: Kvm, code: string, setup: (m: LongMachine) => void): [bigint, bigint, bigint] {
  using m = longMachine(kvm);
  m.mem.bytes.set(PF_HANDLER_CODE, PF_HANDLER);
  setGate(m.mem, 14, BigInt(PF_HANDLER));
  m.mem.bytes.set(bytes(code), LM_CODE);
  setup(m);
  enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
  runToReport(m);
  const regs = m.vcpu.getRegs();
  // The handler popped the error code: RIP is now 32 bytes below RSP0.
  return [regs.rax, regs.rbx, view(m.mem).getBigUint64(LM_RSP0 - 40, true)];
}

backendTest("long mode #PF: a read of a not-present page at CPL 3 (error code U, CR2)", (kvm) => {
  // mov al, [0x6000] / mov byte [0x6800], 7 / hlt
  const [err, cr2, rip] = pageFault(
    kvm,
    "8a 04 25 00 60 00 00 c6 04 25 00 68 00 00 07 f4",
    (m) => setPte(m.mem, 0x6000, 0n),
  );
  assert.equal(err, 0x4n);
  assert.equal(cr2, 0x6000n);
  assert.equal(rip, BigInt(LM_CODE));
});

backendTest("long mode #PF: a write to a read-only page at CPL 3 (error code P|W|U)", (kvm) => {
  // mov al, [0x6000] / mov byte [0x6800], 7 / hlt
  const [err, cr2, rip] = pageFault(kvm, "8a 04 25 00 60 00 00 c6 04 25 00 68 00 00 07 f4", (m) => {
    setPte(m.mem, 0x6000, P | U);
  });
  assert.equal(err, 0x7n);
  assert.equal(cr2, 0x6800n);
  assert.equal(rip, BigInt(LM_CODE + 7));
});

backendTest("long mode #PF: a user access to a supervisor page (error code P|U)", (kvm) => {
  // mov al, [0x6000] / ...
  const [err, cr2] = pageFault(kvm, "8a 04 25 00 60 00 00 f4", (m) => setPte(m.mem, 0x6000, P | W));
  assert.equal(err, 0x5n);
  assert.equal(cr2, 0x6000n);
});

backendTest("long mode NX: a fetch from a no-execute page is #PF with I/D (P|U|I/D)", (kvm) => {
  // mov eax, 0x5000 / jmp rax; the page at 0x5000 holds hlt but has NX.
  const [err, cr2, rip] = pageFault(kvm, "b8 00 50 00 00 ff e0", (m) => {
    m.mem.bytes[0x5000] = 0xf4;
    setPte(m.mem, 0x5000, P | W | U | NX);
  });
  assert.equal(err, 0x15n);
  assert.equal(cr2, 0x5000n);
  assert.equal(rip, 0x5000n);
});

backendTest("long mode: a PDPTE with PS is a reserved-bit #PF when CPUID lacks 1 GiB pages (P|U|RSVD)", (kvm) => {
  // mov rax, [0x40008000] / hlt: PDPT entry 1 maps linear 1 GiB with a 1 GiB page.
  const [err, cr2] = pageFault(kvm, "48 8b 04 25 00 80 00 40 f4", () => {});
  assert.equal(err, 0xdn);
  assert.equal(cr2, 0x40008000n);
});

backendTest("long mode paging: reads set accessed bits, writes set dirty bits, at every level (CR4.PGE)", (kvm) => {
  using m = longMachine(kvm);
  // mov al, [0x6000] / mov byte [0xc000], 7 / hlt
  m.mem.bytes.set(bytes("8a 04 25 00 60 00 00 c6 04 25 00 c0 00 00 07 f4"), LM_CODE);
  setPte(m.mem, 0x6000, P | W | U | G); // a global page, with CR4.PGE
  setPte(m.mem, 0xc000, P | W | U);
  enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3, cr4: 0x80n });
  runToReport(m);
  assert.equal(getPte(m.mem, 0x6000) & (A | D), A, "read: accessed, not dirty");
  assert.equal(getPte(m.mem, 0xc000) & (A | D), A | D, "written: accessed and dirty");
  assert.equal(view(m.mem).getBigUint64(0x10000, true) & A, A, "the PML4 entry is accessed");
  assert.equal(m.mem.bytes[0xc000], 7);
});

backendTest("long mode canonical addresses: a non-canonical load is #GP(0), a non-canonical push #SS(0)", (kvm) => {
  for (
    const [code, vector] of [
      ["48 b8 00 00 00 00 00 00 00 80 48 8b 18 f4", 13], // mov rax, 0x8000000000000000 / mov rbx, [rax] / hlt
      ["48 bc 08 00 00 00 00 80 00 00 50 f4", 12], // mov rsp, 0x800000000008 / push rax / hlt
    ] as const
  ) {
    using m = longMachine(kvm);
    setGate(m.mem, 12, 0x3000n);
    m.mem.bytes.set(bytes(code), LM_CODE);
    enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
    runToReport(m);
    const v = view(m.mem);
    assert.equal(v.getBigUint64(LM_RSP0 - 48, true), 0n, `vector ${vector}: error code 0`);
    assert.equal(v.getBigUint64(FRAME_RIP, true), BigInt(LM_CODE + 10), `vector ${vector}: RIP at the access`);
  }
});

backendTest("long mode KVM_TRANSLATE: 4 KiB, 2 MiB and upper-half mappings; a hole is invalid", (kvm) => {
  using m = longMachine(kvm);
  setPte(m.mem, 0x6000, 0n);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  assert.equal(m.vcpu.translate(0x5123).physicalAddress, 0x5123n);
  assert.equal(m.vcpu.translate(0x345678).physicalAddress, 0x345678n);
  assert.equal(m.vcpu.translate(0xffffff8000001234n).physicalAddress, 0x1234n);
  const hole = m.vcpu.translate(0x6010);
  assert.equal(hole.valid, false);
});

backendTest("long mode KVM_SET_SREGS: EFER.LME with CR0.PG needs EFER.LMA (EINVAL otherwise)", (kvm) => {
  using m = longMachine(kvm);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  const sregs = m.vcpu.getSregs();
  assert.equal(sregs.efer & 0x500n, 0x500n);
  assert.throws(() => m.vcpu.setSregs({ ...sregs, efer: sregs.efer & ~0x400n }), /EINVAL/);
  assert.throws(() => m.vcpu.setSregs({ ...sregs, cr0: sregs.cr0 & ~(1n << 31n), cs: { ...sregs.cs } }), /EINVAL/);
});

backendTest("long mode CPL 0: the upper-half alias reads what linear 0 maps, CR3 reads back", (kvm) => {
  using m = longMachine(kvm);
  fillData(m.mem);
  // mov rbx, 0xffffff8000008000 / mov rax, [rbx] / mov rcx, cr3 / out 0xe9, al / hlt
  m.mem.bytes.set(bytes("48 bb 00 80 00 00 80 ff ff ff 48 8b 03 0f 20 d9 e6 e9 f4"), LM_CODE);
  enterLongMode(m.vcpu, BigInt(LM_CODE));
  runToReport(m);
  const regs = m.vcpu.getRegs();
  assert.equal(regs.rax, view(m.mem).getBigUint64(LM_DATA, true));
  assert.equal(regs.rcx, 0x10000n);
});

/** A CPL 3 read through the 1 GiB page of PDPT entry 1, with CPUID 80000001h EDX.Page1GB set as the test sets it. */
function probe1GiBPages(kvm: Kvm): string | undefined {
  using m = longMachine(kvm);
  fillData(m.mem);
  m.mem.bytes.set(bytes("48 8b 04 25 00 80 00 40 f4"), LM_CODE); // mov rax, [0x40008000] / hlt
  enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
  const ids = kvm.supportedCpuid(), offered = ids.some((x) => x.function === 0x80000001 && x.edx & (1 << 26));
  m.vcpu.setCpuid2(ids.map((x) => (x.function === 0x80000001 ? { ...x, edx: x.edx | (1 << 26) } : x)));
  const exit = m.vcpu.run({ timeoutMs: 3000 }), rax = m.vcpu.getRegs().rax;
  if (rax === view(m.mem).getBigUint64(LM_DATA, true)) return undefined;
  return `a read through a 1 GiB page gives ${describe(exit)}, rax 0x${rax.toString(16)} (supportedCpuid ` +
    `${offered ? "offers" : "does not offer"} Page1GB)`;
}
featureTest(
  "long mode 1 GiB pages: with CPUID 80000001h EDX.Page1GB, PDPT entry 1 maps linear 1 GiB onto 0",
  probe1GiBPages,
  (kvm) => {
    using m = longMachine(kvm);
    fillData(m.mem);
    m.mem.bytes.set(bytes("48 8b 04 25 00 80 00 40 f4"), LM_CODE); // mov rax, [0x40008000] / hlt
    enterLongMode(m.vcpu, BigInt(LM_CODE), { cpl: 3 });
    const ids = kvm.supportedCpuid();
    const ext = ids.find((x) => x.function === 0x80000001);
    assert.ok(ext);
    m.vcpu.setCpuid2(ids.map((x) => (x === ext ? { ...x, edx: x.edx | (1 << 26) } : x)));
    runToReport(m);
    assert.equal(m.vcpu.getRegs().rax, view(m.mem).getBigUint64(LM_DATA, true));
    assert.equal(m.vcpu.translate(0x40000123).physicalAddress, 0x123n);
  },
);

/** A CPL 0 machine whose own pages (tables, handlers, code at 0x3400, stack below 0x7000) are supervisor pages. */
function supervisorMachine(kvm: Kvm, code: string, cr4: bigint): LongMachine {
  const m = longMachine(kvm);
  for (const page of [0x0000, 0x1000, 0x2000, 0x3000, 0x6000]) setPte(m.mem, page, P | W);
  m.mem.bytes.set(PF_HANDLER_CODE, PF_HANDLER);
  setGate(m.mem, 14, BigInt(PF_HANDLER));
  m.mem.bytes.set(bytes(code), 0x3400);
  fillData(m.mem);
  m.vcpu.setCpuid2(kvm.supportedCpuid()); // a KVM takes CR4.SMEP/SMAP only where the vCPU's CPUID has them
  enterLongMode(m.vcpu, 0x3400n, { cr4 });
  return m;
}

/**
 * Whether supportedCpuid offers leaf 7.0 EBX bit `bit` (`name`), and the host takes CR4 bit `cr4Bit` on a vCPU
 * given that CPUID.
 */
function cpuid7Ebx(kvm: Kvm, bit: number, name: string, cr4Bit: number): string | undefined {
  const leaf = kvm.supportedCpuid().find((x) => x.function === 7 && x.index === 0);
  if (!leaf || !(leaf.ebx & (1 << bit))) return `supportedCpuid does not offer ${name} (CPUID 7.0 EBX bit ${bit})`;
  try {
    using _m = supervisorMachine(kvm, "f4", 1n << BigInt(cr4Bit));
  } catch (e) {
    return `KVM_SET_SREGS refuses CR4.${name}: ${e instanceof Error ? e.message : String(e)}`;
  }
  return undefined;
}

function probeSmep(kvm: Kvm): string | undefined {
  return cpuid7Ebx(kvm, 7, "SMEP", 20);
}

function probeSmap(kvm: Kvm): string | undefined {
  return cpuid7Ebx(kvm, 20, "SMAP", 21);
}

featureTest("long mode SMEP: a CPL 0 fetch from a user page is #PF(P|I/D)", probeSmep, (kvm) => {
  using m = supervisorMachine(kvm, "e6 e9 f4", 1n << 20n);
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rip: BigInt(LM_CODE) });
  m.mem.bytes.set(bytes("e6 e9 f4"), LM_CODE); // out 0xe9, al / hlt on a user page
  runToReport(m);
  const regs = m.vcpu.getRegs();
  assert.equal(regs.rax, 0x11n);
  assert.equal(regs.rbx, BigInt(LM_CODE));
});

featureTest("long mode SMAP: a CPL 0 read of a user page is #PF(P) unless RFLAGS.AC", probeSmap, (kvm) => {
  {
    using m = supervisorMachine(kvm, "8a 04 25 00 80 00 00 e6 e9 f4", 1n << 21n); // mov al, [0x8000]
    runToReport(m);
    assert.equal(m.vcpu.getRegs().rax, 0x1n);
    assert.equal(m.vcpu.getRegs().rbx, 0x8000n);
  }
  // pushfq / or dword [rsp], 0x40000 / popfq / mov al, [0x8000] / out 0xe9, al / hlt
  using m = supervisorMachine(kvm, "9c 81 0c 24 00 00 04 00 9d 8a 04 25 00 80 00 00 e6 e9 f4", 1n << 21n);
  runToReport(m);
  assert.equal(m.vcpu.getRegs().rax & 0xffn, BigInt(m.mem.bytes[LM_DATA]));
  assert.equal(m.vcpu.getRegs().rip, 0x3412n);
});
