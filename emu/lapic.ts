/**
 * The local APIC register page KVM_GET_LAPIC returns for a new vCPU of a
 * VM with an in-kernel irqchip: the state the kernel's kvmLapicReset
 * leaves (kvm_lapic_state, 1024 bytes, each register at its MMIO offset).
 *
 * @module
 */

/** Size of kvm_lapic_state (KVM_APIC_REG_SIZE). */
export const LAPIC_PAGE_SIZE = 1024;

/** Register offsets. */
const APIC_ID = 0x20, APIC_LVR = 0x30, APIC_DFR = 0xe0, APIC_SPIV = 0xf0, APIC_LVT0 = 0x350;
/** The first LVT register (the timer) and the number KVM has: timer, thermal, PMC, LINT0, LINT1, error. */
const APIC_LVTT = 0x320, NR_LVT_ENTRIES = 6;
/** APIC_VERSION: an integrated APIC. */
const APIC_VERSION = 0x14;
/** APIC_LVT_MASKED, and LINT0 in ExtINT delivery mode (SET_APIC_DELIVERY_MODE(0, APIC_MODE_EXTINT)). */
const LVT_MASKED = 0x10000, LVT_EXTINT = 0x700;

/**
 * Fills `page` with the reset register page of the vCPU `id`: the xAPIC ID
 * (the low 8 bits of the vCPU id) in bits 31:24 of APIC_ID, the version
 * with the highest LVT index, every LVT masked except LINT0 on the boot
 * vCPU (id 0, with KVM_X86_QUIRK_LINT0_REENABLED: ExtINT), flat DFR, and
 * SVR 0xff (APIC software-disabled, spurious vector 0xff).
 */
export function resetLapic(page: Uint8Array, id: number): void {
  const v = new DataView(page.buffer, page.byteOffset, LAPIC_PAGE_SIZE);
  page.fill(0, 0, LAPIC_PAGE_SIZE);
  v.setUint32(APIC_ID, ((id & 0xff) << 24) >>> 0, true);
  v.setUint32(APIC_LVR, APIC_VERSION | ((NR_LVT_ENTRIES - 1) << 16), true);
  for (let i = 0; i < NR_LVT_ENTRIES; i++) v.setUint32(APIC_LVTT + 0x10 * i, LVT_MASKED, true);
  if (id === 0) v.setUint32(APIC_LVT0, LVT_EXTINT, true);
  v.setUint32(APIC_DFR, 0xffffffff, true);
  v.setUint32(APIC_SPIV, 0xff, true);
}
