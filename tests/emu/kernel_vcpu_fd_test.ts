/**
 * The emulator's kernel remembers the vCPU descriptor KVM_RUN and the run alarm last found (emu/kernel.ts
 * `#vcpuAt`), and forgets it when that descriptor closes: a vCPU created afterwards that gets the same number is the
 * one KVM_RUN and the alarm reach.
 *
 * @module
 */
import { equal } from "node:assert/strict";
import { test } from "../_support/harness.ts";
import { getRegs, getSregs, makeGuest, runOnce, setRegs, setSregs } from "../../emu/_testing.ts";
import * as R from "../../abi/requests.ts";
import { KVM_EXIT_INTR, KVM_EXIT_IO } from "../../abi/constants.ts";
import { Errno } from "../../abi/errno.ts";

test("emu kernel: KVM_RUN and the run alarm on a vCPU number reused after a close reach the new vCPU", () => {
  // 0x1000: mov al, 0x11 / out 0x80, al / hlt; 0x2000: mov al, 0x22 / out 0x81, al / jmp $ (spins)
  const g = makeGuest({ code: [0xb0, 0x11, 0xe6, 0x80, 0xf4] });
  g.mem.set([0xb0, 0x22, 0xe6, 0x81, 0xeb, 0xfe], 0x2000);
  const first = runOnce(g);
  equal(first.reason, KVM_EXIT_IO);
  equal(first.io!.port, 0x80);
  equal(g.k.close(g.vcpu), 0);
  const fd = g.k.ioctlValue(g.vm, R.KVM_CREATE_VCPU, 1);
  equal(fd, g.vcpu, "the new vCPU gets the closed one's number");
  const rm = g.k.mmap(fd, g.k.ioctlValue(g.sys, R.KVM_GET_VCPU_MMAP_SIZE, 0));
  if (typeof rm === "number") throw new Error(`mmap run: ${rm}`);
  const h = { ...g, vcpu: fd, run: new DataView(rm.buffer), runBytes: new Uint8Array(rm.buffer) };
  // The new vCPU starts at 0x2000 in real mode, with CS base 0 as makeGuest set the first one's.
  const sregs = getSregs(h);
  equal(setSregs(h, { ...sregs, cs: { ...sregs.cs, base: 0n, selector: 0 } }), 0);
  setRegs(h, { ...getRegs(h), rip: 0x2000n, rflags: 2n });
  const second = runOnce(h);
  equal(second.reason, KVM_EXIT_IO, "the new vCPU's OUT, not the closed one's HLT");
  equal(second.io!.port, 0x81);
  // Its alarm (1 ms) ends its spin with EINTR: set on the new vCPU, not the closed one.
  g.k.setRunAlarm(fd, 1);
  const third = runOnce(h);
  equal(third.rc, -Errno.EINTR);
  equal(third.reason, KVM_EXIT_INTR);
});
