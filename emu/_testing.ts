/**
 * Internal helpers for the emulator's tests: a VM with one memory slot and
 * one vCPU driven through the `Kernel` interface with the abi codecs, as
 * the facade would drive it.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import * as R from "../abi/requests.ts";
import { kvmRegs, kvmRun, kvmSregs, type Regs, type Segment, type Sregs } from "../abi/structs.ts";
import { kvmUserspaceMemoryRegion } from "../abi/structs.ts";
import { createEmuKernel } from "./kernel.ts";
import type { EmuVcpu } from "./vcpu.ts";
import type { Cpu } from "./x86/cpu.ts";

/** A guest ready to run. */
export interface TestGuest {
  k: Kernel;
  sys: number;
  vm: number;
  vcpu: number;
  mem: Uint8Array;
  memAddr: bigint;
  run: DataView;
  runBytes: Uint8Array;
}

/** Options of {@linkcode makeGuest}. */
export interface GuestOptions {
  vendor?: "intel" | "amd";
  memSize?: number;
  code?: ArrayLike<number>;
  at?: number;
  mode?: "real" | "flat32";
}

/** A flat segment for 32-bit protected mode. */
export function flatSeg(selector: number, type: number, dpl = 0): Segment {
  return {
    base: 0n,
    limit: 0xffffffff,
    selector,
    type,
    present: 1,
    dpl,
    db: 1,
    s: 1,
    l: 0,
    g: 1,
    avl: 0,
    unusable: 0,
  };
}

/** Creates kernel, VM, a slot of `memSize` bytes at guest-physical 0, and vCPU 0 at `at`. */
export function makeGuest(o: GuestOptions = {}): TestGuest {
  const k = createEmuKernel({ vendor: o.vendor ?? "intel" });
  const sys = k.open("/dev/kvm");
  const vm = k.ioctlValue(sys, R.KVM_CREATE_VM, 0);
  const size = o.memSize ?? 0x10000;
  const m = k.mmap(-1, size);
  if (typeof m === "number") throw new Error(`mmap: ${m}`);
  const r = k.ioctl(
    vm,
    R.KVM_SET_USER_MEMORY_REGION,
    kvmUserspaceMemoryRegion.toBytes({
      slot: 0,
      flags: 0,
      guestPhysAddr: 0n,
      memorySize: BigInt(size),
      userspaceAddr: m.address,
    }),
  );
  if (r !== 0) throw new Error(`set region: ${r}`);
  const vcpu = k.ioctlValue(vm, R.KVM_CREATE_VCPU, 0);
  const rm = k.mmap(vcpu, k.ioctlValue(sys, R.KVM_GET_VCPU_MMAP_SIZE, 0));
  if (typeof rm === "number") throw new Error(`mmap run: ${rm}`);
  const g: TestGuest = {
    k,
    sys,
    vm,
    vcpu,
    mem: new Uint8Array(m.buffer),
    memAddr: m.address,
    run: new DataView(rm.buffer),
    runBytes: new Uint8Array(rm.buffer),
  };
  const at = o.at ?? 0x1000;
  if (o.code) g.mem.set(o.code, at);
  const s = getSregs(g);
  if (o.mode === "flat32") {
    s.cs = flatSeg(8, 11);
    s.ds =
      s.es =
      s.fs =
      s.gs =
      s.ss =
        flatSeg(16, 3);
    s.cr0 |= 1n;
  } else {
    s.cs = { ...s.cs, base: 0n, selector: 0 };
  }
  setSregs(g, s);
  setRegs(g, { ...getRegs(g), rip: BigInt(at), rsp: 0x8000n, rflags: 2n, rdx: 0n });
  return g;
}

/** KVM_GET_REGS. */
export function getRegs(g: TestGuest): Regs {
  const b = kvmRegs.alloc();
  if (g.k.ioctl(g.vcpu, R.KVM_GET_REGS, b) !== 0) throw new Error("KVM_GET_REGS");
  return kvmRegs.fromBytes(b);
}

