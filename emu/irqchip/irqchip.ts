/**
 * The VM's in-kernel irqchip (KVM_CREATE_IRQCHIP) and PIT
 * (KVM_CREATE_PIT2): the PIC pair, the IOAPIC, one local APIC per vCPU,
 * the GSI routing between them, and the APIC bus that carries IPIs, IOAPIC
 * and MSI messages. Each vCPU's CPU reaches them through a `CpuDevices`
 * (ports, MMIO, and the interrupt it takes at an instruction boundary).
 *
 * @module
 */
import { Errno } from "../../abi/errno.ts";
import type { Cpu, CpuDevices } from "../x86/cpu.ts";
import { nowNs } from "./clock.ts";
import { Ioapic } from "./ioapic.ts";
import { type ApicMessage, DM_LOWEST } from "./apic.ts";
import { Lapic } from "./lapic.ts";
import { PicPair } from "./pic.ts";
import { Pit } from "./pit.ts";
import {
  CHIP_IOAPIC,
  defaultRoutes,
  type Irqfd,
  LineStates,
  msiMessage,
  type Route,
  SOURCE_PIT,
  SOURCE_USER,
} from "./routing.ts";

/** What the irqchip needs of a vCPU: to be woken, and to take NMI, INIT and SIPI. */
export interface VcpuEvents {
  /** Something for this vCPU changed: look for an interrupt; a sleeping vCPU wakes. */
  wake(): void;
  /** NMI (DM_NMI), INIT or SIPI (DM_SIPI with its vector). */
  signal(mode: number, vector: number): void;
  /** The vCPU executed PAUSE (pause-loop exiting counts them). */
  pause?(): void;
  /** Whether the vCPU could run guest code now (not waiting for INIT/SIPI, not halted with nothing to do). */
  runnable?(): boolean;
}

/** kvm_irqchip's size: chip_id, pad, and a 512-byte union. */
export const KVM_IRQCHIP_SIZE = 520;

interface Attached {
  lapic: Lapic;
  cpu: Cpu;
  events: VcpuEvents;
}

/** The irqchip of one VM. */
export class Irqchip {
  readonly pic = new PicPair();
  readonly ioapic: Ioapic;
  pit: Pit | null = null;
  routes: Route[] = defaultRoutes();
  readonly irqfds: Irqfd[] = [];
  /** Reads an irqfd's eventfd (non-blocking): true when it had been signalled. Set by the VM (needs libc). */
  readIrqfd: ((fd: number) => boolean) | null = null;
  /** Signals a resample eventfd. */
  signalFd: ((fd: number) => void) | null = null;
  readonly #lines = new LineStates();
  /** The vCPUs by id, in creation order. */
  readonly vcpus = new Map<number, Attached>();

  constructor() {
    this.ioapic = new Ioapic((msg) => this.deliver(msg, null));
    this.pic.onOutput = () => {
      for (const v of this.vcpus.values()) if (v.lapic.acceptsPic) v.events.wake();
    };
    this.pic.onEoi = (irq) => this.#acked(irq >> 3, irq & 7);
    this.ioapic.onEoi = (pin) => this.#acked(CHIP_IOAPIC, pin);
    this.pic.onMask = (irq, masked) => this.#maskChanged(irq >> 3, irq & 7, masked);
    this.ioapic.onMask = (pin, masked) => this.#maskChanged(CHIP_IOAPIC, pin, masked);
  }

  /** Connects vCPU `id`: its local APIC, and the CPU's way to the devices. */
  attach(id: number, cpu: Cpu, events: VcpuEvents): Lapic {
    const lapic = new Lapic(cpu, id, {
      deliver: (msg, from) => this.deliver(msg, from),
      eoiBroadcast: (vector, level) => this.ioapic.eoi(vector, level),
      wake: () => events.wake(),
      signal: (mode, vector) => events.signal(mode, vector),
    });
    this.vcpus.set(id, { lapic, cpu, events });
    cpu.devices = new VcpuDevices(this, lapic, events);
    return lapic;
  }

  /** Whether a vCPU other than `id` could run guest code now (kvm_vcpu_on_spin's candidates). */
  othersRunnable(id: number): boolean {
    for (const [other, v] of this.vcpus) if (other !== id && v.events.runnable?.()) return true;
    return false;
  }

