/**
 * KVM_SET_USER_MEMORY_REGION under a random mix of adds, moves, flag changes
 * and deletes with overlapping ranges: the emulator answers every call as
 * this host's KVM does (success, EEXIST, EINVAL). Also: the emulator's
 * full 32,764 slots come and go (in order kept incrementally: adding them
 * took 22 s when every call re-sorted them all), overlaps still refused.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type GuestMemory, Kvm, KvmError } from "../../mod.ts";
import { backendUnavailable, skip, test } from "../_support/harness.ts";

const PAGE = 0x1000;

/** A tiny seeded generator (xorshift32), identical on both runtimes. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Runs `ops` random slot operations on `kvm`; returns each call's outcome ("ok" or the errno name). */
function randomSlots(kvm: Kvm, seed: number, ops: number): string[] {
  const random = rng(seed);
  const pick = (n: number) => Math.floor(random() * n);
  using vm = kvm.createVm();
  const memories: GuestMemory[] = [1, 2, 4].map((pages) => vm.allocateMemory(pages * PAGE));
  const outcomes: string[] = [];
  try {
    for (let i = 0; i < ops; i++) {
      const slot = pick(12);
      const kind = pick(4);
      const memory = kind === 0 ? null : memories[pick(memories.length)];
      try {
        vm.setUserMemoryRegion({
          slot,
          guestPhysAddr: pick(40) * PAGE,
          memory,
          flags: { logDirtyPages: kind === 3 },
        });
        outcomes.push("ok");
      } catch (e) {
        if (!(e instanceof KvmError)) throw e;
        outcomes.push(e.code);
      }
    }
  } finally {
    vm.close();
    for (const m of memories) m.free();
  }
  return outcomes;
}

const why = backendUnavailable("kvm");
if (why !== undefined) {
  skip("memory slots: random adds, moves and deletes answer as KVM does [emu vs kvm]", why);
} else {
  test("memory slots: random adds, moves and deletes answer as KVM does [emu vs kvm]", () => {
    using host = Kvm.open({ backend: "kvm" });
    using emu = Kvm.open({ backend: "emu" });
    for (const seed of [1, 2, 3]) {
      const expected = randomSlots(host, seed, 400);
      const actual = randomSlots(emu, seed, 400);
      const first = expected.findIndex((e, i) => actual[i] !== e);
      assert.equal(first, -1, `seed ${seed}, call ${first}: kvm ${expected[first]}, emu ${actual[first]}`);
      assert.ok(new Set(expected).size >= 3, `seed ${seed} exercised ok, EEXIST and EINVAL: ${[...new Set(expected)]}`);
    }
  });
}

test("memory slots: 32,764 slots added, moved and deleted on the emulator; overlaps still refused", () => {
  using kvm = Kvm.open({ backend: "emu" });
  using vm = kvm.createVm();
  const mem = vm.allocateMemory(PAGE);
  const n = 32764;
  for (let slot = 0; slot < n; slot++) vm.setUserMemoryRegion({ slot, guestPhysAddr: slot * PAGE, memory: mem });
  assert.throws(() => vm.setUserMemoryRegion({ slot: 5, guestPhysAddr: 7 * PAGE, memory: mem }), /EEXIST/);
  vm.setUserMemoryRegion({ slot: 5, guestPhysAddr: n * PAGE, memory: mem }); // moved past the others
  vm.setUserMemoryRegion({ slot: 5, guestPhysAddr: 5 * PAGE, memory: mem }); // and back
  for (let slot = n - 1; slot >= 0; slot--) vm.setUserMemoryRegion({ slot, guestPhysAddr: slot * PAGE, memory: null });
  vm.close();
  mem.free();
});
