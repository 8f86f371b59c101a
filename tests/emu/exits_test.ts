/**
 * Exits of the emulator with the kernel's semantics, as recorded on the kvm
 * backend of this project's machines: port I/O (OUT completes before the
 * exit, IN completes on the next KVM_RUN with userspace's data, REP OUTSB
 * exits once per byte with RF set and RIP on the instruction, REP INSB asks
 * for every byte in one exit), MMIO (reads restart, writes complete, a
 * read-modify-write exits twice, accesses split at page boundaries), HLT,
 * triple fault, internal errors, the run alarm and guest debugging.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { test } from "../_support/harness.ts";
import { getRegs, getSregs, makeGuest, runOnce, setSregs, type TestGuest } from "../../emu/_testing.ts";
import * as R from "../../abi/requests.ts";
import { kvmGuestDebug } from "../../abi/structs.ts";
import { Errno } from "../../abi/errno.ts";

function hex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
}

/** One line per exit: reason, rip, rcx, rsi, RF, and the exit's payload. */
function trace(g: TestGuest, n: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const e = runOnce(g);
    const r = getRegs(g);
    let s = `${e.reason} rip=${r.rip.toString(16)} rax=${r.rax.toString(16)} rcx=${r.rcx} rsi=${
      r.rsi.toString(16)
    } rf=${(r.rflags >> 16n) & 1n}`;
    if (e.io) {
      s += ` io ${e.io.direction ? "out" : "in"} ${e.io.size}x${e.io.count} port=${e.io.port.toString(16)}`;
      if (e.io.direction) s += ` data=${[...e.io.data].join(",")}`;
      else for (let k = 0; k < e.io.data.length; k++) e.io.data[k] = 0x40 + k;
    }
    if (e.mmio) {
      s += ` mmio ${e.mmio.physAddr.toString(16)} len=${e.mmio.len} ${e.mmio.isWrite ? "w" : "r"}`;
      if (e.mmio.isWrite) s += ` data=${[...e.mmio.data].map((b) => b.toString(16)).join(",")}`;
      else for (let k = 0; k < e.mmio.len; k++) e.mmio.data[k] = 0x80 + k;
    }
    lines.push(s);
    if (e.reason !== 2 && e.reason !== 6) break;
  }
  return lines;
}

// org 0x1000
// mov dx, 0x3f8 / mov al, 'A' / out dx, al / mov si, msg / mov cx, 5 / rep outsb
// mov di, 0x9000 / mov cx, 6 / rep insb / in ax, dx / hlt / msg: db "hello"
test("emu: OUT, REP OUTSB, REP INSB and IN exit as on KVM", () => {
  const g = makeGuest({ code: hex("baf803b041eebe1810b90500f36ebf0090b90600f36cedf468656c6c6f") });
  deepEqual(trace(g, 20), [
    "2 rip=1006 rax=41 rcx=0 rsi=0 rf=0 io out 1x1 port=3f8 data=65",
    "2 rip=100c rax=41 rcx=4 rsi=1019 rf=1 io out 1x1 port=3f8 data=104",
    "2 rip=100c rax=41 rcx=3 rsi=101a rf=1 io out 1x1 port=3f8 data=101",
    "2 rip=100c rax=41 rcx=2 rsi=101b rf=1 io out 1x1 port=3f8 data=108",
    "2 rip=100c rax=41 rcx=1 rsi=101c rf=1 io out 1x1 port=3f8 data=108",
    "2 rip=100c rax=41 rcx=0 rsi=101d rf=1 io out 1x1 port=3f8 data=111",
    "2 rip=1014 rax=41 rcx=6 rsi=101d rf=0 io in 1x6 port=3f8",
    "2 rip=1016 rax=41 rcx=0 rsi=101d rf=0 io in 2x1 port=3f8",
    "5 rip=1018 rax=4140 rcx=0 rsi=101d rf=0",
  ]);
  deepEqual([...g.mem.subarray(0x9000, 0x9007)], [0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0]);
});

