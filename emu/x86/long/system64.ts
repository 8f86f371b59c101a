/**
 * System instructions of long mode: SYSCALL/SYSRET (STAR, LSTAR, CSTAR,
 * SFMASK), SYSENTER/SYSEXIT in long mode (Intel; #UD on AMD), SWAPGS,
 * RDTSCP (TSC_AUX), INVLPG with 64-bit addresses, LGDT/LIDT/SGDT/SIDT with
 * 8-byte bases, MOV to and from CR0-CR4/CR8 with 64-bit registers, SLDT,
 * STR and SMSW with REX.W.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { execUd, fault, GP, UD } from "../fault.ts";
import { IF, RF, VM } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { readTsc } from "../msr.ts";
import { movDr, smsw, writeCr0, writeCr4 } from "../ops/cr.ts";
import { CR4_DE, CR4_PCIDE, CR4_TSD, EFER_LMA, EFER_SCE } from "../control_bits.ts";
import { reservedHigh } from "../paging.ts";
import { storeSel } from "../ops/system.ts";
import { AR_DB, AR_G, AR_L, AR_P, AR_S, CS, ECX, EDX, ESP, GS, LDTR, SS, TR } from "../state.ts";
import { canonical, in64, lin48, qv, readQ, setQ, setRegSigned, signed } from "./access.ts";
import { writeQ } from "./access.ts";

const STAR = 0xc0000081, LSTAR = 0xc0000082, CSTAR = 0xc0000083, SFMASK = 0xc0000084;
const KERNEL_GS_BASE = 0xc0000102, TSC_AUX = 0xc0000103;
const SYSENTER_CS = 0x174, SYSENTER_ESP = 0x175, SYSENTER_EIP = 0x176;

function msr(cpu: Cpu, index: number): bigint {
  return cpu.msrs.get(index) ?? 0n;
}

/** An MSR holding an address, as a signed number. */
function msrAddress(cpu: Cpu, index: number): number {
  return Number(BigInt.asIntN(64, msr(cpu, index)));
}

/** Loads the fixed flat cache SYSCALL/SYSRET/SYSENTER/SYSEXIT give CS (64-bit or 32-bit) or SS. */
function flat(cpu: Cpu, seg: number, sel: number, dpl: number, kind: "code64" | "code32" | "data"): void {
  cpu.segSel[seg] = sel;
  cpu.segBase[seg] = 0;
  cpu.segLimit[seg] = 0xffffffff;
  const type = kind === "data" ? 3 : 0xb;
  cpu.segAr[seg] = type | AR_S | (dpl << 5) | AR_P | AR_G | (kind === "code64" ? AR_L : AR_DB);
}

/**
 * 0F 05: SYSCALL (#UD unless EFER.SCE). Intel processors have it in 64-bit mode only (#UD elsewhere); AMD ones
 * also in compatibility mode (to CSTAR) and in legacy mode (to STAR[31:0] in flat 32-bit code).
 */
export function syscall(cpu: Cpu): void {
  if (!(cpu.efer & EFER_SCE) || (cpu.vendor.name === "intel" && !in64(cpu))) fault(UD);
  if (!(cpu.efer & EFER_LMA)) return legacySyscall(cpu);
  const sel = Number((msr(cpu, STAR) >> 32n) & 0xffffn);
  const target = msrAddress(cpu, in64(cpu) ? LSTAR : CSTAR);
  setRegSigned(cpu, ECX, cpu.nextEip);
  setQ(cpu, 11, cpu.getFlags() & ~RF, 0);
  flat(cpu, CS, sel & 0xfffc, 0, "code64");
  flat(cpu, SS, (sel + 8) & 0xfffc, 0, "data");
  const mask = Number(msr(cpu, SFMASK) & 0xffffffffn);
  cpu.setFlags(cpu.getFlags() & ~mask & ~RF);
  if (cpu.cpl !== 0) cpu.mem.flush();
  cpu.cpl = 0;
  cpu.nextEip = target;
}

