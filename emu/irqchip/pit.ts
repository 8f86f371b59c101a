/**
 * The in-kernel 8254 (the kernel's i8254.c, KVM_CREATE_PIT2): three
 * channels counting at 1.193182 MHz of host monotonic time, modes 0-5,
 * counter latch and read-back (count and status), the access modes
 * (LSB, MSB, LSB then MSB), channel 0's timer pulsing GSI 0, and channel 2
 * gated by port 0x61 (which also reads its output; the kernel's only with
 * KVM_PIT_SPEAKER_DUMMY, else userspace's). As in the kernel, the
 * BCD bit is kept and reported but counting is binary; ticks missed while
 * the guest had not acknowledged the last one are reinjected one by one.
 *
 * @module
 */
import { nowNs } from "./clock.ts";

/** The PIT's input clock in Hz. */
export const PIT_FREQ = 1193182;
/** kvm_pit_channel_state's size, and kvm_pit_state2's. */
const CHANNEL_SIZE = 24, STATE2_SIZE = 112;
/** kvm_pit_channel_state's byte members, in order from offset 6. */
const CHANNEL_BYTES = [
  "countLatched",
  "statusLatched",
  "status",
  "readState",
  "writeState",
  "writeLatch",
  "rwMode",
  "mode",
  "bcd",
  "gate",
] as const;
/** KVM_PIT_FLAGS_SPEAKER_DATA_ON. */
const FLAGS_SPEAKER_DATA_ON = 2;
const RW_LSB = 1, RW_MSB = 2, RW_WORD0 = 3, RW_WORD1 = 4;

/** One counter. */
class Channel {
  count = 0x10000;
  latchedCount = 0;
  countLatched = 0;
  statusLatched = 0;
  status = 0;
  readState = 0;
  writeState = 0;
  writeLatch = 0;
  rwMode = 0;
  mode = 0xff;
  bcd = 0;
  gate = 0;
  /** nowNs() when the count was loaded (or the gate restarted it). */
  loadTime = 0;

  /** Input clock ticks since the count was loaded. */
  elapsed(now: number): number {
    return Math.floor((now - this.loadTime) * PIT_FREQ / 1e9);
  }

  /** The counter's current value. */
  current(now: number): number {
    const d = this.elapsed(now);
    switch (this.mode) {
      case 0:
      case 1:
      case 4:
      case 5:
        return (this.count - d) & 0xffff;
      case 3:
        return this.count - ((2 * d) % this.count);
      default:
        return this.count - (d % this.count);
    }
  }

  /** The OUT pin. */
  out(now: number): number {
    const d = this.elapsed(now);
    switch (this.mode) {
      case 1:
        return d < this.count ? 1 : 0;
      case 2:
        return d % this.count === 0 && d !== 0 ? 1 : 0;
      case 3:
        return d % this.count < ((this.count + 1) >> 1) ? 1 : 0;
      case 4:
      case 5:
        return d === this.count ? 1 : 0;
      default:
        return d >= this.count ? 1 : 0;
    }
  }
}

/** The 8254 with its timer on channel 0. */
export class Pit {
  readonly channels = [new Channel(), new Channel(), new Channel()];
  speakerDataOn = 0;
  /** Port 0x61 is the kernel's: only with KVM_PIT_SPEAKER_DUMMY (else userspace emulates the speaker). */
  readonly speaker: boolean;
  /** Pulses GSI 0 (assert, then de-assert). */
  readonly #pulse: () => void;
  /** Channel 0's timer: next expiry (nowNs) and period (0: one-shot), or -1 when idle. */
  #next = -1;
  #period = 0;
  /** Ticks due but not yet injected, and whether the last injected one waits for its acknowledgement. */
  #pending = 0;
  #inFlight = false;

  constructor(speaker: boolean, pulse: () => void) {
    this.speaker = speaker;
    this.#pulse = pulse;
    this.channels.forEach((c, i) => {
      c.gate = i !== 2 ? 1 : 0;
      this.#load(i, 0);
    });
  }

  /** The next time (nowNs) channel 0 needs attention, or Infinity. */
  get deadline(): number {
    return this.#next < 0 ? Infinity : this.#next;
  }

  /** Counts the channel 0 periods that have passed and injects what is due. */
  poll(now: number): void {
    if (this.#next >= 0 && now >= this.#next) {
      if (this.#period > 0) {
        const n = Math.floor((now - this.#next) / this.#period) + 1;
        this.#pending += n;
        this.#next += n * this.#period;
      } else {
        this.#pending++;
        this.#next = -1;
      }
    }
    this.#inject();
  }

  #inject(): void {
    if (this.#pending > 0 && !this.#inFlight) {
      this.#pending--;
      this.#inFlight = true;
      this.#pulse();
    }
  }

  /**
   * IRQ 0 was unmasked (a PIC's IMR or the IOAPIC entry): ticks missed meanwhile are forgotten and the next one goes
   * at once, as the kernel's mask notifier resets its reinjection.
   */
  unmasked(): void {
    this.#pending = 0;
    this.#inFlight = false;
  }

  /** The guest acknowledged IRQ 0 (EOI at the PIC or the IOAPIC): the next pending tick may go. */
  ack(): void {
    this.#inFlight = false;
    this.#inject();
  }

  #load(i: number, val: number): void {
    const c = this.channels[i];
    c.count = val === 0 ? 0x10000 : val;
    c.loadTime = nowNs();
    if (i !== 0) return;
    this.#pending = 0;
    this.#inFlight = false;
    // Modes 1 and 5 wait for a gate edge that channel 0 never sees.
    if (c.mode === 1 || c.mode === 5 || c.mode > 5) {
      this.#next = -1;
      return;
    }
    const interval = c.count * 1e9 / PIT_FREQ;
    this.#period = c.mode === 2 || c.mode === 3 ? interval : 0;
    this.#next = c.loadTime + interval;
  }

