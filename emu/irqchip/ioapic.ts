/**
 * The in-kernel IOAPIC (the kernel's ioapic.c): 24 pins, IOREGSEL/IOWIN at
 * 0xfec00000, the ID, version and arbitration registers, the redirection
 * table with remote IRR for level-triggered pins (cleared by the local
 * APICs' EOI broadcast, which re-delivers a line still asserted), and the
 * kernel's edge rule (a pin delivers when its IRR bit rises).
 *
 * @module
 */
import type { ApicMessage } from "./apic.ts";

export const IOAPIC_NUM_PINS = 24;
/** The default base address and the size of the register window. */
export const IOAPIC_BASE = 0xfec00000, IOAPIC_MEM_LENGTH = 0x100;
/** kvm_ioapic_state's size (in kvm_irqchip's union). */
export const IOAPIC_STATE_SIZE = 24 + 8 * IOAPIC_NUM_PINS;
const IOAPIC_VERSION = 0x11;
const RTE_MASKED = 0x10000, RTE_REMOTE_IRR = 0x4000, RTE_LEVEL = 0x8000, RTE_DELIVERY_STATUS = 0x1000;

/** The IOAPIC. */
export class Ioapic {
  baseAddress = IOAPIC_BASE;
  ioregsel = 0;
  id = 0;
  irr = 0;
  /** Redirection entries as low and high 32-bit halves. */
  readonly lo = new Uint32Array(IOAPIC_NUM_PINS).fill(RTE_MASKED);
  readonly hi = new Uint32Array(IOAPIC_NUM_PINS);
  /** Delivers a message to the local APICs: the number that accepted it. */
  readonly #deliver: (msg: ApicMessage) => number;
  /** Called with each pin whose interrupt ended (ack notifiers). */
  onEoi: (pin: number) => void = () => {};
  /** Called when a pin's entry is masked (1) or unmasked (0) (mask notifiers). */
  onMask: (pin: number, masked: number) => void = () => {};

  constructor(deliver: (msg: ApicMessage) => number) {
    this.#deliver = deliver;
  }

  /** Sets pin `pin` to `level`: >0 delivered, 0 coalesced, -1 masked (as KVM_IRQ_LINE_STATUS reports). */
  setIrq(pin: number, level: number): number {
    const mask = 1 << pin;
    if (!level) {
      this.irr &= ~mask;
      return 1;
    }
    const lo = this.lo[pin], edge = !(lo & RTE_LEVEL), old = this.irr;
    this.irr |= mask;
    if ((edge && old === this.irr) || (!edge && lo & RTE_REMOTE_IRR)) return 0;
    return this.#service(pin);
  }

