/**
 * System instructions at the end of blocks in 64-bit mode (emu/x86/jit/safe.ts SYSTEM_ENDS): IRETQ, INVLPG, MOV
 * to and from CRn, RDMSR, WRMSR, and MOVS and STOS with or without REP, end a block as the fast system calls do, as a
 * call leaving through its indirect exit, instead of sending each arrival to the interpreter. A #PF handler that reads CR2, maps the page and returns
 * with IRETQ, over pages unmapped again with INVLPG, gives the interpreter's checksum and PTEs in every mode, and in
 * eager its MOV from CR2, IRETQ and INVLPG end blocks; an IRETQ whose CS is outside the GDT raises #GP there with RIP
 * at the IRETQ, from a block as from the interpreter; an interrupt waiting for IF is taken right after the IRETQ that
 * sets it, before the instruction it returns to (runChain stops after such a block).
 *
 * The guests (nasm, org 0x4000; the page tables' PTEs of the first 2 MiB at 0x13000):
 *
 * pf: `call unmap / mov edx, 5 / xor ebx, ebx / outer: mov edi, 0x100000 / mov ecx, 16 / touch: add ebx, [rdi] /
 * mov [rdi], edx / add edi, 4096 / dec ecx / jnz touch / call unmap / dec edx / jnz outer / mov eax, ebx /
 * out 0xe9, eax / hlt`; at +0x40 `unmap: mov edi, 0x100000 / mov ecx, 16 / .u: mov eax, edi / shr eax, 12 /
 * mov dword [0x13000 + rax*8], 0 / invlpg [rdi] / add edi, 4096 / dec ecx / jnz .u / ret`; at +0x80, the #PF
 * handler: `push rax / mov rax, cr2 / shr eax, 12 / push rdx / mov edx, eax / shl edx, 12 / or edx, 3 /
 * mov [0x13000 + rax*8], edx / pop rdx / pop rax / add rsp, 8 / iretq`.
 *
 * rep: `mov dword [0x13000 + 8 * 0x102], 0 / invlpg [0x102000] / mov edi, 0x100000 / mov rax, 0x1122334455667788 /
 * mov ecx, 1541 / rep stosq / mov esi, 0x100008 / mov edi, 0x104ffd / mov ecx, 4103 / rep movsb / mov eax, ecx /
 * out 0xe9, eax / mov eax, edi / out 0xe9, eax / mov eax, esi / out 0xe9, eax / hlt`, and pf's #PF handler at +0x80.
 *
 * iretgp: `mov rax, rsp / push 0x10 / push rax / push 2 / push 0x1000 / push 0x4100 / iretq` (at +0x12).
 *
 * iretif: `start: cli / xor ebx, ebx / mov rax, rsp / push 0x10 / push rax / push 0x202 / push 8 / push t / iretq /
 * t: inc ebx / cmp ebx, 1000 / jb t / cli / mov eax, ebx / out 0xe9, eax / jmp start`; at +0x100 (vector 0x20):
 * `mov eax, ebx / out 0xe9, eax / hlt`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { bench64 } from "../../_support/long64.ts";
import { LM_CODE, setGate, view } from "../../_support/long_mode.ts";
import { probeRun } from "../../_support/probes.ts";
import { describe } from "../../_support/sys.ts";
import { test } from "../../_support/harness.ts";
import { emuCpu, type Mode, openEmu } from "./_jit.ts";

const MODES: readonly Mode[] = ["off", "on", "eager"];

const PF_GUEST =
  "e83b000000ba0500000031dbbf00001000b910000000031f891781c700100000ffc975f2e817000000ffca75df89d8e7e9f4" +
  "9090909090909090909090909090" +
  "bf00001000b91000000089f8c1e80cc704c500300100000000000f013f81c700100000ffc975e3c3" +
  "909090909090909090909090909090909090909090909090" +
  "500f20d0c1e80c5289c2c1e20c83ca038914c5003001005a584883c40848cf";
const PF_HANDLER = LM_CODE + 0x80;
/** The pages the guest touches, and their PTEs' table. */
const PF_BASE = 0x100000, PF_PAGES = 16, PT = 0x13000;

const REP_GUEST = "c7042510380100000000000f013c2500201000bf0000100048b88877665544332211b905060000f348ab" +
  "be08001000bffd4f1000b907100000f3a489c8e7e989f8e7e989f0e7e9f4" + "90".repeat(0x38) +
  "500f20d0c1e80c5289c2c1e20c83ca038914c5003001005a584883c40848cf";

const IRET_GP_GUEST = "4889e06a10506a026800100000680041000048cf";
const IRET_GP_AT = LM_CODE + 0x12;

const IRET_IF_GUEST = "fa31db4889e06a105068020200006a08681740000048cfffc381fbe803000072f6fa89d8e7e9ebd8" +
  "90".repeat(0x100 - 0x28) + "89d8e7e9f4";

const hex = (n: number) => n.toString(16);

/** The opcodes (Insn.op) that end the valid blocks of the vCPU. */
function blockEnds(m: ReturnType<typeof bench64>): Set<number> {
  const blocks = emuCpu(m.vm, m.mem).cpu.blocks;
  return new Set([...blocks.byAddress.values()].filter((b) => b.valid).map((b) => b.insns[b.insns.length - 1].op));
}

