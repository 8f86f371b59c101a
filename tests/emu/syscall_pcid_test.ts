/**
 * SYSCALL/SYSRET on every path (SDM vol. 2 and APM vol. 3), and PCIDs
 * (SDM vol. 3, 4.10.1): CR4.PCIDE, CR3[11:0] as the PCID, bit 63 of a MOV to
 * CR3, and INVPCID's four types and its #GP rules.
 *
 * SYSCALL and SYSRET exist in 64-bit mode on both vendors; Intel processors
 * raise #UD for them in compatibility and legacy mode, where AMD processors
 * enter CSTAR (compatibility mode) or STAR[31:0] (legacy mode). The tests whose
 * expectations are the host's vendor run on both backends; the AMD paths run on
 * the emulator's AMD personality. This host's KVM advertises neither PCID nor
 * INVPCID, so the PCID tests' KVM halves skip, saying so.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kvm, Vcpu } from "../../mod.ts";
import { backendTest } from "../_support/harness.ts";
import { featureTest } from "../_support/guests.ts";
import { bench64, put64 } from "../_support/long64.ts";
import { LM_PT, type LongMachine, SEL32_CODE0 } from "../_support/long_mode.ts";
import { bench32, probeRun, unlessOut } from "../_support/probes.ts";
import { describe, put } from "../_support/sys.ts";

const STAR = 0xc0000081, LSTAR = 0xc0000082, CSTAR = 0xc0000083, SFMASK = 0xc0000084, EFER = 0xc0000080;
/** The SYSCALL handler: out rcx / out r11 / mov eax, cs / out / pushfq / pop rax / out; then the return. */
const HANDLER = "4889c8 e7e9 4c89d8 e7e9 8cc8 e7e9 9c 58 e7e9";
const LSTAR_AT = 0x3400, CSTAR_AT = 0x3500;

/** Whether the backend presents a GenuineIntel CPU. */
function intel(kvm: Kvm): boolean {
  return kvm.supportedCpuid().find((e) => e.function === 0)?.ebx === 0x756e6547; // "Genu"
}

/** STAR for the long-mode GDT: SYSCALL to 0x08/0x10, SYSRET to 0x1b/0x23 (or 0x2b with REX.W); `eip` for legacy. */
function syscallMsrs(vcpu: Vcpu, cstar = BigInt(CSTAR_AT), eip = 0n): void {
  vcpu.setMsrs([
    { index: STAR, data: (0x18n << 48n) | (0x08n << 32n) | eip },
    { index: LSTAR, data: BigInt(LSTAR_AT) },
    { index: CSTAR, data: cstar },
    { index: SFMASK, data: 0x200n }, // IF
  ]);
}

/** A 64-bit CPL 3 program (or compatibility-mode, `compat`) with both handlers, `ret` ending each. */
function syscallBench(kvm: Kvm, code: string, ret: string, options: { compat?: boolean; cstar?: bigint } = {}) {
  const m: LongMachine = bench64(kvm, code, { cpl: 3 });
  put64(m, LSTAR_AT, HANDLER + ret);
  put64(m, CSTAR_AT, "b8cccc0000 e7e9" + HANDLER + ret); // reports 0xcccc first
  put64(m, 0x4100, "f4");
  syscallMsrs(m.vcpu, options.cstar);
  if (options.compat) {
    const sregs = m.vcpu.getSregs();
    sregs.cs = { ...sregs.cs, selector: 0x1b, l: 0, db: 1 };
    m.vcpu.setSregs(sregs);
  }
  return m;
}

function reports(m: LongMachine): number[] {
  const run = probeRun(m.vcpu, 24);
  assert.equal(run.exit.reason, "hlt", describe(run.exit));
  return run.out;
}

/** SYSCALL from 64-bit CPL 3 code enters LSTAR with CS = STAR[47:32], and SYSRETQ returns. */
function probeSyscall64(kvm: Kvm): string | undefined {
  using m = syscallBench(kvm, "0f05 f4", "480f07");
  return unlessOut(
    probeRun(m.vcpu, 24),
    [0x4002, 0x202, 0x08, 0x2, 13, 0, 0x4002, 0x2b],
    "SYSCALL/SYSRETQ between 64-bit CPL 3 code and its LSTAR handler differ from the SDM",
  );
}

