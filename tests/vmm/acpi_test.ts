/**
 * The DSDT's AML (vmm/acpi.ts, vmm/aml.ts), read back by a small AML reader
 * of this file's own (PkgLength, name strings, Name/Scope/Device, integers,
 * packages, buffers) and a resource descriptor reader: \_S5, and the PCI
 * host bridge \_SB.PCI0 with _HID PNP0A03, _UID, _SEG, _BBN and each _CRS
 * descriptor (bus numbers, configuration ports, I/O and memory windows, the
 * end tag's checksum), the memory window following the machine's RAM.
 *
 * @module
 */
import assert from "node:assert/strict";
import { test } from "../_support/harness.ts";
import { buildAcpi, IOAPIC_ADDR, LAPIC_ADDR } from "../../vmm/acpi.ts";
import { buffer, integer, pkgLength } from "../../vmm/aml.ts";
import { HPET_BASE } from "../../vmm/hpet.ts";
import { Machine } from "../../vmm/machine.ts";
import { LOW_RAM_LIMIT } from "../../vmm/ram.ts";

const BASE = 0xe0000;

/** An AML object as read: an integer, a package, a buffer, or a Scope/Device with its names. */
type AmlValue = bigint | AmlValue[] | Uint8Array;
/** What the reader found: each named object by absolute path ("\\_SB_.PCI0._HID"), and each scope and device. */
interface Namespace {
  names: Map<string, AmlValue>;
  devices: Set<string>;
  scopes: Set<string>;
}

/** A reader over AML bytes, independent of vmm/aml.ts. */
class AmlReader {
  at: number;
  constructor(readonly b: Uint8Array, at = 0) {
    this.at = at;
  }

  /** PkgLength: returns where the package ends. */
  pkgEnd(): number {
    const start = this.at, lead = this.b[this.at++], follow = lead >> 6;
    let len = follow ? lead & 0x0f : lead & 0x3f;
    for (let i = 0; i < follow; i++) len |= this.b[this.at++] << (4 + 8 * i);
    return start + len;
  }

  seg(): string {
    const s = String.fromCharCode(...this.b.subarray(this.at, this.at + 4));
    this.at += 4;
    assert.match(s, /^[A-Z_][A-Z0-9_]{3}$/, `name segment at ${this.at - 4}`);
    return s;
  }

  /** A NameString made absolute against `scope`. */
  nameString(scope: string): string {
    let root = false;
    if (this.b[this.at] === 0x5c) root = true, this.at++;
    assert.notEqual(this.b[this.at], 0x5e, "no parent prefixes expected");
    let segs: string[];
    if (this.b[this.at] === 0x2e) this.at++, segs = [this.seg(), this.seg()];
    else if (this.b[this.at] === 0x2f) {
      const n = this.b[++this.at];
      this.at++;
      segs = Array.from({ length: n }, () => this.seg());
    } else segs = [this.seg()];
    const path = segs.join(".");
    return root ? `\\${path}` : scope === "\\" ? `\\${path}` : `${scope}.${path}`;
  }

  le(n: number): bigint {
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.b[this.at + i]);
    this.at += n;
    return v;
  }

  /** A DataRefObject: an integer constant, a package or a buffer. */
  data(): AmlValue {
    const op = this.b[this.at++];
    if (op === 0x00) return 0n;
    if (op === 0x01) return 1n;
    if (op === 0xff) return (1n << 64n) - 1n;
    if (op === 0x0a) return this.le(1);
    if (op === 0x0b) return this.le(2);
    if (op === 0x0c) return this.le(4);
    if (op === 0x0e) return this.le(8);
    if (op === 0x12) {
      const end = this.pkgEnd(), count = this.b[this.at++], items: AmlValue[] = [];
      while (this.at < end) items.push(this.data());
      assert.equal(this.at, end, "package ends at its PkgLength");
      assert.equal(items.length, count, "NumElements");
      return items;
    }
    if (op === 0x11) {
      const end = this.pkgEnd(), size = this.data();
      assert.equal(typeof size, "bigint");
      const bytes = this.b.slice(this.at, end);
      assert.equal(BigInt(bytes.length), size, "buffer size");
      this.at = end;
      return bytes;
    }
    throw new Error(`unexpected data opcode 0x${op.toString(16)} at ${this.at - 1}`);
  }

  /** A TermList up to `end` in `scope`: Name, Scope and Device only. */
  terms(end: number, scope: string, ns: Namespace): void {
    while (this.at < end) {
      const op = this.b[this.at++];
      if (op === 0x08) {
        const path = this.nameString(scope);
        ns.names.set(path, this.data());
      } else if (op === 0x10 || (op === 0x5b && this.b[this.at] === 0x82)) {
        if (op === 0x5b) this.at++;
        const pkgEnd = this.pkgEnd(), path = this.nameString(scope);
        (op === 0x10 ? ns.scopes : ns.devices).add(path);
        this.terms(pkgEnd, path, ns);
        assert.equal(this.at, pkgEnd, `${path} ends at its PkgLength`);
      } else throw new Error(`unexpected opcode 0x${op.toString(16)} at ${this.at - 1}`);
    }
  }
}

