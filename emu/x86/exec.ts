/**
 * The interpreter loop: fetch through the per-physical-page decode cache,
 * execute, deliver faults and interrupts, and stop with an exit: I/O and
 * MMIO (queued by the instruction), HLT, shutdown on a triple fault, debug
 * exits for single-step, INT3 and hardware breakpoints, the run alarm,
 * the interrupt window, and internal errors for what the core lacks.
 *
 * @module
 */
import {
  KVM_EXIT_DEBUG,
  KVM_EXIT_HLT,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_INTR,
  KVM_EXIT_IRQ_WINDOW_OPEN,
  KVM_EXIT_SHUTDOWN,
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_HW_BP,
  KVM_GUESTDBG_USE_SW_BP,
  KVM_INTERNAL_ERROR_EMULATION,
} from "../../abi/constants.ts";
import type { Cpu } from "./cpu.ts";
import { decode } from "./decode.ts";
import { type CoreExit, takeExit } from "./exit.ts";
import { CpuFault, EXIT, fault, PF, Unimplemented } from "./fault.ts";
import { IF, RF, TF } from "./flags.ts";
import {
  codeBreakpointsInhibited,
  debugPc,
  debugTraps,
  guestExecBreakpoint,
  releaseHeldDebug,
  WATCH_EXEC,
} from "./debug.ts";
import type { Insn } from "./insn.ts";
import { deliver, deliverFault } from "./interrupt.ts";
import { HostFault } from "./memory.ts";
import { deliverNmi, nmiReady } from "./nmi.ts";
import { OP_MAPS } from "./optable.ts";
import { OP_MAPS64 } from "./long/optable64.ts";
import { getRip, ripLinear, setRip } from "./long/access.ts";
import { EFER_LMA } from "./control_bits.ts";
import { codeLinear, codePage, FetchCache, forgetPages, instructionBytes, sharedRecord, stillValid } from "./fetch.ts";
import { runChain } from "./jit/run.ts";
import { CS, SS } from "./state.ts";

/**
 * How often the loop asks whether the run alarm fired, in instructions (plus the CPU's `work`): at first after
 * FIRST_CHECK, then at an interval that adapts to what the guest does, between MIN_INTERVAL and MAX_INTERVAL, so
 * that one interval takes about CHECK_MS whether the guest runs compiled loops (tens of millions of instructions a
 * second) or instructions as slow as the x87's transcendentals. Counting is all the fast path does; the clock is
 * read once per interval.
 */
const FIRST_CHECK = 64, MIN_INTERVAL = 16, MAX_INTERVAL = 4096;
/** The time one interval should take, in ms: longer, and the interval halves; under a quarter of it, it doubles. */
const CHECK_MS = 0.5;
/** DR6 as KVM reports it for a single-step exit: BS plus the bits that read as 1. */
const DR6_SINGLESTEP = 0xffff4ff0;

const fetchCaches = new WeakMap<Cpu, FetchCache>();

/** The CPU's fetch cache. */
function fetchCache(cpu: Cpu): FetchCache {
  let fc = fetchCaches.get(cpu);
  if (!fc) fetchCaches.set(cpu, fc = new FetchCache());
  return fc;
}

function pushExit(cpu: Cpu, reason: number): CoreExit {
  const e = takeExit(reason);
  cpu.exits.push(e);
  return e;
}

/** Finds or decodes the instruction at CS:EIP. */
function fetch(cpu: Cpu, fc: FetchCache): Insn {
  const mode = cpu.codeSize;
  const lin = codeLinear(cpu, mode);
  const maps = mode === 8 ? OP_MAPS64 : OP_MAPS;
  codePage(cpu, fc, lin);
  const off = lin & 0xfff;
  const cached = fc.page[off];
  if (cached && cached.mode === mode) {
    if (stillValid(cpu, cached, fc.view, off)) return cached;
    // The host rewrote the page since it was decoded.
    cpu.codeWritten(fc.pfn);
    codePage(cpu, fc, lin);
  }
  const view = fc.view;
  const d = decode(maps, view, off, 4096, mode);
  if (d) {
    const s = sharedRecord(fc, d, view, off);
    if (s === d) {
      d.raw = instructionBytes(fc, off, d.len);
      d.checked = cpu.runEpoch;
    }
    fc.page[off] = s;
    return s;
  }
  // The instruction crosses into the next page, which becomes a code page too (a write to it drops what was decoded
  // from it): decoded from a copy of its bytes, and kept while both pages' translations and code stay the same.
  codePage(cpu, fc, mode === 8 ? lin + 4096 - off : (lin + (4096 - off)) >>> 0);
  const nview = fc.view;
  codePage(cpu, fc, lin);
  const x = fc.crossing;
  if (
    x !== null && fc.crossLin === lin && x.mode === mode && x.checked === cpu.runEpoch &&
    fc.crossEpoch === cpu.mem.epoch && fc.crossGen === cpu.codeGen
  ) return x;
  const buf = new Uint8Array(32);
  buf.set(view.subarray(off));
  buf.set(nview.subarray(0, 32 - (4096 - off)), 4096 - off);
  const c = decode(maps, buf, 0, 32, mode)!;
  c.checked = cpu.runEpoch;
  fc.crossing = c;
  fc.crossLin = lin;
  fc.crossEpoch = cpu.mem.epoch;
  fc.crossGen = cpu.codeGen;
  return c;
}

