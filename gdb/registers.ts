/**
 * The registers gdb sees and their target descriptions: the x86-64 view
 * (`i386:x86-64`: general registers, rip, eflags, segment selectors, x87,
 * SSE, fs_base/gs_base, and the system registers cr0-cr8 and efer) and the
 * i386 view for a guest that is not in long mode. Each register is read
 * from and written to the vCPU through KVM_GET/SET_REGS, _SREGS and _FPU;
 * `orig_rax` (a Linux process's, not a machine's) is omitted.
 *
 * @module
 */
import { EFER_LMA } from "../constants.ts";
import type { Fpu, Regs, Sregs, Vcpu } from "../mod.ts";

/** Which register set a session uses: chosen from EFER.LMA when gdb first asks. */
export type Arch = "x86-64" | "i386";

/** The state of one vCPU, fetched lazily and written back once (see {@linkcode RegisterFile.flush}). */
export class RegisterFile {
  readonly vcpu: Vcpu;
  #regs?: Regs;
  #sregs?: Sregs;
  #fpu?: Fpu;
  #dirty = { regs: false, sregs: false, fpu: false };

  constructor(vcpu: Vcpu) {
    this.vcpu = vcpu;
  }

  get regs(): Regs {
    return this.#regs ??= this.vcpu.getRegs();
  }
  get sregs(): Sregs {
    return this.#sregs ??= this.vcpu.getSregs();
  }
  get fpu(): Fpu {
    return this.#fpu ??= this.vcpu.getFpu();
  }
  /** Marks a part as changed, for flush(). */
  touch(part: "regs" | "sregs" | "fpu"): void {
    this.#dirty[part] = true;
  }
  /** Writes back what changed. */
  flush(): void {
    if (this.#dirty.regs && this.#regs) this.vcpu.setRegs(this.#regs);
    if (this.#dirty.sregs && this.#sregs) this.vcpu.setSregs(this.#sregs);
    if (this.#dirty.fpu && this.#fpu) this.vcpu.setFpu(this.#fpu);
    this.#dirty = { regs: false, sregs: false, fpu: false };
  }
}

/** One register: its description and how to read and write it. */
export interface RegisterDef {
  name: string;
  bits: number;
  type: string;
  group?: string;
  feature: string;
  read(f: RegisterFile): Uint8Array;
  write(f: RegisterFile, value: Uint8Array): void;
}

/** `value` as `bytes` little-endian bytes. */
export function le(value: bigint, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let v = BigInt.asUintN(bytes * 8, value);
  for (let i = 0; i < bytes; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

/** Little-endian bytes as an unsigned bigint. */
export function fromLe(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

const CORE = "org.gnu.gdb.i386.core";
const SSE = "org.gnu.gdb.i386.sse";
const SEGMENTS = "org.gnu.gdb.i386.segments";
const SYSTEM = "org.kvmkit.x86.system";

type GprName = keyof Regs;
type SegName = "cs" | "ss" | "ds" | "es" | "fs" | "gs";
type SysName = "cr0" | "cr2" | "cr3" | "cr4" | "cr8" | "efer";

/** A general register, or its low 32 bits in the i386 view (a write zero-extends, as 32-bit code would). */
function gpr(name: string, field: GprName, bits: 32 | 64, type = bits === 64 ? "int64" : "int32"): RegisterDef {
  return {
    name,
    bits,
    type,
    feature: CORE,
    read: (f) => le(f.regs[field], bits / 8),
    write: (f, v) => {
      f.regs[field] = fromLe(v);
      f.touch("regs");
    },
  };
}

/** A segment selector. A write loads only the selector (no descriptor): a debugger's poke, not a far jump. */
function segment(name: SegName): RegisterDef {
  return {
    name,
    bits: 32,
    type: "int32",
    feature: CORE,
    read: (f) => le(BigInt(f.sregs[name].selector), 4),
    write: (f, v) => {
      const selector = Number(fromLe(v) & 0xffffn);
      if (selector === f.sregs[name].selector) return; // G rewrites every register; unchanged is a no-op
      f.sregs[name].selector = selector;
      f.touch("sregs");
    },
  };
}

function segmentBase(name: "fs" | "gs"): RegisterDef {
  const bits = 64;
  return {
    name: `${name}_base`,
    bits,
    type: "int64",
    feature: SEGMENTS,
    read: (f) => le(f.sregs[name].base, bits / 8),
    write: (f, v) => {
      f.sregs[name].base = fromLe(v);
      f.touch("sregs");
    },
  };
}

function system(name: SysName): RegisterDef {
  const field = name === "efer" ? "efer" : name;
  return {
    name,
    bits: 64,
    type: "int64",
    group: "system",
    feature: SYSTEM,
    read: (f) => le(f.sregs[field], 8),
    write: (f, v) => {
      const value = fromLe(v);
      if (value === f.sregs[field]) return;
      f.sregs[field] = value;
      f.touch("sregs");
    },
  };
}

/** The x87 tag word in full (2 bits per physical register) from FXSAVE's abridged one and the registers. */
export function fullTagWord(fpu: Fpu): number {
  const top = (fpu.fsw >> 11) & 7;
  let tags = 0;
  for (let phys = 0; phys < 8; phys++) {
    let tag = 3; // empty
    if (fpu.ftwx & (1 << phys)) {
      const r = fpu.fpr[(phys - top) & 7];
      const exponent = (r[8] | (r[9] << 8)) & 0x7fff;
      const integerBit = r[7] & 0x80;
      const zero = r.subarray(0, 8).every((b) => b === 0);
      if (exponent === 0x7fff) tag = 2;
      else if (exponent === 0) tag = zero ? 1 : 2;
      else tag = integerBit ? 0 : 2;
    }
    tags |= tag << (2 * phys);
  }
  return tags;
}

/** The abridged tag (one valid bit per physical register) from a full tag word. */
export function abridgedTag(tags: number): number {
  let ftwx = 0;
  for (let phys = 0; phys < 8; phys++) if (((tags >> (2 * phys)) & 3) !== 3) ftwx |= 1 << phys;
  return ftwx;
}

function x87(name: string, get: (fpu: Fpu) => bigint, set: (fpu: Fpu, v: bigint) => void): RegisterDef {
  return {
    name,
    bits: 32,
    type: "int",
    group: "float",
    feature: CORE,
    read: (f) => le(get(f.fpu), 4),
    write: (f, v) => {
      set(f.fpu, fromLe(v));
      f.touch("fpu");
    },
  };
}

/**
 * A register stored as the first `bits / 8` bytes of `slot(fpu)` in
 * KVM_GET_FPU's state: an x87 stack register or an XMM register.
 */
function fpuBytes(
  name: string,
  def: { bits: number; type: string; feature: string },
  slot: (fpu: Fpu) => Uint8Array,
): RegisterDef {
  const bytes = def.bits / 8;
  return {
    name,
    ...def,
    read: (f) => slot(f.fpu).slice(0, bytes),
    write: (f, v) => {
      slot(f.fpu).set(v.subarray(0, bytes));
      f.touch("fpu");
    },
  };
}

function x87Registers(): RegisterDef[] {
  const st = Array.from(
    { length: 8 },
    (_, i) => fpuBytes(`st${i}`, { bits: 80, type: "i387_ext", feature: CORE }, (p) => p.fpr[i]),
  );
  return [
    ...st,
    x87("fctrl", (p) => BigInt(p.fcw), (p, v) => p.fcw = Number(v & 0xffffn)),
    x87("fstat", (p) => BigInt(p.fsw), (p, v) => p.fsw = Number(v & 0xffffn)),
    x87("ftag", (p) => BigInt(fullTagWord(p)), (p, v) => p.ftwx = abridgedTag(Number(v & 0xffffn))),
    x87("fiseg", () => 0n, () => {}),
    x87("fioff", (p) => p.lastIp & 0xffffffffn, (p, v) => p.lastIp = v),
    x87("foseg", () => 0n, () => {}),
    x87("fooff", (p) => p.lastDp & 0xffffffffn, (p, v) => p.lastDp = v),
    x87("fop", (p) => BigInt(p.lastOpcode), (p, v) => p.lastOpcode = Number(v & 0x7ffn)),
  ];
}

function sseRegisters(count: number): RegisterDef[] {
  const regs = Array.from(
    { length: count },
    (_, i) => fpuBytes(`xmm${i}`, { bits: 128, type: "vec128", feature: SSE }, (p) => p.xmm[i]),
  );
  regs.push({
    name: "mxcsr",
    bits: 32,
    type: "int",
    group: "vector",
    feature: SSE,
    read: (f) => le(BigInt(f.fpu.mxcsr), 4),
    write: (f, v) => {
      f.fpu.mxcsr = Number(fromLe(v) & 0xffffffffn);
      f.touch("fpu");
    },
  });
  return regs;
}

const SEGS: SegName[] = ["cs", "ss", "ds", "es", "fs", "gs"];
const SYS: SysName[] = ["cr0", "cr2", "cr3", "cr4", "cr8", "efer"];

/** The x86-64 registers in gdb's amd64 numbering (g packet order), then fs_base, gs_base and the system registers. */
export const AMD64_REGISTERS: readonly RegisterDef[] = [
  ...(["rax", "rbx", "rcx", "rdx", "rsi", "rdi"] as const).map((r) => gpr(r, r, 64)),
  gpr("rbp", "rbp", 64, "data_ptr"),
  gpr("rsp", "rsp", 64, "data_ptr"),
  ...(["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"] as const).map((r) => gpr(r, r, 64)),
  gpr("rip", "rip", 64, "code_ptr"),
  gpr("eflags", "rflags", 32, "int32"),
  ...SEGS.map(segment),
  ...x87Registers(),
  ...sseRegisters(16),
  segmentBase("fs"),
  segmentBase("gs"),
  ...SYS.map(system),
];

/**
 * The i386 registers in gdb's i386 numbering, then the system registers. No fs_base/gs_base here: gdb (13) aborts
 * on an i386 description with the org.gnu.gdb.i386.segments feature (tdesc_use_registers' assertion); the monitor's
 * `info registers` shows the bases.
 */
export const I386_REGISTERS: readonly RegisterDef[] = [
  gpr("eax", "rax", 32),
  gpr("ecx", "rcx", 32),
  gpr("edx", "rdx", 32),
  gpr("ebx", "rbx", 32),
  gpr("esp", "rsp", 32, "data_ptr"),
  gpr("ebp", "rbp", 32, "data_ptr"),
  gpr("esi", "rsi", 32),
  gpr("edi", "rdi", 32),
  gpr("eip", "rip", 32, "code_ptr"),
  gpr("eflags", "rflags", 32),
  ...SEGS.map(segment),
  ...x87Registers(),
  ...sseRegisters(8),
  ...SYS.map(system),
];

/** The register list of `arch`. */
export function registersOf(arch: Arch): readonly RegisterDef[] {
  return arch === "x86-64" ? AMD64_REGISTERS : I386_REGISTERS;
}

/** The view for a vCPU: x86-64 when EFER.LMA is set, else i386. */
export function archOf(vcpu: Vcpu): Arch {
  return vcpu.getSregs().efer & EFER_LMA ? "x86-64" : "i386";
}

const VECTOR_TYPES = [
  '<vector id="v4f" type="ieee_single" count="4"/>',
  '<vector id="v2d" type="ieee_double" count="2"/>',
  '<vector id="v16i8" type="int8" count="16"/>',
  '<vector id="v8i16" type="int16" count="8"/>',
  '<vector id="v4i32" type="int32" count="4"/>',
  '<vector id="v2i64" type="int64" count="2"/>',
  '<union id="vec128">',
  '<field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>',
  '<field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/>',
  '<field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/>',
  '<field name="uint128" type="uint128"/>',
  "</union>",
];

/** The target description (target.xml) of `arch`: one feature per register group, regnums in g-packet order. */
export function targetXml(arch: Arch): string {
  const regs = registersOf(arch);
  const lines = [
    '<?xml version="1.0"?>',
    '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
    '<target version="1.0">',
    `<architecture>${arch === "x86-64" ? "i386:x86-64" : "i386"}</architecture>`,
  ];
  let feature = "";
  regs.forEach((r, regnum) => {
    if (r.feature !== feature) {
      if (feature) lines.push("</feature>");
      feature = r.feature;
      lines.push(`<feature name="${feature}">`);
      if (feature === SSE) lines.push(...VECTOR_TYPES);
    }
    const group = r.group ? ` group="${r.group}"` : "";
    lines.push(`<reg name="${r.name}" bitsize="${r.bits}" type="${r.type}" regnum="${regnum}"${group}/>`);
  });
  lines.push("</feature>", "</target>");
  return lines.join("\n");
}