// org 0x1000
// mov ax, 0x2000 / mov es, ax / mov al, [es:0x10] / mov word [es:0x20], 0x1234
// add [es:0x30], al / mov si, 0x100 / mov di, 0x40 / mov cx, 3 / rep movsb
// mov eax, [es:0xffe] / mov [es:0xffe], eax / hlt        (0x20000 is outside the slot)
test("emu: MMIO reads restart, writes complete, page-crossing accesses split, as on KVM", () => {
  const g = makeGuest({
    code: hex("b800208ec026a0100026c706200034122600063000be0001bf4000b90300f3a42666a1fe0f2666a3fe0ff4"),
  });
  deepEqual(trace(g, 20), [
    "6 rip=1005 rax=2000 rcx=0 rsi=0 rf=0 mmio 20010 len=1 r",
    "6 rip=1010 rax=2080 rcx=0 rsi=0 rf=0 mmio 20020 len=2 w data=34,12",
    "6 rip=1010 rax=2080 rcx=0 rsi=0 rf=0 mmio 20030 len=1 r",
    "6 rip=1015 rax=2080 rcx=0 rsi=0 rf=0 mmio 20030 len=1 w data=0",
    "6 rip=101e rax=2080 rcx=2 rsi=101 rf=1 mmio 20040 len=1 w data=0",
    "6 rip=101e rax=2080 rcx=1 rsi=102 rf=1 mmio 20041 len=1 w data=0",
    "6 rip=101e rax=2080 rcx=0 rsi=103 rf=1 mmio 20042 len=1 w data=0",
    "6 rip=1020 rax=2080 rcx=0 rsi=103 rf=0 mmio 20ffe len=2 r",
    "6 rip=1020 rax=2080 rcx=0 rsi=103 rf=0 mmio 21000 len=2 r",
    "6 rip=102a rax=81808180 rcx=0 rsi=103 rf=0 mmio 20ffe len=2 w data=80,81",
    "6 rip=102a rax=81808180 rcx=0 rsi=103 rf=0 mmio 21000 len=2 w data=80,81",
    "5 rip=102b rax=81808180 rcx=0 rsi=103 rf=0",
  ]);
});

// lidt [0x1008] (limit 0) / int 0x80 / hlt: #GP, then #DF, then a triple fault.
test("emu: a triple fault is KVM_EXIT_SHUTDOWN", () => {
  const g = makeGuest({ code: hex("0f011e0810cd80f40000000000") });
  equal(runOnce(g).reason, 8);
});

test("emu: an instruction the core lacks is KVM_EXIT_INTERNAL_ERROR (emulation), RIP unchanged", () => {
  const g = makeGuest({ code: hex("900f0fc0b4f4") }); // nop / pfadd mm0, mm0 (3DNow!, not implemented) / hlt
  const e = runOnce(g);
  equal(e.reason, 17);
  equal(e.suberror, 1);
  equal(getRegs(g).rip, 0x1001n);
});

test("emu: setRunAlarm interrupts a guest loop with -EINTR and KVM_EXIT_INTR", () => {
  const g = makeGuest({ code: hex("ebfe") }); // jmp $
  g.k.setRunAlarm(g.vcpu, 20);
  const e = runOnce(g);
  equal(e.rc, -Errno.EINTR);
  equal(e.reason, 10);
  equal(getRegs(g).rip, 0x1000n);
});

test("emu: immediate_exit returns -EINTR at once", () => {
  const g = makeGuest({ code: hex("f4") });
  g.runBytes[1] = 1;
  equal(runOnce(g).rc, -Errno.EINTR);
  g.runBytes[1] = 0;
  equal(runOnce(g).reason, 5);
});

function guestDebug(g: TestGuest, control: number, debugreg: bigint[] = []): number {
  const d = [...debugreg, ...new Array(8 - debugreg.length).fill(0n)];
  return g.k.ioctl(g.vcpu, R.KVM_SET_GUEST_DEBUG, kvmGuestDebug.toBytes({ control, arch: { debugreg: d } }));
}

test("emu: single-step, INT3 and hardware-breakpoint debug exits", () => {
  // inc ax / int3 / inc ax / inc ax / hlt
  const g = makeGuest({ code: hex("40cc4040f4") });
  equal(guestDebug(g, 0x3), 0);
  let e = runOnce(g);
  deepEqual([e.reason, e.debug!.exception, e.debug!.pc, e.debug!.dr6], [4, 1, 0x1001n, 0xffff4ff0n]);
  equal(guestDebug(g, 0x10001), 0);
  e = runOnce(g);
  deepEqual([e.reason, e.debug!.exception, e.debug!.pc], [4, 3, 0x1001n]);
  equal(getRegs(g).rip, 0x1001n);
  const r = getRegs(g);
  g.k.ioctl(g.vcpu, R.KVM_SET_REGS, new Uint8Array(0)); // a short buffer is refused, state kept
  equal(getRegs(g).rip, r.rip);
  // Skip the int3 by hand, then break on the second "inc ax" (linear 0x1003).
  g.mem[0x1001] = 0x90;
  equal(guestDebug(g, 0x20001, [0x1003n, 0n, 0n, 0n, 0n, 0n, 0n, 0x1n]), 0);
  e = runOnce(g);
  deepEqual([e.reason, e.debug!.exception, e.debug!.pc, e.debug!.dr6 & 0xfn], [4, 1, 0x1003n, 1n]);
  equal(runOnce(g).reason, 5);
  equal(getRegs(g).rax & 0xffffn, 3n);
  equal(guestDebug(g, 1 << 30), -Errno.EINVAL);
});

