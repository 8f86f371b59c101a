/**
 * The HPET (vmm/hpet.ts) without a guest, on a clock the test moves: its
 * registers, the main counter advancing only while enabled, one-shot and
 * periodic comparators firing (by poll and by host timer), 32-bit mode,
 * level interrupts held until acknowledged, the legacy replacement route,
 * the MMIO bus and the ACPI HPET table.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../_support/harness.ts";
import {
  Hpet,
  HPET_BASE,
  HPET_BLOCK_ID,
  HPET_CFG,
  HPET_CFG_ENABLE,
  HPET_CFG_LEGACY,
  HPET_COUNTER,
  HPET_ID,
  HPET_PERIOD_FS,
  HPET_STATUS,
  HPET_T0,
  HPET_T_STRIDE,
  HPET_TN_32BIT,
  HPET_TN_ENABLE,
  HPET_TN_LEVEL,
  HPET_TN_PERIODIC,
  HPET_TN_ROUTE_SHIFT,
  HPET_TN_SETVAL,
} from "../../vmm/hpet.ts";
import { MmioBus } from "../../vmm/bus.ts";
import { buildAcpi } from "../../vmm/acpi.ts";
import { Machine } from "../../vmm/machine.ts";

/** A block on a fake clock: `advance(ms)` moves it and runs the host timers that came due; `irqs` logs the lines. */
function fakeHpet(legacyReplacement = false) {
  let now = 1000;
  const pending: { at: number; fn: () => void }[] = [];
  const irqs: [number, boolean][] = [];
  const hpet = new Hpet({
    legacyReplacement,
    irq: (gsi, level) => irqs.push([gsi, level]),
    now: () => now,
    setTimer: (ms, fn) => {
      const entry = { at: now + ms, fn };
      pending.push(entry);
      return () => {
        const i = pending.indexOf(entry);
        if (i >= 0) pending.splice(i, 1);
      };
    },
  });
  const read = (offset: number, size = 8) => {
    const b = new Uint8Array(size);
    hpet.read(offset, b);
    return b.reduceRight((v, x) => (v << 8n) | BigInt(x), 0n);
  };
  const write = (offset: number, value: bigint, size = 8) => {
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i++) b[i] = Number((value >> BigInt(8 * i)) & 0xffn);
    hpet.write(offset, b);
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (;;) {
      const next = pending.filter((p) => p.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      now = next.at;
      pending.splice(pending.indexOf(next), 1);
      next.fn();
    }
    now = end;
  };
  const setNow = (ms: number) => (now = ms);
  return { hpet, irqs, read, write, advance, setNow, pending };
}

/** Ticks of the counter per millisecond. */
const TICKS_PER_MS = BigInt(1e12 / HPET_PERIOD_FS);
const conf = (n: number) => HPET_T0 + n * HPET_T_STRIDE;
const cmp = (n: number) => HPET_T0 + n * HPET_T_STRIDE + 8;
const route = (gsi: number) => BigInt(gsi) << HPET_TN_ROUTE_SHIFT;

test("vmm hpet: capabilities and ID give the period, three timers, a 64-bit counter; halves read", () => {
  const { read } = fakeHpet();
  const id = read(HPET_ID);
  assert.equal(id >> 32n, BigInt(HPET_PERIOD_FS), "COUNTER_CLK_PERIOD in fs");
  assert.equal((id >> 8n) & 0x1fn, 2n, "NUM_TIM_CAP: timers 0-2");
  assert.equal((id >> 13n) & 1n, 1n, "COUNT_SIZE_CAP");
  assert.equal((id >> 15n) & 1n, 0n, "no LEG_RT_CAP unless asked");
  assert.equal((fakeHpet(true).read(HPET_ID) >> 15n) & 1n, 1n, "LEG_RT_CAP when asked");
  assert.equal(id & 0xffn, 1n, "revision");
  assert.equal(read(HPET_ID, 4), id & 0xffffffffn);
  assert.equal(read(HPET_ID + 4, 4), BigInt(HPET_PERIOD_FS), "the high half, as Linux's hpet_readl reads it");
  assert.equal(read(conf(1)) >> 32n, 0x00f00000n, "Tn_INT_ROUTE_CAP: inputs 20-23");
  assert.equal(read(conf(1)) & (1n << 4n | 1n << 5n), 1n << 4n | 1n << 5n, "periodic and 64-bit capable");
  assert.equal(read(cmp(0)), (1n << 64n) - 1n, "comparators start all ones");
});

