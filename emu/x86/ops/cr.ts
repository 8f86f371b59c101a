/**
 * Control and debug registers in every mode: MOV to/from CR0, CR2, CR3,
 * CR4, CR8 and DR0-DR7 (with 64-bit registers in 64-bit mode), CLTS, LMSW,
 * SMSW, INVLPG, INVPCID. Writes that change translation flush the TLB.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { VM } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { fault, GP, UD } from "../fault.ts";
import { armWatch } from "../debug.ts";
import { canonical, in64, setQ, setRegSigned, signed } from "../long/access.ts";
import { reservedHigh } from "../paging.ts";
import { cpuidLookup } from "./system.ts";
import {
  CR0_CD,
  CR0_ET,
  CR0_NW,
  CR0_PE,
  CR0_PG,
  CR0_TS,
  CR0_WP,
  CR4_DE,
  CR4_MCE,
  CR4_OSFXSR,
  CR4_OSXMMEXCPT,
  CR4_OSXSAVE,
  CR4_PAE,
  CR4_PCE,
  CR4_PCIDE,
  CR4_PGE,
  CR4_PSE,
  CR4_SMAP,
  CR4_SMEP,
  CR4_TSD,
  EFER_LMA,
  EFER_LME,
} from "../control_bits.ts";

/** CR4 bits the core accepts (PCIDE and OSXSAVE only by CPUID). */
const CR4_OK = CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT |
  CR4_SMEP | CR4_SMAP;

/** Writes CR0 with the architectural checks; raises #GP on an invalid value. */
function writeCr0(cpu: Cpu, v: number): void {
  v = (v | CR0_ET) >>> 0;
  if (v & CR0_PG && !(v & CR0_PE)) fault(GP, 0);
  if (!(v & CR0_PG) && cpu.cr4 & CR4_PCIDE) fault(GP, 0);
  if (v & CR0_NW && !(v & CR0_CD)) fault(GP, 0);
  if (v & 0x1ffaffc0) fault(GP, 0);
  const changed = (cpu.cr0 ^ v) >>> 0;
  if (changed & CR0_PG) {
    // Long mode becomes active when paging is turned on with EFER.LME (and leaves with paging).
    if (v & CR0_PG && cpu.efer & EFER_LME) {
      if (!(cpu.cr4 & CR4_PAE)) fault(GP, 0);
      cpu.efer |= EFER_LMA;
    } else if (!(v & CR0_PG)) {
      if (in64(cpu)) fault(GP, 0);
      cpu.efer &= ~EFER_LMA;
    }
  }
  cpu.cr0 = v;
  if (changed & (CR0_PG | CR0_PE | CR0_WP)) cpu.mem.flush();
}

/** Writes CR4; raises #GP for bits the CPU does not have. */
function writeCr4(cpu: Cpu, v: number): void {
  if (v & ~(CR4_OK | CR4_OSXSAVE | CR4_PCIDE)) fault(GP, 0);
  // CR4.OSXSAVE only when the guest's CPUID advertises XSAVE (as the kernel's kvm_is_valid_cr4 checks).
  if (v & CR4_OSXSAVE && !((cpuidLookup(cpu.cpuidTable, 1, 0)?.ecx ?? 0) & (1 << 26))) fault(GP, 0);
  if (cpu.efer & EFER_LMA && !(v & CR4_PAE)) fault(GP, 0);
  // CR4.PCIDE only when CPUID.1:ECX.PCID[17]; it may be set only in long mode with CR3[11:0] = 0.
  if (v & CR4_PCIDE && !(cpu.cr4 & CR4_PCIDE)) {
    if (!((cpuidLookup(cpu.cpuidTable, 1, 0)?.ecx ?? 0) & CR4_PCIDE)) fault(GP, 0);
    if (!(cpu.efer & EFER_LMA) || cpu.cr3 % 4096 !== 0) fault(GP, 0);
  }
  cpu.cr4 = v >>> 0;
  cpu.mem.flush();
}

/** 0F 20/22: MOV r32, CRn and MOV CRn, r32 (the ModRM mod field is ignored). */
export function movCr(cpu: Cpu, d: Insn): void {
  checkMovCr(cpu, d);
  if (d.op === 0x120) {
    const v = d.reg === 0 ? cpu.cr0 : d.reg === 2 ? cpu.cr2 : d.reg === 3 ? cpu.cr3 : d.reg === 4 ? cpu.cr4 : cpu.cr8;
    cpu.setReg(d.rm, 4, v >>> 0);
    return;
  }
  const v = cpu.getReg(d.rm, 4);
  switch (d.reg) {
    case 0:
      writeCr0(cpu, v);
      break;
    case 2:
      cpu.cr2 = v;
      break;
    case 3:
      cpu.cr3 = v;
      cpu.mem.flush();
      break;
    case 4:
      writeCr4(cpu, v);
      break;
    default:
      writeCr8(cpu, v);
  }
}

/** Writes CR8, the local APIC's TPR (#GP for bits above 3): a lower one may unblock an interrupt. */
function writeCr8(cpu: Cpu, v: number): void {
  if (v & ~0xf) fault(GP, 0);
  cpu.cr8 = v;
  cpu.intrRequest = cpu.devices !== null;
}

