/**
 * Real gdb (Debian's, in batch mode) against the C guest (examples/c_guest,
 * guest.elf: built with symbols) under the stub, on each backend: attach at
 * the first instruction, read registers and memory, break at a function by
 * name, print a local and a global, finish, stepi, watch a variable, change
 * a register and a memory byte and see the guest's output change, monitor
 * commands, detach. Each step's gdb output is asserted.
 *
 * The C guest runs at CPL 3. Where a backend cannot stop CPL 3 code there
 * (this host's kvm_pvm: breakpoints, single-step and data breakpoints are
 * not reported to the host), the steps that need it are skipped on that
 * backend, each saying why; the rest runs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type BackendName, Kvm, type Vcpu, type VcpuExit } from "../../mod.ts";
import { probeSoftwareBreakpoints, serveGdb } from "../../gdb/mod.ts";
import { enterLongModeCpl3, MEMORY_SIZE } from "../../examples/c_guest/run.ts";
import { GUEST_ELF, loadElf, startGdbGuest } from "../../examples/gdb_guest.ts";
import { BACKENDS, backendTest, backendUnavailable, skip } from "../_support/harness.ts";
import { type Machine, machine, realMode } from "../_support/guests.ts";
import { checkSteps, GDB_MISSING, type GdbStep, runGdb, stepsFor } from "./_gdb.ts";

const ELF = new Uint8Array(readFileSync(GUEST_ELF));
const EXPECTED = readFileSync(new URL("../../examples/c_guest/expected.txt", import.meta.url), "utf8");

/** _start is at 0x100000: `and rsp, -16` (4 bytes), then `call main`. */
const CALL_MAIN = 0x100004n;
const STACK_TOP = BigInt(MEMORY_SIZE - 0x1000);

/** Where guest.elf's first PT_LOAD segment puts the file's bytes: the linear address of file offset `off`. */
function elfAddress(off: number): bigint {
  const v = new DataView(ELF.buffer, ELF.byteOffset, ELF.byteLength);
  const phoff = Number(v.getBigUint64(0x20, true));
  const offset = Number(v.getBigUint64(phoff + 8, true));
  return v.getBigUint64(phoff + 0x10, true) + BigInt(off - offset);
}

/** The address of the guest's banner string, whose first byte the test changes. */
const BANNER = elfAddress(Buffer.from(ELF).indexOf("kvmkit C guest\n"));

/** What the guest computes, the way it does: buffer[0] and values[0] from its xorshift. */
function guestValues(): { buffer0: number; values0: number } {
  let seed = 0x2545f4914f6cdd1dn;
  const step = () => {
    seed ^= BigInt.asUintN(64, seed << 13n);
    seed ^= seed >> 7n;
    seed ^= BigInt.asUintN(64, seed << 17n);
  };
  step();
  const buffer0 = Number(seed & 0xffn);
  for (let i = 1; i < 4096; i++) step();
  step();
  return { buffer0, values0: Number(seed % 2000001n) - 1000000 };
}

/** The first exit of a probe run that is not console output, and its description. */
interface ProbeExit {
  reason: VcpuExit["reason"];
  pc?: bigint;
  dr6?: bigint;
  text: string;
}

/** Runs guest.elf on `kvm` after `setup`; returns the first exit that is not console output. */
function runCpl3(kvm: Kvm, setup: (vcpu: Vcpu, mem: Uint8Array) => void): ProbeExit {
  using vm = kvm.createVm();
  const memory = vm.allocateMemory(MEMORY_SIZE);
  try {
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory });
    loadElf(memory.bytes, ELF);
    using vcpu = vm.createVcpu(0);
    enterLongModeCpl3(memory.bytes, vcpu);
    setup(vcpu, memory.bytes);
    for (let i = 0; i < 64; i++) {
      const exit = vcpu.run({ timeoutMs: 3000 });
      if (exit.reason === "io" && exit.port === 0xe9) continue;
      const text = show(exit);
      return exit.reason === "debug"
        ? { reason: exit.reason, pc: exit.pc, dr6: exit.dr6, text }
        : { reason: exit.reason, text };
    }
    return { reason: "intr", text: "the guest ran on past it (64 console writes, no debug exit)" };
  } finally {
    vm.close();
    memory.free();
  }
}

