/**
 * An AML encoder for the few terms the DSDT needs (ACPI 6.5, chapter 20,
 * "ACPI Machine Language (AML) Specification"): names and name strings,
 * integers, packages and buffers, Name, Scope and Device with their
 * PkgLength, EISAID, and the resource descriptors of a ResourceTemplate
 * (chapter 6.4, "Resource Data Types for ACPI"): the small I/O port
 * descriptor and end tag, and the Word and DWord address space descriptors.
 * Each term is a byte array; terms nest by concatenation.
 *
 * @module
 */

/** AML opcodes (ACPI 6.5, 20.3). */
const ZERO_OP = 0x00, ONE_OP = 0x01, ONES_OP = 0xff, NAME_OP = 0x08;
const BYTE_PREFIX = 0x0a, WORD_PREFIX = 0x0b, DWORD_PREFIX = 0x0c, QWORD_PREFIX = 0x0e;
const SCOPE_OP = 0x10, BUFFER_OP = 0x11, PACKAGE_OP = 0x12, EXT_OP_PREFIX = 0x5b, DEVICE_OP = 0x82;
/** Name string prefixes: the root, a two-segment and a multi-segment path. */
const ROOT_CHAR = 0x5c, DUAL_NAME_PREFIX = 0x2e, MULTI_NAME_PREFIX = 0x2f;
/** The longest PkgLength: 28 bits (a lead byte's 4 and three more bytes). */
const PKG_LENGTH_MAX = 2 ** 28 - 1;

/** Bytes of an AML term. */
export type Aml = number[];

/** Joins terms into one list. */
export function concat(terms: readonly Aml[]): Aml {
  return terms.flat();
}

/** A NameSeg: 1 to 4 characters of A-Z, 0-9 and _ (not a digit first), padded with _ to four. */
function nameSeg(seg: string): Aml {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(seg)) throw new RangeError(`AML name segment "${seg}": 1-4 of A-Z 0-9 _`);
  return [...seg.padEnd(4, "_")].map((c) => c.charCodeAt(0));
}

/** A NameString: `\` for the root, then segments separated by dots ("\\_SB.PCI0", "_HID"). */
export function nameString(path: string): Aml {
  const root = path.startsWith("\\");
  const segs = (root ? path.slice(1) : path).split(".").map(nameSeg);
  const head = root ? [ROOT_CHAR] : [];
  if (segs.length === 1) return [...head, ...segs[0]];
  if (segs.length === 2) return [...head, DUAL_NAME_PREFIX, ...segs.flat()];
  return [...head, MULTI_NAME_PREFIX, segs.length, ...segs.flat()];
}

/**
 * A PkgLength (20.2.4) for `contentLength` bytes after it: the encoded length counts its own bytes. Below 64 one byte;
 * else the lead byte holds the number of following bytes in bits 7:6 and the low nibble, the rest follows.
 */
export function pkgLength(contentLength: number): Aml {
  for (let extra = 0; extra <= 3; extra++) {
    const total = contentLength + 1 + extra;
    if (extra === 0 && total < 0x40) return [total];
    if (extra > 0 && total < 2 ** (4 + 8 * extra)) {
      const out = [(extra << 6) | (total & 0x0f)];
      for (let i = 0; i < extra; i++) out.push((total >>> (4 + 8 * i)) & 0xff);
      return out;
    }
  }
  throw new RangeError(`AML package of ${contentLength} bytes: longer than ${PKG_LENGTH_MAX}`);
}

/** An Integer as its shortest encoding: Zero, One, Ones (all 64 bits set), or a Byte/Word/DWord/QWord constant. */
export function integer(value: number | bigint): Aml {
  const v = BigInt(value);
  if (v < 0n || v >= 1n << 64n) throw new RangeError(`AML integer ${value}: not in 0..2^64-1`);
  if (v === 0n) return [ZERO_OP];
  if (v === 1n) return [ONE_OP];
  if (v === (1n << 64n) - 1n) return [ONES_OP];
  const [prefix, size] = v < 0x100n
    ? [BYTE_PREFIX, 1]
    : v < 0x10000n
    ? [WORD_PREFIX, 2]
    : v < 0x1_0000_0000n
    ? [DWORD_PREFIX, 4]
    : [QWORD_PREFIX, 8];
  return [prefix, ...le(v, size)];
}

/** `size` little-endian bytes of `value`. */
function le(value: number | bigint, size: number): Aml {
  const v = BigInt(value), out: number[] = [];
  for (let i = 0; i < size; i++) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
  return out;
}

/**
 * EISAID("PNP0A03"): a compressed EISA ID as a DWord constant. Three letters of five bits each (A is 1) fill the
 * first two bytes, big endian; the four hex digits are the next two bytes.
 */
export function eisaId(id: string): Aml {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new RangeError(`EISA ID "${id}": three letters and four hex digits`);
  const [a, b, c] = [0, 1, 2].map((i) => id.charCodeAt(i) - 0x40);
  const vendor = (a << 10) | (b << 5) | c, product = parseInt(id.slice(3), 16);
  return [DWORD_PREFIX, vendor >> 8, vendor & 0xff, product >> 8, product & 0xff];
}