test("vmm hpet: the main counter advances with host time only while ENABLE_CNF is set, and is writable stopped", () => {
  const { read, write, advance } = fakeHpet();
  advance(5);
  assert.equal(read(HPET_COUNTER), 0n, "stopped at reset");
  write(HPET_CFG, HPET_CFG_ENABLE);
  advance(2);
  assert.equal(read(HPET_COUNTER), 2n * TICKS_PER_MS);
  write(HPET_COUNTER, 5n); // ignored while running
  write(HPET_CFG, 0n);
  advance(7);
  assert.equal(read(HPET_COUNTER), 2n * TICKS_PER_MS, "frozen when disabled");
  write(HPET_COUNTER, 0x1_0000_0000n);
  write(HPET_CFG, HPET_CFG_ENABLE);
  advance(1);
  assert.equal(read(HPET_COUNTER), 0x1_0000_0000n + TICKS_PER_MS);
  assert.equal(read(HPET_COUNTER + 4, 4), 1n, "the high half");
  assert.equal(read(HPET_CFG), HPET_CFG_ENABLE);
});

test("vmm hpet: a one-shot edge timer fires once at its comparator on its route, by host timer", () => {
  const { read, write, advance, irqs } = fakeHpet();
  write(conf(0), HPET_TN_ENABLE | route(20));
  write(cmp(0), 3n * TICKS_PER_MS);
  write(HPET_CFG, HPET_CFG_ENABLE);
  advance(2.9);
  assert.deepEqual(irqs, [], "not before the match");
  advance(0.2);
  assert.deepEqual(irqs, [[20, true], [20, false]], "an edge: a pulse");
  advance(1000);
  assert.deepEqual(irqs.length, 2, "once (a 64-bit comparator does not match again)");
  assert.equal(read(HPET_STATUS), 0n, "edge interrupts leave the status alone");
});

test("vmm hpet: poll() fires a due timer and nextDueMs() says when, so a run loop can wait for it", () => {
  const { hpet, write, setNow, irqs } = fakeHpet();
  assert.equal(hpet.nextDueMs(), undefined);
  write(conf(2), HPET_TN_ENABLE | route(22));
  write(cmp(2), 4n * TICKS_PER_MS);
  write(HPET_CFG, HPET_CFG_ENABLE);
  assert.equal(hpet.nextDueMs(), 1004);
  setNow(1003);
  hpet.poll();
  assert.deepEqual(irqs, []);
  setNow(1004);
  hpet.poll();
  assert.deepEqual(irqs, [[22, true], [22, false]]);
  assert.equal(hpet.nextDueMs(), undefined, "a one-shot 64-bit timer is not armed again");
});

test("vmm hpet: a periodic timer fires every period (Tn_VAL_SET_CNF then the period, as Linux programs it)", () => {
  const { read, write, advance, irqs } = fakeHpet();
  write(HPET_CFG, HPET_CFG_ENABLE);
  write(conf(0), HPET_TN_ENABLE | HPET_TN_PERIODIC | HPET_TN_SETVAL | HPET_TN_32BIT | route(21));
  write(cmp(0), read(HPET_COUNTER) + TICKS_PER_MS, 4);
  write(cmp(0), TICKS_PER_MS, 4);
  assert.equal(read(conf(0)) & HPET_TN_SETVAL, 0n, "Tn_VAL_SET_CNF clears itself");
  advance(10.5);
  assert.equal(irqs.filter(([, l]) => l).length, 10, "ten periods of 1 ms");
  assert.ok(irqs.every(([gsi]) => gsi === 21));
  assert.equal(read(cmp(0)), 11n * TICKS_PER_MS, "the comparator moved on by the period");
  write(conf(0), 0n);
  advance(5);
  assert.equal(irqs.filter(([, l]) => l).length, 10, "disabled: no more interrupts");
});

test("vmm hpet: 32-bit mode keeps the comparator's low half and matches the counter's low 32 bits", () => {
  const { read, write, advance, irqs } = fakeHpet();
  write(HPET_COUNTER, 0x5_ffff_0000n);
  write(conf(1), HPET_TN_ENABLE | HPET_TN_32BIT | route(23));
  write(cmp(1), 0x7_0000_1000n);
  assert.equal(read(cmp(1)), 0x1000n, "the high half reads 0");
  write(HPET_CFG, HPET_CFG_ENABLE);
  advance(Number(0x1000n + 0x1_0000n) / Number(TICKS_PER_MS) - 0.01);
  assert.deepEqual(irqs, []);
  advance(0.02);
  assert.deepEqual(irqs, [[23, true], [23, false]], "matched after the low half wrapped");
});

test("vmm hpet: a level interrupt holds its line and status bit until the guest writes 1 to the status", () => {
  const { read, write, advance, irqs } = fakeHpet();
  write(conf(1), HPET_TN_ENABLE | HPET_TN_LEVEL | route(20));
  write(cmp(1), TICKS_PER_MS);
  write(HPET_CFG, HPET_CFG_ENABLE);
  advance(2);
  assert.deepEqual(irqs, [[20, true]]);
  assert.equal(read(HPET_STATUS), 2n, "T1_INT_STS");
  write(HPET_STATUS, 1n); // another timer's bit: nothing
  assert.equal(read(HPET_STATUS), 2n);
  write(HPET_STATUS, 2n);
  assert.equal(read(HPET_STATUS), 0n);
  assert.deepEqual(irqs, [[20, true], [20, false]]);
});

