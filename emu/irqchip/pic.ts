/**
 * The 8259A pair of the in-kernel irqchip (the kernel's i8259.c): ICW1-4,
 * OCW1-3, edge and level triggering (ELCR at ports 0x4d0/0x4d1), auto-EOI,
 * special mask, poll mode, priority rotation, and the slave cascaded on the
 * master's IRQ2. Its output reaches the boot vCPU's local APIC through
 * LINT0 (ExtINT).
 *
 * @module
 */

/** kvm_pic_state's 16 bytes, in its order. */
const FIELDS = [
  "lastIrr",
  "irr",
  "imr",
  "isr",
  "priorityAdd",
  "irqBase",
  "readRegSelect",
  "poll",
  "specialMask",
  "initState",
  "autoEoi",
  "rotateOnAutoEoi",
  "specialFullyNestedMode",
  "init4",
  "elcr",
  "elcrMask",
] as const;

/** One 8259A. */
export class I8259 {
  lastIrr = 0;
  irr = 0;
  imr = 0;
  isr = 0;
  priorityAdd = 0;
  irqBase = 0;
  readRegSelect = 0;
  poll = 0;
  specialMask = 0;
  initState = 0;
  autoEoi = 0;
  rotateOnAutoEoi = 0;
  specialFullyNestedMode = 0;
  init4 = 0;
  elcr = 0;
  elcrMask: number;
  readonly master: boolean;

  constructor(master: boolean) {
    this.master = master;
    this.elcrMask = master ? 0xf8 : 0xde;
  }

  /** The priority (0 highest, 8 none) of the highest bit of `mask` under the current rotation. */
  priority(mask: number): number {
    if ((mask & 0xff) === 0) return 8;
    let p = 0;
    while (!(mask & (1 << ((p + this.priorityAdd) & 7)))) p++;
    return p;
  }

  /** The IRQ this chip would raise now, or -1. */
  pending(): number {
    const p = this.priority(this.irr & ~this.imr);
    if (p === 8) return -1;
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    if (this.specialFullyNestedMode && this.master) inService &= ~4;
    return p < this.priority(inService) ? (p + this.priorityAdd) & 7 : -1;
  }

  /** Sets input `irq` to `level`: 1 when newly requested, 0 when already requested, -1 when masked. */
  setIrq(irq: number, level: number): number {
    const mask = 1 << irq;
    let ret = 1;
    if (this.elcr & mask) {
      if (level) {
        ret = this.irr & mask ? 0 : 1;
        this.irr |= mask;
        this.lastIrr |= mask;
      } else {
        this.irr &= ~mask;
        this.lastIrr &= ~mask;
      }
    } else if (level) {
      if ((this.lastIrr & mask) === 0) {
        ret = this.irr & mask ? 0 : 1;
        this.irr |= mask;
      }
      this.lastIrr |= mask;
    } else this.lastIrr &= ~mask;
    return this.imr & mask ? -1 : ret;
  }

  /** The CPU acknowledges `irq`: it goes in service (unless auto-EOI); an edge request is consumed. */
  intack(irq: number): void {
    const mask = 1 << irq;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (irq + 1) & 7;
    } else this.isr |= mask;
    if (!(this.elcr & mask)) this.irr &= ~mask;
  }

  /** ICW1's reset. */
  reset(): void {
    this.lastIrr = 0;
    this.irr &= this.elcr;
    this.imr = 0;
    this.isr = 0;
    this.priorityAdd = 0;
    this.specialMask = 0;
    this.readRegSelect = 0;
    if (!this.init4) {
      this.specialFullyNestedMode = 0;
      this.autoEoi = 0;
    }
    this.initState = 1;
  }

  /** Writes kvm_pic_state into `v` at `at`. */
  save(v: DataView, at: number): void {
    FIELDS.forEach((f, i) => v.setUint8(at + i, this[f] & 0xff));
  }

  /** Reads kvm_pic_state from `v` at `at`. */
  load(v: DataView, at: number): void {
    FIELDS.forEach((f, i) => this[f] = v.getUint8(at + i));
  }
}

/** The master/slave pair with the cascade; `onEoi(irq)` hears each end of interrupt (ack notifiers). */
export class PicPair {
  readonly chips = [new I8259(true), new I8259(false)] as const;
  /** The INTR output to the boot vCPU. */
  output = false;
  /** Called when the output may have changed. */
  onOutput: () => void = () => {};
  /** Called with the IRQ (0-15) whose interrupt ended (EOI, or acknowledged in auto-EOI mode). */
  onEoi: (irq: number) => void = () => {};
  /** Called when OCW1 masks (1) or unmasks (0) IRQ `irq` (the kernel's mask notifiers). */
  onMask: (irq: number, masked: number) => void = () => {};

