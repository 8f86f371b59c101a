/**
 * The struct codec engine: a kernel struct declared once as a list of
 * fields (kernel name, type), with sizes and offsets taken from
 * `_layout.ts`, which tools/gen_layout.ts generates from the kernel headers
 * with the C compiler. Nothing here types an offset from memory.
 *
 * Naming rule: the JavaScript name is the kernel name in camelCase; `__u64`
 * and `__s64` fields are bigints, narrower integers are numbers.
 *
 * @module
 */
import { layout } from "./_layout.ts";

/** A kernel integer type. */
export type Scalar = "u8" | "u16" | "u32" | "u64" | "s8" | "s16" | "s32" | "s64";

/** What a field holds: an integer, a named struct, an inline anonymous struct, or bytes. */
export type FieldType =
  | Scalar
  // deno-lint-ignore no-explicit-any
  | StructCodec<any>
  | { readonly group: readonly Field[] }
  | { readonly bytes: number };

/** One field: its kernel name (a path for inline members, e.g. "exception.nr"), its type, and an array length. */
export interface Field {
  readonly c: string;
  readonly type: FieldType;
  /** An array of this many elements (`__u64 data[16]`). */
  readonly count?: number;
  /** The JavaScript name, when it is not the camelCase of the last part of `c`. */
  readonly js?: string;
}

/** A kernel name in camelCase: `guest_phys_addr` -> `guestPhysAddr`. */
export function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
}

const scalarSize: Record<Scalar, number> = {
  u8: 1,
  s8: 1,
  u16: 2,
  s16: 2,
  u32: 4,
  s32: 4,
  u64: 8,
  s64: 8,
};

interface Resolved {
  js: string;
  offset: number;
  type: FieldType;
  count: number | undefined;
  stride: number;
  group?: Resolved[];
}

/**
 * A codec for one kernel struct over a `DataView`, little endian.
 *
 * @example
 * ```ts
 * const bytes = kvmRegs.toBytes(regs);
 * const back = kvmRegs.fromBytes(bytes);
 * ```
 */
export class StructCodec<T> {
  readonly cName: string;
  readonly fields: readonly Field[];
  #resolved: Resolved[] | undefined;

  constructor(cName: string, fields: readonly Field[]) {
    this.cName = cName;
    this.fields = fields;
  }

  /** `sizeof(struct cName)`. */
  get size(): number {
    return entry(this.cName).size;
  }

  /** `offsetof(struct cName, path)`, with the kernel's member path (e.g. "io.port"). */
  offsetOf(path: string): number {
    const off = entry(this.cName).offsets[path];
    if (off === undefined) throw new Error(`abi: no layout for ${this.cName}.${path}; run \`deno task layout\``);
    return off;
  }

  /** Every member path this codec declares, for the layout generator. */
  paths(): string[] {
    const out: string[] = [];
    const walk = (fields: readonly Field[]) => {
      for (const f of fields) {
        out.push(f.c);
        if (typeof f.type === "object" && "group" in f.type) walk(f.type.group);
      }
    };
    walk(this.fields);
    return out;
  }

  /** A zero-filled buffer of `size` bytes. */
  alloc(): Uint8Array {
    return new Uint8Array(this.size);
  }

  /** Reads the struct at `offset` of `view`. */
  decode(view: DataView, offset = 0): T {
    return readGroup(this.#fields(), view, offset) as T;
  }

  /** Writes `value` at `offset` of `view`; absent members are written as zero. */
  encode(value: T, view: DataView, offset = 0): void {
    writeGroup(this.#fields(), value as Record<string, unknown>, view, offset);
  }

  /** A new buffer holding `value`. */
  toBytes(value: T): Uint8Array {
    const bytes = this.alloc();
    this.encode(value, new DataView(bytes.buffer), 0);
    return bytes;
  }

  /** Reads the struct at the start of `bytes`. */
  fromBytes(bytes: Uint8Array): T {
    return this.decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0);
  }

  #fields(): Resolved[] {
    return this.#resolved ??= this.#resolve(this.fields);
  }

  #resolve(fields: readonly Field[]): Resolved[] {
    return fields.map((f) => {
      const last = f.c.slice(f.c.lastIndexOf(".") + 1);
      const r: Resolved = {
        js: f.js ?? camel(last),
        offset: this.offsetOf(f.c),
        type: f.type,
        count: f.count,
        stride: typeSize(f.type),
      };
      if (typeof f.type === "object" && "group" in f.type) r.group = this.#resolve(f.type.group);
      return r;
    });
  }
}