/** SYSCALL outside long mode (AMD): ECX = the next EIP, CS:EIP = STAR[47:32]:STAR[31:0], IF, VM and RF cleared. */
function legacySyscall(cpu: Cpu): void {
  if (!(cpu.cr0 & 1)) fault(UD);
  const star = msr(cpu, STAR), sel = Number((star >> 32n) & 0xffffn);
  cpu.setReg(ECX, 4, cpu.nextEip >>> 0);
  flat(cpu, CS, sel & 0xfffc, 0, "code32");
  flat(cpu, SS, (sel + 8) & 0xfffc, 0, "data");
  cpu.eflRest &= ~(VM | IF | RF);
  if (cpu.cpl !== 0) cpu.mem.flush();
  cpu.cpl = 0;
  cpu.nextEip = Number(star & 0xffffffffn);
}

/**
 * 0F 07: SYSRET to CPL 3: 64-bit code with REX.W, else compatibility mode (#UD unless EFER.SCE; #GP unless CPL 0).
 * Intel processors have it in 64-bit mode only; AMD ones also in compatibility mode and in legacy mode (to flat
 * 32-bit code at STAR[63:48], EIP = ECX, IF set).
 */
export function sysret(cpu: Cpu, d: Insn): void {
  if (!(cpu.efer & EFER_SCE) || (cpu.vendor.name === "intel" && !in64(cpu))) fault(UD);
  if (cpu.cpl !== 0 || !(cpu.cr0 & 1)) fault(GP, 0);
  const sel = Number((msr(cpu, STAR) >> 48n) & 0xffffn);
  if (!(cpu.efer & EFER_LMA)) {
    flat(cpu, CS, (sel & 0xfffc) | 3, 3, "code32");
    flat(cpu, SS, ((sel + 8) & 0xfffc) | 3, 3, "data");
    cpu.eflRest |= IF;
    cpu.nextEip = cpu.r32[ECX << 1];
    cpu.cpl = 3;
    cpu.mem.flush();
    return;
  }
  const rcx = signed(cpu.r32[ECX << 1], cpu.r32[(ECX << 1) + 1]);
  if (d.osize === 8) {
    if (!canonical(rcx)) fault(GP, 0);
    flat(cpu, CS, ((sel + 16) & 0xfffc) | 3, 3, "code64");
    cpu.nextEip = rcx;
  } else {
    flat(cpu, CS, (sel & 0xfffc) | 3, 3, "code32");
    cpu.nextEip = cpu.r32[ECX << 1];
  }
  flat(cpu, SS, ((sel + 8) & 0xfffc) | 3, 3, "data");
  cpu.setFlags((cpu.r32[11 << 1] & 0x3c7fd7 & ~(RF | VM)) | 2);
  cpu.cpl = 3;
  cpu.mem.flush();
}

/** 0F 34 in long mode: SYSENTER to 64-bit code (Intel); AMD processors raise #UD. */
export function sysenterLong(cpu: Cpu): void {
  if (cpu.vendor.name === "amd") fault(UD);
  const cs = Number(msr(cpu, SYSENTER_CS) & 0xffffn);
  if ((cs & 0xfffc) === 0) fault(GP, 0);
  cpu.eflRest &= ~(VM | IF | RF);
  flat(cpu, CS, cs & 0xfffc, 0, "code64");
  flat(cpu, SS, (cs + 8) & 0xfffc, 0, "data");
  if (cpu.cpl !== 0) cpu.mem.flush();
  cpu.cpl = 0;
  setRegSigned(cpu, ESP, msrAddress(cpu, SYSENTER_ESP));
  cpu.nextEip = msrAddress(cpu, SYSENTER_EIP);
}

