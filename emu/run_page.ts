/**
 * The vCPU's shared kvm_run mapping with the kernel's layout (offsets from
 * abi's generated layout): the core's exits are written into it, and the
 * data userspace writes for IN and MMIO reads is read back from it. The
 * fields written at every exit go through typed arrays in the host's byte
 * order, which is kvm_run's (the kernel writes it natively too): an I/O
 * exit is a few array stores, no DataView call.
 *
 * @module
 */
import { KVM_EXIT_DEBUG, KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_IO, KVM_EXIT_MMIO } from "../abi/constants.ts";
import { kvmRun } from "../abi/structs.ts";
import type { CoreExit } from "./x86/exit.ts";

/** KVM_GET_VCPU_MMAP_SIZE: kvm_run, the PIO data page, the coalesced-MMIO ring page. */
export const EMU_VCPU_MMAP_SIZE = 3 * 4096;
/** Where IO data lives in the mapping (kvm_run.io.data_offset). */
export const PIO_DATA_OFFSET = 4096;

const O = {
  requestInterruptWindow: kvmRun.offsetOf("request_interrupt_window"),
  immediateExit: kvmRun.offsetOf("immediate_exit"),
  exitReason: kvmRun.offsetOf("exit_reason"),
  ready: kvmRun.offsetOf("ready_for_interrupt_injection"),
  ifFlag: kvmRun.offsetOf("if_flag"),
  flags: kvmRun.offsetOf("flags"),
  cr8: kvmRun.offsetOf("cr8"),
  apicBase: kvmRun.offsetOf("apic_base"),
  ioDirection: kvmRun.offsetOf("io.direction"),
  ioSize: kvmRun.offsetOf("io.size"),
  ioPort: kvmRun.offsetOf("io.port"),
  ioCount: kvmRun.offsetOf("io.count"),
  ioDataOffset: kvmRun.offsetOf("io.data_offset"),
  dbgException: kvmRun.offsetOf("debug.arch.exception"),
  dbgPc: kvmRun.offsetOf("debug.arch.pc"),
  dbgDr6: kvmRun.offsetOf("debug.arch.dr6"),
  dbgDr7: kvmRun.offsetOf("debug.arch.dr7"),
  mmioPhysAddr: kvmRun.offsetOf("mmio.phys_addr"),
  mmioData: kvmRun.offsetOf("mmio.data"),
  mmioLen: kvmRun.offsetOf("mmio.len"),
  mmioIsWrite: kvmRun.offsetOf("mmio.is_write"),
  internalSuberror: kvmRun.offsetOf("internal.suberror"),
  internalNdata: kvmRun.offsetOf("internal.ndata"),
  internalData: kvmRun.offsetOf("internal.data"),
};

/** The u16 and u32 members written at every exit, as indices of 16-bit and 32-bit views (all naturally aligned). */
const W = {
  exitReason: O.exitReason >> 2,
  flags: O.flags >> 1,
  cr8: O.cr8 >> 2,
  apicBase: O.apicBase >> 2,
  ioPort: O.ioPort >> 1,
  ioCount: O.ioCount >> 2,
  ioDataOffset: O.ioDataOffset >> 2,
};

/** A view over one vCPU's kvm_run mapping. */
export class RunPage {
  readonly buffer = new ArrayBuffer(EMU_VCPU_MMAP_SIZE);
  readonly view = new DataView(this.buffer);
  readonly bytes = new Uint8Array(this.buffer);
  readonly #u16 = new Uint16Array(this.buffer);
  readonly #u32 = new Uint32Array(this.buffer);

  get immediateExit(): boolean {
    return this.bytes[O.immediateExit] !== 0;
  }

  get requestInterruptWindow(): boolean {
    return this.bytes[O.requestInterruptWindow] !== 0;
  }

  setExitReason(reason: number): void {
    this.#u32[W.exitReason] = reason;
  }

