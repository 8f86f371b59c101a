/**
 * Fast system calls in every mode: SYSENTER and SYSEXIT (flat segments
 * derived from IA32_SYSENTER_CS, entry point and stack from
 * IA32_SYSENTER_EIP/ESP; in long mode Intel's only, #UD on AMD), SYSCALL and
 * SYSRET (STAR, LSTAR, CSTAR, SFMASK; outside 64-bit mode AMD's only), and
 * RDPMC (#GP(0): no counters).
 *
 * @module
 */
import type { Cpu } from "../cpu.ts";
import { IF, RF, VM } from "../flags.ts";
import { fault, GP, UD } from "../fault.ts";
import type { Insn } from "../insn.ts";
import { AR_DB, AR_G, AR_L, AR_P, AR_S, CS, ECX, EDX, ESP, SS } from "../state.ts";
import { CR4_PCE, EFER_LMA, EFER_SCE } from "../control_bits.ts";
import { canonical, in64, setQ, setRegSigned, signed } from "../long/access.ts";
import { msrWrites } from "../msr.ts";

const SYSENTER_CS = 0x174, SYSENTER_ESP = 0x175, SYSENTER_EIP = 0x176;
const STAR = 0xc0000081, LSTAR = 0xc0000082, CSTAR = 0xc0000083, SFMASK = 0xc0000084;

/**
 * A number these instructions derive from one MSR, kept with the vCPU's MSR map and the count of MSR writes
 * (msrWrites) it came from: while neither changes it needs no lookup in the map (whose keys above 2^30 each hash a
 * double) and no bigint arithmetic (shifting and masking bigints allocates: every system call would make garbage).
 * It holds the map, not the vCPU, so that it keeps no closed VM alive.
 */
class MsrField {
  #map: ReadonlyMap<number, bigint> | undefined = undefined;
  #writes = -1;
  #value = 0;
  constructor(readonly index: number, readonly derive: (raw: bigint) => number) {}

  /** The field of `cpu`'s MSR. */
  get(cpu: Cpu): number {
    const map = cpu.msrs, writes = msrWrites();
    if (map !== this.#map || writes !== this.#writes) {
      this.#value = this.derive(map.get(this.index) ?? 0n);
      this.#map = map;
      this.#writes = writes;
    }
    return this.#value;
  }
}

const low32 = (raw: bigint) => Number(raw & 0xffffffffn);
/** A canonical address as msrAddress gives it. */
const address = (raw: bigint) => Number(BigInt.asIntN(64, raw));
const sysenterCs = new MsrField(SYSENTER_CS, low32);
const sysenterEsp = new MsrField(SYSENTER_ESP, low32);
const sysenterEip = new MsrField(SYSENTER_EIP, low32);
const sysenterRsp = new MsrField(SYSENTER_ESP, address);
const sysenterRip = new MsrField(SYSENTER_EIP, address);
/** STAR[47:32]: SYSCALL's CS; STAR[63:48]: SYSRET's base selector; STAR[31:0]: legacy SYSCALL's EIP. */
const starCall = new MsrField(STAR, (raw) => Number((raw >> 32n) & 0xffffn));
const starRet = new MsrField(STAR, (raw) => Number((raw >> 48n) & 0xffffn));
const starEip = new MsrField(STAR, low32);
const lstar = new MsrField(LSTAR, address);
const cstar = new MsrField(CSTAR, address);
const sfmask = new MsrField(SFMASK, low32);

/** Loads the fixed flat cache SYSCALL/SYSRET/SYSENTER/SYSEXIT give CS (64-bit or 32-bit) or SS. */
function flat(cpu: Cpu, seg: number, sel: number, dpl: number, kind: "code64" | "code32" | "data"): void {
  cpu.segSel[seg] = sel;
  cpu.segBase[seg] = 0;
  cpu.segLimit[seg] = 0xffffffff;
  const type = kind === "data" ? 3 : 0xb;
  cpu.segAr[seg] = type | AR_S | (dpl << 5) | AR_P | AR_G | (kind === "code64" ? AR_L : AR_DB);
}

/** 0F 34: SYSENTER (#GP(0) in real mode or with a null IA32_SYSENTER_CS). */
export function sysenter(cpu: Cpu): void {
  const cs = sysenterCs.get(cpu) & 0xffff;
  if (!(cpu.cr0 & 1) || (cs & 0xfffc) === 0) fault(GP, 0);
  cpu.eflRest &= ~(VM | IF | RF);
  flat(cpu, CS, cs & 0xfffc, 0, "code32");
  flat(cpu, SS, (cs + 8) & 0xfffc, 0, "data");
  cpu.cpl = 0;
  cpu.r32[ESP << 1] = sysenterEsp.get(cpu);
  cpu.nextEip = sysenterEip.get(cpu);
}