featureTest(
  "SYSCALL from 64-bit mode to LSTAR; SYSRETQ to 64-bit and SYSRET to compatibility mode",
  probeSyscall64,
  (kvm) => {
    {
      // 0x4000 syscall / 0x4002 hlt; the handler returns with sysretq.
      using m = syscallBench(kvm, "0f05 f4", "480f07");
      // RCX = the next RIP, R11 = RFLAGS (IF), CS = 0x08, RFLAGS masked by SFMASK; back at 0x4002 in 64-bit mode.
      assert.deepEqual(reports(m), [0x4002, 0x202, 0x08, 0x2, 13, 0, 0x4002, 0x2b]);
    }
    // mov ecx, 0x4100 / sysret: to compatibility mode (CS 0x1b) at ECX.
    using m = syscallBench(kvm, "0f05 f4", "b900410000 0f07");
    assert.deepEqual(reports(m), [0x4002, 0x202, 0x08, 0x2, 13, 0, 0x4100, 0x1b]);
  },
);

backendTest("SYSCALL in compatibility mode: #UD on Intel; AMD takes CSTAR", (kvm) => {
  using m = syscallBench(kvm, "0f05 f4", "480f07", { compat: true });
  const amd = [0xcccc, 0x4002, 0x202, 0x08, 0x2, 13, 0, 0x4002, 0x2b];
  assert.deepEqual(reports(m), intel(kvm) ? [6, 0, 0x4000, 0x1b] : amd);
});

/** SYSRET (mov ecx, 0x4100 / sysret) in compatibility mode at CPL 0, in the 32-bit code segment 0x40. */
function compatSysret(kvm: Kvm): LongMachine {
  const m = syscallBench(kvm, "b900410000 0f07", "");
  const sregs = m.vcpu.getSregs();
  sregs.cs = { ...sregs.cs, selector: SEL32_CODE0, l: 0, db: 1, dpl: 0 };
  sregs.ss = { ...sregs.ss, selector: 0x10, dpl: 0 };
  m.vcpu.setSregs(sregs);
  return m;
}

/** What compatibility-mode SYSRET does on Intel (#UD) and AMD (to compatibility mode at ECX). */
function compatSysretExpected(kvm: Kvm): number[] {
  return intel(kvm) ? [6, 0, 0x4005, SEL32_CODE0] : [13, 0, 0x4100, 0x1b];
}

function probeCompatSysret(kvm: Kvm): string | undefined {
  using m = compatSysret(kvm);
  return unlessOut(probeRun(m.vcpu), compatSysretExpected(kvm), "SYSRET in compatibility mode at CPL 0");
}

featureTest(
  "SYSRET in compatibility mode: #UD on Intel; AMD returns to compatibility mode",
  probeCompatSysret,
  (kvm) => {
    using m = compatSysret(kvm);
    assert.deepEqual(reports(m), compatSysretExpected(kvm));
  },
);

backendTest(
  "AMD: SYSCALL from compatibility mode enters CSTAR (RIP 0 when CSTAR is 0); legacy-mode SYSCALL/SYSRET use STAR",
  (kvm) => {
    {
      // SYSCALL at compatibility-mode 0x4000 / hlt; the CSTAR handler returns with sysret to compatibility mode.
      using m = syscallBench(kvm, "0f05 f4", "0f07", { compat: true });
      assert.deepEqual(reports(m), [0xcccc, 0x4002, 0x202, 0x08, 0x2, 13, 0, 0x4002, 0x1b]);
    }
    {
      // CSTAR = 0: the target is RIP 0 in 64-bit mode at CPL 0 (mov eax, 0x77 / out 0xe9, eax / hlt there).
      using m = syscallBench(kvm, "0f05 f4", "", { compat: true, cstar: 0n });
      put64(m, 0, "b877000000 e7e9 f4");
      assert.deepEqual(reports(m), [0x77]);
    }
    // Legacy protected mode at CPL 3: SYSCALL to STAR[47:32]:STAR[31:0] = 0x08:0x1800, ECX = the next EIP;
    // the handler reports ECX and CS, and SYSRET returns to 0x1b:ECX (the hlt there is #GP at CPL 3).
    using b = bench32(kvm, "0f05 f4", 3);
    put(b, 0x1800, "89c8 e7e9 8cc8 e7e9 0f07");
    const sregs = b.vcpu.getSregs();
    sregs.efer |= 1n; // SCE
    b.vcpu.setSregs(sregs);
    b.vcpu.setMsrs([{ index: STAR, data: (0x18n << 48n) | (0x08n << 32n) | 0x1800n }]);
    const run = probeRun(b.vcpu, 16);
    assert.deepEqual(run.out, [0x1002, 0x08, 13, 0, 0x1002, 0x1b], describe(run.exit));
  },
  { only: ["emu"], vendor: "amd" },
);