function show(exit: VcpuExit): string {
  return JSON.stringify(exit, (_, v) => typeof v === "bigint" ? `0x${v.toString(16)}` : v);
}

/** Whether a breakpoint (as the stub would set it: int3 where honoured, else DR0) stops CPL 3 code. */
function probeCpl3Breakpoints(kvm: Kvm): string | undefined {
  const software = probeSoftwareBreakpoints(kvm) === undefined;
  const exit = runCpl3(kvm, (vcpu, mem) => {
    if (software) mem[Number(CALL_MAIN)] = 0xcc;
    vcpu.setGuestDebug(software ? { softwareBreakpoints: true } : { hardwareBreakpoints: [{ address: CALL_MAIN }] });
  });
  if (exit.reason === "debug" && exit.pc === CALL_MAIN) return undefined;
  return `${software ? "an int3" : "a hardware"} breakpoint at CPL 3 is not reported: ${exit.text}`;
}

/** Whether single-stepping CPL 3 code gives a debug exit after the first instruction. */
function probeCpl3SingleStep(kvm: Kvm): string | undefined {
  const exit = runCpl3(kvm, (vcpu) => vcpu.setGuestDebug({ singlestep: true }));
  if (exit.reason === "debug" && exit.pc === CALL_MAIN) return undefined;
  return `single-stepping at CPL 3 is not reported as a debug exit: ${exit.text}`;
}

/** Whether a write watchpoint stops CPL 3 code: `call main` pushes its return address below STACK_TOP. */
function probeCpl3Watchpoints(kvm: Kvm): string | undefined {
  const exit = runCpl3(kvm, (vcpu) => {
    vcpu.setGuestDebug({ hardwareBreakpoints: [{ address: STACK_TOP - 8n, kind: "write", length: 8 }] });
  });
  if (exit.reason === "debug" && exit.dr6 !== undefined && exit.dr6 & 1n) return undefined;
  return `a write watchpoint at CPL 3 is not reported: ${exit.text}`;
}

type Feature = "breakpoints" | "singlestep" | "watchpoints";
const PROBES: Record<Feature, (kvm: Kvm) => string | undefined> = {
  breakpoints: probeCpl3Breakpoints,
  singlestep: probeCpl3SingleStep,
  watchpoints: probeCpl3Watchpoints,
};

/** What `backend` lacks of PROBES, with the findings. */
function lacking(backend: BackendName): Map<Feature, string> {
  const out = new Map<Feature, string>();
  if (backendUnavailable(backend) !== undefined) return out;
  using kvm = Kvm.open({ backend });
  for (const [feature, probe] of Object.entries(PROBES) as [Feature, (kvm: Kvm) => string | undefined][]) {
    const why = probe(kvm);
    if (why !== undefined) out.set(feature, why);
  }
  return out;
}

/** One gdb step of these tests. */
type Step = GdbStep<Feature>;

const FNV1A = BigInt(`0x${/fnv1a64: ([0-9a-f]+)/.exec(EXPECTED)![1]}`);
const { buffer0, values0 } = guestValues();