test("vmm hpet: LEG_RT_CNF routes timer 0 to GSI 2 (IRQ 0) and timer 1 to GSI 8, whatever their routes", () => {
  const { write, read, advance, irqs } = fakeHpet(true);
  write(HPET_CFG, HPET_CFG_ENABLE | HPET_CFG_LEGACY);
  assert.equal(read(HPET_CFG), HPET_CFG_ENABLE | HPET_CFG_LEGACY);
  write(conf(0), HPET_TN_ENABLE | route(20));
  write(cmp(0), TICKS_PER_MS);
  write(conf(1), HPET_TN_ENABLE | route(21));
  write(cmp(1), 2n * TICKS_PER_MS);
  write(conf(2), HPET_TN_ENABLE | route(22));
  write(cmp(2), 3n * TICKS_PER_MS);
  advance(4);
  assert.deepEqual(irqs, [[2, true], [2, false], [8, true], [8, false], [22, true], [22, false]]);
  const plain = fakeHpet();
  plain.write(HPET_CFG, HPET_CFG_ENABLE | HPET_CFG_LEGACY);
  assert.equal(plain.read(HPET_CFG), HPET_CFG_ENABLE, "LEG_RT_CNF reads 0 without LEG_RT_CAP");
});

test("vmm hpet: a route the capability does not offer raises nothing; stop() cancels the host timers", () => {
  const { hpet, write, advance, irqs, pending } = fakeHpet();
  write(HPET_CFG, HPET_CFG_ENABLE);
  write(conf(0), HPET_TN_ENABLE | route(4));
  write(cmp(0), TICKS_PER_MS);
  advance(2);
  assert.deepEqual(irqs, []);
  write(conf(0), HPET_TN_ENABLE | HPET_TN_PERIODIC | HPET_TN_SETVAL | route(20));
  write(cmp(0), 3n * TICKS_PER_MS);
  assert.equal(pending.length, 1);
  hpet.stop();
  assert.equal(pending.length, 0);
});

test("vmm hpet: the MMIO bus routes the block's range, other addresses read all ones; the ACPI table points at it", () => {
  const { hpet } = fakeHpet();
  const bus = new MmioBus();
  bus.register(HPET_BASE, 0x400, "hpet", hpet);
  assert.throws(() => bus.register(HPET_BASE + 0x3ff, 1, "other", hpet), /overlaps hpet/);
  const d = new Uint8Array(4);
  bus.read(HPET_BASE + 4, d);
  assert.equal(new DataView(d.buffer).getUint32(0, true), HPET_PERIOD_FS);
  bus.read(HPET_BASE + 0x400, d);
  assert.deepEqual([...d], [0xff, 0xff, 0xff, 0xff]);
  assert.equal(bus.nameOf(HPET_BASE + 0x108), "hpet");

  const acpi = buildAcpi({ base: 0xe0000, cpus: 1 });
  const at = acpi.tables.HPET - 0xe0000;
  const v = new DataView(acpi.bytes.buffer, acpi.bytes.byteOffset);
  assert.equal(new TextDecoder().decode(acpi.bytes.subarray(at, at + 4)), "HPET");
  assert.equal(v.getUint32(at + 4, true), 56, "header and body");
  assert.equal(v.getUint32(at + 36, true), HPET_BLOCK_ID, "Event Timer Block ID");
  assert.equal(v.getUint8(at + 40), 0, "system memory");
  assert.equal(v.getBigUint64(at + 44, true), BigInt(HPET_BASE));
  assert.equal(acpi.bytes.subarray(at, at + 56).reduce((s, b) => s + b, 0) & 0xff, 0, "checksum");
  const xsdt = acpi.tables.XSDT - 0xe0000;
  const entries = (v.getUint32(xsdt + 4, true) - 36) / 8;
  const listed = Array.from({ length: entries }, (_, i) => Number(v.getBigUint64(xsdt + 36 + 8 * i, true)));
  assert.ok(listed.includes(acpi.tables.HPET), "the XSDT lists it");
});

test("vmm hpet: the machine maps the block at 0xfed00000 on its MMIO bus, stopped, its counter at 0", () => {
  using m = Machine.create({
    backend: "emu",
    memory: 16 * 2 ** 20,
    flat: { file: { name: "hlt", data: new Uint8Array([0xf4]) }, mode: "real", at: 0x7c00 },
  });
  assert.equal(m.mmio.nameOf(HPET_BASE), "hpet");
  const d = new Uint8Array(8);
  m.mmio.read(HPET_BASE + HPET_ID, d);
  assert.equal(new DataView(d.buffer).getUint32(4, true), HPET_PERIOD_FS);
  m.mmio.read(HPET_BASE + HPET_COUNTER, d);
  assert.deepEqual([...d], [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(m.hpet.nextDueMs(), undefined, "no timer armed: the run loop's slices are not shortened");
});
