/**
 * The first tier's specialized instruction forms (emu/x86/jit/first/forms.ts): 64-bit loops whose blocks stay in
 * the first tier (never promoted), each form with register, base + disp, base + index * scale + disp, absolute and
 * RIP-relative operands, against the interpreter (mode "off"): registers, RIP, flags and memory after 200 passes;
 * and a store that faults in the middle of a block (a not-present page), after an instruction run without EIP
 * stored, leaving registers and the exception frame (RIP at the store) as the interpreter does.
 *
 * @module
 */
import assert from "node:assert/strict";
import { decode } from "../../../emu/x86/decode.ts";
import { OP_MAPS64 } from "../../../emu/x86/long/optable64.ts";
import { specialize } from "../../../emu/x86/jit/first/forms.ts";
import { nextIp } from "../../../emu/x86/jit/codegen.ts";
import { test } from "../../_support/harness.ts";
import { hex } from "../../_support/sys.ts";
import { ARITH, DATA, openEmu, type Outcome, type Program, report, runner } from "./_jit.ts";
import { differences } from "./_jit.ts";

/**
 * Every specialized form, 200 passes (rbx = DATA, rdi 0-3; the data area holds g's address at +0x80):
 *
 *  4000 mov r15d, 200
 *  4006 L: mov rax, [rbx+8] / add rax, rcx / mov [rbx+16], rax / mov edx, [rbx+12] / xor edx, eax / sub rdx, rsi /
 *       mov [rbx+rdi*8+32], edx / lea rsi, [rsi+rax*2+0x35] / lea ebp, [rbp+7] / cmp rax, rdx / jae S /
 *       add qword [rbx+24], 0x11
 *  402f S: test dword [rbx+4], 0x80 / adc ecx, [rbx+8] / sbb rcx, [rbx+rdi*8+32] / movzx r8d, byte [rbx+rdi+1] /
 *       movzx r9d, word [rbx+2] / movsxd r10, dword [rbx+20] / movsxd r11, r8d / inc dword [rbx+40] / dec r12d /
 *       mov r13d, 0x12345678 / mov qword [rbx+48], -5 / mov dword [rbx+56], 0x7f / mov r14, rax /
 *       and r14, -0x100 / or r14d, 0x55 / cmp byte [rbx+5], 0x40 / mov [rbx+6], r14b / push rax / push r14 /
 *       pop rdx / pop rcx / mov rax, [0x9008] / add [0x9040], eax / sub r9, [0x9048] / call f / call [0x9080] /
 *       mov rdx, [rip→0x9010] / add [rip→0x9044], edx / test byte [rip→0x9003], 0x21 /
 *       cmp qword [rip→0x9018], 0x3000 / call [rip→0x9080] / lea rax, [rip→g] / call rax / inc edi /
 *       and edi, 3 / dec r15d / jnz L / hlt
 *  40e6 f: add rbp, rsi / ret
 *  40ea g: xor r12, rbp / ret
 */
const FORMS = hex(
  "41bfc8000000 488b4308 4801c8 48894310 8b530c 31c2 4829f2 8954fb20 488d744635 8d6d07 4839d0 7305 4883431811" +
    " f7430480000000 134b08 481b4cfb20 440fb6443b01 440fb74b02 4c635314 4d63d8 ff4328 41ffcc 41bd78563412" +
    " 48c74330fbffffff c743387f000000 4989c6 4981e600ffffff 4183ce55 807b0540 44887306 50 4156 5a 59" +
    " 488b042508900000 01042540900000 4c2b0c2548900000 e844000000 ff142580900000 488b15604f0000 01158e4f0000" +
    " f605464f000021 48813d504f000000300000 ff15b24f0000 488d0515000000 ffd0 ffc7 83e703 41ffcf 0f8521ffffff f4" +
    " 4801f5c3 4931ecc3",
);

/**
 * A store walking up from DATA by 0x40 a pass into the not-present page at 0xc000 (ABSENT), after instructions the
 * first tier runs without storing EIP (specialized, or generic with register operands):
 *
 *  4000 mov r15d, 250
 *  4006 L: add rcx, rdx / shl rdx, 3 / setc r9b / cmovz rsi, rcx / imul rdi, rcx / neg r8 / rol r10d, 5 /
 *       movsx r11, r9b / mul rcx / nop / mov [rbx], rax / lea rbx, [rbx+0x40] / add rax, 1 / dec r15d / jnz L / hlt
 */