  /** KVM_CREATE_PIT2 (`speaker`: KVM_PIT_SPEAKER_DUMMY, port 0x61 in the kernel). */
  createPit(speaker: boolean): void {
    this.pit = new Pit(speaker, () => {
      this.setGsi(SOURCE_PIT, 0, 1);
      this.setGsi(SOURCE_PIT, 0, 0);
    });
  }

  /** The end of an interrupt on `chip`/`pin`: the PIT's reinjection and resampling irqfds of its GSIs hear it. */
  #acked(chip: number, pin: number): void {
    for (const r of this.routes) {
      if (r.kind !== "irqchip" || r.chip !== chip || r.pin !== pin) continue;
      if (r.gsi === 0) this.pit?.ack();
      for (const f of this.irqfds) {
        if (f.gsi === r.gsi && f.resamplefd >= 0) {
          this.setGsi(SOURCE_USER, f.gsi, 0);
          this.signalFd?.(f.resamplefd);
        }
      }
    }
  }

  /** A pin was masked or unmasked: unmasking GSI 0 resets the PIT's reinjection (the kernel's mask notifier). */
  #maskChanged(chip: number, pin: number, masked: number): void {
    if (masked || this.pit === null) return;
    for (const r of this.routes) {
      if (r.kind === "irqchip" && r.gsi === 0 && r.chip === chip && r.pin === pin) this.pit.unmasked();
    }
  }

  /**
   * kvm_set_irq: drives GSI `gsi` from `source` to `level` through every route. The kernel's status: >0 delivered,
   * 0 coalesced, -1 masked or no route.
   */
  setGsi(source: number, gsi: number, level: number): number {
    let ret = -1;
    for (const r of this.routes) {
      if (r.gsi !== gsi) continue;
      let s: number;
      if (r.kind === "msi") s = level ? this.deliver(msiMessage(r.addressLo, r.data), null) : -1;
      else {
        const l = this.#lines.set(r.chip, r.pin, source, level);
        s = r.chip === CHIP_IOAPIC ? this.ioapic.setIrq(r.pin, l) : this.pic.setIrq(r.chip * 8 + r.pin, l);
      }
      if (s < 0) continue;
      ret = s + (ret < 0 ? 0 : ret);
    }
    return ret;
  }

  /** KVM_SIGNAL_MSI. */
  signalMsi(addressLo: number, data: number): number {
    return this.deliver(msiMessage(addressLo, data), null);
  }

  /**
   * kvm_irq_delivery_to_apic: delivers `msg` to every matching local APIC (to one, chosen by vector hashing, for
   * lowest priority). The number that accepted it, or -1 when none matched.
   */
  deliver(msg: ApicMessage, from: Lapic | null): number {
    let r = -1;
    const lowest = msg.mode === DM_LOWEST && !(msg.shorthand === 0 && isBroadcast(msg, from));
    const candidates: Lapic[] = [];
    for (const { lapic } of this.vcpus.values()) {
      if (!lapic.hwEnabled || !lapic.matches(msg, from)) continue;
      if (r < 0) r = 0;
      if (!lowest) r += lapic.accept(msg);
      else if (lapic.swEnabled) candidates.push(lapic);
    }
    if (lowest && candidates.length) r += candidates[msg.vector % candidates.length].accept(msg);
    return r;
  }

  /** Reads every signalled irqfd and raises its GSI (an edge, or a level until EOI with resampling). */
  pollIrqfds(): void {
    const read = this.readIrqfd;
    if (read === null) return;
    for (const f of this.irqfds) {
      if (!read(f.fd)) continue;
      this.setGsi(SOURCE_USER, f.gsi, 1);
      if (f.resamplefd < 0) this.setGsi(SOURCE_USER, f.gsi, 0);
    }
  }

  /** The devices' next deadline (nowNs) for vCPU `lapic`'s sleep: its timer or the PIT. */
  deadline(lapic: Lapic): number {
    return Math.min(lapic.deadline, this.pit?.deadline ?? Infinity);
  }

  /** Lets time act: the PIT, vCPU `lapic`'s timer, the irqfds. */
  poll(lapic: Lapic): void {
    const now = nowNs();
    this.pit?.poll(now);
    lapic.poll(now);
    this.pollIrqfds();
  }

  /** KVM_GET_IRQCHIP into `arg` (kvm_irqchip): 0 or -errno. */
  get(arg: Uint8Array): number {
    if (arg.byteLength < KVM_IRQCHIP_SIZE) return -Errno.EFAULT;
    const v = new DataView(arg.buffer, arg.byteOffset, KVM_IRQCHIP_SIZE), chip = v.getUint32(0, true);
    if (chip > CHIP_IOAPIC) return -Errno.EINVAL;
    arg.fill(0, 8, KVM_IRQCHIP_SIZE);
    if (chip === CHIP_IOAPIC) this.ioapic.save(v, 8);
    else this.pic.chips[chip].save(v, 8);
    return 0;
  }

  /** KVM_SET_IRQCHIP from `arg`. */
  set(arg: Uint8Array): number {
    if (arg.byteLength < KVM_IRQCHIP_SIZE) return -Errno.EFAULT;
    const v = new DataView(arg.buffer, arg.byteOffset, KVM_IRQCHIP_SIZE), chip = v.getUint32(0, true);
    if (chip > CHIP_IOAPIC) return -Errno.EINVAL;
    if (chip === CHIP_IOAPIC) this.ioapic.load(v, 8);
    else {
      this.pic.chips[chip].load(v, 8);
      this.pic.update();
    }
    for (const a of this.vcpus.values()) a.cpu.requestInterrupt();
    return 0;
  }
}

