/**
 * Debug traps: the guest's own single step (EFLAGS.TF: a #DB trap after
 * the instruction, DR6.BS set), data breakpoints (write and read/write
 * watchpoints, from KVM_SET_GUEST_DEBUG as a debug exit after the access,
 * or from the guest's own DR7 as a #DB trap through its IDT), and the
 * guest's own execution breakpoints (a #DB fault before the instruction,
 * unless EFLAGS.RF). Exceptions queued by KVM_GUESTDBG_INJECT_DB/INJECT_BP
 * wait in `cpu.pendingException` for the interpreter loop.
 *
 * The memory path pays for watchpoints only when one is armed: `Cpu.lin`
 * tests a bit of `cpu.watch` before calling {@linkcode checkWatch}.
 *
 * @module
 */
import { KVM_EXIT_DEBUG, KVM_GUESTDBG_ENABLE, KVM_GUESTDBG_USE_HW_BP } from "../../abi/constants.ts";
import type { Cpu } from "./cpu.ts";
import { takeExit } from "./exit.ts";
import { DB, fault } from "./fault.ts";
import { deliver } from "./interrupt.ts";
import { CS } from "./state.ts";
import { getRip, in64, ripLinear, TWO32 } from "./long/access.ts";
import { EFER_LMA } from "./control_bits.ts";

/** DR6 bits that read as 1, and BS (single step). */
const DR6_FIXED = 0xffff0ff0, DR6_BS = 0x4000;
/** DR7 LEN encodings to bytes. */
const LEN = [1, 2, 8, 4];

/** Whether the guest-debug registers (not the guest's own) supply the breakpoints. */
function hostOwned(cpu: Cpu): boolean {
  return (cpu.debugControl & (KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP)) ===
    (KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP);
}

/** DR7 in force: the guest-debug one under KVM_GUESTDBG_USE_HW_BP, else the guest's. */
function activeDr7(cpu: Cpu): number {
  return hostOwned(cpu) ? cpu.debugRegs[7] : cpu.dr7;
}

/**
 * The linear address breakpoint n watches: the guest-debug DRn when `host`,
 * else the guest's: bits 47:0 in long mode (-1, matching nothing, when not
 * canonical); outside it, bits 31:0 of the guest's, the whole guest-debug one.
 */
function watchAddress(cpu: Cpu, n: number, host: boolean): number {
  if (host) return cpu.efer & EFER_LMA ? cpu.debugLinear[n] : cpu.debugRegs[n];
  if (!(cpu.efer & EFER_LMA)) return cpu.dr[n];
  const high = cpu.drHigh[n], top = high >>> 15;
  if (top !== 0 && top !== 0x1ffff) return -1;
  return (high & 0xffff) * TWO32 + cpu.dr[n];
}

/**
 * The pc of a debug exit, as the kernel's kvm_get_linear_rip gives it: RIP in 64-bit mode (a signed number, exact
 * for a canonical RIP; RunPage writes it sign-extended), else CS.base + EIP truncated to 32 bits.
 */
export function debugPc(cpu: Cpu): number {
  return in64(cpu) ? getRip(cpu) : (cpu.segBase[CS] + cpu.eip) >>> 0;
}

/** `cpu.watch` bits: a data breakpoint is armed; one of the guest's own execution breakpoints is. */
export const WATCH_DATA = 1, WATCH_EXEC = 2;

/** Recomputes which breakpoints are armed (after a DR7 or guest-debug change). */
export function armWatch(cpu: Cpu): void {
  const dr7 = activeDr7(cpu);
  let armed = 0;
  for (let n = 0; n < 4; n++) {
    if (!((dr7 >>> (2 * n)) & 3)) continue;
    const rw = (dr7 >>> (16 + 4 * n)) & 3;
    if (rw & 1) armed |= WATCH_DATA;
    // Guest-debug execution breakpoints are checked by the interpreter's debug path.
    else if (rw === 0 && !hostOwned(cpu)) armed |= WATCH_EXEC;
  }
  cpu.watch = armed;
}

/**
 * Before an instruction (EFLAGS.RF clear): the guest's own execution
 * breakpoints at its linear address raise a #DB fault, DR6 naming them. In
 * 64-bit mode the address is RIP's 48-bit form, compared with DRn's (a
 * non-canonical DRn matches nothing); in compatibility mode it is
 * CS.base + EIP, which a DRn with bits 63:32 set never matches.
 */
