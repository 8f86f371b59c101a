/**
 * The emulator's exit path: what RunPage writes into kvm_run for an I/O
 * exit (every member the kernel writes, over whatever was there before: the
 * host may have scribbled on the page between runs), the members KVM
 * updates at every exit, and the recycling of the core's exits (a KVM_RUN
 * gives back the exit it completed, and one taken again has a new exit's
 * defaults).
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { test } from "../_support/harness.ts";
import { kvmRun } from "../../abi/structs.ts";
import { KVM_EXIT_DEBUG, KVM_EXIT_HLT, KVM_EXIT_IO, KVM_EXIT_MMIO } from "../../abi/constants.ts";
import { PIO_DATA_OFFSET, RunPage } from "../../emu/run_page.ts";
import { CoreExit, releaseExit, takeExit } from "../../emu/x86/exit.ts";
import { makeGuest, runOnce } from "../../emu/_testing.ts";
import type { EmuVcpu } from "../../emu/vcpu.ts";

const at = (p: string) => kvmRun.offsetOf(p);

/** An OUT of `size` bytes of `value` to `port`, as the core queues it. */
function outExit(port: number, size: number, value: number): CoreExit {
  const e = new CoreExit(KVM_EXIT_IO);
  e.dir = 1;
  e.port = port;
  e.size = size;
  e.count = 1;
  e.value = value;
  return e;
}

/** kvm_run's I/O members and data, read back the way the facade's decoder reads them (little-endian). */
function io(page: RunPage) {
  const v = page.view;
  const size = v.getUint8(at("io.size"));
  const offset = v.getBigUint64(at("io.data_offset"), true);
  return {
    reason: v.getUint32(at("exit_reason"), true),
    direction: v.getUint8(at("io.direction")),
    size,
    port: v.getUint16(at("io.port"), true),
    count: v.getUint32(at("io.count"), true),
    offset,
    data: [...page.bytes.subarray(Number(offset), Number(offset) + size)],
  };
}

test("RunPage writes an OUT's members and its bytes over a page full of 0xff", () => {
  const page = new RunPage();
  for (
    const [port, size, value, bytes] of [
      [0x80, 1, 0xa5, [0xa5]],
      [0x1234, 2, 0xbeef, [0xef, 0xbe]],
      [0xfffe, 4, 0xdeadbeef, [0xef, 0xbe, 0xad, 0xde]],
    ] as const
  ) {
    page.bytes.fill(0xff);
    page.writeExit(outExit(port, size, value));
    deepEqual(io(page), {
      reason: KVM_EXIT_IO,
      direction: 1,
      size,
      port,
      count: 1,
      offset: BigInt(PIO_DATA_OFFSET),
      data: [...bytes],
    });
    // Nothing past the OUT's bytes is written.
    equal(page.bytes[PIO_DATA_OFFSET + size], 0xff);
  }
});

test("RunPage writes an OUTS's bytes and an IN's members", () => {
  const page = new RunPage();
  page.bytes.fill(0xff);
  const outs = outExit(0x3f8, 2, 0);
  outs.count = 3;
  outs.data = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  page.writeExit(outs);
  equal(io(page).count, 3);
  deepEqual([...page.bytes.subarray(PIO_DATA_OFFSET, PIO_DATA_OFFSET + 7)], [1, 2, 3, 4, 5, 6, 0xff]);
  const inExit = new CoreExit(KVM_EXIT_IO);
  inExit.port = 0x60;
  inExit.size = 1;
  inExit.count = 1;
  page.writeExit(inExit);
  const r = io(page);
  deepEqual([r.direction, r.port, r.size, r.count, r.offset], [0, 0x60, 1, 1, BigInt(PIO_DATA_OFFSET)]);
});

test("RunPage.setCommon writes if_flag, ready, flags, cr8 and apic_base whole", () => {
  const page = new RunPage();
  page.bytes.fill(0xff);
  page.setCommon(true, false, 0xf, 0xfee00900);
  const v = page.view;
  deepEqual(
    [
      v.getUint8(at("if_flag")),
      v.getUint8(at("ready_for_interrupt_injection")),
      v.getUint16(at("flags"), true),
      v.getBigUint64(at("cr8"), true),
      v.getBigUint64(at("apic_base"), true),
    ],
    [1, 0, 0, 0xfn, 0xfee00900n],
  );
  page.setCommon(false, true, 0, 0x1_2345_6000);
  deepEqual(
    [v.getUint8(at("if_flag")), v.getUint8(at("ready_for_interrupt_injection")), v.getBigUint64(at("apic_base"), true)],
    [0, 1, 0x1_2345_6000n],
  );
});

test("an exit taken again has a new exit's defaults", () => {
  const e = takeExit(KVM_EXIT_DEBUG);
  e.dir =
    e.size =
    e.port =
    e.count =
    e.value =
    e.addr =
      7;
  e.exception =
    e.pc =
    e.dr6 =
    e.dr7 =
    e.suberror =
      7;
  e.data = Uint8Array.of(7);
  e.idata = [7];
  releaseExit(e);
  const again = takeExit(KVM_EXIT_MMIO);
  equal(again, e);
  const fresh = new CoreExit(KVM_EXIT_MMIO);
  deepEqual({ ...again, data: [...again.data] }, { ...fresh, data: [...fresh.data] });
});

test("KVM_RUN gives back the exit it completed: the next exit taken is that object", () => {
  // out 0x80, al; out 0x80, al; hlt
  const g = makeGuest({ code: [0xe6, 0x80, 0xe6, 0x80, 0xf4] });
  const vcpu = (g.k as unknown as { vcpuOf(fd: number): EmuVcpu }).vcpuOf(g.vcpu);
  equal(runOnce(g).reason, KVM_EXIT_IO);
  const first = vcpu.lastExit;
  ok(first !== undefined);
  equal(runOnce(g).reason, KVM_EXIT_IO);
  // Given back before the run: the second OUT's exit is that object, or it is the next one taken.
  const taken = takeExit(KVM_EXIT_HLT);
  ok(vcpu.lastExit === first || taken === first, "the completed exit was not given back");
  if (taken === first) equal(taken.port, 0);
  releaseExit(taken);
  equal(runOnce(g).reason, KVM_EXIT_HLT);
});