  /** The fields KVM updates on every exit. */
  setCommon(ifFlag: boolean, ready: boolean, cr8: number, apicBase: number): void {
    const b = this.bytes, u32 = this.#u32;
    b[O.ifFlag] = ifFlag ? 1 : 0;
    b[O.ready] = ready ? 1 : 0;
    this.#u16[W.flags] = 0;
    // Both are below 2^32 (CR8 is 4 bits; the APIC base MSR's address fits the emulator's physical space).
    u32[W.cr8] = cr8;
    u32[W.cr8 + 1] = 0;
    u32[W.apicBase] = apicBase >>> 0;
    u32[W.apicBase + 1] = Math.floor(apicBase / 0x100000000);
  }

  /** Writes an exit of the core. */
  writeExit(e: CoreExit): void {
    const v = this.view;
    this.#u32[W.exitReason] = e.reason;
    switch (e.reason) {
      case KVM_EXIT_IO: {
        const b = this.bytes, u32 = this.#u32;
        b[O.ioDirection] = e.dir;
        b[O.ioSize] = e.size;
        this.#u16[W.ioPort] = e.port;
        u32[W.ioCount] = e.count;
        u32[W.ioDataOffset] = PIO_DATA_OFFSET;
        u32[W.ioDataOffset + 1] = 0;
        if (e.dir === 1 && e.data.length === 0) {
          // One OUT of up to 4 bytes: its value, little-endian (the guest's order).
          const x = e.value;
          b[PIO_DATA_OFFSET] = x;
          if (e.size > 1) {
            b[PIO_DATA_OFFSET + 1] = x >>> 8;
            if (e.size > 2) {
              b[PIO_DATA_OFFSET + 2] = x >>> 16;
              b[PIO_DATA_OFFSET + 3] = x >>> 24;
            }
          }
        } else if (e.dir === 1) b.set(e.data.subarray(0, e.size * e.count), PIO_DATA_OFFSET);
        break;
      }
      case KVM_EXIT_MMIO:
        setU64(v, O.mmioPhysAddr, e.addr);
        if (e.dir === 1) this.bytes.set(e.data.subarray(0, e.size), O.mmioData);
        v.setUint32(O.mmioLen, e.size, true);
        v.setUint8(O.mmioIsWrite, e.dir);
        break;
      case KVM_EXIT_DEBUG:
        v.setUint32(O.dbgException, e.exception, true);
        // A 64-bit RIP comes as a signed number: its halves, sign-extended (exact, as it is canonical).
        v.setUint32(O.dbgPc, e.pc >>> 0, true);
        v.setUint32(O.dbgPc + 4, Math.floor(e.pc / 0x100000000) >>> 0, true);
        setU64(v, O.dbgDr6, e.dr6);
        setU64(v, O.dbgDr7, e.dr7);
        break;
      case KVM_EXIT_INTERNAL_ERROR:
        v.setUint32(O.internalSuberror, e.suberror, true);
        v.setUint32(O.internalNdata, e.idata.length, true);
        e.idata.forEach((x, i) => setU64(v, O.internalData + 8 * i, x));
        break;
    }
  }

  /** The bytes userspace wrote for an IN exit of `len` bytes. */
  ioData(len: number): Uint8Array {
    return this.bytes.slice(PIO_DATA_OFFSET, PIO_DATA_OFFSET + len);
  }

  /** The bytes userspace wrote for an MMIO read of `len` bytes. */
  mmioData(len: number): Uint8Array {
    return this.bytes.slice(O.mmioData, O.mmioData + len);
  }
}

/**
 * Writes a non-negative number below 2^53 as a little-endian u64. The low half is `x >>> 0`, x modulo 2^32 for such an
 * integer: `x % 2 ** 32` is a floating-point remainder, a call into the C library under V8 at every exit.
 */
export function setU64(v: DataView, at: number, x: number): void {
  v.setUint32(at, x >>> 0, true);
  v.setUint32(at + 4, Math.floor(x / 0x100000000), true);
}

/** Reads a little-endian u64 as a number (exact below 2^53). */
export function getU64(v: DataView, at: number): number {
  return v.getUint32(at, true) + v.getUint32(at + 4, true) * 0x100000000;
}
