/**
 * System instructions in every mode: HLT, CLI/STI, flag bits (CLC STC CMC
 * CLD STD), descriptor tables (LGDT LIDT SGDT SIDT with 8-byte bases in
 * 64-bit mode, LLDT SLDT LTR STR), CLAC/STAC, CPUID, RDTSC, RDTSCP,
 * RDMSR/WRMSR, SWAPGS, INVLPG with 64-bit addresses, WAIT, INVD/WBINVD,
 * hint NOPs.
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { AC, CF, DF, IF, IOPL, VM } from "../flags.ts";
import type { Exec, Insn } from "../insn.ts";
import { execUd, fault, GP, NM, NP, UD } from "../fault.ts";
import { getMsr, msrAddress, readTsc, setMsr } from "../msr.ts";
import { descAr, descBase, descLimit, linPlus, readDescriptor } from "../segment.ts";
import { AR_UNUSABLE, EAX, EBX, ECX, EDX, GS, LDTR, TR } from "../state.ts";
import type { CpuidEntry } from "../../../abi/structs.ts";
import { MSR_EFER, MSR_IA32_APICBASE } from "../../../abi/constants.ts";
import { canonical, in64, lin48, qv, readQ, setQ, signed, writeQ } from "../long/access.ts";
import { CR0_MP, CR0_PE, CR0_PG, CR0_TS, CR4_OSXSAVE, CR4_SMAP, CR4_TSD, EFER_LMA, EFER_LME } from "../control_bits.ts";

const KERNEL_GS_BASE = 0xc0000102, TSC_AUX = 0xc0000103;

/**
 * The MSRs whose writes change what a translation gives (EFER's NXE and LME, the APIC base's MMIO page): a WRMSR
 * flushes the TLB only for these. Linux writes others at every interrupt and timer (the x2APIC's EOI, TSC_DEADLINE):
 * a flush for each, which also broke every compiled block's links, was 600 flushes per second of a boot.
 */
const TRANSLATION_MSRS: readonly number[] = [MSR_EFER, MSR_IA32_APICBASE];

/** F4: HLT (CPL 0): the vCPU exits with KVM_EXIT_HLT after it. */
export function hlt(cpu: Cpu): void {
  cpu.requireCpl0();
  cpu.halted = true;
}

function checkIopl(cpu: Cpu): void {
  if (cpu.cr0 & 1 && (cpu.eflRest & VM || cpu.cpl > (cpu.eflRest & IOPL) >> 12)) fault(GP, 0);
}

/** FA: CLI. */
export function cli(cpu: Cpu): void {
  checkIopl(cpu);
  cpu.eflRest &= ~IF;
}

/** FB: STI (interrupts stay blocked for one more instruction). */
export function sti(cpu: Cpu): void {
  checkIopl(cpu);
  if (!(cpu.eflRest & IF)) cpu.shadow = 2;
  cpu.eflRest |= IF;
}

/** F5 CMC, F8 CLC, F9 STC, FC CLD, FD STD. */
export function flagOp(cpu: Cpu, d: Insn): void {
  switch (d.op) {
    case 0xf5:
      cpu.setArith(cpu.arith() ^ CF);
      break;
    case 0xf8:
      cpu.setArith(cpu.arith() & ~CF);
      break;
    case 0xf9:
      cpu.setArith(cpu.arith() | CF);
      break;
    case 0xfc:
      cpu.eflRest &= ~DF;
      break;
    default:
      cpu.eflRest |= DF;
  }
}