test("emu: self-modifying code and host writes between runs are seen", () => {
  // mov byte [0x1007], 0x41 (patches "inc ax" into "inc cx") / nop / nop / inc ax / hlt
  const g = makeGuest({ code: hex("c606071041909040f4") });
  equal(runOnce(g).reason, 5);
  equal(getRegs(g).rcx & 0xffffn, 1n);
  equal(getRegs(g).rax & 0xffffn, 0n);
  // The host rewrites the code after it was decoded.
  g.mem.set([0x43, 0xf4], 0x2000); // inc bx / hlt
  const r = getRegs(g);
  g.k.ioctl(g.vcpu, R.KVM_SET_REGS, new Uint8Array(144)); // all zero: rip 0
  g.mem.set([0xe9, 0xfd, 0x1f], 0); // jmp 0x2000
  equal(runOnce(g).reason, 5);
  equal(getRegs(g).rbx & 0xffffn, 1n);
  g.mem.set([0x4b, 0xf4], 0x2000); // dec bx / hlt
  g.k.ioctl(g.vcpu, R.KVM_SET_REGS, new Uint8Array(144));
  equal(runOnce(g).reason, 5);
  equal(getRegs(g).rbx, 0xffffn); // SET_REGS zeroed rbx; the new "dec bx" ran, not the stale "inc bx"
  void r;
});

test("emu: writes to a read-only slot are MMIO writes; reads are ordinary", () => {
  const g = makeGuest({ code: hex("a10030a30030f4") }); // mov ax, [0x3000] / mov [0x3000], ax / hlt
  const m = g.k.mmap(-1, 0x1000);
  if (typeof m === "number") throw new Error("mmap");
  new Uint8Array(m.buffer)[0] = 0x77;
  const region = new Uint8Array(32);
  const v = new DataView(region.buffer);
  v.setUint32(0, 1, true);
  v.setUint32(4, 2, true); // KVM_MEM_READONLY
  v.setBigUint64(8, 0x30000n, true);
  v.setBigUint64(16, 0x1000n, true);
  v.setBigUint64(24, m.address, true);
  equal(g.k.ioctl(g.vm, R.KVM_SET_USER_MEMORY_REGION, region), 0);
  const s = getSregs(g);
  s.ds = { ...s.ds, selector: 0x2d00, base: 0x2d000n };
  equal(setSregs(g, s), 0);
  const e = runOnce(g);
  deepEqual([e.reason, e.mmio!.physAddr, e.mmio!.isWrite, [...e.mmio!.data]], [6, 0x30000n, true, [0x77, 0]]);
  equal(runOnce(g).reason, 5);
});

// bits 32, org 0x1000, flat segments (GDT at 0x500: null, code 0x08, data 0x10):
// mov eax, 0x12345678 / out 0xe9, eax / lidt [idtr] / mov ecx, 0 / div ecx / hlt
// handler: mov eax, [esp] / out 0xe9, eax / hlt
// idtr: dw 7, dd idt / idt: dw handler, 8, 0x8e00, 0
test("emu: 32-bit protected mode: #DE through an IDT interrupt gate pushes the faulting EIP", () => {
  const g = makeGuest({
    code: hex("b878563412e7e90f011d1c100000b900000000f7f1f48b0424e7e9f407002210000016100800008e0000"),
    mode: "flat32",
  });
  const v = new DataView(g.mem.buffer);
  [0, 0, 0x0000ffff, 0x00cf9b00, 0x0000ffff, 0x00cf9300].forEach((w, i) => v.setUint32(0x500 + 4 * i, w, true));
  const s = getSregs(g);
  s.gdt = { base: 0x500n, limit: 23 };
  equal(setSregs(g, s), 0);
  const outs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const e = runOnce(g);
    if (e.reason !== 2) break;
    outs.push(new DataView(e.io!.data.buffer, e.io!.data.byteOffset).getUint32(0, true));
  }
  deepEqual(outs, [0x12345678, 0x1013]);
  equal(getRegs(g).rip, 0x101cn); // after the handler's HLT
});