/** 0F 35 in long mode: SYSEXIT to 64-bit code with REX.W (RIP = RDX, RSP = RCX), else to compatibility mode. */
export function sysexitLong(cpu: Cpu, d: Insn): void {
  if (cpu.vendor.name === "amd") fault(UD);
  const cs = Number(msr(cpu, SYSENTER_CS) & 0xffffn);
  if (cpu.cpl !== 0 || (cs & 0xfffc) === 0) fault(GP, 0);
  const wide = d.osize === 8, r = cpu.r32;
  const rip = wide ? signed(r[EDX << 1], r[(EDX << 1) + 1]) : r[EDX << 1];
  const rsp = wide ? signed(r[ECX << 1], r[(ECX << 1) + 1]) : r[ECX << 1];
  if (!canonical(rip) || !canonical(rsp)) fault(GP, 0);
  flat(cpu, CS, ((cs + (wide ? 32 : 16)) & 0xfffc) | 3, 3, wide ? "code64" : "code32");
  flat(cpu, SS, ((cs + (wide ? 40 : 24)) & 0xfffc) | 3, 3, "data");
  cpu.cpl = 3;
  setRegSigned(cpu, ESP, rsp);
  cpu.nextEip = rip;
  cpu.mem.flush();
}

/** 0F 01 F8: SWAPGS (64-bit mode, CPL 0): exchanges GS.base and IA32_KERNEL_GS_BASE. */
export function swapgs(cpu: Cpu): void {
  if (!in64(cpu)) fault(UD);
  if (cpu.cpl !== 0) fault(GP, 0);
  const kernel = msrAddress(cpu, KERNEL_GS_BASE);
  cpu.msrs.set(KERNEL_GS_BASE, BigInt.asUintN(64, BigInt(cpu.segBase[GS])));
  cpu.segBase[GS] = kernel;
}

/** 0F 01 F9: RDTSCP: EDX:EAX = TSC, ECX = TSC_AUX. */
export function rdtscp(cpu: Cpu): void {
  if (cpu.cr4 & CR4_TSD && cpu.cpl > 0) fault(GP, 0);
  const t = readTsc(cpu);
  cpu.setReg(0, 4, Number(t & 0xffffffffn));
  cpu.setReg(EDX, 4, Number((t >> 32n) & 0xffffffffn));
  cpu.setReg(ECX, 4, Number(msr(cpu, TSC_AUX) & 0xffffffffn));
}

/**
 * 0F 00 /0 SLDT, /1 STR with REX.W: a register destination takes the selector zero-extended to 64 bits; a memory
 * destination is 16 bits, as without REX.W (the SDM and APM fix it at 16 bits; the kernel's emulator, which runs
 * STR and SLDT on kvm_pvm, stores 8 bytes there, since em_store_sreg narrows only a 4-byte memory operand).
 */
export function storeSel64(cpu: Cpu, d: Insn): void {
  if (d.mod !== 3) storeSel(cpu, d);
  else setQ(cpu, d.rm, cpu.segSel[d.reg === 0 ? LDTR : TR], 0);
}

/** 0F 01 /4 SMSW with REX.W: a register destination takes all of CR0; a memory destination is 16 bits. */
export function smsw64(cpu: Cpu, d: Insn): void {
  if (d.mod !== 3) smsw(cpu, d);
  else setQ(cpu, d.rm, cpu.cr0 >>> 0, 0);
}

/** 0F 01 /7 in 64-bit mode: INVLPG m, or (mod 3) SWAPGS and RDTSCP. */
export function group7Long(cpu: Cpu, d: Insn): void {
  if (d.mod === 3) {
    if ((d.rm & 7) === 0) swapgs(cpu);
    else if ((d.rm & 7) === 1) rdtscp(cpu);
    else execUd(cpu, d);
    return;
  }
  cpu.requireCpl0();
  const a = cpu.ea(d) + (cpu.seg(d) >= 4 ? cpu.segBase[cpu.seg(d)] : 0);
  if (canonical(a)) cpu.mem.flushPage(lin48(a));
}