const STEPS: Step[] = [
  {
    name: "attach: stopped at the first instruction, registers and code readable",
    needs: [],
    commands: ["x/2i $pc", "print/x $rip", "print $cs", "print/x $cr0", "print/x $fs_base", "print/x $fctrl"],
    check: (out) => {
      assert.match(out, /=> 0x100000 <_start>:\s+and\s+\$0xfffffffffffffff0,%rsp/);
      assert.match(out, /0x100004 <_start\+4>:\s+call\s+0x[0-9a-f]+ <main>/);
      assert.match(out, /\$\d+ = 0x100000\n/);
      assert.match(out, /\$\d+ = 27\n/); // cs = 0x1b, the user code selector
      assert.match(out, /\$\d+ = 0x80010033\n/);
      assert.match(out, /\$\d+ = 0x0\n/);
      assert.match(out, /\$\d+ = 0x37f\n/); // the x87 control word after reset
    },
  },
  {
    name: "write a memory byte (the banner's first letter)",
    needs: [],
    commands: [`set {char}0x${BANNER.toString(16)} = 'K'`, `x/s 0x${BANNER.toString(16)}`],
    check: (out) => assert.match(out, /"Kvmkit C guest\\n"/),
  },
  {
    name: "break at a function by name and continue to it",
    needs: ["breakpoints"],
    commands: ["break fnv1a", "continue"],
    check: (out) => {
      assert.match(out, /Breakpoint 1 at 0x[0-9a-f]+: file guest\.c, line \d+\./);
      assert.match(out, /Breakpoint 1, fnv1a \(.*n=n@entry=4096\) at guest\.c:\d+/);
    },
  },
  {
    name: "print a local and a global",
    needs: ["breakpoints"],
    commands: ["print n", "print buffer[0]", "print &buffer[0] == p"],
    check: (out) => {
      assert.match(out, /\$\d+ = 4096\n/);
      assert.match(out, new RegExp(`\\$\\d+ = ${buffer0} `));
      assert.match(out, /\$\d+ = 1\n/);
    },
  },
  {
    name: "finish returns the hash",
    needs: ["breakpoints"],
    commands: ["finish"],
    check: (out) => {
      assert.match(out, /in main \(\) at guest\.c:\d+/);
      assert.match(out, new RegExp(`Value returned is \\$\\d+ = ${FNV1A}\n`));
    },
  },
  {
    name: "change a register (the returned hash)",
    needs: ["breakpoints"],
    commands: ["set $rax = 0x1234", "print/x $rax"],
    check: (out) => assert.match(out, /\$\d+ = 0x1234\n/),
  },
  {
    name: "stepi three times",
    needs: ["breakpoints", "singlestep"],
    commands: ["print/x $pc", "stepi", "print/x $pc", "stepi", "print/x $pc", "stepi", "print/x $pc"],
    check: (out) => {
      const pcs = [...out.matchAll(/\$\d+ = (0x[0-9a-f]+)\n/g)].map((m) => BigInt(m[1]));
      assert.equal(pcs.length, 4, out);
      for (let i = 1; i < 4; i++) assert.ok(pcs[i] !== pcs[i - 1], `stepi ${i} moved: ${out}`);
      assert.doesNotMatch(out, /signal|SIGSEGV|Cannot/);
    },
  },
  {
    name: "watch a variable and continue to the write",
    needs: ["breakpoints", "watchpoints"],
    commands: ["delete", "watch values[0]", "continue", "delete"],
    check: (out) => {
      assert.match(out, /Hardware watchpoint \d+: values\[0\]/);
      assert.match(out, new RegExp(`Old value = 0\nNew value = ${values0}\n`));
      assert.match(out, /main \(\) at guest\.c:\d+/);
    },
  },
  {
    name: "monitor commands: info registers, xp, info breakpoints",
    needs: [],
    commands: ["monitor info registers", "monitor xp /2xg 0x1000", "monitor info breakpoints"],
    check: (out) => {
      assert.match(out, /cr0 0x0000000080010033/);
      assert.match(out, /efer 0x0000000000000500/);
      assert.match(out, /cs {3}0x001b base=0x0000000000000000/);
      assert.match(out, /gdt {2}base=0x0000000000005000 limit=0x0027/);
      assert.match(out, /0x0000000000001000: 0x00000000000020[0-9a-f]7 0x0000000000000000/); // PML4[0] -> PDPT
      assert.match(out, /breakpoints: (int3|debug registers)/);
    },
  },
  {
    name: "detach: the guest runs on to its end",
    needs: [],
    commands: ["detach"],
    check: (out) => assert.match(out, /\[Inferior 1 \(Remote target\) detached\]/),
  },
];

/** `p`'s value, or undefined if it takes longer than `ms`: a stuck guest fails the test instead of hanging it. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), ms));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The C guest's symbols, for gdb. */
const SYMBOLS = new URL(GUEST_ELF).pathname;