  /** ioapic_service: delivers pin `pin`'s entry. */
  #service(pin: number): number {
    const lo = this.lo[pin];
    if (lo & RTE_MASKED) return -1;
    const level = (lo & RTE_LEVEL) !== 0;
    if (!level) this.irr &= ~(1 << pin);
    const r = this.#deliver({
      dest: this.hi[pin] >>> 24,
      logical: (lo >> 11) & 1,
      mode: (lo >> 8) & 7,
      vector: lo & 0xff,
      level: 1,
      trig: level ? 1 : 0,
      shorthand: 0,
    });
    // As the kernel: remote IRR is set unless the message was refused (no destination counts as sent).
    if (r !== 0 && level) this.lo[pin] |= RTE_REMOTE_IRR;
    return r;
  }

  /**
   * The EOI broadcast of `vector` (`level`: it was level-triggered at the local APIC): the pins with that vector
   * tell their ack notifiers; level-triggered ones leave remote IRR, and a line still high delivers again.
   */
  eoi(vector: number, level: boolean): void {
    for (let pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
      const lo = this.lo[pin];
      if ((lo & 0xff) !== vector) continue;
      this.onEoi(pin);
      if (!level || !(lo & RTE_LEVEL)) continue;
      this.lo[pin] &= ~RTE_REMOTE_IRR;
      if (!(lo & RTE_MASKED) && this.irr & (1 << pin)) this.#service(pin);
    }
  }

  #readIndirect(): number {
    const sel = this.ioregsel;
    switch (sel) {
      case 0:
        return (this.id & 0xf) << 24;
      case 1:
        return ((IOAPIC_NUM_PINS - 1) << 16) | IOAPIC_VERSION;
      case 2:
        return (this.id & 0xf) << 24;
    }
    const pin = (sel - 0x10) >> 1;
    if (sel < 0x10 || pin >= IOAPIC_NUM_PINS) return 0xffffffff;
    return sel & 1 ? this.hi[pin] : this.lo[pin];
  }

  #writeIndirect(val: number): void {
    const sel = this.ioregsel;
    if (sel === 0) {
      this.id = (val >> 24) & 0xf;
      return;
    }
    if (sel < 0x10) return;
    const pin = (sel - 0x10) >> 1;
    if (pin >= IOAPIC_NUM_PINS) return;
    if (sel & 1) {
      this.hi[pin] = val;
      return;
    }
    // Remote IRR and delivery status are read-only; an edge-triggered entry has no remote IRR.
    const keep = this.lo[pin] & (RTE_REMOTE_IRR | RTE_DELIVERY_STATUS);
    let lo = ((val & ~(RTE_REMOTE_IRR | RTE_DELIVERY_STATUS)) | keep) >>> 0;
    if (!(lo & RTE_LEVEL)) lo &= ~RTE_REMOTE_IRR;
    const wasMasked = this.lo[pin] & RTE_MASKED;
    this.lo[pin] = lo;
    if ((lo & RTE_MASKED) !== wasMasked) this.onMask(pin, lo & RTE_MASKED ? 1 : 0);
    if (lo & RTE_LEVEL && this.irr & (1 << pin) && !(lo & (RTE_MASKED | RTE_REMOTE_IRR))) this.#service(pin);
  }

  /** Whether physical `phys` is in the register window. */
  claims(phys: number): boolean {
    return phys >= this.baseAddress && phys < this.baseAddress + IOAPIC_MEM_LENGTH;
  }

  mmioRead(phys: number, len: number): number {
    const off = (phys - this.baseAddress) & 0xff;
    const v = (off & 0xf0) === 0 ? this.ioregsel : (off & 0xf0) === 0x10 ? this.#readIndirect() : 0;
    const shifted = v >>> (8 * (off & 3));
    return len >= 4 ? shifted >>> 0 : shifted & ((1 << (8 * len)) - 1);
  }

  mmioWrite(phys: number, len: number, val: number): void {
    const off = (phys - this.baseAddress) & 0xff;
    const data = len >= 4 ? val >>> 0 : val & ((1 << (8 * len)) - 1);
    if (off === 0) this.ioregsel = data & 0xff;
    else if (off === 0x10) this.#writeIndirect(data);
  }

  /** kvm_ioapic_state into `v` at `at`. */
  save(v: DataView, at: number): void {
    v.setBigUint64(at, BigInt(this.baseAddress), true);
    v.setUint32(at + 8, this.ioregsel, true);
    v.setUint32(at + 12, this.id, true);
    v.setUint32(at + 16, this.irr, true);
    v.setUint32(at + 20, 0, true);
    for (let i = 0; i < IOAPIC_NUM_PINS; i++) {
      v.setUint32(at + 24 + 8 * i, this.lo[i], true);
      v.setUint32(at + 28 + 8 * i, this.hi[i], true);
    }
  }

  /** kvm_ioapic_state from `v` at `at`; then every asserted, unmasked, idle level pin delivers. */
  load(v: DataView, at: number): void {
    this.baseAddress = Number(v.getBigUint64(at, true));
    this.ioregsel = v.getUint32(at + 8, true);
    this.id = v.getUint32(at + 12, true);
    this.irr = v.getUint32(at + 16, true);
    for (let i = 0; i < IOAPIC_NUM_PINS; i++) {
      this.lo[i] = v.getUint32(at + 24 + 8 * i, true);
      this.hi[i] = v.getUint32(at + 28 + 8 * i, true);
    }
    for (let pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
      const lo = this.lo[pin];
      if (lo & RTE_LEVEL && this.irr & (1 << pin) && !(lo & (RTE_MASKED | RTE_REMOTE_IRR))) this.#service(pin);
    }
  }
}