/** 0F 01 /0-/3 in 64-bit mode: SGDT, SIDT, LGDT, LIDT with a 2-byte limit and an 8-byte base. */
export function descTableLong(cpu: Cpu, d: Insn): void {
  const seg = cpu.seg(d), off = cpu.ea(d), idt = (d.reg & 1) !== 0;
  if (d.reg >= 2) {
    cpu.requireCpl0();
    const limit = cpu.read(seg, off, 2);
    readQ(cpu, seg, off + 2);
    const base = signed(qv[0], qv[1]);
    if (!canonical(base)) fault(GP, 0);
    if (idt) [cpu.idtBase, cpu.idtLimit] = [base, limit];
    else [cpu.gdtBase, cpu.gdtLimit] = [base, limit];
    return;
  }
  const base = idt ? cpu.idtBase : cpu.gdtBase;
  cpu.lin(seg, off, 10, true);
  cpu.write(seg, off, 2, idt ? cpu.idtLimit : cpu.gdtLimit);
  writeQ(cpu, seg, off + 2, base >>> 0, Math.floor(base / 2 ** 32) >>> 0);
}

/** 0F 20/22 in 64-bit mode: MOV r64, CRn and MOV CRn, r64 (CR8 with REX.R). */
export function movCrLong(cpu: Cpu, d: Insn): void {
  const n = d.reg;
  if (d.lock || ![0, 2, 3, 4, 8].includes(n)) fault(UD);
  cpu.requireCpl0();
  const r = d.rm << 1;
  if (d.op === 0x120) {
    if (n === 2) setRegSigned(cpu, d.rm, cpu.cr2);
    else if (n === 3) setRegSigned(cpu, d.rm, cpu.cr3);
    else setQ(cpu, d.rm, (n === 0 ? cpu.cr0 : n === 4 ? cpu.cr4 : cpu.cr8) >>> 0, 0);
    return;
  }
  const lo = cpu.r32[r], hi = cpu.r32[r + 1];
  if (n === 2) {
    cpu.cr2 = signed(lo, hi);
    return;
  }
  if (n === 3) {
    // Under CR4.PCIDE bit 63 asks to keep the new PCID's translations and is not stored (the core flushes its
    // untagged TLB anyway); bits 63:MAXPHYADDR are otherwise reserved.
    const high = cpu.cr4 & CR4_PCIDE ? hi & 0x7fffffff : hi;
    if (high & (0xfff00000 | reservedHigh(cpu.cpuidTable))) fault(GP, 0);
    cpu.cr3 = high * 2 ** 32 + lo;
    cpu.mem.flush();
    return;
  }
  if (hi) fault(GP, 0);
  if (n === 0) writeCr0(cpu, lo);
  else if (n === 4) writeCr4(cpu, lo);
  else if (lo & ~0xf) fault(GP, 0);
  else {
    cpu.cr8 = lo;
    // CR8 is the local APIC's TPR: a lower one may unblock an interrupt.
    cpu.intrRequest = cpu.devices !== null;
  }
}

/**
 * 0F 21/23 in 64-bit mode: MOV to and from DR0-DR7 with 64-bit registers
 * (REX.R, DR8-DR15, is #UD). DR0-DR3 take any 64-bit value; setting a bit
 * of 63:32 in DR6 or DR7 is #GP(0).
 */
export function movDrLong(cpu: Cpu, d: Insn): void {
  if (d.reg > 7) fault(UD);
  const n = d.reg, r = d.rm << 1;
  if (d.op === 0x121) {
    movDr(cpu, d);
    if (n < 4) cpu.r32[r + 1] = cpu.drHigh[n];
    return;
  }
  const high = cpu.r32[r + 1];
  if (high && n >= 4) {
    if (n < 6 && cpu.cr4 & CR4_DE) fault(UD);
    cpu.requireCpl0();
    fault(GP, 0);
  }
  movDr(cpu, d);
  if (n < 4) cpu.drHigh[n] = high;
}
