/**
 * Register state across the ABI: the vCPU's reset state (as KVM sets it at
 * KVM_CREATE_VCPU), the byte codecs of KVM_GET/SET_REGS, KVM_GET/SET_SREGS
 * and KVM_GET/SET_FPU (with kvm_fpu's reset image), and KVM_GET/SET_XCRS.
 * 64-bit fields are moved as two 32-bit halves: no BigInt.
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import { kvmFpu, kvmRegs, kvmSegment, kvmSregs } from "../abi/structs.ts";
import type { Cpu } from "./x86/cpu.ts";
import { AR_AVL, AR_DB, AR_G, AR_L, AR_P, AR_S, AR_UNUSABLE, CS, EDX, LDTR, SS, TR } from "./x86/state.ts";
import { getU64, setU64 } from "./run_page.ts";
import { getKvmFpuX87, type KvmFpuLayout, setKvmFpuX87 } from "./x86/fpu/image.ts";
import { EFER_LMA, EFER_LME, getS64, setS64 } from "./x86/long/access.ts";
import { cpuidLookup } from "./x86/ops/system.ts";

const SEG_ORDER = [CS, 3, 0, 4, 5, SS, TR, LDTR]; // kvm_sregs order: cs ds es fs gs ss tr ldt
const SEG_NAMES = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"];
const segOff = SEG_NAMES.map((n) => kvmSregs.offsetOf(n));
const S = {
  base: kvmSegment.offsetOf("base"),
  limit: kvmSegment.offsetOf("limit"),
  selector: kvmSegment.offsetOf("selector"),
  type: kvmSegment.offsetOf("type"),
  present: kvmSegment.offsetOf("present"),
  dpl: kvmSegment.offsetOf("dpl"),
  db: kvmSegment.offsetOf("db"),
  s: kvmSegment.offsetOf("s"),
  l: kvmSegment.offsetOf("l"),
  g: kvmSegment.offsetOf("g"),
  avl: kvmSegment.offsetOf("avl"),
  unusable: kvmSegment.offsetOf("unusable"),
};
const SR = Object.fromEntries(
  ["gdt", "idt", "cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base", "interrupt_bitmap"].map((n) => [
    n,
    kvmSregs.offsetOf(n),
  ]),
) as Record<string, number>;
/** The x86 register number of each kvm_regs member in order (rax rbx rcx rdx rsi rdi rsp rbp r8-r15). */
const KVM_REG_ORDER = [0, 3, 1, 2, 6, 7, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15];
const RIP = kvmRegs.offsetOf("rip"), RFLAGS = kvmRegs.offsetOf("rflags");
const FPU_XMM = kvmFpu.offsetOf("xmm"), FPU_MXCSR = kvmFpu.offsetOf("mxcsr");
/** Offsets of the x87 members of kvm_fpu. */
const FPU_X87: KvmFpuLayout = {
  fpr: kvmFpu.offsetOf("fpr"),
  fcw: kvmFpu.offsetOf("fcw"),
  fsw: kvmFpu.offsetOf("fsw"),
  ftwx: kvmFpu.offsetOf("ftwx"),
  lastOpcode: kvmFpu.offsetOf("last_opcode"),
  lastIp: kvmFpu.offsetOf("last_ip"),
  lastDp: kvmFpu.offsetOf("last_dp"),
};

/** Puts a vCPU in the state KVM gives a new vCPU (the processor's reset state). */
export function resetCpu(cpu: Cpu, bsp: boolean): void {
  cpu.r32.fill(0);
  cpu.r32[EDX << 1] = 0x600;
  cpu.eip = 0xfff0;
  cpu.setFlags(2);
  for (let s = 0; s < 6; s++) {
    cpu.segSel[s] = 0;
    cpu.segBase[s] = 0;
    cpu.segLimit[s] = 0xffff;
    cpu.segAr[s] = 3 | AR_S | AR_P;
  }
  cpu.segSel[CS] = 0xf000;
  cpu.segBase[CS] = 0xffff0000;
  cpu.segAr[CS] = 11 | AR_S | AR_P;
  cpu.segLimit[TR] = 0xffff;
  cpu.segAr[TR] = 11 | AR_P;
  cpu.segLimit[LDTR] = 0xffff;
  cpu.segAr[LDTR] = 2 | AR_P;
  cpu.apicBase = bsp ? 0xfee00900 : 0xfee00800;
}

/** KVM_GET_REGS into `out` (144 bytes). */
export function getRegs(cpu: Cpu, out: DataView): void {
  for (let i = 0; i < 16; i++) {
    const n = KVM_REG_ORDER[i];
    out.setUint32(i * 8, cpu.r32[2 * n], true);
    out.setUint32(i * 8 + 4, cpu.r32[2 * n + 1], true);
  }
  out.setUint32(RIP, cpu.eip, true);
  out.setUint32(RIP + 4, cpu.ripHigh, true);
  out.setUint32(RFLAGS, cpu.getFlags(), true);
  out.setUint32(RFLAGS + 4, 0, true);
}