  /** Sets IRQ `irq` (0-15) to `level`: as `I8259.setIrq`. */
  setIrq(irq: number, level: number): number {
    const r = this.chips[irq >> 3].setIrq(irq & 7, level);
    this.update();
    return r;
  }

  /** Recomputes the cascade (slave output on master IRQ2) and the output. */
  update(): void {
    const [m, s] = this.chips;
    m.setIrq(2, s.pending() >= 0 ? 1 : 0);
    const out = m.pending() >= 0;
    if (out !== this.output || out) {
      this.output = out;
      this.onOutput();
    }
  }

  /** INTA: the vector of the highest request (a spurious IRQ7/IRQ15 if it went away), acknowledging it. */
  acknowledge(): number {
    const [m, s] = this.chips;
    let vector: number;
    const irq = m.pending();
    if (irq >= 0) {
      m.intack(irq);
      if (irq === 2) {
        let irq2 = s.pending();
        if (irq2 >= 0) s.intack(irq2);
        else irq2 = 7;
        vector = s.irqBase + irq2;
        if (s.autoEoi) this.onEoi(8 + irq2);
      } else {
        vector = m.irqBase + irq;
        if (m.autoEoi) this.onEoi(irq);
      }
    } else vector = m.irqBase + 7;
    this.update();
    return vector;
  }

  /** Clears in-service bit `irq` of chip `c` and tells the ack notifiers. */
  #eoi(c: number, irq: number): void {
    this.chips[c].isr &= ~(1 << irq);
    if (c === 0 && irq === 2) return;
    this.onEoi(c * 8 + irq);
  }

  /** An OUT to 0x20/0x21 (chip 0) or 0xa0/0xa1 (chip 1); `a0` is address bit 0. */
  write(c: number, a0: number, val: number): void {
    const p = this.chips[c];
    if (a0 === 0) {
      if (val & 0x10) {
        p.init4 = val & 1;
        p.reset();
      } else if (val & 0x08) {
        if (val & 0x04) p.poll = 1;
        if (val & 0x02) p.readRegSelect = val & 1;
        if (val & 0x40) p.specialMask = (val >> 5) & 1;
      } else {
        const cmd = val >> 5;
        switch (cmd) {
          case 0:
          case 4:
            p.rotateOnAutoEoi = cmd >> 2;
            break;
          case 1:
          case 5: {
            const pr = p.priority(p.isr);
            if (pr !== 8) {
              const irq = (pr + p.priorityAdd) & 7;
              if (cmd === 5) p.priorityAdd = (irq + 1) & 7;
              this.#eoi(c, irq);
            }
            break;
          }
          case 3:
            this.#eoi(c, val & 7);
            break;
          case 6:
            p.priorityAdd = (val + 1) & 7;
            break;
          case 7:
            p.priorityAdd = ((val & 7) + 1) & 7;
            this.#eoi(c, val & 7);
            break;
        }
      }
    } else {
      switch (p.initState) {
        case 0: {
          const changed = p.imr ^ val;
          p.imr = val;
          for (let irq = 0; irq < 8; irq++) if (changed & (1 << irq)) this.onMask(c * 8 + irq, (val >> irq) & 1);
          break;
        }
        case 1:
          p.irqBase = val & 0xf8;
          p.initState = 2;
          break;
        case 2:
          p.initState = p.init4 ? 3 : 0;
          break;
        case 3:
          p.specialFullyNestedMode = (val >> 4) & 1;
          p.autoEoi = (val >> 1) & 1;
          p.initState = 0;
          break;
      }
    }
    this.update();
  }

  /** An IN from 0x20/0x21 or 0xa0/0xa1. */
  read(c: number, a0: number): number {
    const p = this.chips[c];
    if (p.poll) {
      p.poll = 0;
      return this.#pollRead(c);
    }
    if (a0 === 0) return p.readRegSelect ? p.isr : p.irr;
    return p.imr;
  }

  /** A poll-mode read: 0x80 | the IRQ taken (its request and service cleared), or 7 when none. */
  #pollRead(c: number): number {
    const p = this.chips[c], irq = p.pending();
    if (irq < 0) {
      this.update();
      return 0x07;
    }
    if (c === 1) {
      this.chips[0].isr &= ~4;
      this.chips[0].irr &= ~4;
    }
    p.irr &= ~(1 << irq);
    this.#eoi(c, irq);
    if (c === 1 || irq !== 2) this.update();
    return 0x80 | irq;
  }

  /** The ELCR ports 0x4d0 (master) and 0x4d1 (slave). */
  writeElcr(c: number, val: number): void {
    const p = this.chips[c];
    p.elcr = val & p.elcrMask;
    this.update();
  }
}