/** A physical or logical broadcast destination. */
function isBroadcast(msg: ApicMessage, from: Lapic | null): boolean {
  return msg.dest === 0xffffffff || (!(from?.x2apic) && (msg.dest & 0xff) === 0xff);
}

/** One vCPU's view of the devices (`Cpu.devices`). */
class VcpuDevices implements CpuDevices {
  readonly #chip: Irqchip;
  readonly #lapic: Lapic;
  readonly #events: VcpuEvents;

  constructor(chip: Irqchip, lapic: Lapic, events: VcpuEvents) {
    this.#chip = chip;
    this.#lapic = lapic;
    this.#events = events;
  }

  pause(): void {
    this.#events.pause?.();
  }

  portIn(port: number, size: number): number {
    const chip = this.#chip, pit = chip.pit;
    const last = port + size - 1;
    if ((port & ~1) === 0x20 || (port & ~1) === 0xa0 || (port & ~1) === 0x4d0) {
      if (last > (port | 1)) return -1;
      if (size !== 1) return 0;
      if (port >= 0x4d0) return chip.pic.chips[port & 1].elcr;
      return chip.pic.read(port >> 7, port & 1);
    }
    if (pit !== null) {
      if (port >= 0x40 && last <= 0x43) return pit.read(port);
      if (port === 0x61 && size === 1 && pit.speaker) return pit.readSpeaker();
    }
    return -1;
  }

  portOut(port: number, size: number, value: number): boolean {
    const chip = this.#chip, pit = chip.pit;
    const last = port + size - 1;
    if ((port & ~1) === 0x20 || (port & ~1) === 0xa0 || (port & ~1) === 0x4d0) {
      if (last > (port | 1)) return false;
      if (size !== 1) return true;
      if (port >= 0x4d0) chip.pic.writeElcr(port & 1, value & 0xff);
      else chip.pic.write(port >> 7, port & 1, value & 0xff);
      return true;
    }
    if (pit !== null) {
      if (port >= 0x40 && last <= 0x43) {
        pit.write(port, value & 0xff);
        return true;
      }
      if (port === 0x61 && size === 1 && pit.speaker) {
        pit.writeSpeaker(value & 0xff);
        return true;
      }
    }
    return false;
  }

  mmioRead(phys: number, len: number): number | undefined {
    const lapic = this.#lapic, base = lapic.cpu.apicBase - (lapic.cpu.apicBase % 0x1000);
    if (phys >= base && phys < base + 0x1000) return lapic.mmioRead(phys - base, len);
    const io = this.#chip.ioapic;
    return io.claims(phys) ? io.mmioRead(phys, len) : undefined;
  }

  mmioWrite(phys: number, len: number, value: number): boolean {
    const lapic = this.#lapic, base = lapic.cpu.apicBase - (lapic.cpu.apicBase % 0x1000);
    if (phys >= base && phys < base + 0x1000) {
      lapic.mmioWrite(phys - base, len, value);
      return true;
    }
    const io = this.#chip.ioapic;
    if (!io.claims(phys)) return false;
    io.mmioWrite(phys, len, value);
    return true;
  }

  acknowledge(): number {
    const lapic = this.#lapic, pic = this.#chip.pic;
    if (pic.output && lapic.acceptsPic) return pic.acknowledge();
    const v = lapic.pending();
    if (v >= 0) {
      lapic.acknowledge(v);
      return v;
    }
    lapic.cpu.intrRequest = false;
    return -1;
  }
}