/** 0F 01 /0-/3: SGDT, SIDT, LGDT, LIDT. */
export function descTable(cpu: Cpu, d: Insn): void {
  const seg = cpu.seg(d), off = cpu.ea(d);
  const idt = (d.reg & 1) !== 0;
  if (d.reg >= 2) {
    cpu.requireCpl0();
    const limit = cpu.read(seg, off, 2);
    let base = cpu.read(seg, (off + 2) >>> 0, 4);
    if (d.osize === 2) base &= 0xffffff;
    if (idt) {
      cpu.idtBase = base;
      cpu.idtLimit = limit;
    } else {
      cpu.gdtBase = base;
      cpu.gdtLimit = limit;
    }
    return;
  }
  cpu.write(seg, off, 2, idt ? cpu.idtLimit : cpu.gdtLimit);
  cpu.write(seg, (off + 2) >>> 0, 4, idt ? cpu.idtBase : cpu.gdtBase);
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

/** 0F 01 /1: SIDT (`mem`, a memory operand), or with a register operand CLAC (CA) and STAC (CB). */
export function group7Reg1(mem: Exec): Exec {
  return (cpu, d) => {
    if (d.mod !== 3) mem(cpu, d);
    else if (d.rm === 2 || d.rm === 3) clacStac(cpu, d);
    else execUd(cpu, d);
  };
}

/**
 * 0F 01 CA CLAC, 0F 01 CB STAC: clear or set EFLAGS.AC, which lets supervisor-mode accesses reach user pages under
 * CR4.SMAP. #UD with LOCK, at CPL > 0, in virtual-8086 mode, and unless CPUID.(7,0):EBX.SMAP[20].
 */
function clacStac(cpu: Cpu, d: Insn): void {
  const smap = ((cpuidLookup(cpu.cpuidTable, 7, 0)?.ebx ?? 0) & (1 << 20)) !== 0;
  if (d.lock || !smap || cpu.eflRest & VM || cpu.cpl > 0) fault(UD);
  const ac = d.rm === 3 ? AC : 0;
  // Linux's CLAC at every interrupt and exception entry finds AC clear already: nothing changes, nothing is flushed
  // (a flush at each was 30,000 of the 47,000 of a boot's first 180 CPU s).
  if ((cpu.eflRest & AC) === ac) return;
  cpu.eflRest = (cpu.eflRest & ~AC) | ac;
  // Translations cached while supervisor accesses could (or could not) reach user pages do not carry over.
  if (cpu.cr4 & CR4_SMAP) cpu.mem.flush();
}

/** 0F 00 /0 SLDT, /1 STR. */
export function storeSel(cpu: Cpu, d: Insn): void {
  if (!(cpu.cr0 & 1) || cpu.eflRest & VM) fault(UD);
  const sel = cpu.segSel[d.reg === 0 ? LDTR : TR];
  if (d.mod === 3) cpu.setReg(d.rm, d.osize, sel);
  else cpu.write(cpu.seg(d), cpu.ea(d), 2, sel);
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

/** 0F 00 /2 LLDT, /3 LTR. */
export function loadSystemSeg(cpu: Cpu, d: Insn): void {
  if (!(cpu.cr0 & 1) || cpu.eflRest & VM) fault(UD);
  cpu.requireCpl0();
  const sel = cpu.readRmSize(d, 2);
  const reg = d.reg === 2 ? LDTR : TR;
  if ((sel & 0xfffc) === 0) {
    if (reg === TR) fault(GP, 0);
    cpu.segSel[LDTR] = sel;
    cpu.segAr[LDTR] = AR_UNUSABLE;
    return;
  }
  if (sel & 4) fault(GP, sel & 0xfffc);
  const desc = readDescriptor(cpu, sel);
  const ar = descAr(desc), type = ar & 0x1f, long = (cpu.efer & EFER_LMA) !== 0;
  // IA-32e mode has no 16-bit TSS: LTR takes an available 64-bit TSS (type 9) only.
  if (reg === LDTR ? type !== 2 : type !== 9 && (long || type !== 1)) fault(GP, sel & 0xfffc);
  let base = descBase(desc);
  if (long) {
    // A 16-byte descriptor: bits 63:32 of the base in the third dword, a zero type field in the fourth; the
    // whole of it within the GDT, and the base canonical (SDM vol. 2, LTR and LLDT).
    if ((sel & 0xfff8) + 15 > cpu.gdtLimit) fault(GP, sel & 0xfffc);
    const high = cpu.mem.sysRead(linPlus(desc.addr, 8), 4), top = cpu.mem.sysRead(linPlus(desc.addr, 12), 4);
    if (top & 0x1f00) fault(GP, sel & 0xfffc);
    base = signed(base, high);
    if (!canonical(base)) fault(GP, sel & 0xfffc);
  }
  if (!(ar & 0x80)) fault(NP, sel & 0xfffc);
  let newAr = ar;
  if (reg === TR) {
    newAr |= 2; // busy
    cpu.mem.sysWrite(linPlus(desc.addr, 4), 4, (desc.hi | 0x200) >>> 0);
  }
  cpu.segSel[reg] = sel;
  cpu.segBase[reg] = base;
  cpu.segLimit[reg] = descLimit(desc);
  cpu.segAr[reg] = newAr;
}

/** Looks up a CPUID leaf in the vCPU's table (KVM_SET_CPUID2); absent leaves read as zero. */
export function cpuidLookup(table: readonly CpuidEntry[], fn: number, index: number): CpuidEntry | undefined {
  for (const e of table) {
    if (e.function === fn && (!(e.flags & 1) || e.index === index)) return e;
  }
  return undefined;
}

/** 0F A2: CPUID. */
export function cpuid(cpu: Cpu): void {
  const e = cpuidLookup(cpu.cpuidTable, cpu.getReg(EAX, 4), cpu.getReg(ECX, 4));
  cpu.setReg(EAX, 4, e ? e.eax : 0);
  cpu.setReg(EBX, 4, e ? e.ebx : 0);
  let ecx = e ? e.ecx : 0;
  // CPUID.1:ECX.OSXSAVE follows CR4.OSXSAVE (the kernel's kvm_update_cpuid_runtime).
  if (e && e.function === 1) ecx = ((ecx & ~(1 << 27)) | (cpu.cr4 & CR4_OSXSAVE ? 1 << 27 : 0)) >>> 0;
  cpu.setReg(ECX, 4, ecx);
  cpu.setReg(EDX, 4, e ? e.edx : 0);
}

/** 0F 31: RDTSC (#GP at CPL > 0 under CR4.TSD). */
export function rdtsc(cpu: Cpu): void {
  if (cpu.cr4 & CR4_TSD && cpu.cpl > 0 && cpu.cr0 & CR0_PE) fault(GP, 0);
  storeTsc(cpu);
}

/** EDX:EAX = the TSC. */
function storeTsc(cpu: Cpu): void {
  const t = readTsc(cpu);
  cpu.setReg(EAX, 4, Number(t & 0xffffffffn));
  cpu.setReg(EDX, 4, Number((t >> 32n) & 0xffffffffn));
}

/** 0F 01 F9: RDTSCP: EDX:EAX = TSC, ECX = TSC_AUX. */
export function rdtscp(cpu: Cpu): void {
  if (cpu.cr4 & CR4_TSD && cpu.cpl > 0) fault(GP, 0);
  storeTsc(cpu);
  cpu.setReg(ECX, 4, Number((cpu.msrs.get(TSC_AUX) ?? 0n) & 0xffffffffn));
}

/** 0F 01 F8: SWAPGS (64-bit mode, CPL 0): exchanges GS.base and IA32_KERNEL_GS_BASE. */
export function swapgs(cpu: Cpu): void {
  if (!in64(cpu)) fault(UD);
  if (cpu.cpl !== 0) fault(GP, 0);
  const kernel = msrAddress(cpu, KERNEL_GS_BASE);
  cpu.msrs.set(KERNEL_GS_BASE, BigInt.asUintN(64, BigInt(cpu.segBase[GS])));
  cpu.segBase[GS] = kernel;
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
  if (canonical(a)) cpu.invalidatePage(lin48(a));
}

/** 0F 32: RDMSR. */
export function rdmsr(cpu: Cpu): void {
  cpu.requireCpl0();
  const v = getMsr(cpu, cpu.getReg(ECX, 4));
  if (v === undefined) fault(GP, 0);
  cpu.setReg(EAX, 4, Number(v & 0xffffffffn));
  cpu.setReg(EDX, 4, Number(v >> 32n));
}

/** 0F 30: WRMSR. */
export function wrmsr(cpu: Cpu): void {
  cpu.requireCpl0();
  const index = cpu.getReg(ECX, 4);
  const v = (BigInt(cpu.getReg(EDX, 4)) << 32n) | BigInt(cpu.getReg(EAX, 4));
  // The guest may not toggle EFER.LME while paging is on (the host may, through KVM_SET_MSRS).
  if (index === MSR_EFER && cpu.cr0 & CR0_PG && (cpu.efer & EFER_LME) !== Number(v & BigInt(EFER_LME))) {
    fault(GP, 0);
  }
  if (!setMsr(cpu, index, v)) fault(GP, 0);
  if (TRANSLATION_MSRS.includes(index)) cpu.mem.flush();
}

/** 9B: WAIT/FWAIT (#NM when CR0.MP and CR0.TS). */
export function wait(cpu: Cpu): void {
  if ((cpu.cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) fault(NM);
}

/** 0F 08/09: INVD, WBINVD (CPL 0; caches are not modelled). */
export function invd(cpu: Cpu): void {
  cpu.requireCpl0();
}

/** 0F 0D, 0F 18-1F: hint NOPs with a ModRM operand (the address is not accessed). */
export function nopRm(): void {}