backendTest("Intel: SYSCALL in legacy protected mode is #UD", (kvm) => {
  using b = bench32(kvm, "0f05 f4", 3);
  b.vcpu.setMsrs([{ index: EFER, data: 1n }]);
  const run = probeRun(b.vcpu, 16);
  assert.deepEqual(run.out, [6, 0, 0x1000, 0x1b], describe(run.exit));
}, { only: ["emu"], vendor: "intel" });

// ---- PCID ---------------------------------------------------------------------------------------------------

/** Undefined when CPUID advertises PCID and INVPCID. */
function lacksPcid(kvm: Kvm): string | undefined {
  const cpuid = kvm.supportedCpuid();
  const ecx = cpuid.find((e) => e.function === 1)?.ecx ?? 0;
  const ebx = cpuid.find((e) => e.function === 7 && e.index === 0)?.ebx ?? 0;
  if (ecx & (1 << 17) && ebx & (1 << 10)) return undefined;
  return `CPUID does not advertise PCID (1:ECX 0x${ecx.toString(16)}) and INVPCID (7.0:EBX 0x${ebx.toString(16)})`;
}

/** A 64-bit CPL 0 program with the supported CPUID; what it wrote before hlt. */
function run64(kvm: Kvm, code: string, setup?: (m: LongMachine) => void, cpuid = true): number[] {
  using m = bench64(kvm, code);
  if (cpuid) m.vcpu.setCpuid2(kvm.supportedCpuid());
  setup?.(m);
  return reports(m);
}

// mov rax, cr4 / bts eax, 17 / mov cr4, rax
const SET_PCIDE = "0f20e0 0fbae811 0f22e0";
// mov rax, cr4 / out / mov rax, cr3 / out
const REPORT_CR = "0f20e0 e7e9 0f20d8 e7e9";

featureTest(
  "CR4.PCIDE: set in long mode with CR3[11:0] = 0; CR3[11:0] is then the PCID; bit 63 of MOV CR3",
  lacksPcid,
  (kvm) => {
    // set PCIDE / report / mov rax, cr3 / or eax, 5 / mov cr3, rax / report / bts rax, 63 / mov cr3, rax / report
    const code = `${SET_PCIDE} ${REPORT_CR} 0f20d8 83c805 0f22d8 ${REPORT_CR} 480fbae83f 0f22d8 ${REPORT_CR} f4`;
    assert.deepEqual(run64(kvm, code), [0x20020, 0x10000, 0x20020, 0x10005, 0x20020, 0x10005]);
  },
);

featureTest("CR4.PCIDE and MOV CR3: the #GP rules", lacksPcid, (kvm) => {
  const gpAt = (rip: number) => [13, 0, rip, 0x08];
  // CR3[11:0] = 8 (PWT) when PCIDE is set.
  const pwt = (m: LongMachine) => {
    const sregs = m.vcpu.getSregs();
    sregs.cr3 |= 8n;
    m.vcpu.setSregs(sregs);
  };
  assert.deepEqual(run64(kvm, `${SET_PCIDE} f4`, pwt), gpAt(0x4007), "PCIDE with CR3[11:0] != 0");
  // Without CPUID.PCID (no KVM_SET_CPUID2) the bit is reserved.
  assert.deepEqual(run64(kvm, `${SET_PCIDE} f4`, undefined, false), gpAt(0x4007), "PCIDE without CPUID.PCID");
  // Bit 63 of a MOV to CR3 without PCIDE: mov rax, cr3 / bts rax, 63 / mov cr3, rax.
  assert.deepEqual(run64(kvm, "0f20d8 480fbae83f 0f22d8 f4"), gpAt(0x4008), "CR3 bit 63 without PCIDE");
  // Outside long mode (32-bit protected mode at CPL 0): #GP.
  using b = bench32(kvm, `${SET_PCIDE} f4`);
  b.vcpu.setCpuid2(kvm.supportedCpuid());
  const run = probeRun(b.vcpu);
  assert.deepEqual(run.out, [13, 0, 0x1007, 0x08], `PCIDE outside long mode: ${describe(run.exit)}`);
});