/**
 * The hardware breakpoint (0-3) set by KVM_SET_GUEST_DEBUG at linear `lin` for execution, or -1. In 64-bit mode
 * (`long`) `lin` is RIP's 48-bit form, compared with the exact 48-bit form of each breakpoint address.
 */
function execBreakpoint(cpu: Cpu, lin: number, long: boolean): number {
  const dr7 = cpu.debugRegs[7];
  for (let n = 0; n < 4; n++) {
    if (!((dr7 >>> (2 * n)) & 3)) continue;
    if ((dr7 >>> (16 + 4 * n)) & 3) continue; // a data breakpoint
    if ((long ? cpu.debugLinear[n] : cpu.debugRegs[n]) === lin) return n;
  }
  return -1;
}

/**
 * Releases what the run loop keeps of the guest's code: the decoded instructions, compiled blocks and fetch cache of
 * `cpu`, for a vCPU being closed; and gives its TLB levels back for the next vCPU to take (memory.ts release: a new
 * VM's vCPU then allocates none). A closed vCPU's objects lie in the old generation until the next full collection,
 * and until then a young-generation collection keeps (copies, then promotes) every young object they point to: its
 * last code pages, their records and blocks. Random guests in a row (issue 14: bench/timeout_overshoot.ts) made
 * scavenges copy up to 22 MB of closed vCPUs' code that way.
 */
export function releaseCode(cpu: Cpu): void {
  cpu.dropCode();
  const fc = fetchCaches.get(cpu);
  if (fc) forgetPages(fc);
  cpu.mem.release();
}

/** Executes the one instruction at CS:EIP (KVM_RUN completing an IN or MMIO read under immediate_exit). */
export function runOne(cpu: Cpu): void {
  const fc = fetchCache(cpu);
  guardedStep(cpu, fc, 0);
}