const FAULT = hex(
  "41bffa000000 4801d1 48c1e203 410f92c1 480f44f1 480faff9 49f7d8 41c1c205 4d0fbed9 48f7e1 90 488903 488d5b40" +
    " 4883c001 41ffcf 75ce f4",
);

/** How many of the instructions of `code` (at `at`) have a specialized form, of how many. */
function specialized(code: number[], at: number): { count: number; total: number } {
  const buf = new Uint8Array(code);
  let p = 0, count = 0, total = 0;
  while (p < buf.length) {
    const d = decode(OP_MAPS64, buf, p, buf.length, 8);
    assert.ok(d !== null, `decodes at +${p}`);
    total++;
    if (specialize(d, nextIp(d, at + p)) !== null) count++;
    p += d.len;
  }
  return { count, total };
}

/** A data area of 0x100 bytes (a fixed pattern) with g's address at +0x80. */
function data(): number[] {
  const out = Array.from({ length: 0x100 }, (_, i) => (i * 0x9d + 0x3b) & 0xff);
  out.splice(0x80, 8, 0xea, 0x40, 0, 0, 0, 0, 0, 0);
  return out;
}

/** The program `code` with rbx = DATA, rdi = 0, rsp = 0x7000 and other registers of a fixed pattern. */
function program(code: number[], rflags: bigint): Program {
  const regs = [
    0x1111_2222_3333_4444n,
    0xfedc_ba98_7654_3210n,
    0x0000_0001_8000_0000n,
    BigInt(DATA),
    0x7000n,
    0x1234_5678_9n,
    0xabcdefn,
    0n,
    0x8888n,
    0x9999_9999n,
    0xaaaa_aaaa_aaaa_aaaan,
    0xbn,
    0xc0c0_c0c0n,
    0xdn,
    0xe0e0_e0e0_e0e0_e0e0n,
    0n,
  ];
  return { bits: 64, ops: [], code, regs, rflags, data: data(), undefinedFlags: 0 };
}

/** What `p` leaves with the compiler in `mode`; in mode "on", with no block ever compiled (all in the first tier). */
function run(p: Program, mode: "off" | "on", paging: boolean): { outcome: Outcome; executed: number } {
  using kvm = openEmu(mode);
  using r = runner(mode, kvm, 64, { paging });
  const blocks = r.emu().cpu.blocks;
  blocks.promote = blocks.promoteAlways = 2 ** 30;
  const outcome = r.run(p);
  assert.equal(r.stats().promoted, 0, JSON.stringify(r.stats()));
  return { outcome, executed: r.stats().executed };
}

test("first tier, 64-bit: the specialized forms give the interpreter's registers, flags and memory", () => {
  const { count, total } = specialized(FORMS, 0x4000);
  // All but the HLT.
  assert.equal(count, total - 1, `${count} of ${total} instructions specialized`);
  for (const rflags of [0x2n, 0x203n]) {
    const p = program(FORMS, rflags);
    const off = run(p, "off", false), on = run(p, "on", false);
    assert.equal(off.outcome.exit, "hlt", report(p, "off", [["off", off.outcome]]));
    assert.ok(on.executed > 400, `${on.executed} first-tier block runs`);
    const diff = differences(off.outcome, on.outcome, ARITH);
    assert.deepEqual(diff, [], report(p, diff.join(", "), [["off", off.outcome], ["on", on.outcome]]));
  }
});

test("first tier, 64-bit: a store faulting in mid-block leaves RIP, registers and memory as the interpreter", () => {
  // The bench's #PF handler reports the vector; the frame it was given (RIP at the store) is on the stack below 0x7000.
  const p = { ...program(FAULT, 0x2n), dataAt: 0x6f00, data: new Array(0x100).fill(0) };
  const off = run(p, "off", true), on = run(p, "on", true);
  assert.notEqual(off.outcome.exit, "hlt", "the store faults before the loop ends");
  assert.ok(on.executed > 100, `${on.executed} first-tier block runs`);
  const diff = differences(off.outcome, on.outcome, ARITH);
  assert.deepEqual(diff, [], report(p, diff.join(", "), [["off", off.outcome], ["on", on.outcome]]));
});