/** The DSDT of `tables` (checked: signature, length, checksum) read into a namespace. */
function readDsdt(bytes: Uint8Array, dsdt: number): Namespace {
  const v = new DataView(bytes.buffer, bytes.byteOffset + dsdt - BASE);
  const len = v.getUint32(4, true);
  const table = bytes.subarray(dsdt - BASE, dsdt - BASE + len);
  assert.equal(String.fromCharCode(...table.subarray(0, 4)), "DSDT");
  assert.equal(table.reduce((s, x) => s + x, 0) & 0xff, 0, "DSDT checksum");
  const ns: Namespace = { names: new Map(), devices: new Set(), scopes: new Set() };
  new AmlReader(table, 36).terms(len, "\\", ns);
  return ns;
}

/** A compressed EISA ID back to its seven characters. */
function eisaIdString(v: bigint): string {
  const n = Number(v), b0 = n & 0xff, b1 = (n >> 8) & 0xff;
  const vendor = (b0 << 8) | b1, letter = (x: number) => String.fromCharCode(0x40 + (x & 0x1f));
  const product = ((n >>> 16) & 0xff) << 8 | (n >>> 24);
  return letter(vendor >> 10) + letter(vendor >> 5) + letter(vendor) +
    product.toString(16).toUpperCase().padStart(4, "0");
}

/** One resource descriptor, decoded. */
type Descriptor =
  | { kind: "io"; decode16: boolean; min: number; max: number; align: number; length: number }
  | {
    kind: "word" | "dword";
    type: number;
    flags: number;
    typeFlags: number;
    granularity: number;
    min: number;
    max: number;
    translation: number;
    length: number;
  };

/** The descriptors of a resource template, checking the end tag is last and the checksum sums the bytes to 0. */
function readResources(b: Uint8Array): Descriptor[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength), out: Descriptor[] = [];
  let at = 0;
  for (;;) {
    const tag = b[at];
    if (tag & 0x80) {
      const len = v.getUint16(at + 1, true), body = at + 3;
      const size = tag === 0x88 ? 2 : tag === 0x87 ? 4 : 0;
      assert.ok(size, `large descriptor 0x${tag.toString(16)}`);
      assert.equal(len, 3 + 5 * size, "address space descriptor length");
      const f = (i: number) => size === 2 ? v.getUint16(body + 3 + 2 * i, true) : v.getUint32(body + 3 + 4 * i, true);
      out.push({
        kind: size === 2 ? "word" : "dword",
        type: b[body],
        flags: b[body + 1],
        typeFlags: b[body + 2],
        granularity: f(0),
        min: f(1),
        max: f(2),
        translation: f(3),
        length: f(4),
      });
      at = body + len;
      continue;
    }
    const type = (tag >> 3) & 0x0f, len = tag & 7;
    if (type === 0x0f) {
      assert.equal(len, 1, "end tag length");
      assert.equal(at + 2, b.length, "the end tag ends the buffer");
      assert.equal(b.reduce((s, x) => s + x, 0) & 0xff, 0, "resource template checksum");
      return out;
    }
    assert.equal(type, 0x08, `small descriptor type 0x${type.toString(16)}`);
    assert.equal(len, 7);
    out.push({
      kind: "io",
      decode16: (b[at + 1] & 1) === 1,
      min: v.getUint16(at + 2, true),
      max: v.getUint16(at + 4, true),
      align: b[at + 6],
      length: b[at + 7],
    });
    at += 1 + len;
  }
}

/** A producer's fixed range with positive decode (general flags _MIF and _MAF, nothing else), as an object. */
function producer(kind: "word" | "dword", type: number, typeFlags: number, min: number, max: number): Descriptor {
  return { kind, type, flags: 0x0c, typeFlags, granularity: 0, min, max, translation: 0, length: max - min + 1 };
}

/** The _CRS of \_SB.PCI0 in `ns`. */
function pciCrs(ns: Namespace): Descriptor[] {
  const crs = ns.names.get("\\_SB_.PCI0._CRS");
  assert.ok(crs instanceof Uint8Array, "_CRS is a buffer");
  return readResources(crs);
}

test("vmm acpi: the DSDT keeps \\_S5 and describes the PCI host bridge \\_SB.PCI0 (PNP0A03, segment 0, bus 0)", () => {
  const t = buildAcpi({ base: BASE, cpus: 1, lowMemory: 256 * 2 ** 20 });
  const ns = readDsdt(t.bytes, t.tables.DSDT);
  assert.deepEqual(ns.names.get("\\_S5_"), [5n, 5n, 0n, 0n], "\\_S5: SLP_TYPa, SLP_TYPb 5");
  assert.ok(ns.scopes.has("\\_SB_"), "Scope (\\_SB)");
  assert.deepEqual([...ns.devices], ["\\_SB_.PCI0"], "one device, \\_SB.PCI0");
  const hid = ns.names.get("\\_SB_.PCI0._HID");
  assert.equal(typeof hid, "bigint");
  assert.equal(hid, 0x030ad041n, 'EISAID ("PNP0A03") as iasl encodes it');
  assert.equal(eisaIdString(hid as bigint), "PNP0A03");
  for (const n of ["_UID", "_SEG", "_BBN"]) assert.equal(ns.names.get(`\\_SB_.PCI0.${n}`), 0n, n);
});