/**
 * Starts the C guest with its gdb stub on a free port, runs real gdb's `steps` against it, and waits (a minute at
 * most) for the guest to finish; checks gdb's answers and returns how the guest ended.
 */
async function gdbSession(kvm: Kvm, steps: Step[]) {
  const guest = await startGdbGuest(kvm, { port: 0 });
  const run = await runGdb(guest.server.port, steps, SYMBOLS);
  const finished = await within(guest.finished, 60_000);
  if (finished === undefined) await guest.server.close();
  assert.ok(finished, `the guest did not finish; gdb said:\n${run.all}`);
  checkSteps(steps, run);
  return finished;
}

for (const backend of BACKENDS) {
  const name = "real gdb against the C guest";
  if (GDB_MISSING) {
    skip(`${name} [${backend}]`, GDB_MISSING);
    continue;
  }
  const steps = stepsFor(name, backend, STEPS, lacking(backend));
  backendTest(name, async (kvm) => {
    const { outcome, output } = await gdbSession(kvm, steps);
    // The guest ran to its end after detach, with the changes visible in its output.
    assert.deepEqual(outcome, { reason: "exited", code: 0 });
    let expected = EXPECTED.replace("kvmkit C guest", "Kvmkit C guest");
    if (steps.some((s) => s.name.startsWith("change a register"))) {
      expected = expected.replace(/fnv1a64: [0-9a-f]+/, "fnv1a64: 0000000000001234");
    }
    assert.equal(output, expected);
  }, { only: [backend] });
}

/** _start+11: `mov $0xea, %dx; out %eax, %dx`, the guest's exit-code write. */
const EXIT_WRITE = "_start+11";

const STEER: Step[] = [
  {
    name: "set rax and pc: jump to the exit-code write",
    needs: [],
    commands: [`x/2i ${EXIT_WRITE}`, "set $rax = 7", `set $pc = ${EXIT_WRITE}`, "print/x $pc", "info registers rax"],
    check: (out) => {
      assert.match(out, /<_start\+11>:\s+mov\s+\$0xea,%dx/);
      assert.match(out, /<_start\+15>:\s+out\s+%eax,\(%dx\)/);
      assert.match(out, /\$\d+ = 0x10000b\n/);
      assert.match(out, /rax\s+0x7\s+7/);
    },
  },
  {
    name: "continue: the guest exits with the code gdb put in rax",
    needs: [],
    commands: ["continue"],
    check: (out) => assert.match(out, /\[Inferior 1 \(Remote target\) exited with code 07\]/),
  },
];

if (GDB_MISSING) {
  skip("real gdb: registers written by gdb steer the guest", GDB_MISSING);
} else {
  backendTest("real gdb: registers written by gdb steer the guest", async (kvm) => {
    const { outcome, output } = await gdbSession(kvm, STEER);
    assert.deepEqual(outcome, { reason: "exited", code: 7 });
    assert.equal(output, "", "the guest wrote nothing before its exit code");
  });
}

/** A real-mode guest: two console writes around an increment of the byte at 0x3000, hlt; `jmp $` at 0x100e. */
const REAL_MODE = [0xb0, 0x41, 0xe6, 0xe9, 0xfe, 0x06, 0x00, 0x30, 0xa0, 0x00, 0x30, 0xe6, 0xe9, 0xf4, 0xeb, 0xfe];

/** A 64 KiB {@linkcode Machine} with REAL_MODE at 0x1000 and vCPU 0 in real mode at `ip`. */
function realModeMachine(kvm: Kvm, ip: number): Machine {
  const m = machine(kvm, 0x10000);
  m.mem.bytes.set(REAL_MODE, 0x1000);
  realMode(m.vcpu, ip);
  return m;
}

/** Whether a write watchpoint stops real-mode code. */
function probeRealModeWatchpoints(kvm: Kvm): string | undefined {
  using m = realModeMachine(kvm, 0x1004);
  m.vcpu.setGuestDebug({ hardwareBreakpoints: [{ address: 0x3000, kind: "write", length: 1 }] });
  const exit = m.vcpu.run({ timeoutMs: 3000 });
  return exit.reason === "debug" ? undefined : `a write watchpoint in real mode is not reported: ${show(exit)}`;
}