for (const mode of MODES) {
  test(`system instructions in blocks [emu, ${mode}]: a #PF handler's MOV from CR2 and IRETQ, INVLPG of each page`, () => {
    using kvm = openEmu(mode);
    using m = bench64(kvm, PF_GUEST);
    setGate(m.mem, 14, BigInt(PF_HANDLER));
    const run = probeRun(m.vcpu);
    assert.equal(run.exit.reason, "hlt", describe(run.exit));
    // Each page reads what the pass before wrote (5, 4, 3, 2), after a #PF in every pass.
    assert.deepEqual(run.out, [PF_PAGES * (5 + 4 + 3 + 2)]);
    const v = view(m.mem);
    for (let p = 0; p < PF_PAGES; p++) {
      assert.equal(v.getUint32(PF_BASE + 4096 * p, true), 1, `page ${p}: the last pass's number`);
      assert.equal(v.getUint32(PT + 8 * ((PF_BASE >>> 12) + p), true), 0, `page ${p}: unmapped at the end`);
    }
    assert.equal(m.vcpu.getSregs().cr2, BigInt(PF_BASE + 4096 * (PF_PAGES - 1)), "CR2: the last page");
    if (mode !== "eager") return;
    const ends = blockEnds(m);
    for (const [op, what] of [[0x120, "MOV from CR2"], [0xcf, "IRETQ"], [0x101, "INVLPG"]] as const) {
      assert.ok(ends.has(op), `a block ends with the ${what}: ${[...ends].map(hex)}`);
    }
  });

  test(`system instructions in blocks [emu, ${mode}]: REP STOSQ meets a #PF on its third page, REP MOVSB goes on`, () => {
    using kvm = openEmu(mode);
    using m = bench64(kvm, REP_GUEST);
    setGate(m.mem, 14, BigInt(PF_HANDLER));
    const run = probeRun(m.vcpu);
    assert.equal(run.exit.reason, "hlt", describe(run.exit));
    // ECX, EDI and ESI after the MOVSB: 4,103 bytes from 0x100008 to 0x104ffd.
    assert.deepEqual(run.out, [0, 0x104ffd + 4103, 0x100008 + 4103]);
    const v = view(m.mem);
    for (let q = 0; q < 1541; q++) {
      assert.equal(v.getBigUint64(PF_BASE + 8 * q, true), 0x1122334455667788n, `STOSQ's item ${q}`);
    }
    assert.equal(v.getBigUint64(PF_BASE + 8 * 1541, true), 0n, "past the STOSQ");
    for (let i = 0; i < 4103; i++) assert.equal(v.getUint8(0x104ffd + i), 0x88 - 0x11 * (i % 8), `MOVSB's byte ${i}`);
    assert.equal(v.getUint8(0x104ffd + 4103), 0, "past the MOVSB");
    assert.equal(m.vcpu.getSregs().cr2, BigInt(PF_BASE + 2 * 4096), "CR2: the STOSQ's third page");
    if (mode !== "eager") return;
    const ends = blockEnds(m);
    assert.ok(ends.has(0xab) && ends.has(0xa4), `blocks end with the STOSQ and the MOVSB: ${[...ends].map(hex)}`);
  });

  test(`system instructions in blocks [emu, ${mode}]: an IRETQ to a CS outside the GDT raises #GP at the IRETQ`, () => {
    using kvm = openEmu(mode);
    using m = bench64(kvm, IRET_GP_GUEST);
    const run = probeRun(m.vcpu);
    assert.equal(run.exit.reason, "hlt", describe(run.exit));
    // The stub's report: vector, error code (the selector), RIP, CS.
    assert.deepEqual(run.out, [13, 0x1000, IRET_GP_AT, 8]);
    if (mode === "eager") assert.ok(blockEnds(m).has(0xcf), "a block ends with the IRETQ");
  });

  test(`system instructions in blocks [emu, ${mode}]: an interrupt waiting for IF comes right after the IRETQ that sets it`, () => {
    using kvm = openEmu(mode);
    using m = bench64(kvm, IRET_IF_GUEST);
    setGate(m.mem, 0x20, BigInt(LM_CODE + 0x100));
    // Two passes without an interrupt, so that the third one runs the blocks they made (a block just compiled ends
    // its chain: its compiling counts as work), with the interrupt queued at the second pass's report.
    for (let pass = 0; pass < 2; pass++) {
      const report = m.vcpu.run();
      assert.ok(report.reason === "io" && report.port === 0xe9, describe(report));
      assert.equal(new DataView(report.data.buffer, report.data.byteOffset, 4).getUint32(0, true), 1000);
    }
    m.vcpu.interrupt(0x20);
    const run = probeRun(m.vcpu);
    assert.equal(run.exit.reason, "hlt", describe(run.exit));
    assert.deepEqual(run.out, [0], "the handler's EBX: no INC before the interrupt");
    if (mode === "eager") assert.ok(blockEnds(m).has(0xcf), "a block ends with the IRETQ");
  });
}
