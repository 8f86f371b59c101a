/**
 * Opening and arguments under bad input (issue 14): a device that is not KVM
 * costs no descriptor and, under "auto", falls back to the emulator; a path
 * with a NUL byte is refused instead of being cut short; every errno has its
 * kernel name; an address that is no u64 is a RangeError naming it; messages
 * stay short whatever the input.
 *
 * @module
 */
import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync } from "node:fs";
import { EventFd, Kvm, KvmError } from "../../mod.ts";
import { backendTest, backendUnavailable, skip, test } from "../_support/harness.ts";

/**
 * The lowest free descriptor number: open(2) returns it. A leaked descriptor
 * takes that number, so the next one found is higher. (No /proc: Deno asks
 * for --allow-all there.)
 */
function openFds(): number {
  const fd = openSync("/dev/null", "r");
  closeSync(fd);
  return fd;
}

const NOT_KVM = ["/dev/null", "/dev/zero", "/proc/self/status"];

if (backendUnavailable("kvm") !== undefined) {
  skip("Kvm.open: a device that is not KVM leaves no descriptor open", `no kvm here: ${backendUnavailable("kvm")}`);
} else {
  test("Kvm.open: a device that is not KVM leaves no descriptor open", () => {
    Kvm.open({ backend: "kvm" }).close(); // libc bound, caches filled
    const before = openFds();
    for (const device of NOT_KVM) {
      for (let i = 0; i < 10; i++) {
        assert.throws(
          () => Kvm.open({ backend: "kvm", device }),
          (e: unknown) =>
            e instanceof KvmError && e.operation === "KVM_GET_API_VERSION" && e.code === "ENOTTY" &&
            e.message.includes(`${device} is not a KVM device`),
        );
      }
    }
    assert.equal(openFds(), before);
  });
}

test("Kvm.open: under auto, a device that is not KVM falls back to the emulator and says why", () => {
  const before = openFds();
  using kvm = Kvm.open({ backend: "auto", device: "/dev/null" });
  assert.equal(kvm.backend, "emu");
  assert.match(kvm.fallbackReason ?? "", /(\/dev\/null is not a KVM device|no FFI|dlopen)/);
  assert.equal(openFds(), before + (kvm.backend === "emu" ? 0 : 1));
});

test("Kvm.open: a device path with a NUL byte is refused, not cut at the NUL", () => {
  assert.throws(
    () => Kvm.open({ backend: "kvm", device: "/dev/kvm\0junk" }),
    (e: unknown) => e instanceof KvmError && e.code === "EINVAL" && /NUL byte/.test(e.message),
  );
});

test("Kvm.open: ENAMETOOLONG has its name, and the message does not repeat a 5,000-character path", () => {
  if (backendUnavailable("kvm") !== undefined && !/ENOENT|EACCES/.test(backendUnavailable("kvm")!)) return;
  const device = "/" + "a".repeat(5000);
  assert.throws(
    () => Kvm.open({ backend: "kvm", device }),
    (e: unknown) => e instanceof KvmError && e.code === "ENAMETOOLONG" && e.message.length < 300,
  );
});

backendTest("Vm: an address that is negative or a number past 2^53 is a RangeError naming it", (kvm) => {
  using vm = kvm.createVm();
  const bad: unknown[] = [-1, 2 ** 60, -1n, 1n << 64n];
  for (const addr of bad) {
    assert.throws(
      () => vm.registerCoalescedMmio({ addr: addr as number, size: 8 }),
      (e: unknown) => (e instanceof RangeError) && e.message.startsWith("zone.addr:"),
      `registerCoalescedMmio addr ${addr}`,
    );
    using doorbell = EventFd.create();
    assert.throws(
      () => vm.ioeventfd({ addr: addr as number, len: 4, eventFd: doorbell }),
      (e: unknown) => (e instanceof RangeError) && e.message.startsWith("options.addr:"),
      `ioeventfd addr ${addr}`,
    );
  }
  assert.throws(() => vm.registerCoalescedMmio({ addr: 2 ** 60, size: 8 }), /pass a bigint/);
  assert.throws(() => vm.registerCoalescedMmio({ addr: 1.5, size: 8 }), /zone\.addr:/);
  try {
    vm.registerCoalescedMmio({ addr: 1n << 60n, size: 8 }); // as a bigint the address passes the checks
  } catch (e) {
    assert.ok(e instanceof KvmError, `only the backend may refuse it (the emulator has no coalesced MMIO): ${e}`);
  }
});

/** This process's virtual size in KiB, where /proc may be read (Deno asks for --allow-all there). */
function vmSizeKiB(): number | undefined {
  try {
    return Number(/VmSize:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
  } catch {
    return undefined;
  }
}

backendTest(
  "Vm.allocateMemory: a size the runtime cannot view is a KvmError ENOMEM and leaves nothing mapped",
  (kvm) => {
    using vm = kvm.createVm();
    const before = vmSizeKiB();
    for (const size of [2 ** 32 + 4096, 48 * 2 ** 30]) {
      for (let i = 0; i < 5; i++) {
        try {
          const mem = vm.allocateMemory(size);
          assert.equal(mem.bytes.length, size); // this runtime views it whole
          mem.free();
        } catch (e) {
          assert.ok(e instanceof KvmError && e.code === "ENOMEM", String(e));
          assert.match(e.message, new RegExp(`${size} bytes of guest memory`));
        }
      }
    }
    const after = vmSizeKiB();
    if (before !== undefined && after !== undefined) {
      assert.ok(
        after - before < 2 ** 20,
        `VmSize grew ${after - before} KiB`,
      );
    }
    const mem = vm.allocateMemory(0x1000); // still usable
    mem.bytes[0] = 1;
    mem.free();
  },
);
