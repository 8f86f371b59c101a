/**
 * The emulator's compiled blocks (emu/x86/jit/) against its interpreter and, where /dev/kvm opens, KVM:
 *
 * - the compiler's counters move with "on" and "eager" and stay 0 with "off";
 * - code that rewrites its own loop, and code the host rewrites between runs;
 * - faults (#DE, #PF) in the middle of a compiled block;
 * - an unknown `blockCompiler` option is refused.
 *
 * The counters live on the emulator's vCPU, reached through the emulator's kernel behind the facade (see
 * `emuCpu` in _jit.ts).
 *
 * @module
 */
import assert from "node:assert/strict";
import { Kvm } from "../../../mod.ts";
import { HOT } from "../../../emu/x86/jit/cache.ts";
import { skip, test } from "../../_support/harness.ts";
import {
  ABSENT,
  AF,
  ARITH,
  type Bits,
  CF,
  codeAt,
  describeExit,
  emuStats,
  GPR,
  guest,
  kvmMissing,
  le32,
  OF,
  openEmu,
  PF,
  SF,
  ZF,
} from "./_jit.ts";
import { runTo, runToOut } from "../../_support/guests.ts";
import { collect, hex } from "../../_support/sys.ts";

// ---------------------------------------------------------------------------------------------------------------
// 2. The compiler runs with "on" and "eager", and not with "off"

/** sum(1..1000) in a loop: the result goes out to port 0xe9, then HLT. */
const LOOP: Record<Bits, string> = {
  // mov ecx, 1000 / xor eax, eax / L: add eax, ecx / dec ecx / jnz L / out 0xe9, eax / hlt
  32: "b9e8030000 31c0 01c8 49 75fb e7e9 f4",
  // mov ecx, 1000 / xor rax, rax / L: add rax, rcx / dec rcx / jnz L / out 0xe9, eax / hlt
  64: "b9e8030000 4831c0 4801c8 48ffc9 75f8 e7e9 f4",
};