test("vmm acpi: \\_SB.PCI0._CRS gives buses 0-0xff, ports 0xcf8-0xcff, the I/O around them, memory from RAM's end to the IOAPIC", () => {
  const low = 256 * 2 ** 20;
  const t = buildAcpi({ base: BASE, cpus: 2, lowMemory: low });
  const crs = pciCrs(readDsdt(t.bytes, t.tables.DSDT));
  assert.deepEqual(crs, [
    producer("word", 2, 0, 0, 0xff), // WordBusNumber
    { kind: "io", decode16: true, min: 0xcf8, max: 0xcf8, align: 1, length: 8 }, // IO (Decode16, 0xcf8, ...)
    producer("word", 1, 3, 0, 0xcf7), // WordIO, EntireRange
    producer("word", 1, 3, 0xd00, 0xffff),
    producer("dword", 0, 1, low, 0xfebfffff), // DWordMemory, NonCacheable, ReadWrite
  ]);
  const mem = crs[4] as { max: number };
  for (const [what, addr] of [["IOAPIC", IOAPIC_ADDR], ["HPET", HPET_BASE], ["LAPIC", LAPIC_ADDR]] as const) {
    assert.ok(mem.max < addr, `the memory window stays below the ${what} at 0x${addr.toString(16)}`);
  }
});

test("vmm acpi: the PCI memory window starts where RAM below 4 GiB ends", () => {
  const start = (lowMemory?: number) => {
    const t = buildAcpi({ base: BASE, cpus: 1, lowMemory });
    return (pciCrs(readDsdt(t.bytes, t.tables.DSDT))[4] as { min: number }).min;
  };
  assert.equal(start(64 * 2 ** 20), 64 * 2 ** 20);
  assert.equal(start(LOW_RAM_LIMIT), LOW_RAM_LIMIT);
  assert.equal(start(), LOW_RAM_LIMIT, "default: the most RAM there can be below 4 GiB");
  assert.throws(() => buildAcpi({ base: BASE, cpus: 1, lowMemory: LOW_RAM_LIMIT + 0x1000 }), /lowMemory/);
  // The machine passes its own RAM: 48 MiB here.
  using m = Machine.create({
    backend: "emu",
    memory: 48 * 2 ** 20,
    flat: { file: { name: "hlt", data: new Uint8Array([0xf4]) }, mode: "real", at: 0x7c00 },
  });
  const dsdtLen = m.ram.view(m.acpi.tables.DSDT, 8).getUint32(4, true);
  const image = new Uint8Array(m.acpi.tables.DSDT - BASE + dsdtLen);
  image.set(m.ram.slice(BASE, image.length));
  assert.equal((pciCrs(readDsdt(image, m.acpi.tables.DSDT))[4] as { min: number }).min, 48 * 2 ** 20);
});

test("vmm aml: PkgLength at each encoding's limits, integers in their shortest form, a buffer's size", () => {
  for (const content of [0, 62, 63, 0xffd, 0xffe, 0xffffc, 0xffffd, 2 ** 28 - 5]) {
    const enc = pkgLength(content);
    const bytes = new Uint8Array(enc.length + 1);
    bytes.set(enc);
    const r = new AmlReader(bytes);
    assert.equal(r.pkgEnd() - enc.length, content, `PkgLength of ${content} (${enc.length} bytes)`);
    assert.equal(r.at, enc.length);
  }
  assert.deepEqual([62, 63, 0xffd, 0xffe, 0xffffc, 0xffffd].map((n) => pkgLength(n).length), [1, 2, 2, 3, 3, 4]);
  assert.throws(() => pkgLength(2 ** 28 - 4), /longer than/);
  const cases: [bigint, number][] = [
    [0n, 1],
    [1n, 1],
    [2n, 2],
    [0xffn, 2],
    [0x100n, 3],
    [0xffffn, 3],
    [0x10000n, 5],
    [0xffffffffn, 5],
    [0x100000000n, 9],
    [(1n << 64n) - 2n, 9],
    [(1n << 64n) - 1n, 1],
  ];
  for (const [value, size] of cases) {
    const enc = integer(value);
    assert.equal(enc.length, size, `${value} in ${size} bytes`);
    assert.equal(new AmlReader(new Uint8Array(enc)).data(), value);
  }
  assert.deepEqual(new AmlReader(new Uint8Array(buffer([1, 2, 3]))).data(), new Uint8Array([1, 2, 3]));
});