/** The checks of MOV to and from CRn: #UD with LOCK or for a register other than CR0, CR2, CR3, CR4 and CR8. */
function checkMovCr(cpu: Cpu, d: Insn): void {
  if (d.lock || ![0, 2, 3, 4, 8].includes(d.reg)) fault(UD);
  cpu.requireCpl0();
}

/** 0F 20/22 in 64-bit mode: MOV r64, CRn and MOV CRn, r64 (CR8 with REX.R). */
export function movCrLong(cpu: Cpu, d: Insn): void {
  checkMovCr(cpu, d);
  const n = d.reg, r = d.rm << 1;
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
  else writeCr8(cpu, lo);
}

/** 0F 21/23: MOV r32, DRn and MOV DRn, r32 (DR4/DR5 alias DR6/DR7 unless CR4.DE). */
export function movDr(cpu: Cpu, d: Insn): void {
  let n = d.reg;
  if (n === 4 || n === 5) {
    if (cpu.cr4 & CR4_DE) fault(UD);
    n += 2;
  }
  cpu.requireCpl0();
  if (d.op === 0x121) {
    const v = n < 4 ? cpu.dr[n] : n === 6 ? cpu.dr6 : cpu.dr7;
    cpu.setReg(d.rm, 4, v >>> 0);
    return;
  }
  const v = cpu.getReg(d.rm, 4);
  if (n < 4) {
    cpu.dr[n] = v;
    cpu.drHigh[n] = 0;
  } else if (n === 6) cpu.dr6 = ((v & 0x0000e00f) | 0xffff0ff0) >>> 0;
  else cpu.dr7 = ((v & 0xffff2bff) | 0x400) >>> 0;
  if (n !== 6) armWatch(cpu);
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

/** 0F 06: CLTS. */
export function clts(cpu: Cpu): void {
  cpu.requireCpl0();
  cpu.cr0 &= ~CR0_TS;
  cpu.cr0 >>>= 0;
}

/** 0F 01 /4: SMSW. */
export function smsw(cpu: Cpu, d: Insn): void {
  if (d.mod === 3) cpu.setReg(d.rm, d.osize, d.osize === 4 ? cpu.cr0 >>> 0 : cpu.cr0 & 0xffff);
  else cpu.write(cpu.seg(d), cpu.ea(d), 2, cpu.cr0 & 0xffff);
}

/** 0F 01 /4 SMSW with REX.W: a register destination takes all of CR0; a memory destination is 16 bits. */
export function smsw64(cpu: Cpu, d: Insn): void {
  if (d.mod !== 3) smsw(cpu, d);
  else setQ(cpu, d.rm, cpu.cr0 >>> 0, 0);
}

/** 0F 01 /6: LMSW (sets PE but never clears it). */
export function lmsw(cpu: Cpu, d: Insn): void {
  cpu.requireCpl0();
  const v = cpu.readRmSize(d, 2);
  writeCr0(cpu, ((cpu.cr0 & ~0xe) | (v & 0xf) | (cpu.cr0 & CR0_PE)) >>> 0);
}

/**
 * 66 0F 38 82: INVPCID r32/r64, m128 (CPL 0; #UD unless CPUID.(7,0):EBX.INVPCID[10]). The register is the type:
 * 0 one address of one PCID, 1 one PCID, 2 all including global translations, 3 all but global ones; the
 * descriptor holds the PCID (bits 11:0, bits 63:12 zero) and the address. #GP(0) for a type above 3, reserved
 * descriptor bits, a non-canonical address (type 0), or a PCID other than 0 while CR4.PCIDE is clear (types 0 and
 * 1). The core keeps one untagged TLB, so every type flushes it, which each type's invalidation is a part of.
 */
export function invpcid(cpu: Cpu, d: Insn): void {
  if (d.lock || !((cpuidLookup(cpu.cpuidTable, 7, 0)?.ebx ?? 0) & (1 << 10))) fault(UD);
  if (cpu.eflRest & VM) fault(GP, 0);
  cpu.requireCpl0();
  const long = in64(cpu), r = d.reg << 1;
  const type = cpu.r32[r], typeHigh = long ? cpu.r32[r + 1] : 0;
  if (typeHigh || type > 3) fault(GP, 0);
  const seg = cpu.seg(d), off = cpu.ea(d);
  const at = (k: number) => long ? off + k : (off + k) >>> 0;
  const pcid = cpu.read(seg, off, 4), pcidHigh = cpu.read(seg, at(4), 4);
  const addr = signed(cpu.read(seg, at(8), 4), cpu.read(seg, at(12), 4));
  if (pcid & ~0xfff || pcidHigh) fault(GP, 0);
  if (type <= 1 && pcid && !(cpu.cr4 & CR4_PCIDE)) fault(GP, 0);
  if (type === 0 && !canonical(addr)) fault(GP, 0);
  cpu.mem.flush();
}

/** 0F 01 /7: INVLPG m. */
export function invlpg(cpu: Cpu, d: Insn): void {
  if (cpu.eflRest & VM) fault(GP, 0);
  cpu.requireCpl0();
  cpu.invalidatePage((cpu.segBase[cpu.seg(d)] + cpu.ea(d)) >>> 0);
}
