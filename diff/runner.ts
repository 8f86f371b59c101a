/**
 * Runs cases on one backend. A Runner keeps one VM, one vCPU and 1 MiB of
 * guest memory for its whole life and resets only what a case changes, so
 * that thousands of cases run quickly; it rebuilds the VM after an exit that
 * may have left the vCPU in a state KVM_SET_* cannot undo, or when a case
 * wrote to the system area.
 *
 * @module
 */
import type { GuestMemory, Kvm, Regs, Segment, Sregs, Vcpu, VcpuExit, Vm } from "../mod.ts";
import { type Case, GPR, layoutCode } from "./case.ts";
import * as L from "./layout.ts";
import { buildSystem, envSregs, fixedRflags } from "./machine.ts";
import { type ExitRecord, type Outcome, SEGS, type SegState } from "./outcome.ts";
import { Prng } from "./prng.ts";

/** At most this many exits per case: a handler makes three, a clean case one. */
const MAX_EXITS = 6;
/** A case runs a few instructions; a run that takes longer than this is stuck. */
const RUN_TIMEOUT_MS = 2000;

/** Fills the data area of a case: PRNG bytes from `seed`, or zeros for seed 0. */
export function fillData(out: Uint8Array, seed: number): void {
  if (seed === 0) out.fill(0);
  else new Prng(seed, 0x5eed).fill(out);
}

/** Reduces a kvm_segment to the state an outcome compares. */
export function segState(s: Segment): SegState {
  const attrs = s.type | (s.s << 4) | (s.dpl << 5) | (s.present << 7) | (s.avl << 12) | (s.l << 13) | (s.db << 14) |
    (s.g << 15) | (s.unusable << 16);
  return { selector: s.selector, base: s.base, limit: s.limit, attrs };
}

/** Reduces an exit to an ExitRecord. */
function exitRecord(e: VcpuExit): ExitRecord {
  switch (e.reason) {
    case "io": {
      let value = 0;
      for (let i = e.size - 1; i >= 0; i--) value = value * 256 + e.data[i];
      return { reason: "io", direction: e.direction, port: e.port, size: e.size, value };
    }
    case "mmio":
      return { reason: "mmio", detail: `${e.isWrite ? "write" : "read"} ${e.len} at 0x${e.physAddr.toString(16)}` };
    case "internal_error":
      return { reason: e.reason, detail: `suberror ${e.suberror}` };
    case "fail_entry":
      return { reason: e.reason, detail: `0x${e.hardwareEntryFailureReason.toString(16)}` };
    case "unknown":
      return { reason: e.reason, detail: `exit_reason ${e.exitReason}` };
    default:
      return { reason: e.reason };
  }
}

/** Exits after which the runner makes a fresh VM (an internal error is not one: the next KVM_SET_* resets all it touched). */
const FATAL = new Set(["shutdown", "fail_entry", "unknown", "system_event", "intr", "mmio", "debug"]);
/** Exits that say the backend could not run the case at all: no oracle. */
const NO_ORACLE = new Set(["internal_error", "fail_entry", "unknown"]);

/** One backend's machine for running cases. */
export class Runner implements Disposable {
  /** The Kvm this runner's VMs come from. */
  readonly kvm: Kvm;
  #vm!: Vm;
  #vcpu!: Vcpu;
  #mem!: GuestMemory;
  #pristine = new Uint8Array(L.SYSTEM_END);
  /** The vCPU's sregs as created: the fields envSregs does not set come from here. */
  #baseSregs!: Sregs;
  #lastCodeLength = L.CODE_SIZE;
  /** How many times the VM was rebuilt (after a fatal exit or a write to the system area). */
  rebuilds = 0;

  constructor(kvm: Kvm) {
    this.kvm = kvm;
    this.#create();
  }

  #create(): void {
    this.#vm = this.kvm.createVm();
    this.#mem = this.#vm.allocateMemory(L.MEMORY_SIZE);
    buildSystem(this.#mem.bytes);
    this.#pristine.set(this.#mem.bytes.subarray(0, L.SYSTEM_END));
    this.#vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: this.#mem });
    this.#vcpu = this.#vm.createVcpu(0);
    this.#baseSregs = this.#vcpu.getSregs();
    this.#lastCodeLength = L.CODE_SIZE;
  }