/** KVM_SET_REGS from `inp`. */
export function setRegs(cpu: Cpu, inp: DataView): void {
  for (let i = 0; i < 16; i++) {
    const n = KVM_REG_ORDER[i];
    cpu.r32[2 * n] = inp.getUint32(i * 8, true);
    cpu.r32[2 * n + 1] = inp.getUint32(i * 8 + 4, true);
  }
  cpu.eip = inp.getUint32(RIP, true);
  cpu.ripHigh = inp.getUint32(RIP + 4, true);
  cpu.setFlags(inp.getUint32(RFLAGS, true));
  // Like the kernel's __set_regs: an exception still pending (a single-step trap after an OUT, an injected
  // #DB/#BP from KVM_SET_GUEST_DEBUG) is dropped; one injected by KVM_SET_VCPU_EVENTS stays.
  if (!cpu.pendingInjected) cpu.pendingException = cpu.pendingErrorCode = -1;
}

/** KVM_GET_SREGS into `out` (312 bytes). */
export function getSregs(cpu: Cpu, out: DataView): void {
  new Uint8Array(out.buffer, out.byteOffset, kvmSregs.size).fill(0);
  for (let k = 0; k < 8; k++) {
    const s = SEG_ORDER[k], at = segOff[k], ar = cpu.segAr[s];
    setS64(out, at + S.base, cpu.segBase[s]);
    out.setUint32(at + S.limit, cpu.segLimit[s], true);
    out.setUint16(at + S.selector, cpu.segSel[s], true);
    out.setUint8(at + S.type, ar & 0xf);
    out.setUint8(at + S.present, ar & AR_P ? 1 : 0);
    out.setUint8(at + S.dpl, (ar >> 5) & 3);
    out.setUint8(at + S.db, ar & AR_DB ? 1 : 0);
    out.setUint8(at + S.s, ar & AR_S ? 1 : 0);
    out.setUint8(at + S.l, ar & AR_L ? 1 : 0);
    out.setUint8(at + S.g, ar & AR_G ? 1 : 0);
    out.setUint8(at + S.avl, ar & AR_AVL ? 1 : 0);
    out.setUint8(at + S.unusable, ar & AR_UNUSABLE ? 1 : 0);
  }
  setS64(out, SR.gdt, cpu.gdtBase);
  out.setUint16(SR.gdt + 8, cpu.gdtLimit, true);
  setS64(out, SR.idt, cpu.idtBase);
  out.setUint16(SR.idt + 8, cpu.idtLimit, true);
  setU64(out, SR.cr0, cpu.cr0 >>> 0);
  setS64(out, SR.cr2, cpu.cr2);
  setU64(out, SR.cr3, cpu.cr3 >>> 0);
  setU64(out, SR.cr4, cpu.cr4 >>> 0);
  setU64(out, SR.cr8, cpu.cr8);
  setU64(out, SR.efer, cpu.efer);
  setU64(out, SR.apic_base, cpu.apicBase);
  if (cpu.pendingIrq >= 0) {
    const v = cpu.pendingIrq, at = SR.interrupt_bitmap + (v >> 6) * 8 + ((v >> 3) & 7);
    out.setUint8(at, out.getUint8(at) | (1 << (v & 7)));
  }
}