const REAL_STEPS: Step[] = [
  {
    name: "i386 view: the description gdb gets for a guest outside long mode",
    needs: [],
    commands: ["show architecture", "print/x $eip", "print/x $cr0", "x/2xb $pc"],
    check: (out) => {
      assert.match(out, /currently "i386"/);
      assert.match(out, /\$\d+ = 0x1000\n/);
      assert.match(out, /\$\d+ = 0x60000010\n/, "cr0 after reset");
      assert.match(out, /0x1000:\s+0xb0\s+0x41/);
    },
  },
  {
    name: "i386 view: stepi over mov and out",
    needs: [],
    commands: ["stepi", "stepi", "print/x $eip"],
    check: (out) => assert.match(out, /\$\d+ = 0x1004\n/),
  },
  {
    name: "i386 view: watch the byte the guest increments",
    needs: ["watchpoints"],
    commands: ["watch *(char *)0x3000", "continue", "print/x $eip", "delete"],
    check: (out) => {
      assert.match(out, /Hardware watchpoint 1: \*\(char \*\)0x3000/);
      assert.match(out, /Old value = 0 '\\000'\nNew value = 1 '\\001'/);
      assert.match(out, /\$\d+ = 0x1008\n/);
    },
  },
  {
    name: "i386 view: break at an address and continue to it",
    needs: [],
    commands: ["break *0x100b", "continue", "print/x $eax", "delete"],
    check: (out) => {
      assert.match(out, /Breakpoint \d+, 0x0000100b in \?\? \(\)/);
      assert.match(out, /\$\d+ = 0x1\n/);
    },
  },
  {
    name: "i386 view: Ctrl-C stops the guest spinning in a loop",
    needs: [],
    commands: ["set $pc = 0x100e", "continue", "print/x $pc"],
    check: (out) => {
      assert.match(out, /Program received signal SIGINT, Interrupt\./);
      assert.match(out, /\$\d+ = 0x100e\n/);
    },
  },
  {
    name: "i386 view: change memory and registers, continue to the end",
    needs: [],
    commands: ["set {char}0x3000 = '9'", "set $pc = 0x1008", "continue"],
    check: (out) => assert.match(out, /\[Inferior 1 \(Remote target\) exited with code 03\]/),
  },
];

for (const backend of BACKENDS) {
  const name = "real gdb: a real-mode guest in the i386 view";
  if (GDB_MISSING) {
    skip(`${name} [${backend}]`, GDB_MISSING);
    continue;
  }
  let why: string | undefined;
  if (backendUnavailable(backend) === undefined) {
    using kvm = Kvm.open({ backend });
    why = probeRealModeWatchpoints(kvm);
  }
  const steps = stepsFor(name, backend, REAL_STEPS, new Map(why ? [["watchpoints", why]] : []));
  backendTest(name, async (kvm) => {
    using m = realModeMachine(kvm, 0x1000);
    const out: number[] = [];
    const server = await serveGdb(m.vm, [m.vcpu], {
      port: 0,
      onExit: (exit) => {
        if (exit.reason === "io" && exit.port === 0xe9) out.push(exit.data[0]);
        else if (exit.reason === "hlt") return { exited: 3 };
        else return { stop: 5 };
      },
    });
    // A user's Ctrl-C: gdb gets SIGINT half a second into that step, once its `continue` is under way.
    const run = await runGdb(server.port, steps, undefined, (step, gdb) => {
      if (step === REAL_STEPS[4].name) setTimeout(() => gdb.kill("SIGINT"), 500);
    });
    const outcome = await within(server.done, 10_000);
    if (outcome === undefined) await server.close();
    assert.deepEqual(outcome, { reason: "exited", code: 3 }, `the guest did not exit; gdb said:\n${run.all}`);
    checkSteps(steps, run);
    assert.equal(String.fromCharCode(...out), "A9", "the guest printed A, then the byte gdb wrote");
  }, { only: [backend] });
}