/** Runs until an exit is queued. `alarm` says whether the run's deadline passed. */
export function run(cpu: Cpu, alarm: () => boolean): void {
  const fc = fetchCache(cpu);
  const dbg = cpu.debugControl & KVM_GUESTDBG_ENABLE ? cpu.debugControl : 0;
  // Compiled blocks run while nothing watches single instructions (guest debugging, TF, breakpoints).
  const blocks = cpu.blocks.threshold !== 0 && dbg === 0;
  let n = 0, interval = FIRST_CHECK, nextAlarm = FIRST_CHECK, checked = -1;
  cpu.work = 0;
  cpu.chainMissed = false;
  while (cpu.exits.length === 0) {
    if (n + cpu.work >= nextAlarm) {
      n += cpu.work;
      cpu.work = 0;
      const now = performance.now();
      if (checked >= 0 && now - checked > CHECK_MS) interval = Math.max(MIN_INTERVAL, interval >>> 1);
      else if (checked < 0 || now - checked < CHECK_MS / 4) interval = Math.min(MAX_INTERVAL, interval * 2);
      checked = now;
      nextAlarm = n + interval;
      if (alarm()) {
        pushExit(cpu, KVM_EXIT_INTR);
        return;
      }
    }
    if (cpu.pendingException >= 0) {
      const v = cpu.pendingException, code = cpu.pendingErrorCode;
      cpu.pendingException = cpu.pendingErrorCode = -1;
      cpu.pendingInjected = false;
      if (!guardedFault(cpu, v, code)) return;
    }
    if ((cpu.nmiInjected || cpu.nmiPending) && nmiReady(cpu)) {
      if (!guardedNmi(cpu)) return;
      continue;
    }
    if (cpu.shadow === 0 && cpu.eflRest & IF) {
      if (cpu.pendingIrq >= 0) {
        const v = cpu.pendingIrq;
        cpu.pendingIrq = -1;
        if (!guardedDeliver(cpu, v)) return;
      } else if (cpu.intrRequest) {
        // The in-kernel irqchip's interrupt (emu/irqchip), acknowledged as the CPU takes it.
        const v = cpu.devices!.acknowledge();
        if (v >= 0 && !guardedDeliver(cpu, v)) return;
      } else if (cpu.requestIrqWindow) {
        pushExit(cpu, KVM_EXIT_IRQ_WINDOW_OPEN);
        return;
      }
    }
    // A chain that just ended where no block starts (jit/run.ts): the interpreter takes that instruction.
    if (cpu.chainMissed) cpu.chainMissed = false;
    else if (blocks && cpu.shadow === 0 && !(cpu.eflRest & TF) && cpu.watch === 0 && cpu.replay.length === 0) {
      // RF only keeps an instruction breakpoint from firing on the next instruction, and step clears it before running
      // that: with nothing watched (no breakpoint to keep), a block's first instruction clears it the same way. An
      // IRET from a #PF handler returns with RF set (deliverFault), to the instruction that faulted.
      if (cpu.eflRest & RF) cpu.eflRest &= ~RF;
      let ran = 0;
      try {
        // The chain adds what it runs to cpu.work.
        ran = runChain(cpu, fc, nextAlarm - n);
      } catch (e) {
        if (!caught(cpu, e)) return;
        n++;
        continue;
      }
      const code = cpu.mem.faultCode;
      if (code >= 0) {
        // A block's access answered a #PF (Memory's try* accesses) and the block returned at that instruction: the
        // fault is delivered as a CpuFault thrown out of it would be.
        cpu.mem.faultCode = -1;
        if (!faulted(cpu, PF, code)) return;
        n++;
        continue;
      }
      if (ran) continue;
    }
    n++;
    if (!guardedStep(cpu, fc, dbg)) return;
    if (cpu.halted) {
      pushExit(cpu, KVM_EXIT_HLT);
      return;
    }
  }
}

/** Executes one instruction. */
function step(cpu: Cpu, fc: FetchCache, dbg: number): void {
  const d = fetch(cpu, fc);
  if (dbg) {
    // In 64-bit mode: RIP's 48-bit form (fetch checked it is canonical); the exit's pc is RIP itself.
    const long = d.mode === 8, lin = long ? ripLinear(cpu) : (cpu.segBase[CS] + cpu.eip) >>> 0;
    if (dbg & KVM_GUESTDBG_USE_SW_BP && d.op === 0xcc) {
      debugExit(cpu, 3, debugPc(cpu), cpu.dr6);
      throw EXIT;
    }
    if (dbg & KVM_GUESTDBG_USE_HW_BP && cpu.skipBreakpointAt !== lin) {
      const bp = execBreakpoint(cpu, lin, long);
      if (bp >= 0) {
        cpu.skipBreakpointAt = lin;
        debugExit(cpu, 1, debugPc(cpu), (0xffff0ff0 | (1 << bp)) >>> 0);
        throw EXIT;
      }
    }
    cpu.skipBreakpointAt = -1;
  }
  // The instruction after a MOV SS or POP SS: its debug exceptions are held (SDM vol. 3, 6.8.3).
  const blocked = cpu.movSsBlocking;
  cpu.movSsBlocking = false;
  if (cpu.watch & WATCH_EXEC && !(cpu.eflRest & RF) && !(blocked && codeBreakpointsInhibited(cpu))) {
    guestExecBreakpoint(cpu);
  }
  if (cpu.eflRest & RF) cpu.eflRest &= ~RF;
  // In 64-bit mode nextEip holds the whole RIP as a signed number.
  cpu.nextEip = d.mode === 2
    ? (cpu.eip + d.len) & 0xffff
    : d.mode === 8
    ? getRip(cpu) + d.len
    : (cpu.eip + d.len) >>> 0;
  cpu.replayPos = 0;
  // The guest's single step: TF when the instruction begins, unless it delivers an interrupt itself.
  const tf = (cpu.eflRest & TF) !== 0 && !(dbg & KVM_GUESTDBG_SINGLESTEP), delivered = cpu.deliveries;
  cpu.watchHits = 0;
  if (blocked) execHeld(cpu, d);
  else d.exec(cpu, d);
  if (cpu.efer & EFER_LMA) setRip(cpu, cpu.nextEip);
  else cpu.eip = cpu.nextEip;
  cpu.replay.length = 0;
  if (cpu.shadow) cpu.shadow--;
  const stepTrap = tf && cpu.deliveries === delivered;
  if ((d.op === 0x8e && d.reg === SS) || d.op === 0x17) {
    // MOV SS / POP SS: its traps wait for the next instruction (only the first of a sequence of them holds).
    if (!blocked) {
      cpu.movSsBlocking = true;
      debugTraps(cpu, stepTrap, true);
    } else debugTraps(cpu, stepTrap);
  } else if (cpu.watchHits || stepTrap || cpu.heldDebug) debugTraps(cpu, stepTrap);
  if (dbg & KVM_GUESTDBG_SINGLESTEP) {
    debugExit(cpu, 1, debugPc(cpu), DR6_SINGLESTEP);
  }
}