  #rebuild(): void {
    this.#vm.close();
    this.#mem.free();
    this.rebuilds++;
    this.#create();
  }

  /** Runs `c` from its initial state and records the outcome. */
  run(c: Case): Outcome {
    const bytes = this.#mem.bytes;
    const { code } = layoutCode(c);
    bytes.fill(0, L.CODE, L.CODE + Math.max(this.#lastCodeLength, code.length));
    bytes.set(code, L.CODE);
    this.#lastCodeLength = code.length;
    fillData(bytes.subarray(L.DATA, L.DATA + L.DATA_SIZE), c.memory);
    bytes.fill(0, L.RING0_STACK_TOP - L.RING0_STACK_WATCH, L.RING0_STACK_TOP);

    const vcpu = this.#vcpu;
    vcpu.setSregs(envSregs(c.env, this.#baseSregs));
    vcpu.setRegs(initialRegs(c));

    const exits: ExitRecord[] = [];
    let noOracle: string | undefined;
    let fatal = false;
    for (;;) {
      let e: VcpuExit;
      try {
        e = vcpu.run({ timeoutMs: RUN_TIMEOUT_MS });
      } catch (err) {
        noOracle = `KVM_RUN failed: ${err instanceof Error ? err.message : String(err)}`;
        fatal = true;
        break;
      }
      const rec = exitRecord(e);
      exits.push(rec);
      if (NO_ORACLE.has(e.reason)) noOracle = `${e.reason} exit${rec.detail ? ` (${rec.detail})` : ""}`;
      if (FATAL.has(e.reason)) fatal = true;
      if (e.reason !== "io" || e.port === L.DONE_PORT || exits.length >= MAX_EXITS) break;
      if (e.direction === "in") e.data.fill(0);
    }
    const outcome = this.#record(exits, noOracle);
    if (fatal || !this.#systemIntact()) this.#rebuild();
    return outcome;
  }

  #record(exits: ExitRecord[], noOracle: string | undefined): Outcome {
    const r = this.#vcpu.getRegs();
    const s = this.#vcpu.getSregs();
    const regs = GPR.map((n) => r[n]);
    regs.push(r.rip, r.rflags);
    const segs = Object.fromEntries(SEGS.map((n) => [n, segState(s[n])])) as Outcome["segs"];
    const memory = new Uint8Array(L.DATA_SIZE + L.RING0_STACK_WATCH);
    memory.set(this.#mem.bytes.subarray(L.DATA, L.DATA + L.DATA_SIZE));
    memory.set(this.#mem.bytes.subarray(L.RING0_STACK_TOP - L.RING0_STACK_WATCH, L.RING0_STACK_TOP), L.DATA_SIZE);
    const o: Outcome = { exits, regs, segs, cr2: s.cr2, memory };
    if (noOracle !== undefined) o.noOracle = noOracle;
    return o;
  }

  #systemIntact(): boolean {
    const a = this.#mem.bytes, b = this.#pristine;
    const wa = new Int32Array(a.buffer, a.byteOffset, L.SYSTEM_END / 4);
    const wb = new Int32Array(b.buffer, 0, L.SYSTEM_END / 4);
    const ringLow = (L.RING0_STACK_TOP - 0x1000) / 4, ringHigh = L.RING0_STACK_TOP / 4;
    for (let i = 0; i < wa.length; i++) {
      if (wa[i] !== wb[i] && (i < ringLow || i >= ringHigh)) return false;
    }
    return true;
  }

  /** Closes the VM and frees its memory. */
  close(): void {
    this.#vm.close();
    this.#mem.free();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The KVM_SET_REGS state of a case: its registers, rip at the code's start, its flags plus the fixed bits. */
export function initialRegs(c: Case): Regs {
  const r = Object.fromEntries(GPR.map((n, i) => [n, c.regs[i] ?? 0n])) as Record<(typeof GPR)[number], bigint>;
  const rip = c.env.mode === "16" ? 0n : BigInt(L.CODE);
  return { ...r, rip, rflags: c.rflags | fixedRflags(c.env) };
}