/** Name(path, object). */
export function name(path: string, object: Aml): Aml {
  return [NAME_OP, ...nameString(path), ...object];
}

/** Scope(path) { terms }. */
export function scope(path: string, terms: readonly Aml[]): Aml {
  const body = [...nameString(path), ...concat(terms)];
  return [SCOPE_OP, ...pkgLength(body.length), ...body];
}

/** Device(path) { terms }. */
export function device(path: string, terms: readonly Aml[]): Aml {
  const body = [...nameString(path), ...concat(terms)];
  return [EXT_OP_PREFIX, DEVICE_OP, ...pkgLength(body.length), ...body];
}

/** Package() { elements }: each element an integer, a name string or a nested package. */
export function pkg(elements: readonly Aml[]): Aml {
  if (elements.length > 0xff) throw new RangeError(`AML package of ${elements.length} elements: at most 255`);
  const body = [elements.length, ...concat(elements)];
  return [PACKAGE_OP, ...pkgLength(body.length), ...body];
}

/** Buffer() { bytes }: its size as an integer, then the bytes. */
export function buffer(bytes: readonly number[]): Aml {
  const body = [...integer(bytes.length), ...bytes];
  return [BUFFER_OP, ...pkgLength(body.length), ...body];
}

// Resource descriptors (ACPI 6.5, 6.4).

/** Small descriptor tags (bits 6:3 the type, 2:0 the length): I/O port (length 7) and end tag (length 1). */
const IO_PORT_TAG = 0x47, END_TAG = 0x79;
/** Large descriptor tags (bit 7 set, then the type): Word and DWord address space. */
const WORD_ADDRESS_TAG = 0x88, DWORD_ADDRESS_TAG = 0x87;
/** An address space descriptor's resource type (_RT). */
export const ADDRESS_MEMORY = 0, ADDRESS_IO = 1, ADDRESS_BUS = 2;
/** General flags: the minimum (_MIF) and maximum (_MAF) are fixed; a producer with positive decode leaves 0. */
const MIN_FIXED = 1 << 2, MAX_FIXED = 1 << 3;
/** I/O type-specific flags: the range decodes ISA and non-ISA addresses (_RNG, EntireRange). */
export const IO_ENTIRE_RANGE = 3;
/** Memory type-specific flags: read/write (_RW), non-cacheable (_MEM 0), address range memory (_MTP 0). */
export const MEMORY_READ_WRITE_NON_CACHEABLE = 1;

/** IO(Decode16, min, max, alignment, length): a fixed block of ports a device decodes with 16 address lines. */
export function ioPort(min: number, max: number, alignment: number, length: number): Aml {
  return [IO_PORT_TAG, 1, ...le(min, 2), ...le(max, 2), alignment, length];
}

/** What an address space descriptor gives: a producer's fixed range with positive decode. */
export interface AddressRange {
  /** _RT: ADDRESS_MEMORY, ADDRESS_IO or ADDRESS_BUS. */
  type: number;
  /** The type-specific flags (IO_ENTIRE_RANGE, MEMORY_READ_WRITE_NON_CACHEABLE; 0 for a bus range). */
  typeFlags: number;
  /** First address (_MIN). */
  min: number;
  /** Last address (_MAX). */
  max: number;
}

/** The fields after the tag and length: type, flags, granularity (0), min, max, translation (0), length. */
function addressFields(range: AddressRange, size: number): Aml {
  const { type, typeFlags, min, max } = range;
  if (!(min <= max && max < 2 ** (8 * size))) throw new RangeError(`address range ${min}-${max}: not in ${size} bytes`);
  return [
    type,
    MIN_FIXED | MAX_FIXED,
    typeFlags,
    ...le(0, size),
    ...le(min, size),
    ...le(max, size),
    ...le(0, size),
    ...le(max - min + 1, size),
  ];
}

/** A Word Address Space Descriptor: WordBusNumber or WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, ...). */
export function wordAddress(range: AddressRange): Aml {
  const fields = addressFields(range, 2);
  return [WORD_ADDRESS_TAG, ...le(fields.length, 2), ...fields];
}

/** A DWord Address Space Descriptor: DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, ...). */
export function dwordAddress(range: AddressRange): Aml {
  const fields = addressFields(range, 4);
  return [DWORD_ADDRESS_TAG, ...le(fields.length, 2), ...fields];
}

/** ResourceTemplate() { descriptors }: a buffer of the descriptors and an end tag whose checksum makes them sum to 0. */
export function resourceTemplate(descriptors: readonly Aml[]): Aml {
  const bytes = [...concat(descriptors), END_TAG];
  const sum = bytes.reduce((s, b) => s + b, 0);
  return buffer([...bytes, (0x100 - (sum & 0xff)) & 0xff]);
}