/** invpcid rax, [0x8000] */
const INVPCID = "660f38820425 00800000";
const DESC = 0x8000;

/** Runs: mov eax, `type` / invpcid rax, [0x8000] / mov eax, 0x600d / out / hlt, with the descriptor given. */
function invpcid(kvm: Kvm, type: number, pcid: bigint, addr: bigint, pre = ""): number[] {
  const t = [0, 8, 16, 24].map((s) => ((type >>> s) & 0xff).toString(16).padStart(2, "0")).join("");
  return run64(kvm, `${pre} b8${t} ${INVPCID} b80d600000 e7e9 f4`, (m) => {
    const v = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset);
    v.setBigUint64(DESC, pcid, true);
    v.setBigUint64(DESC + 8, addr, true);
  });
}

featureTest("INVPCID: types 0-3 and the #GP rules", lacksPcid, (kvm) => {
  for (const type of [0, 1, 2, 3]) assert.deepEqual(invpcid(kvm, type, 0n, 0x9000n), [0x600d], `type ${type}`);
  const gp = [13, 0, 0x4005, 0x08];
  assert.deepEqual(invpcid(kvm, 4, 0n, 0n), gp, "type 4");
  assert.deepEqual(invpcid(kvm, 2, 1n << 12n, 0n), gp, "descriptor bits 63:12 set");
  assert.deepEqual(invpcid(kvm, 1, 5n, 0n), gp, "PCID 5 while CR4.PCIDE is clear");
  assert.deepEqual(invpcid(kvm, 1, 5n, 0n, SET_PCIDE), [0x600d], "PCID 5 under CR4.PCIDE");
  assert.deepEqual(invpcid(kvm, 0, 0n, 0x0000800000000000n), gp, "type 0 with a non-canonical address");
  assert.deepEqual(invpcid(kvm, 3, 0n, 0x0000800000000000n), [0x600d], "type 3 ignores the address");
  // The register form is #UD; at CPL 3 INVPCID is #GP.
  assert.deepEqual(run64(kvm, "660f3882c0 f4"), [6, 0, 0x4000, 0x08], "register operand");
  using m = bench64(kvm, `${INVPCID} f4`, { cpl: 3 });
  m.vcpu.setCpuid2(kvm.supportedCpuid());
  assert.deepEqual(reports(m), [13, 0, 0x4000, 0x2b], "at CPL 3");
});

featureTest("INVPCID type 0 makes a changed PTE take effect", lacksPcid, (kvm) => {
  // mov eax, [0x9000] / out / mov dword [PTE of 0x9000], 0xa003 / mov eax, 0 / invpcid rax, [0x8000] /
  // mov eax, [0x9000] / out / hlt
  const pte = LM_PT + 9 * 8;
  const code = `8b042500900000 e7e9 c70425${le32(pte)}03a00000 b800000000 ${INVPCID} 8b042500900000 e7e9 f4`;
  const out = run64(kvm, code, (m) => {
    const v = new DataView(m.mem.bytes.buffer, m.mem.bytes.byteOffset);
    v.setUint32(0x9000, 0x99, true);
    v.setUint32(0xa000, 0xaa, true);
    v.setBigUint64(DESC, 0n, true);
    v.setBigUint64(DESC + 8, 0x9000n, true);
  });
  assert.deepEqual(out, [0x99, 0xaa]);
});

function le32(n: number): string {
  return [0, 8, 16, 24].map((s) => ((n >>> s) & 0xff).toString(16).padStart(2, "0")).join("");
}