function entry(cName: string): { size: number; offsets: Record<string, number> } {
  const e = (layout as Record<string, { size: number; offsets: Record<string, number> }>)[cName];
  if (!e) throw new Error(`abi: no layout for struct ${cName}; run \`deno task layout\``);
  return e;
}

function typeSize(type: FieldType): number {
  if (typeof type === "string") return scalarSize[type];
  if (type instanceof StructCodec) return type.size;
  if ("bytes" in type) return type.bytes;
  return 0; // inline groups are never arrays here
}

function readScalar(type: Scalar, view: DataView, at: number): number | bigint {
  switch (type) {
    case "u8":
      return view.getUint8(at);
    case "s8":
      return view.getInt8(at);
    case "u16":
      return view.getUint16(at, true);
    case "s16":
      return view.getInt16(at, true);
    case "u32":
      return view.getUint32(at, true);
    case "s32":
      return view.getInt32(at, true);
    case "u64":
      return view.getBigUint64(at, true);
    case "s64":
      return view.getBigInt64(at, true);
  }
}

function writeScalar(type: Scalar, view: DataView, at: number, value: unknown): void {
  switch (type) {
    case "u8":
    case "s8":
      return view.setUint8(at, Number(value ?? 0) & 0xff);
    case "u16":
    case "s16":
      return view.setUint16(at, Number(value ?? 0) & 0xffff, true);
    case "u32":
    case "s32":
      return view.setUint32(at, Number(value ?? 0) >>> 0, true);
    case "u64":
    case "s64":
      return view.setBigUint64(at, BigInt.asUintN(64, BigInt((value as bigint | number | undefined) ?? 0n)), true);
  }
}

function readOne(f: Resolved, view: DataView, at: number): unknown {
  const t = f.type;
  if (typeof t === "string") return readScalar(t, view, at);
  if (t instanceof StructCodec) return t.decode(view, at);
  if ("bytes" in t) return new Uint8Array(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + t.bytes));
  throw new Error("abi: inline groups are read by readGroup");
}

function writeOne(f: Resolved, view: DataView, at: number, value: unknown): void {
  const t = f.type;
  if (typeof t === "string") return writeScalar(t, view, at, value);
  if (t instanceof StructCodec) {
    if (value !== undefined) t.encode(value, view, at);
    return;
  }
  if ("bytes" in t) {
    if (value === undefined) return;
    const src = value as Uint8Array;
    if (src.length > t.bytes) throw new RangeError(`${f.js}: ${src.length} bytes do not fit in ${t.bytes}`);
    new Uint8Array(view.buffer, view.byteOffset + at, t.bytes).set(src);
    return;
  }
  throw new Error("abi: inline groups are written by writeGroup");
}

function readGroup(fields: Resolved[], view: DataView, base: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const at = base + f.offset;
    if (f.group) {
      // Inline members carry offsets from the start of the enclosing struct.
      out[f.js] = readGroup(f.group, view, base);
    } else if (f.count === undefined) {
      out[f.js] = readOne(f, view, at);
    } else {
      const arr: unknown[] = [];
      for (let i = 0; i < f.count; i++) arr.push(readOne(f, view, at + i * f.stride));
      out[f.js] = arr;
    }
  }
  return out;
}

function writeGroup(fields: Resolved[], value: Record<string, unknown>, view: DataView, base: number): void {
  for (const f of fields) {
    const at = base + f.offset;
    const v = value[f.js];
    if (f.group) {
      writeGroup(f.group, (v ?? {}) as Record<string, unknown>, view, base);
    } else if (f.count === undefined) {
      writeOne(f, view, at, v);
    } else {
      const arr = (v ?? []) as unknown[];
      if (arr.length > f.count) throw new RangeError(`${f.js}: ${arr.length} elements do not fit in ${f.count}`);
      for (let i = 0; i < f.count; i++) writeOne(f, view, at + i * f.stride, arr[i]);
    }
  }
}

/** The scalar member types, as `f` takes them. */
export const u8 = "u8", u16 = "u16", u32 = "u32", u64 = "u64";

/** A kernel struct member: `f("guest_phys_addr", "u64")`; `count` makes it an array, `js` renames it. */
export function f(c: string, type: Field["type"], count?: number, js?: string): Field {
  return { c, type, count, js };
}
