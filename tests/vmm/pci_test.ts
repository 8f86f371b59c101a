/**
 * PCI configuration mechanism #1 and the host bridge (vmm/pci.ts): through
 * the machine's port bus (CONFIG_ADDRESS, the bridge's identification, every
 * other slot and bus reading all ones, the read-only and writable bits, the
 * reset control register sharing the range), and from a real-mode guest of
 * our own (tests/guests/vmm_pci.asm) on each backend.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { backendTest, test } from "../_support/harness.ts";
import { Machine } from "../../vmm/machine.ts";
import { I440FX_DEVICE, I440FX_VENDOR, PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA } from "../../vmm/pci.ts";

/** A machine that is built but not run: its devices answer through `m.bus`. */
function idleMachine(): Machine {
  return Machine.create({
    backend: "emu",
    memory: 16 * 2 ** 20,
    flat: { file: { name: "hlt", data: new Uint8Array([0xf4]) }, mode: "real", at: 0x7c00 },
  });
}

/** A 32-bit CONFIG_ADDRESS for bus, device, function, register. */
function address(bus: number, device: number, func: number, reg: number): number {
  return (0x80000000 | (bus << 16) | (device << 11) | (func << 8) | reg) >>> 0;
}

test("vmm pci: mechanism #1 on the machine's bus finds the 440FX host bridge at 00:00.0 and nothing else", () => {
  using m = idleMachine();
  const config = (a: number, offset = 0, size = 4) => {
    m.bus.write(PCI_CONFIG_ADDRESS, 4, a);
    return m.bus.read(PCI_CONFIG_DATA + offset, size);
  };
  m.bus.write(PCI_CONFIG_ADDRESS, 4, 0x80000000);
  assert.equal(m.bus.read(PCI_CONFIG_ADDRESS, 4), 0x80000000, "CONFIG_ADDRESS reads back");
  assert.equal(config(address(0, 0, 0, 0)), (I440FX_DEVICE << 16 | I440FX_VENDOR) >>> 0);
  assert.equal(config(address(0, 0, 0, 0), 2, 2), I440FX_DEVICE, "the device ID as a word at 0xcfe");
  assert.equal(config(address(0, 0, 0, 8)) >>> 8, 0x060000, "class: host bridge");
  assert.equal(config(address(0, 0, 0, 0xc), 2, 1), 0, "header type 0, single function");
  assert.equal(config(address(0, 0, 0, 0x10)), 0, "no BAR");
  assert.equal(config(0x00000000), 0xffffffff, "enable bit clear");
  for (const [bus, dev, fn] of [[0, 1, 0], [0, 31, 7], [0, 0, 1], [1, 0, 0], [255, 0, 0]]) {
    assert.equal(config(address(bus, dev, fn, 0)), 0xffffffff, `${bus}:${dev}.${fn} is empty`);
  }
  // Vendor and device are read-only; the command register takes I/O, memory and bus master only.
  m.bus.write(PCI_CONFIG_ADDRESS, 4, address(0, 0, 0, 0));
  m.bus.write(PCI_CONFIG_DATA, 4, 0);
  assert.equal(m.bus.read(PCI_CONFIG_DATA, 2), I440FX_VENDOR);
  m.bus.write(PCI_CONFIG_ADDRESS, 4, address(0, 0, 0, 4));
  m.bus.write(PCI_CONFIG_DATA, 2, 0xffff);
  assert.equal(m.bus.read(PCI_CONFIG_DATA, 2), 0x0007);
  // Only a 32-bit access reaches CONFIG_ADDRESS (its reserved bits 30:24 and 1:0 read 0).
  m.bus.write(PCI_CONFIG_ADDRESS, 4, 0xffffffff);
  assert.equal(m.bus.read(PCI_CONFIG_ADDRESS, 4), 0x80fffffc);
  m.bus.write(PCI_CONFIG_ADDRESS + 3, 1, 0);
  m.bus.write(PCI_CONFIG_ADDRESS, 2, 0);
  assert.equal(m.bus.read(PCI_CONFIG_ADDRESS, 4), 0x80fffffc);
  assert.equal(m.bus.read(PCI_CONFIG_ADDRESS, 1), 0xff);
});

test("vmm pci: the byte at 0xcf9 is still the reset control register", async () => {
  using m = idleMachine();
  m.bus.write(PCI_CONFIG_ADDRESS + 1, 1, 0x02);
  assert.equal(m.bus.read(PCI_CONFIG_ADDRESS + 1, 1), 0x02, "bits kept, no reset");
  m.bus.write(PCI_CONFIG_ADDRESS + 1, 1, 0x06);
  const r = await m.run({ timeoutMs: 10_000 });
  assert.deepEqual([r.reason, r.detail], ["reset", "reset register 0xcf9"]);
});

backendTest("vmm pci: a real-mode guest probes mechanism #1 as Linux does", async (kvm) => {
  const data = new Uint8Array(readFileSync(new URL("../guests/vmm_pci.bin", import.meta.url)));
  using m = Machine.create({
    kvm,
    memory: 16 * 2 ** 20,
    flat: { file: { name: "vmm_pci", data }, mode: "real", at: 0x7c00 },
    debugExit: 0xf4,
  });
  const r = await m.run({ timeoutMs: 30_000 });
  assert.equal(r.exitCode, 3, `${r.detail} (status 2n + 1: check n failed, see vmm_pci.asm)`);
});