/** KVM_SET_REGS. */
export function setRegs(g: TestGuest, r: Regs): void {
  if (g.k.ioctl(g.vcpu, R.KVM_SET_REGS, kvmRegs.toBytes(r)) !== 0) throw new Error("KVM_SET_REGS");
}

/** KVM_GET_SREGS. */
export function getSregs(g: TestGuest): Sregs {
  const b = kvmSregs.alloc();
  if (g.k.ioctl(g.vcpu, R.KVM_GET_SREGS, b) !== 0) throw new Error("KVM_GET_SREGS");
  return kvmSregs.fromBytes(b);
}

/** KVM_SET_SREGS. */
export function setSregs(g: TestGuest, s: Sregs): number {
  return g.k.ioctl(g.vcpu, R.KVM_SET_SREGS, kvmSregs.toBytes(s));
}

/** An exit as the tests look at it. */
export interface TestExit {
  rc: number;
  reason: number;
  io?: { direction: number; size: number; port: number; count: number; data: Uint8Array };
  mmio?: { physAddr: bigint; len: number; isWrite: boolean; data: Uint8Array };
  debug?: { exception: number; pc: bigint; dr6: bigint; dr7: bigint };
  suberror?: number;
}

const off = (p: string) => kvmRun.offsetOf(p);

/** KVM_RUN once, decoding the exit. */
export function runOnce(g: TestGuest): TestExit {
  const rc = g.k.ioctlValue(g.vcpu, R.KVM_RUN, 0);
  const v = g.run;
  const reason = v.getUint32(off("exit_reason"), true);
  const e: TestExit = { rc, reason };
  if (reason === 2) {
    const size = v.getUint8(off("io.size")), count = v.getUint32(off("io.count"), true);
    const at = Number(v.getBigUint64(off("io.data_offset"), true));
    e.io = {
      direction: v.getUint8(off("io.direction")),
      size,
      port: v.getUint16(off("io.port"), true),
      count,
      data: g.runBytes.subarray(at, at + size * count),
    };
  } else if (reason === 6) {
    const len = v.getUint32(off("mmio.len"), true);
    e.mmio = {
      physAddr: v.getBigUint64(off("mmio.phys_addr"), true),
      len,
      isWrite: v.getUint8(off("mmio.is_write")) !== 0,
      data: g.runBytes.subarray(off("mmio.data"), off("mmio.data") + len),
    };
  } else if (reason === 4) {
    e.debug = {
      exception: v.getUint32(off("debug.arch.exception"), true),
      pc: v.getBigUint64(off("debug.arch.pc"), true),
      dr6: v.getBigUint64(off("debug.arch.dr6"), true),
      dr7: v.getBigUint64(off("debug.arch.dr7"), true),
    };
  } else if (reason === 17) {
    e.suberror = v.getUint32(off("internal.suberror"), true);
  }
  return e;
}

/** Runs until HLT, collecting the bytes of every OUT on the way; fails after `max` exits. */
export function runToHlt(g: TestGuest, max = 1000): { out: number[]; last: TestExit } {
  const out: number[] = [];
  for (let i = 0; i < max; i++) {
    const e = runOnce(g);
    if (e.reason === 2 && e.io!.direction === 1) {
      out.push(...e.io!.data);
      continue;
    }
    return { out, last: e };
  }
  throw new Error("no HLT");
}

/** Runs to the next OUT, whose first byte it returns (fails on any other exit). */
export function nextOut(g: TestGuest): number {
  const e = runOnce(g);
  if (e.reason !== 2) throw new Error(`exit ${e.reason}, not an OUT`);
  return e.io!.data[0];
}

/** The emulated CPU behind `g`'s vCPU (for tests that look at its caches). */
export function cpuOf(g: TestGuest): Cpu {
  const v = (g.k as unknown as { vcpuOf(fd: number): EmuVcpu | undefined }).vcpuOf(g.vcpu);
  if (!v) throw new Error("no emulator vCPU");
  return v.cpu;
}
