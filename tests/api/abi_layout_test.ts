/**
 * The ABI against the kernel headers: every struct size and member offset
 * the codecs use, and every request number, compared with what the C
 * compiler computes from <linux/kvm.h>. Skips, saying why, where there is no
 * compiler or no kernel headers.
 */
import assert from "node:assert/strict";
import { layout } from "../../abi/_layout.ts";
import * as requests from "../../abi/requests.ts";
import { ALL_STRUCTS, REG_NAMES } from "../../abi/structs.ts";
import { io, iocParts, ior, iow, iowr } from "../../abi/ioctl.ts";
import { probe } from "../../tools/layout_probe.ts";
import { skip, test } from "../_support/harness.ts";

const wanted: Record<string, string[]> = {};
for (const s of ALL_STRUCTS) wanted[s.cName] = s.paths();
const names = Object.keys(requests);
const result = probe(wanted, names);

if (!result.ok) {
  skip("struct layouts match <linux/kvm.h>", result.reason);
  skip("request numbers match <linux/kvm.h>", result.reason);
} else {
  const c = result;
  test("struct layouts match <linux/kvm.h>", () => {
    const generated = layout as unknown as Record<
      string,
      { size: number; offsets: Record<string, number> }
    >;
    for (const s of ALL_STRUCTS) {
      const want = c.layout[s.cName];
      assert.equal(s.size, want.size, `sizeof(struct ${s.cName})`);
      assert.deepEqual(
        generated[s.cName],
        want,
        `struct ${s.cName}: abi/_layout.ts is stale; run \`deno task layout\``,
      );
      for (const path of s.paths()) {
        assert.equal(
          s.offsetOf(path),
          want.offsets[path],
          `offsetof(${s.cName}, ${path})`,
        );
      }
    }
    assert.equal(
      Object.keys(generated).length,
      ALL_STRUCTS.length,
      "abi/_layout.ts has structs no codec declares",
    );
  });

  test("request numbers match <linux/kvm.h>", () => {
    assert.ok(names.length >= 39, `only ${names.length} requests`);
    for (const name of names) {
      const value = (requests as Record<string, number>)[name];
      assert.equal(value, c.requests[name], `${name}: 0x${value.toString(16)}`);
    }
  });
}

test("_IOC helpers encode and decode like the kernel's macros", () => {
  assert.equal(io(0x80), 0xae80);
  assert.equal(ior(0x81, 144), 0x8090ae81);
  assert.equal(iow(0x82, 144), 0x4090ae82);
  assert.equal(iowr(0x05, 8), 0xc008ae05);
  assert.deepEqual(iocParts(0x8090ae81), {
    dir: 2,
    type: 0xae,
    nr: 0x81,
    size: 144,
  });
  assert.throws(() => iow(1, 1 << 14), RangeError);
});

test("codecs round-trip every member", () => {
  const regs = ALL_STRUCTS.find((s) => s.cName === "kvm_regs")!;
  const value: Record<string, bigint> = {};
  REG_NAMES
    .forEach((n, i) => value[n] = (0x0102030405060708n << BigInt(i % 8)) & ((1n << 64n) - 1n));
  const bytes = regs.toBytes(value);
  assert.equal(bytes.length, 144);
  assert.deepEqual(regs.fromBytes(bytes), value);
  const events = ALL_STRUCTS.find((s) => s.cName === "kvm_vcpu_events")!;
  const ev = {
    exception: {
      injected: 1,
      nr: 13,
      hasErrorCode: 1,
      pending: 0,
      errorCode: 0xbeef,
    },
    interrupt: { injected: 1, nr: 0x20, soft: 0, shadow: 1 },
    nmi: { injected: 0, pending: 1, masked: 1 },
    sipiVector: 7,
    flags: 5,
    smi: { smm: 0, pending: 0, smmInsideNmi: 0, latchedInit: 1 },
    tripleFault: { pending: 1 },
    exceptionHasPayload: 1,
    exceptionPayload: 0x1234_5678_9abc_def0n,
  };
  const evBytes = events.toBytes(ev);
  assert.equal(evBytes[0], 1);
  assert.equal(evBytes[1], 13);
  assert.deepEqual(events.fromBytes(evBytes), ev);
});