export function guestExecBreakpoint(cpu: Cpu): void {
  const lin = in64(cpu) ? ripLinear(cpu) : (cpu.segBase[CS] + cpu.eip) >>> 0, dr7 = cpu.dr7;
  let hits = 0;
  for (let n = 0; n < 4; n++) {
    if ((dr7 >>> (2 * n)) & 3 && !((dr7 >>> (16 + 4 * n)) & 3) && watchAddress(cpu, n, false) === lin) hits |= 1 << n;
  }
  if (!hits) return;
  // Traps a MOV SS held (an AMD processor breaks on the instruction after it) are reported in the same #DB.
  cpu.dr6 = ((cpu.dr6 & ~0xf) | DR6_FIXED | hits | cpu.heldDebug) >>> 0;
  cpu.heldDebug = 0;
  fault(DB);
}

/** Records which data breakpoints an access of `size` bytes at linear `lin` hits. */
export function checkWatch(cpu: Cpu, lin: number, size: number, write: boolean): void {
  const host = hostOwned(cpu), dr7 = host ? cpu.debugRegs[7] : cpu.dr7;
  for (let n = 0; n < 4; n++) {
    if (!((dr7 >>> (2 * n)) & 3)) continue;
    const rw = (dr7 >>> (16 + 4 * n)) & 3;
    if (rw !== 3 && !(rw === 1 && write)) continue;
    const len = LEN[(dr7 >>> (18 + 4 * n)) & 3], addr = watchAddress(cpu, n, host);
    if (addr < 0) continue;
    const start = addr - (addr % len);
    if (lin < start + len && lin + size > start) cpu.watchHits |= 1 << n;
  }
}

/**
 * The traps of the instruction just completed: data breakpoints (a debug
 * exit when guest debugging owns them) and the guest's single step (`tf`:
 * TF was set when the instruction began), reported in one #DB whose DR6
 * has a bit for each, together with the traps a MOV SS or POP SS held.
 *
 * `hold` is a MOV SS or POP SS (SDM vol. 3, 6.8.3): its data breakpoints and
 * single step are held until the boundary after the next instruction, and
 * then reported with that instruction's own traps as one #DB.
 */
export function debugTraps(cpu: Cpu, tf: boolean, hold = false): void {
  let bits = 0;
  if (cpu.watchHits) {
    const hits = cpu.watchHits;
    cpu.watchHits = 0;
    if (hostOwned(cpu)) {
      const e = takeExit(KVM_EXIT_DEBUG);
      e.exception = DB;
      e.pc = debugPc(cpu);
      e.dr6 = (DR6_FIXED | hits) >>> 0;
      e.dr7 = cpu.debugRegs[7];
      cpu.exits.push(e);
    } else bits |= hits;
  }
  if (tf) bits |= DR6_BS;
  if (hold) {
    cpu.heldDebug |= bits;
    return;
  }
  bits |= cpu.heldDebug;
  cpu.heldDebug = 0;
  if (!bits) return;
  cpu.dr6 = (cpu.dr6 | DR6_FIXED | bits) >>> 0;
  // After an instruction that exits (OUT, an MMIO write), the trap waits for the next KVM_RUN.
  if (cpu.exits.length) cpu.pendingException = DB;
  else deliver(cpu, DB, -1, false, getRip(cpu)); // the whole RIP in long mode, as faults and interrupts push it
}

/**
 * Whether the guest's own execution breakpoints are inhibited on the
 * instruction that follows a MOV SS or POP SS: Intel processors inhibit them,
 * AMD processors do not (as the kernel's kvm_is_code_breakpoint_inhibited has it).
 */
export function codeBreakpointsInhibited(cpu: Cpu): boolean {
  return cpu.vendor.name === "intel";
}

/**
 * The instruction after a MOV SS or POP SS raised an exception instead of
 * completing: the traps the MOV SS held are delivered after that exception,
 * before its handler's first instruction (they wait in `cpu.pendingException`,
 * their DR6 bits already recorded).
 */
export function releaseHeldDebug(cpu: Cpu): void {
  if (!cpu.heldDebug) return;
  cpu.dr6 = (cpu.dr6 | DR6_FIXED | cpu.heldDebug) >>> 0;
  cpu.heldDebug = 0;
  cpu.pendingException = DB;
  cpu.pendingErrorCode = -1;
}
