/**
 * The platform module's devices and tables without a guest: the 16550A, the
 * CMOS RTC, fw_cfg, the ACPI tables and PM block, the i8042, the e820 map
 * and the command-line parser of `kvmkit`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../_support/harness.ts";
import { Uart16550 } from "../../vmm/uart.ts";
import { CmosRtc } from "../../vmm/rtc.ts";
import { FwCfg, FwCfgKey } from "../../vmm/fw_cfg.ts";
import { buildAcpi, PM1A_CNT, RESET_PORT } from "../../vmm/acpi.ts";
import { AcpiPm, ResetControl } from "../../vmm/pm.ts";
import { I8042 } from "../../vmm/i8042.ts";
import { IoBus } from "../../vmm/bus.ts";
import { parseSize } from "../../vmm/ram.ts";
import { OPTIONS, parseRunArgs, UsageError } from "../../vmm/cli.ts";

function uart() {
  const out: number[] = [];
  const irqs: boolean[] = [];
  const u = new Uart16550({ output: (b) => out.push(b), irq: (l) => irqs.push(l) });
  return { u, out, irqs };
}

test("vmm uart: THR transmits, LSR says empty, DLAB switches to the divisor", () => {
  const { u, out } = uart();
  u.write(0, 1, 0x41);
  assert.deepEqual(out, [0x41]);
  assert.equal(u.read(5, 1) & 0x60, 0x60); // THRE, TEMT
  u.write(3, 1, 0x83); // DLAB, 8N1
  u.write(0, 1, 0x0c);
  u.write(1, 1, 0x00);
  assert.equal(u.read(0, 1), 0x0c);
  assert.deepEqual(out, [0x41], "a divisor write is not transmitted");
  u.write(3, 1, 0x03);
  u.write(7, 1, 0x5a);
  assert.equal(u.read(7, 1), 0x5a, "scratch register");
});

test("vmm uart: THRE interrupt on enable, acknowledged by reading IIR; FIFO bits in IIR", () => {
  const { u, irqs } = uart();
  u.write(4, 1, 0x08); // OUT2: the interrupt reaches the line
  u.write(2, 1, 0x01); // FIFO on
  assert.equal(u.read(2, 1), 0xc1, "FIFO enabled, nothing pending");
  u.write(1, 1, 0x02); // IER.THRI
  assert.equal(irqs.at(-1), true);
  assert.equal(u.read(2, 1), 0xc2, "THRE pending");
  assert.equal(irqs.at(-1), false, "reading IIR acknowledged it");
  assert.equal(u.read(2, 1), 0xc1);
  u.write(0, 1, 0x20);
  assert.equal(u.read(2, 1), 0xc2, "a transmitted byte is a new THRE");
});

test("vmm uart: receive FIFO, trigger level and character timeout, data ready, overrun-free queue", () => {
  const { u, irqs } = uart();
  u.write(4, 1, 0x08);
  u.write(2, 1, 0x81); // FIFO on, trigger 8
  u.write(1, 1, 0x01); // IER.RDI
  u.receive([0x61, 0x62]);
  assert.equal(irqs.at(-1), true);
  assert.equal(u.read(2, 1), 0xcc, "below the trigger: character timeout");
  assert.equal(u.read(5, 1) & 1, 1, "data ready");
  u.receive(new Uint8Array(8).fill(0x63));
  assert.equal(u.read(2, 1), 0xc4, "at the trigger: received data available");
  const got = [];
  while (u.read(5, 1) & 1) got.push(u.read(0, 1));
  assert.deepEqual(got, [0x61, 0x62, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63]);
  assert.equal(irqs.at(-1), false);
  assert.equal(u.read(2, 1), 0xc1);
});

test("vmm uart: loopback maps MCR to MSR (Linux's probe) and loops TX to RX", () => {
  const { u, out } = uart();
  u.write(4, 1, 0x1a); // LOOP | OUT2 | RTS
  assert.equal(u.read(6, 1) & 0xf0, 0x90);
  u.write(0, 1, 0x55);
  assert.deepEqual(out, []);
  assert.equal(u.read(0, 1), 0x55);
  u.write(4, 1, 0x00);
  assert.equal(u.read(6, 1) & 0xf0, 0xb0, "a terminal: DCD, DSR, CTS");
});

test("vmm rtc: BCD and binary time, 12-hour mode, memory sizes, setting the time", () => {
  const t = Date.UTC(2026, 11, 5, 19, 7, 42);
  let now = t;
  const r = new CmosRtc({ lowMemory: 256 * 2 ** 20, highMemory: 2 ** 30, cpus: 2, now: () => now });
  const rd = (i: number) => {
    r.write(0, 1, i);
    return r.read(1, 1);
  };
  const wr = (i: number, v: number) => {
    r.write(0, 1, i);
    r.write(1, 1, v);
  };
  assert.deepEqual([rd(0), rd(2), rd(4), rd(7), rd(8), rd(9), rd(0x32)], [0x42, 0x07, 0x19, 0x05, 0x12, 0x26, 0x20]);
  assert.equal(rd(6), 0x07, "Saturday is day 7");
  assert.equal(rd(0x0d), 0x80);
  assert.equal(rd(0x0a) & 0x80, 0, "no update in progress");
  assert.equal(rd(0x34) | (rd(0x35) << 8), (256 - 16) * 16, "64 KiB units above 16 MiB");
  assert.equal(rd(0x17) | (rd(0x18) << 8), 0xfc00, "extended memory, capped");
  assert.equal(rd(0x5b) | (rd(0x5c) << 8) | (rd(0x5d) << 16), 2 ** 30 / 65536);
  assert.equal(rd(0x5f), 1, "CPUs - 1");
  wr(0x0b, 0x06); // binary, 24h
  assert.equal(rd(0), 42);
  wr(0x0b, 0x04); // binary, 12h
  assert.equal(rd(4), 0x80 | 7, "7 PM");
  wr(0x0b, 0x02); // BCD, 24h
  wr(0x0b, 0x82); // SET: freeze and write
  wr(4, 0x08);
  wr(2, 0x30);
  wr(0x0b, 0x02);
  now += 5000;
  assert.deepEqual([rd(4), rd(2), rd(0)], [0x08, 0x30, 0x47], "the new time runs on from when it was set");
});

test("vmm fw_cfg: signature, ID, RAM size, CPUs, command line, file directory, zeros past the end", () => {
  const f = new FwCfg({ ramSize: 256 * 2 ** 20, cpus: 3, cmdline: { addr: 0x20000, text: "quiet" } });
  f.addFile("etc/test", new Uint8Array([1, 2, 3]));
  const item = (key: number, n: number) => {
    f.write(0, 2, key);
    return Array.from({ length: n }, () => f.read(1, 1));
  };
  assert.equal(String.fromCharCode(...item(FwCfgKey.SIGNATURE, 4)), "QEMU");
  assert.deepEqual(item(FwCfgKey.ID, 4), [1, 0, 0, 0]);
  assert.deepEqual(item(FwCfgKey.RAM_SIZE, 8), [0, 0, 0, 0x10, 0, 0, 0, 0]);
  assert.deepEqual(item(FwCfgKey.NB_CPUS, 2), [3, 0]);
  assert.deepEqual(item(FwCfgKey.CMDLINE_SIZE, 4), [6, 0, 0, 0]);
  assert.equal(String.fromCharCode(...item(FwCfgKey.CMDLINE_DATA, 6)), "quiet\0");
  const dir = item(FwCfgKey.FILE_DIR, 4 + 64);
  assert.deepEqual(dir.slice(0, 4), [0, 0, 0, 1], "count, big endian");
  assert.deepEqual(dir.slice(4, 8), [0, 0, 0, 3], "size, big endian");
  const sel = (dir[8] << 8) | dir[9];
  assert.equal(String.fromCharCode(...dir.slice(12, 20)), "etc/test");
  assert.deepEqual(item(sel, 5), [1, 2, 3, 0, 0]);
  assert.deepEqual(item(0x1234, 2), [0, 0], "an unknown selector reads zeros");
  f.write(0, 2, FwCfgKey.SIGNATURE);
  assert.equal(f.read(1, 4), 0x554d4551, "a 4-byte read takes 4 bytes");
});

function sum(bytes: Uint8Array): number {
  return bytes.reduce((a, b) => (a + b) & 0xff, 0);
}

test("vmm acpi: checksums, RSDP -> XSDT -> FADT/MADT, FADT blocks and reset register, MADT entries, \\_S5", () => {
  const base = 0xe0000;
  const t = buildAcpi({ base, cpus: 2 });
  const at = (addr: number, n: number) => t.bytes.subarray(addr - base, addr - base + n);
  const v = (addr: number, n: number) => new DataView(t.bytes.buffer, t.bytes.byteOffset + addr - base, n);
  const rsdp = at(t.rsdp, 36);
  assert.equal(String.fromCharCode(...rsdp.subarray(0, 8)), "RSD PTR ");
  assert.equal(sum(rsdp.subarray(0, 20)), 0);
  assert.equal(sum(rsdp), 0);
  const xsdt = Number(v(t.rsdp, 36).getBigUint64(24, true));
  assert.equal(xsdt, t.tables.XSDT);
  for (const sig of ["DSDT", "FACP", "APIC", "HPET", "RSDT", "XSDT"]) {
    const len = v(t.tables[sig], 8).getUint32(4, true);
    assert.equal(String.fromCharCode(...at(t.tables[sig], 4)), sig);
    assert.equal(sum(at(t.tables[sig], len)), 0, `${sig} checksum`);
  }
  const x = v(xsdt, 60);
  assert.equal(x.getUint32(4, true), 36 + 24);
  assert.deepEqual([36, 44, 52].map((at) => Number(x.getBigUint64(at, true))), [
    t.tables.FACP,
    t.tables.APIC,
    t.tables.HPET,
  ]);
  const f = v(t.tables.FACP, 276);
  assert.equal(f.getUint32(4, true), 276);
  assert.equal(f.getUint32(40, true), t.tables.DSDT);
  assert.equal(f.getUint32(64, true), PM1A_CNT);
  assert.equal(f.getUint16(46, true), 9, "SCI on IRQ 9");
  assert.equal(f.getUint8(116), 1, "reset register in I/O space");
  assert.equal(Number(f.getBigUint64(120, true)), RESET_PORT);
  assert.equal(f.getUint8(128), 6);
  assert.ok(f.getUint32(112, true) & (1 << 10), "RESET_REG_SUP");
  assert.equal(Number(f.getBigUint64(140, true)), t.tables.DSDT, "X_DSDT");
  const m = at(t.tables.APIC, v(t.tables.APIC, 8).getUint32(4, true));
  const entries: number[][] = [];
  for (let i = 44; i < m.length; i += m[i + 1]) entries.push([...m.subarray(i, i + m[i + 1])]);
  assert.deepEqual(entries.map((e) => e[0]), [0, 0, 1, 2, 2], "2 LAPICs, an IOAPIC, 2 ISOs");
  assert.deepEqual(entries.slice(0, 2).map((e) => e[3]), [0, 1], "APIC IDs");
  assert.deepEqual(entries[3].slice(3, 8), [0, 2, 0, 0, 0], "IRQ 0 -> GSI 2");
  const d = at(t.tables.DSDT, v(t.tables.DSDT, 8).getUint32(4, true));
  assert.ok(String.fromCharCode(...d).includes("_S5_"));
});

test("vmm pm: S5 powers off, other sleep types do not; the PM timer runs at 3.58 MHz; 0xcf9 resets", () => {
  let now = 1000;
  const events: string[] = [];
  const pm = new AcpiPm({
    poweroff: () => void events.push("off"),
    reset: () => void events.push("reset"),
    now: () => now,
  });
  assert.equal(pm.read(4, 2) & 1, 1, "SCI_EN: already in ACPI mode");
  pm.write(4, 2, (1 << 10) | (1 << 13));
  assert.equal(events.length, 0);
  now += 1000;
  assert.equal(pm.read(8, 4), 3579545);
  pm.write(4, 2, (5 << 10) | (1 << 13));
  assert.deepEqual(events, ["off"]);
  const rc = new ResetControl(() => void events.push("reset"));
  rc.write(0, 1, 0x02);
  rc.write(0, 1, 0x06);
  assert.deepEqual(events, ["off", "reset"]);
});

test("vmm i8042: self test, configuration byte, keyboard identify with IRQ 1, reset line", () => {
  const events: string[] = [];
  const k = new I8042({ irq: (l) => void (l && events.push("irq")), reset: () => void events.push("reset") });
  const bus = new IoBus();
  bus.register(0x60, 1, "data", k.data);
  bus.register(0x64, 1, "cmd", k.command);
  bus.write(0x64, 1, 0xaa);
  assert.equal(bus.read(0x64, 1) & 1, 1);
  assert.equal(bus.read(0x60, 1), 0x55);
  bus.write(0x64, 1, 0x20);
  const ctr = bus.read(0x60, 1);
  assert.equal(ctr & 1, 1, "keyboard interrupt enabled");
  events.length = 0;
  bus.write(0x60, 1, 0xf2);
  assert.deepEqual([bus.read(0x60, 1), bus.read(0x60, 1), bus.read(0x60, 1)], [0xfa, 0xab, 0x83]);
  assert.ok(events.filter((e) => e === "irq").length >= 1);
  bus.write(0x64, 1, 0xa9);
  assert.equal(bus.read(0x60, 1), 0x01, "no aux port");
  bus.write(0x64, 1, 0xd1);
  bus.write(0x60, 1, 0x02);
  assert.equal(events.at(-1), "reset", "output port bit 0 low");
  events.length = 0;
  bus.write(0x64, 1, 0xfe);
  assert.deepEqual(events, ["reset"]);
});

test("vmm bus: unclaimed ports float high, overlapping claims are refused", () => {
  const bus = new IoBus();
  assert.equal(bus.read(0x1234, 1), 0xff);
  assert.equal(bus.read(0x1234, 4), 0xffffffff);
  bus.register(0x100, 4, "a", { read: () => 7, write: () => {} });
  assert.throws(() => bus.register(0x103, 2, "b", { read: () => 0, write: () => {} }), /0x103 is taken by a/);
});

test("vmm cli: sizes and every bad flag get a clear error", () => {
  assert.equal(parseSize("256M"), 256 * 2 ** 20);
  assert.equal(parseSize("1G"), 2 ** 30);
  assert.equal(parseSize("64"), 64 * 2 ** 20);
  assert.throws(() => parseSize("lots"), /not a size/);
  const ok = parseRunArgs(["--kernel", "k", "--initrd=a,b", "--initrd", "c", "--mem", "1G", "--cpus", "2"]);
  assert.deepEqual([ok.kernel, ok.initrd, ok.mem, ok.cpus], ["k", ["a", "b", "c"], 2 ** 30, 2]);
  const flat = parseRunArgs(["--flat", "f", "--mode", "long", "--at", "0x100000", "--debug-exit", "0xf4"]);
  assert.deepEqual([flat.mode, flat.at, flat.debugExit], ["long", 0x100000, 0xf4]);
  const bad: [string[], RegExp][] = [
    [["--kernel"], /--kernel needs a value/],
    [["--kernel", "k", "--bogus"], /unknown option --bogus/],
    [["--kernel", "k", "extra"], /unexpected argument "extra"/],
    [["--kernel", "k", "--mem", "x"], /--mem: "x" is not a size/],
    [["--kernel", "k", "--mem", "100K"], /below 1M/],
    [["--kernel", "k", "--cpus", "0"], /--cpus: "0" is not an integer from 1 to 64/],
    [["--kernel", "k", "--backend", "xen"], /--backend: "xen" is not one of auto, kvm, emu/],
    [["--kernel", "k", "--trace", "all"], /--trace/],
    [["--kernel", "k", "--debug-exit", "0x10000"], /--debug-exit/],
    [["--kernel", "k", "--flat", "f"], /not both/],
    [[], /nothing to run/],
    [["--flat", "f", "--at", "0"], /needs --mode/],
    [["--flat", "f", "--mode", "real"], /needs --at/],
    [["--kernel", "k", "--mode", "real"], /are for --flat/],
    [["--kernel", "k", "--cpus", "2", "--trace", "insns"], /needs --cpus 1/],
    [["--reboot=yes", "--kernel", "k"], /takes no value/],
  ];
  for (const [argv, re] of bad) {
    assert.throws(() => parseRunArgs(argv), (e) => e instanceof UsageError && re.test(e.message), argv.join(" "));
  }
  assert.ok(OPTIONS.every((o) => o.name.startsWith("--") && o.help.length > 0), "one table of options");
});