/** Executes the instruction after a MOV SS or POP SS, releasing the traps it held if the instruction faults. */
function execHeld(cpu: Cpu, d: Insn): void {
  try {
    d.exec(cpu, d);
  } catch (e) {
    // An exit restarts the instruction (still in the shadow); a fault is delivered first, then the held traps.
    if (e === EXIT) cpu.movSsBlocking = true;
    else if (e instanceof CpuFault) releaseHeldDebug(cpu);
    throw e;
  }
}

function debugExit(cpu: Cpu, exception: number, pc: number, dr6: number): void {
  const e = pushExit(cpu, KVM_EXIT_DEBUG);
  e.exception = exception;
  e.pc = pc;
  e.dr6 = dr6;
  e.dr7 = cpu.debugControl & KVM_GUESTDBG_USE_HW_BP ? cpu.debugRegs[7] : cpu.dr7;
}

/*
 * The guarded steps of the run loop: each runs one step, turning what it throws into a delivery (true: go on) or an
 * exit (false: the loop must stop). Functions of their own rather than one taking a closure: a closure over the
 * loop's locals made `run` allocate its context at every call (56 bytes an I/O exit's round trip, in a heap profile).
 */

/** Executes one instruction (step). */
function guardedStep(cpu: Cpu, fc: FetchCache, dbg: number): boolean {
  try {
    step(cpu, fc, dbg);
    return true;
  } catch (e) {
    return caught(cpu, e);
  }
}

/** Raises the pending exception `v` (error code `code`, or -1). */
function guardedFault(cpu: Cpu, v: number, code: number): boolean {
  try {
    fault(v, code);
  } catch (e) {
    return caught(cpu, e);
  }
}

/** Delivers an NMI. */
function guardedNmi(cpu: Cpu): boolean {
  try {
    deliverNmi(cpu);
    return true;
  } catch (e) {
    return caught(cpu, e);
  }
}

/** Delivers external interrupt `v`. */
function guardedDeliver(cpu: Cpu, v: number): boolean {
  try {
    deliver(cpu, v, -1, false, getRip(cpu));
    return true;
  } catch (e) {
    return caught(cpu, e);
  }
}

/** Handles what an instruction threw: a fault is delivered (true: go on), an exit or error stops the loop. */
function caught(cpu: Cpu, e: unknown): boolean {
  if (e === EXIT) return false;
  cpu.replay.length = 0;
  if (e instanceof CpuFault) return faulted(cpu, e.vector, e.code);
  if (e instanceof HostFault) throw e;
  return internalError(cpu, e);
}

/** Delivers exception `vector` (error code `code`, or -1) raised by an instruction; false on a triple fault. */
function faulted(cpu: Cpu, vector: number, code: number): boolean {
  cpu.replay.length = 0;
  try {
    if (deliverFault(cpu, vector, code)) return true;
  } catch (inner) {
    return internalError(cpu, inner);
  }
  cpu.exits.length = 0;
  pushExit(cpu, KVM_EXIT_SHUTDOWN);
  return false;
}

function internalError(cpu: Cpu, e: unknown): boolean {
  if (e === EXIT) return false;
  if (e instanceof HostFault) throw e;
  const x = pushExit(cpu, KVM_EXIT_INTERNAL_ERROR);
  x.suberror = KVM_INTERNAL_ERROR_EMULATION;
  x.idata = [];
  cpu.lastError = e instanceof Unimplemented ? e.what : e instanceof Error ? e.message : String(e);
  return false;
}
