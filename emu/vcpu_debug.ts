/**
 * A vCPU's debug ioctls: KVM_SET_GUEST_DEBUG (single-step, breakpoints,
 * injected #DB/#BP) and KVM_GET/SET_DEBUGREGS (the guest's DR0-DR3, DR6,
 * DR7). The debug exits themselves are x86/debug.ts.
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import { kvmDebugregs } from "../abi/structs.ts";
import {
  KVM_EXIT_DEBUG,
  KVM_GUESTDBG_INJECT_BP,
  KVM_GUESTDBG_INJECT_DB,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_HW_BP,
} from "../abi/constants.ts";
import type { Cpu } from "./x86/cpu.ts";
import { armWatch } from "./x86/debug.ts";
import type { CoreExit } from "./x86/exit.ts";
import { getU64, setU64 } from "./run_page.ts";

/** KVM_GUESTDBG_VALID_MASK on x86. */
const GUESTDBG_VALID = 0x001f0003;
/** DR6.BS: a single-step debug exit. */
const DR6_BS = 0x4000;

/** KVM_SET_GUEST_DEBUG. */
export function setGuestDebug(cpu: Cpu, view: DataView): number {
  if (view.byteLength < 72) return -Errno.EFAULT;
  const control = view.getUint32(0, true);
  if (control & ~GUESTDBG_VALID) return -Errno.EINVAL;
  if (control & (KVM_GUESTDBG_INJECT_DB | KVM_GUESTDBG_INJECT_BP)) {
    if (cpu.pendingException >= 0) return -Errno.EBUSY;
    cpu.pendingException = control & KVM_GUESTDBG_INJECT_DB ? 1 : 3;
  }
  cpu.debugControl = control & 1 ? control : 0;
  for (let i = 0; i < 8; i++) cpu.debugRegs[i] = getU64(view, 8 + 8 * i);
  for (let i = 0; i < 4; i++) {
    const lo = view.getUint32(8 + 8 * i, true), hi = view.getUint32(12 + 8 * i, true), top = hi >>> 15;
    cpu.debugLinear[i] = top === 0 || top === 0x1ffff ? (hi & 0xffff) * 2 ** 32 + lo : -1;
  }
  cpu.skipBreakpointAt = -1;
  armWatch(cpu);
  dropStaleDebugExits(cpu);
  return 0;
}

/**
 * After KVM_SET_GUEST_DEBUG: drops the debug exits queued behind one already
 * reported (a single step or a data breakpoint after an OUT or an MMIO
 * write) that the new control no longer asks for. The kernel makes those
 * only when it completes the instruction at the next KVM_RUN, by the
 * single-step and breakpoint settings in force then.
 */
function dropStaleDebugExits(cpu: Cpu): void {
  const control = cpu.debugControl;
  const wanted = (e: CoreExit) =>
    e.reason !== KVM_EXIT_DEBUG ||
    (control & (e.dr6 & DR6_BS ? KVM_GUESTDBG_SINGLESTEP : KVM_GUESTDBG_USE_HW_BP)) !== 0;
  const kept = cpu.exits.filter(wanted);
  if (kept.length !== cpu.exits.length) cpu.exits.splice(0, cpu.exits.length, ...kept);
}

/** KVM_GET_DEBUGREGS. */
export function getDebugRegs(cpu: Cpu, view: DataView): number {
  if (view.byteLength < kvmDebugregs.size) return -Errno.EFAULT;
  new Uint8Array(view.buffer, view.byteOffset, kvmDebugregs.size).fill(0);
  for (let i = 0; i < 4; i++) {
    view.setUint32(8 * i, cpu.dr[i], true);
    view.setUint32(8 * i + 4, cpu.drHigh[i], true);
  }
  setU64(view, kvmDebugregs.offsetOf("dr6"), cpu.dr6);
  setU64(view, kvmDebugregs.offsetOf("dr7"), cpu.dr7);
  return 0;
}

/** KVM_SET_DEBUGREGS: flags must be 0; DR6/DR7 must fit in 32 bits; DR0-DR3 keep all 64 bits. */
export function setDebugRegs(cpu: Cpu, view: DataView): number {
  if (view.byteLength < kvmDebugregs.size) return -Errno.EFAULT;
  const d = kvmDebugregs.decode(view);
  if (d.flags !== 0n || d.dr6 >> 32n || d.dr7 >> 32n) return -Errno.EINVAL;
  for (let i = 0; i < 4; i++) {
    cpu.dr[i] = Number(d.db[i] & 0xffffffffn);
    cpu.drHigh[i] = Number(d.db[i] >> 32n);
  }
  cpu.dr6 = (Number(d.dr6) | 0xffff0ff0) >>> 0;
  cpu.dr7 = (Number(d.dr7) | 0x400) >>> 0;
  armWatch(cpu);
  return 0;
}