for (const bits of [32, 64] as const) {
  for (const mode of ["off", "on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: a 1000-iteration loop; the counters say what ran compiled`, () => {
      using kvm = openEmu(mode);
      using g = guest(kvm, bits, hex(LOOP[bits]));
      const { out, exit } = collect(g.vcpu);
      assert.deepEqual(out, [500500]);
      assert.equal(exit.reason, "hlt", describeExit(exit));
      const s = emuStats(g.vm, g.mem);
      if (mode === "off") {
        assert.deepEqual(s, { compiled: 0, promoted: 0, invalidated: 0, evicted: 0, executed: 0, insns: 0 });
      } else {
        // ("executed" counts calls of compiled code, which may run many iterations of a loop in one call.)
        assert.ok(s.compiled > 0 && s.executed > 0, JSON.stringify(s));
        assert.equal(s.invalidated, 0);
        // Eager: two blocks, [mov, xor, add, dec, jnz, out] left through its JNZ (a side exit: 5 instructions run)
        // and [add, dec, jnz, out] looping back at its JNZ 998 times (3 instructions each, however the budgets
        // split them: codegen.ts loopLength), then once through to the OUT: 5 + 3 * 998 + 4.
        if (mode === "eager") assert.equal(s.insns, 3003, JSON.stringify(s));
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Self-modifying code

/**
 * A loop of 100 that stores ECX into the immediate of its `add eax, imm32` each iteration, then reports EAX and
 * the sum of EAX over the iterations (EBX). `later`: the store comes first and patches the next instruction of
 * the same block (which must see it at once); else the ADD comes first and sees the value on the next iteration.
 */
function selfModifying(bits: Bits, at: number, later: boolean): number[] {
  const store = (addr: number) => bits === 32 ? [0x89, 0x0d, ...le32(addr)] : [0x89, 0x0c, 0x25, ...le32(addr)];
  const head = [0xb9, ...le32(100), 0x31, 0xc0, 0x31, 0xdb]; // mov ecx, 100 / xor eax, eax / xor ebx, ebx
  const loop = at + head.length, storeLen = store(0).length;
  const add = [0x05, 0, 0, 0, 0]; // add eax, 0
  const body = later ? [...store(loop + storeLen + 1), ...add] : [...add, ...store(loop + 1)];
  body.push(0x01, 0xc3, ...(bits === 32 ? [0x49] : [0xff, 0xc9])); // add ebx, eax / dec ecx
  const jnz = [0x75, -(body.length + 2) & 0xff];
  return [...head, ...body, ...jnz, 0xe7, 0xe9, 0x89, 0xd8, 0xe7, 0xe9, 0xf4]; // out / mov eax, ebx / out / hlt
}

/** What {@linkcode selfModifying} reports. */
function selfModifyingResult(later: boolean): number[] {
  let imm = 0, eax = 0, ebx = 0;
  for (let c = 100; c > 0; c--) {
    if (later) imm = c;
    eax = (eax + imm) >>> 0;
    if (!later) imm = c;
    ebx = (ebx + eax) >>> 0;
  }
  return [eax, ebx];
}

for (const bits of [32, 64] as const) {
  for (const later of [true, false]) {
    const what = later ? "a later instruction of the same block" : "an instruction already run";
    const name = `block compiler, ${bits}-bit: a loop that rewrites ${what}; eager = on = off (= kvm)`;
    const missing = kvmMissing();
    if (missing !== undefined) skip(`${name}: the comparison with kvm`, missing);
    test(name, () => {
      const expected = selfModifyingResult(later);
      for (const backend of ["off", "on", "eager", ...(missing === undefined ? ["kvm"] as const : [])] as const) {
        using kvm = backend === "kvm" ? Kvm.open({ backend: "kvm" }) : openEmu(backend);
        using g = guest(kvm, bits, []);
        g.mem.bytes.set(selfModifying(bits, g.at, later), g.at);
        const { out, exit } = collect(g.vcpu);
        assert.deepEqual(out, expected, `${backend}: ${describeExit(exit)}`);
        assert.equal(exit.reason, "hlt", `${backend}: ${describeExit(exit)}`);
        if (backend === "eager") {
          const s = emuStats(g.vm, g.mem);
          assert.ok(s.compiled > 0 && s.invalidated > 0, `eager: ${JSON.stringify(s)}`);
        }
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Host writes between runs

for (const bits of [32, 64] as const) {
  for (const mode of ["on", "eager"] as const) {
    test(`block compiler ${mode}, ${bits}-bit: code the host rewrites between runs runs rewritten`, () => {
      using kvm = openEmu(mode);
      // L: mov eax, 1 / out 0xe9, eax / jmp L
      using g = guest(kvm, bits, hex("b801000000 e7e9 ebf7"));
      for (let i = 0; i < 2 * HOT; i++) assert.equal(runToOut(g.vcpu, 0xe9, 4), 1);
      const s = emuStats(g.vm, g.mem);
      assert.ok(s.compiled > 0 && s.executed > 0, `the loop ran compiled: ${JSON.stringify(s)}`);
      // The vCPU stopped after the OUT: the rewritten MOV runs on the way round.
      g.mem.bytes[g.at + 1] = 2;
      assert.equal(runToOut(g.vcpu, 0xe9, 4), 2, "mov eax, 2 after the JMP");
      assert.equal(runToOut(g.vcpu, 0xe9, 4), 2);
      // From the same RIP, set by the host.
      g.mem.bytes[g.at + 1] = 3;
      g.vcpu.setRegs({ ...g.vcpu.getRegs(), rip: BigInt(g.at) });
      assert.equal(runToOut(g.vcpu, 0xe9, 4), 3, "mov eax, 3 from RIP = L");
      // The block the vCPU resumes in: the JMP becomes HLT.
      g.mem.bytes.set([0xf4, 0x90], g.at + 7);
      runTo(g.vcpu, "hlt");
      assert.equal(g.vcpu.getRegs().rip, BigInt(g.at + 8));
      assert.ok(emuStats(g.vm, g.mem).invalidated > 0, "the rewritten blocks were dropped");
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 5. A fault in the middle of a compiled block

/** A guest that faults after register templates; the stubs of _support/sys.ts / _support/long64.ts report it and halt. */
interface FaultCase {
  what: string;
  bits: Bits;
  /** The code (hex), the assembly in the comment beside each case. */
  code: string;
  paging?: boolean;
  /** The report: vector, error code, EIP (offset from the code's start), CS. */
  report: [number, number, number, number];
  /** The arithmetic flags in the exception frame. */
  flags: number;
  /** Registers the code set before the fault. */
  regs: Partial<Record<(typeof GPR)[number], bigint>>;
  /** Why the kernel's KVM cannot serve as the oracle, where it cannot. */
  notOnKvm?: string;
}

const FAULTS: FaultCase[] = [
  {
    what: "#DE (DIV by 0) after ADD, INC and MOV",
    bits: 32,
    // mov eax, 0x80000000 / mov ebx, 0x80000001 / mov edi, 0x7fffffff / xor esi, esi / xor edx, edx
    // add ebx, eax (CF, OF) / inc edi (OF SF AF PF, CF kept) / mov ecx, ebx / div esi / hlt
    code: "b800000080 bb01000080 bfffffff7f 31f6 31d2 01c3 47 89d9 f7f6 f4",
    report: [0, 0, 24, 8],
    flags: CF | PF | AF | SF | OF,
    regs: { rbx: 1n, rcx: 1n, rdx: 0n, rsi: 0n, rdi: 0x80000000n },
  },
  {
    what: "#PF (a load from a not-present page) after SUB and LEA",
    bits: 32,
    paging: true,
    // mov ecx, 0x10 / mov ebx, 5 / sub ebx, ecx (CF SF PF) / lea edx, [ebx + ecx + 7] / mov esi, [ABSENT + 4] / hlt
    code: `b910000000 bb05000000 29cb 8d540b07 8b35${hex32(ABSENT + 4)} f4`,
    report: [14, 0, 16, 8],
    flags: CF | PF | SF,
    regs: { rcx: 0x10n, rbx: 0xfffffff5n, rdx: 12n },
    notOnKvm: "kvm_pvm has no paging outside long mode (see tests/emu/paging_test.ts)",
  },
  {
    what: "#DE (DIV by 0) after 64-bit ADD and DEC",
    bits: 64,
    // mov rax, -1 / xor rdx, rdx / xor rsi, rsi / add rax, 2 (CF AF) / dec rdx (SF AF PF, CF kept) / div rsi / hlt
    code: "48c7c0ffffffff 4831d2 4831f6 4883c002 48ffca 48f7f6 f4",
    report: [0, 0, 20, 8],
    flags: CF | PF | AF | SF,
    regs: { rdx: 0xffffffffffffffffn, rsi: 0n },
  },
  {
    what: "#PF (a load from a not-present page) after 64-bit MOV and ADD",
    bits: 64,
    paging: true,
    // mov rcx, 1 << 63 / mov rbx, rcx / add rbx, rcx (CF ZF PF OF) / lea rdx, [rbx + 9] / mov eax, [ABSENT + 8] / hlt
    code: `48b90000000000000080 4889cb 4801cb 488d5309 8b0425${hex32(ABSENT + 8)} f4`,
    report: [14, 0, 20, 8],
    flags: CF | PF | ZF | OF,
    regs: { rcx: 0x8000000000000000n, rbx: 0n, rdx: 9n },
  },
];

/** `v` as 4 little-endian bytes in hex. */
function hex32(v: number): string {
  return le32(v).map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** What a faulting guest left: the report, the registers, RFLAGS of the frame, CR2. */
interface FaultOutcome {
  out: number[];
  exit: string;
  regs: bigint[];
  frameFlags: number;
  cr2: bigint;
}

/** Runs `c` on `kvm` to its report; with `compiled`, asserts that the emulator compiled the faulting block. */
function runFault(kvm: Kvm, c: FaultCase, compiled = false): FaultOutcome {
  using g = guest(kvm, c.bits, hex(c.code), { paging: c.paging });
  const start = g.vcpu.getRegs();
  GPR.forEach((n, i) => n !== "rsp" && (start[n] = 0x01010101n * BigInt(i + 1)));
  g.vcpu.setRegs(start);
  const { out, exit } = collect(g.vcpu);
  const regs = g.vcpu.getRegs();
  // The stub popped vector and error code: RSP points at the frame's EIP/RIP, then CS, then (E/R)FLAGS.
  const frameFlags = new DataView(g.mem.bytes.buffer, g.mem.bytes.byteOffset)
    .getUint32(Number(regs.rsp) + (c.bits === 32 ? 8 : 16), true);
  if (compiled) assert.ok(emuStats(g.vm, g.mem).compiled > 0, "the faulting block was compiled");
  return { out, exit: exit.reason, regs: GPR.map((n) => regs[n]), frameFlags, cr2: g.vcpu.getSregs().cr2 };
}

for (const c of FAULTS) {
  const name = `block compiler, ${c.bits}-bit: ${c.what} inside a block: eager = off (= kvm)`;
  const missing = c.notOnKvm ?? kvmMissing();
  if (missing !== undefined) skip(`${name}: the comparison with kvm`, missing);
  test(name, () => {
    const runs: [string, FaultOutcome][] = [];
    for (const mode of ["off", "eager"] as const) {
      using kvm = openEmu(mode);
      runs.push([mode, runFault(kvm, c, mode === "eager")]);
    }
    if (missing === undefined) {
      using kvm = Kvm.open({ backend: "kvm" });
      runs.push(["kvm", runFault(kvm, c)]);
    }
    const at = codeAt(c.bits);
    const [v, code, eip, cs] = c.report;
    const text = (o: FaultOutcome) => JSON.stringify(o, (_, x) => typeof x === "bigint" ? `0x${x.toString(16)}` : x);
    for (const [name, o] of runs) {
      const why = `${name}: ${text(o)}`;
      assert.deepEqual(o.out, [v, code, at + eip, cs], why);
      assert.equal(o.exit, "hlt", why);
      assert.equal((o.frameFlags & ARITH).toString(16), c.flags.toString(16), `${why}: the flags in the frame`);
      for (const [reg, value] of Object.entries(c.regs)) {
        assert.equal(o.regs[GPR.indexOf(reg as (typeof GPR)[number])], value, `${why}: ${reg}`);
      }
      if (c.report[0] === 14) assert.equal(o.cr2, BigInt(ABSENT + (c.bits === 32 ? 4 : 8)), `${why}: cr2`);
    }
    const off = runs[0][1];
    for (const [name, o] of runs.slice(1)) {
      assert.deepEqual(text(o), text(off), `${name} vs off`);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// 6. The option is validated

test("Kvm.open refuses an unknown blockCompiler mode, naming the option", () => {
  assert.throws(
    () => Kvm.open({ backend: "emu", blockCompiler: "bogus" as "on" }),
    (e: unknown) => (e instanceof TypeError || e instanceof RangeError) && /blockCompiler/.test(e.message),
  );
});
