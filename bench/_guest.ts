/**
 * A vCPU in real mode, as several benchmarks start their guests. (Flat
 * segments for protected and long mode: examples/_shared.ts.)
 *
 * @module
 */
import type { Vcpu } from "../mod.ts";

/** Puts `vcpu` (fresh from reset, in real mode) at cs = 0 (linear = ip), starting at `ip`, with `sp` if given. */
export function startRealMode(vcpu: Vcpu, ip: number, sp?: number): Vcpu {
  const s = vcpu.getSregs();
  s.cs.base = 0n;
  s.cs.selector = 0;
  vcpu.setSregs(s);
  const regs = vcpu.getRegs();
  vcpu.setRegs({ ...regs, rip: BigInt(ip), rsp: sp === undefined ? regs.rsp : BigInt(sp), rflags: 2n });
  return vcpu;
}
