/**
 * The APIC bus's vocabulary, shared by the local APIC, the IOAPIC, MSI
 * routing and the bus itself: the local APIC's register offsets (as in
 * the kernel's apicdef.h), the APIC base MSR's bits, the delivery modes,
 * the message on the bus, and which registers x2APIC exposes as MSRs.
 *
 * @module
 */

/** Register offsets in the local APIC's page (kvm_lapic_state). */
export const APIC_ID = 0x20,
  APIC_LVR = 0x30,
  APIC_TASKPRI = 0x80,
  APIC_ARBPRI = 0x90,
  APIC_PROCPRI = 0xa0,
  APIC_EOI = 0xb0,
  APIC_LDR = 0xd0,
  APIC_DFR = 0xe0,
  APIC_SPIV = 0xf0,
  APIC_ISR = 0x100,
  APIC_TMR = 0x180,
  APIC_IRR = 0x200,
  APIC_ESR = 0x280,
  APIC_ICR = 0x300,
  APIC_ICR2 = 0x310,
  APIC_LVTT = 0x320,
  APIC_LVT0 = 0x350,
  APIC_LVT1 = 0x360,
  APIC_LVTERR = 0x370,
  APIC_TMICT = 0x380,
  APIC_TMCCT = 0x390,
  APIC_TDCR = 0x3e0,
  APIC_SELF_IPI = 0x3f0;

/** APIC base MSR bits: BSP, x2APIC enable (EXTD), global enable. */
export const APIC_BASE_BSP = 0x100, APIC_BASE_EXTD = 0x400, APIC_BASE_ENABLE = 0x800;
/** Delivery modes. */
export const DM_FIXED = 0, DM_LOWEST = 1, DM_SMI = 2, DM_NMI = 4, DM_INIT = 5, DM_SIPI = 6, DM_EXTINT = 7;

/** An interrupt message on the APIC bus (an IPI, an IOAPIC entry, an MSI). */
export interface ApicMessage {
  /** The destination: an APIC ID (physical) or an MDA (logical); full 32 bits in x2APIC. */
  dest: number;
  /** 1: logical destination mode. */
  logical: number;
  /** Delivery mode (DM_*). */
  mode: number;
  vector: number;
  /** Level (asserted), for INIT's de-assert. */
  level: number;
  /** 1: level-triggered. */
  trig: number;
  /** 0 none, 1 self, 2 all including self, 3 all excluding self. */
  shorthand: number;
}

/** Registers that both x2APIC MSR reads and writes reach (0x330, 0x340: the thermal and PMC LVT entries). */
const X2APIC_COMMON = [
  APIC_TASKPRI,
  APIC_SPIV,
  APIC_ESR,
  APIC_LVTT,
  0x330,
  0x340,
  APIC_LVT0,
  APIC_LVT1,
  APIC_LVTERR,
  APIC_TMICT,
  APIC_TDCR,
];

/** The registers an x2APIC MSR read may reach. */
export const X2APIC_READABLE: ReadonlySet<number> = new Set([
  ...X2APIC_COMMON,
  APIC_ID,
  APIC_LVR,
  APIC_PROCPRI,
  APIC_LDR,
  ...Array.from({ length: 8 }, (_, i) => APIC_ISR + 0x10 * i),
  ...Array.from({ length: 8 }, (_, i) => APIC_TMR + 0x10 * i),
  ...Array.from({ length: 8 }, (_, i) => APIC_IRR + 0x10 * i),
  APIC_TMCCT,
]);

/** The registers an x2APIC MSR write may reach. */
export const X2APIC_WRITABLE: ReadonlySet<number> = new Set([...X2APIC_COMMON, APIC_EOI, APIC_SELF_IPI]);