  /** An OUT to 0x40-0x43. */
  write(port: number, val: number): void {
    const now = nowNs();
    if (port === 0x43) {
      const ch = val >> 6;
      if (ch === 3) {
        for (let i = 0; i < 3; i++) {
          if (!(val & (2 << i))) continue;
          if (!(val & 0x20)) this.#latchCount(i, now);
          if (!(val & 0x10)) this.#latchStatus(i, now);
        }
        return;
      }
      const c = this.channels[ch], access = (val >> 4) & 3;
      if (access === 0) this.#latchCount(ch, now);
      else {
        c.rwMode = access;
        c.readState = c.writeState = access;
        c.mode = (val >> 1) & 7;
        if (c.mode > 5) c.mode -= 4;
        c.bcd = val & 1;
      }
      return;
    }
    const i = port - 0x40, c = this.channels[i];
    switch (c.writeState) {
      default:
      case RW_LSB:
        this.#load(i, val);
        break;
      case RW_MSB:
        this.#load(i, val << 8);
        break;
      case RW_WORD0:
        c.writeLatch = val;
        c.writeState = RW_WORD1;
        break;
      case RW_WORD1:
        this.#load(i, c.writeLatch | (val << 8));
        c.writeState = RW_WORD0;
        break;
    }
  }

  #latchCount(i: number, now: number): void {
    const c = this.channels[i];
    if (!c.countLatched) {
      c.latchedCount = c.current(now);
      c.countLatched = c.rwMode;
    }
  }

  #latchStatus(i: number, now: number): void {
    const c = this.channels[i];
    if (!c.statusLatched) {
      c.status = (c.out(now) << 7) | (c.rwMode << 4) | (c.mode << 1) | c.bcd;
      c.statusLatched = 1;
    }
  }

  /** An IN from 0x40-0x43 (0x43 reads as 0xff). */
  read(port: number): number {
    if (port === 0x43) return 0xff;
    const c = this.channels[port - 0x40], now = nowNs();
    if (c.statusLatched) {
      c.statusLatched = 0;
      return c.status;
    }
    if (c.countLatched) {
      switch (c.countLatched) {
        case RW_MSB:
          c.countLatched = 0;
          return (c.latchedCount >> 8) & 0xff;
        case RW_WORD0:
          c.countLatched = RW_MSB;
          return c.latchedCount & 0xff;
        default:
          c.countLatched = 0;
          return c.latchedCount & 0xff;
      }
    }
    const count = c.current(now);
    switch (c.readState) {
      case RW_MSB:
        return (count >> 8) & 0xff;
      case RW_WORD0:
        c.readState = RW_WORD1;
        return count & 0xff;
      case RW_WORD1:
        c.readState = RW_WORD0;
        return (count >> 8) & 0xff;
      default:
        return count & 0xff;
    }
  }

  /** Port 0x61: channel 2's gate (bit 0), speaker data (bit 1), a refresh toggle (bit 4), channel 2's OUT (bit 5). */
  readSpeaker(): number {
    const now = nowNs(), c = this.channels[2];
    const refresh = Math.floor(now / 16384) & 1;
    return c.gate | (this.speakerDataOn << 1) | (refresh << 4) | (c.out(now) << 5);
  }

  writeSpeaker(val: number): void {
    this.speakerDataOn = (val >> 1) & 1;
    const c = this.channels[2], gate = val & 1;
    // Modes 1, 2, 3 and 5 restart counting on the gate's rising edge.
    if (c.gate < gate && (c.mode === 1 || c.mode === 2 || c.mode === 3 || c.mode === 5)) c.loadTime = nowNs();
    c.gate = gate;
  }

  /** KVM_GET_PIT2 into `v` (kvm_pit_state2). */
  save(v: DataView): void {
    new Uint8Array(v.buffer, v.byteOffset, STATE2_SIZE).fill(0);
    this.channels.forEach((c, i) => {
      const at = i * CHANNEL_SIZE;
      v.setUint32(at, c.count, true);
      v.setUint16(at + 4, c.latchedCount, true);
      CHANNEL_BYTES.forEach((name, k) => v.setUint8(at + 6 + k, c[name]));
      v.setBigInt64(at + 16, BigInt(Math.round(c.loadTime)), true);
    });
    v.setUint32(3 * CHANNEL_SIZE, this.speakerDataOn ? FLAGS_SPEAKER_DATA_ON : 0, true);
  }

  /** KVM_SET_PIT2 from `v`: the channels' state, each count reloaded now (as the kernel does). */
  load(v: DataView): void {
    this.channels.forEach((c, i) => {
      const at = i * CHANNEL_SIZE;
      c.latchedCount = v.getUint16(at + 4, true);
      for (const [k, name] of CHANNEL_BYTES.entries()) c[name] = v.getUint8(at + 6 + k);
      this.#load(i, v.getUint32(at, true));
    });
    this.speakerDataOn = v.getUint32(3 * CHANNEL_SIZE, true) & FLAGS_SPEAKER_DATA_ON ? 1 : 0;
  }
}

/** kvm_pit_state2's size. */
export const PIT_STATE2_SIZE = STATE2_SIZE;