/** 0F 35: SYSEXIT to CPL 3 at EDX with ESP = ECX (#GP(0) unless CPL 0 in protected mode). */
export function sysexit(cpu: Cpu): void {
  const cs = sysenterCs.get(cpu) & 0xffff;
  if (!(cpu.cr0 & 1) || cpu.eflRest & VM || cpu.cpl !== 0 || (cs & 0xfffc) === 0) fault(GP, 0);
  flat(cpu, CS, ((cs + 16) & 0xfffc) | 3, 3, "code32");
  flat(cpu, SS, ((cs + 24) & 0xfffc) | 3, 3, "data");
  cpu.cpl = 3;
  cpu.r32[ESP << 1] = cpu.r32[ECX << 1];
  cpu.nextEip = cpu.r32[EDX << 1];
}

/**
 * 0F 05: SYSCALL (#UD unless EFER.SCE). Intel processors have it in 64-bit mode only (#UD elsewhere); AMD ones
 * also in compatibility mode (to CSTAR) and in legacy mode (to STAR[31:0] in flat 32-bit code).
 */
export function syscall(cpu: Cpu): void {
  if (!(cpu.efer & EFER_SCE) || (cpu.vendor.name === "intel" && !in64(cpu))) fault(UD);
  if (!(cpu.efer & EFER_LMA)) return legacySyscall(cpu);
  const sel = starCall.get(cpu);
  const target = (in64(cpu) ? lstar : cstar).get(cpu);
  const flags = cpu.getFlags();
  setRegSigned(cpu, ECX, cpu.nextEip);
  setQ(cpu, 11, flags & ~RF, 0);
  flat(cpu, CS, sel & 0xfffc, 0, "code64");
  flat(cpu, SS, (sel + 8) & 0xfffc, 0, "data");
  cpu.setFlags(flags & ~sfmask.get(cpu) & ~RF);
  cpu.cpl = 0;
  cpu.nextEip = target;
}

/** SYSCALL outside long mode (AMD): ECX = the next EIP, CS:EIP = STAR[47:32]:STAR[31:0], IF, VM and RF cleared. */
function legacySyscall(cpu: Cpu): void {
  if (!(cpu.cr0 & 1)) fault(UD);
  const sel = starCall.get(cpu);
  cpu.setReg(ECX, 4, cpu.nextEip >>> 0);
  flat(cpu, CS, sel & 0xfffc, 0, "code32");
  flat(cpu, SS, (sel + 8) & 0xfffc, 0, "data");
  cpu.eflRest &= ~(VM | IF | RF);
  cpu.cpl = 0;
  cpu.nextEip = starEip.get(cpu);
}

/**
 * 0F 07: SYSRET to CPL 3: 64-bit code with REX.W, else compatibility mode (#UD unless EFER.SCE; #GP unless CPL 0).
 * Intel processors have it in 64-bit mode only; AMD ones also in compatibility mode and in legacy mode (to flat
 * 32-bit code at STAR[63:48], EIP = ECX, IF set).
 */
export function sysret(cpu: Cpu, d: Insn): void {
  if (!(cpu.efer & EFER_SCE) || (cpu.vendor.name === "intel" && !in64(cpu))) fault(UD);
  if (cpu.cpl !== 0 || !(cpu.cr0 & 1)) fault(GP, 0);
  const sel = starRet.get(cpu);
  if (!(cpu.efer & EFER_LMA)) {
    flat(cpu, CS, (sel & 0xfffc) | 3, 3, "code32");
    flat(cpu, SS, ((sel + 8) & 0xfffc) | 3, 3, "data");
    cpu.eflRest |= IF;
    cpu.nextEip = cpu.r32[ECX << 1];
    cpu.cpl = 3;
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
}

/** 0F 34 in long mode: SYSENTER to 64-bit code (Intel); AMD processors raise #UD. */
export function sysenterLong(cpu: Cpu): void {
  if (cpu.vendor.name === "amd") fault(UD);
  const cs = sysenterCs.get(cpu) & 0xffff;
  if ((cs & 0xfffc) === 0) fault(GP, 0);
  cpu.eflRest &= ~(VM | IF | RF);
  flat(cpu, CS, cs & 0xfffc, 0, "code64");
  flat(cpu, SS, (cs + 8) & 0xfffc, 0, "data");
  cpu.cpl = 0;
  setRegSigned(cpu, ESP, sysenterRsp.get(cpu));
  cpu.nextEip = sysenterRip.get(cpu);
}

/** 0F 35 in long mode: SYSEXIT to 64-bit code with REX.W (RIP = RDX, RSP = RCX), else to compatibility mode. */
export function sysexitLong(cpu: Cpu, d: Insn): void {
  if (cpu.vendor.name === "amd") fault(UD);
  const cs = sysenterCs.get(cpu) & 0xffff;
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
}

/**
 * 0F 33: RDPMC. The emulated CPU has no performance counters (CPUID
 * advertises none, as KVM without a virtual PMU): after the privilege
 * check, every counter index is #GP(0).
 */
export function rdpmc(cpu: Cpu): void {
  if (cpu.cr0 & 1 && (cpu.cpl > 0 || cpu.eflRest & VM) && !(cpu.cr4 & CR4_PCE)) fault(GP, 0);
  fault(GP, 0);
}