/** KVM_SET_SREGS from `inp`; false when a value is invalid (EINVAL). */
export function setSregs(cpu: Cpu, inp: DataView): boolean {
  const cr0 = getU64(inp, SR.cr0), cr4 = getU64(inp, SR.cr4), efer = getU64(inp, SR.efer);
  if (cr0 >= 2 ** 32 || cr4 >= 2 ** 32 || (cr0 & 0x80000000 && !(cr0 & 1))) return false;
  if (cr4 & ~0x3407ff || efer & ~0xd01) return false;
  // CR4.OSXSAVE only when the guest's CPUID advertises XSAVE, as the kernel's kvm_is_valid_cr4 checks.
  if (cr4 & 0x40000 && !((cpuidLookup(cpu.cpuidTable, 1, 0)?.ecx ?? 0) & (1 << 26))) return false;
  // As the kernel checks: EFER.LME with CR0.PG needs CR4.PAE and EFER.LMA; otherwise neither LMA nor CS.L.
  if (efer & EFER_LME && cr0 & 0x80000000) {
    if (!(cr4 & 0x20) || !(efer & EFER_LMA)) return false;
  } else if (efer & EFER_LMA || inp.getUint8(segOff[0] + S.l)) return false;
  for (let k = 0; k < 8; k++) {
    const s = SEG_ORDER[k], at = segOff[k];
    cpu.segBase[s] = getS64(inp, at + S.base);
    cpu.segLimit[s] = inp.getUint32(at + S.limit, true);
    cpu.segSel[s] = inp.getUint16(at + S.selector, true);
    cpu.segAr[s] = (inp.getUint8(at + S.type) & 0xf) |
      (inp.getUint8(at + S.s) ? AR_S : 0) |
      ((inp.getUint8(at + S.dpl) & 3) << 5) |
      (inp.getUint8(at + S.present) ? AR_P : 0) |
      (inp.getUint8(at + S.avl) ? AR_AVL : 0) |
      (inp.getUint8(at + S.l) ? AR_L : 0) |
      (inp.getUint8(at + S.db) ? AR_DB : 0) |
      (inp.getUint8(at + S.g) ? AR_G : 0) |
      (inp.getUint8(at + S.unusable) ? AR_UNUSABLE : 0);
  }
  cpu.gdtBase = getS64(inp, SR.gdt);
  cpu.gdtLimit = inp.getUint16(SR.gdt + 8, true);
  cpu.idtBase = getS64(inp, SR.idt);
  cpu.idtLimit = inp.getUint16(SR.idt + 8, true);
  cpu.cr0 = (cr0 | 0x10) >>> 0;
  cpu.cr2 = getS64(inp, SR.cr2);
  cpu.cr3 = getU64(inp, SR.cr3) >>> 0;
  cpu.cr4 = cr4;
  cpu.cr8 = getU64(inp, SR.cr8) & 0xf;
  cpu.efer = efer;
  cpu.apicBase = getU64(inp, SR.apic_base);
  cpu.cpl = cpu.cr0 & 1 ? (cpu.segAr[SS] >> 5) & 3 : 0;
  for (let v = 0; v < 256; v++) {
    if (inp.getUint8(SR.interrupt_bitmap + (v >> 3)) & (1 << (v & 7))) {
      cpu.pendingIrq = v;
      break;
    }
  }
  cpu.mem.flush();
  return true;
}

/** KVM_GET_FPU, SSE part: writes the `xmm` and `mxcsr` members of a kvm_fpu in `out`. */
export function getFpuSse(cpu: Cpu, out: DataView): void {
  const x = cpu.xmm.u32;
  for (let i = 0; i < 64; i++) out.setUint32(FPU_XMM + 4 * i, x[i], true);
  out.setUint32(FPU_MXCSR, cpu.mxcsr, true);
}

/** KVM_SET_FPU, SSE part: loads XMM0-15 and MXCSR from the `xmm` and `mxcsr` members of a kvm_fpu. */
export function setFpuSse(cpu: Cpu, inp: DataView): void {
  const x = cpu.xmm.u32;
  for (let i = 0; i < 64; i++) x[i] = inp.getUint32(FPU_XMM + 4 * i, true);
  cpu.mxcsr = inp.getUint32(FPU_MXCSR, true);
}

/** KVM_GET_FPU, x87 part: fpr (ST order), fcw, fsw, ftwx (abridged tags), last_opcode, last_ip, last_dp. */
export function getFpuX87(cpu: Cpu, out: DataView): void {
  getKvmFpuX87(cpu.fpu, out, FPU_X87);
}

/** KVM_SET_FPU, x87 part. */
export function setFpuX87(cpu: Cpu, inp: DataView): void {
  setKvmFpuX87(cpu.fpu, inp, FPU_X87);
}
/** kvm_fpu after reset: FCW 0x37f, MXCSR 0x1f80. */
export function defaultFpu(): Uint8Array {
  const b = new Uint8Array(kvmFpu.size);
  const v = new DataView(b.buffer);
  v.setUint16(kvmFpu.offsetOf("fcw"), 0x37f, true);
  v.setUint32(kvmFpu.offsetOf("mxcsr"), 0x1f80, true);
  return b;
}

/** KVM_GET_XCRS: XCR0 only. */
export function getXcrs(cpu: Cpu, view: DataView): number {
  if (view.byteLength < 392) return -Errno.EFAULT;
  new Uint8Array(view.buffer, view.byteOffset, 392).fill(0);
  view.setUint32(0, 1, true);
  view.setUint32(8, 0, true);
  setU64(view, 16, cpu.xcr0);
  return 0;
}

/** KVM_SET_XCRS: XCR0 must keep x87 and ask for nothing the CPU lacks (x87 and SSE are all it has). */
export function setXcrs(cpu: Cpu, view: DataView): number {
  if (view.byteLength < 392) return -Errno.EFAULT;
  const n = view.getUint32(0, true);
  if (n > 16) return -Errno.E2BIG;
  for (let i = 0; i < n; i++) {
    const idx = view.getUint32(8 + 16 * i, true), v = getU64(view, 16 + 16 * i);
    if (idx !== 0 || (v !== 1 && v !== 3)) return -Errno.EINVAL;
    cpu.xcr0 = v;
  }
  return 0;
}
