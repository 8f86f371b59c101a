/**
 * A protected-mode test bench for the system tests (paging, privilege,
 * gates, tasks, debug): a VM with 128 KiB at guest-physical 0, a GDT with
 * flat CPL 0/1/3 segments and a 32-bit TSS, an IDT whose first 32 vectors
 * reach reporting stubs, and the KVM_SET_SREGS state that enters 16- or
 * 32-bit protected mode directly. A stub reports an exception with four
 * 32-bit `out`s to port 0xe9 (vector, error code or 0, the pushed EIP, the
 * pushed CS) and halts, so a test compares the stream of values up to the
 * `hlt` exit. Guest code is given inline as bytes, its assembly in comments.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { GuestMemory, Kvm, Segment, Vcpu, VcpuExit, Vm } from "../../mod.ts";

/** Guest memory size. */
export const MEM_SIZE = 0x20000;
/** Layout: GDT, IDT, code, exception stubs, TSSs, stacks. */
export const GDT = 0x500, IDT = 0x800, CODE = 0x1000, STUBS = 0x2000, TSS0 = 0x3000;
/** The CPL 0 stack (TSS.esp0) and the initial stack pointers at CPL 0 and 3. */
export const ESP0 = 0x8000, KSTACK = 0x7000, USTACK = 0x6000;
/** Standard selectors. */
export const K_CODE = 0x08, K_DATA = 0x10, U_CODE = 0x1b, U_DATA = 0x23, TSS_SEL = 0x28;
export const R1_CODE = 0x31, R1_DATA = 0x39;
/** The first GDT index a test may fill (selector 0x40). */
export const FREE_INDEX = 8;
/** Where the reporting stubs continue: vector, code, EIP, CS to port 0xe9, then hlt. */
const REPORT = STUBS + 0x200;
// report: pop eax / out 0xe9, eax / pop eax / out 0xe9, eax / mov eax, [esp] / out 0xe9, eax
//         mov eax, [esp+4] / out 0xe9, eax / hlt
const REPORT_CODE = "58e7e958e7e98b0424e7e98b442404e7e9f4";
/** Vectors that push an error code. */
const HAS_CODE = new Set([8, 10, 11, 12, 13, 14, 17]);

/** Segment attribute bits for {@linkcode descriptor}. */
export interface DescOptions {
  dpl?: number;
  /** 1: code/data; 0: system. Default 1. */
  s?: number;
  db?: number;
  g?: number;
  present?: number;
}

/** An 8-byte segment descriptor; `limit` in bytes (with g, the low 12 bits are dropped). */
export function descriptor(base: number, limit: number, type: number, o: DescOptions = {}): bigint {
  const g = o.g ?? 0, raw = BigInt(g ? limit >>> 12 : limit);
  const access = BigInt(type | ((o.s ?? 1) << 4) | ((o.dpl ?? 0) << 5) | ((o.present ?? 1) << 7));
  const flags = BigInt(((o.db ?? 1) << 2) | (g << 3));
  const b = BigInt(base >>> 0);
  return (raw & 0xffffn) | ((b & 0xffffffn) << 16n) | (access << 40n) | (((raw >> 16n) & 0xfn) << 48n) |
    (flags << 52n) | ((b >> 24n) << 56n);
}

/** A gate descriptor: `type` 4/0xc call gate, 5 task gate, 6/0xe interrupt gate, 7/0xf trap gate. */
export function gate(type: number, selector: number, offset: number, dpl = 0, params = 0, present = 1): bigint {
  const o = BigInt(offset >>> 0);
  return (o & 0xffffn) | (BigInt(selector) << 16n) | (BigInt(params & 0x1f) << 32n) |
    (BigInt(type | (dpl << 5) | (present << 7)) << 40n) | ((o >> 16n) << 48n);
}

/** A VM with {@linkcode MEM_SIZE} bytes at guest-physical 0 and vCPU 0. */
export interface Bench extends Disposable {
  vm: Vm;
  mem: GuestMemory;
  vcpu: Vcpu;
  view: DataView;
}

/** Creates a {@linkcode Bench}. */
export function bench(kvm: Kvm, options: { logDirtyPages?: boolean } = {}): Bench {
  const vm = kvm.createVm();
  const mem = vm.allocateMemory(MEM_SIZE);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem, flags: { logDirtyPages: options.logDirtyPages } });
  const vcpu = vm.createVcpu(0);
  return {
    vm,
    mem,
    vcpu,
    view: new DataView(mem.bytes.buffer, mem.bytes.byteOffset, mem.bytes.byteLength),
    [Symbol.dispose]() {
      vm.close();
      mem.free();
    },
  };
}

/** Hex string to bytes. */
export function hex(s: string): number[] {
  return (s.replace(/\s+/g, "").match(/../g) ?? []).map((b) => parseInt(b, 16));
}

/** Copies code given as hex at guest-physical `addr`. */
export function put(b: Bench, addr: number, code: string): void {
  b.mem.bytes.set(hex(code), addr);
}

/** Writes GDT entry `index`. */
export function setGdt(b: Bench, index: number, d: bigint): void {
  b.view.setBigUint64(GDT + 8 * index, d, true);
}

/** Writes IDT entry `vector`. */
export function setIdt(b: Bench, vector: number, d: bigint): void {
  b.view.setBigUint64(IDT + 8 * vector, d, true);
}

/** How {@linkcode enter} sets up the vCPU. */
export interface EnterOptions {
  cpl?: 0 | 1 | 3;
  /** 16-bit code and stack segments (a 16-bit protected-mode guest). */
  bits16?: boolean;
  eip?: number;
  esp?: number;
  /** Extra rflags bits (bit 1 is always set). */
  rflags?: bigint;
  /** IDT limit; default covers 32 vectors. */
  idtLimit?: number;
  cr0?: bigint;
  cr3?: bigint;
  cr4?: bigint;
}

function seg(sel: number, d: { type: number; dpl: number; base?: number; limit?: number; s?: number; db?: number }) {
  const big = (d.limit ?? 0xffffffff) > 0xfffff;
  const s: Segment = {
    base: BigInt(d.base ?? 0),
    limit: d.limit ?? 0xffffffff,
    selector: sel,
    type: d.type,
    present: 1,
    dpl: d.dpl,
    db: d.db ?? 1,
    s: d.s ?? 1,
    l: 0,
    g: big ? 1 : 0,
    avl: 0,
    unusable: 0,
  };
  return s;
}

/**
 * Builds the GDT, the IDT's 32 exception gates, TSS0 and the reporting
 * stubs, then enters protected mode at `eip` (default {@linkcode CODE}).
 * GDT: 0x08/0x10 flat code/data DPL 0, 0x18/0x20 DPL 3, 0x28 the TSS,
 * 0x30/0x38 DPL 1, 0x40+ free; with `bits16`, 0x08 and 0x10 are 16-bit
 * segments with a 64 KiB limit.
 */
export function enter(b: Bench, o: EnterOptions = {}): void {
  const v = b.view, cpl = o.cpl ?? 0, db = o.bits16 ? 0 : 1, lim = o.bits16 ? 0xffff : 0xffffffff;
  const entries: bigint[] = [
    0n,
    descriptor(0, lim, 0xb, { db, g: db }),
    descriptor(0, lim, 0x3, { db, g: db }),
    descriptor(0, 0xffffffff, 0xb, { dpl: 3, g: 1 }),
    descriptor(0, 0xffffffff, 0x3, { dpl: 3, g: 1 }),
    descriptor(TSS0, 0x67, 0xb, { s: 0, db: 0 }),
    descriptor(0, 0xffffffff, 0xb, { dpl: 1, g: 1 }),
    descriptor(0, 0xffffffff, 0x3, { dpl: 1, g: 1 }),
  ];
  entries.forEach((d, i) => setGdt(b, i, d));
  v.setUint32(TSS0 + 4, ESP0, true);
  v.setUint32(TSS0 + 8, K_DATA, true);
  v.setUint32(TSS0 + 12, ESP0 - 0x800, true);
  v.setUint32(TSS0 + 16, R1_DATA, true);
  v.setUint16(TSS0 + 0x66, 0x68, true);
  put(b, REPORT, REPORT_CODE);
  for (let n = 0; n < 32; n++) {
    const at = STUBS + 16 * n, stub = HAS_CODE.has(n) ? [0x90, 0x90] : [0x6a, 0x00];
    const rel = REPORT - (at + 9);
    b.mem.bytes.set([...stub, 0x6a, n, 0xe9, rel & 0xff, (rel >> 8) & 0xff, 0, 0], at);
    setIdt(b, n, gate(0xe, K_CODE, at));
  }
  const sregs = b.vcpu.getSregs();
  const code = cpl === 3 ? U_CODE : cpl === 1 ? R1_CODE : K_CODE;
  const data = cpl === 3 ? U_DATA : cpl === 1 ? R1_DATA : K_DATA;
  sregs.cs = seg(code, { type: 0xb, dpl: cpl, limit: cpl ? 0xffffffff : lim, db: cpl ? 1 : db });
  sregs.ds =
    sregs.es =
    sregs.fs =
    sregs.gs =
    sregs.ss =
      seg(data, {
        type: 0x3,
        dpl: cpl,
        limit: cpl ? 0xffffffff : lim,
        db: cpl ? 1 : db,
      });
  sregs.tr = seg(TSS_SEL, { type: 0xb, dpl: 0, base: TSS0, limit: 0x67, s: 0, db: 0 });
  sregs.ldt = { ...seg(0, { type: 2, dpl: 0, limit: 0xffff, s: 0, db: 0 }), unusable: 1, present: 0 };
  sregs.gdt = { base: BigInt(GDT), limit: 32 * 8 - 1 };
  sregs.idt = { base: BigInt(IDT), limit: o.idtLimit ?? 32 * 8 - 1 };
  sregs.cr0 = (o.cr0 ?? 0x11n) | 1n;
  sregs.cr3 = o.cr3 ?? 0n;
  sregs.cr4 = o.cr4 ?? 0n;
  b.vcpu.setSregs(sregs);
  const esp = o.esp ?? (cpl === 3 ? USTACK : KSTACK);
  b.vcpu.setRegs({ ...b.vcpu.getRegs(), rip: BigInt(o.eip ?? CODE), rsp: BigInt(esp), rflags: 2n | (o.rflags ?? 0n) });
}

/** Describes an exit for assertion messages. */
export function describe(e: VcpuExit): string {
  return JSON.stringify(
    e,
    (_, x) => typeof x === "bigint" ? `0x${x.toString(16)}` : x instanceof Uint8Array ? [...x] : x,
  );
}

/**
 * Runs until an exit other than a 4-byte `out` to port 0xe9 (at most `max`
 * exits, 10 s in all), collecting the values written; returns them and the
 * last exit.
 */
export function collect(vcpu: Vcpu, max = 64): { out: number[]; exit: VcpuExit } {
  const out: number[] = [];
  for (let i = 0; i < max; i++) {
    const e = vcpu.run({ timeoutMs: 10_000 });
    if (e.reason === "io" && e.direction === "out" && e.port === 0xe9 && e.size === 4) {
      out.push(new DataView(e.data.buffer, e.data.byteOffset, 4).getUint32(0, true));
      continue;
    }
    return { out, exit: e };
  }
  throw new Error(`more than ${max} exits`);
}

/** Runs to `hlt`, asserting the values written to port 0xe9 on the way (as hex strings, for readable diffs). */
export function expectOut(vcpu: Vcpu, expected: readonly number[], max = 64): void {
  const { out, exit } = collect(vcpu, max);
  assert.deepEqual(out.map((x) => x.toString(16)), expected.map((x) => (x >>> 0).toString(16)), describe(exit));
  assert.equal(exit.reason, "hlt", describe(exit));
}

/** Puts the vCPU in real mode at 0:`ip` with sp 0x7000, and points IVT vectors at handlers: `ivt[v] = offset`. */
export function enterReal(b: Bench, ip: number, ivt: Record<number, number> = {}, rflags = 0n): void {
  for (const [v, off] of Object.entries(ivt)) b.view.setUint32(4 * Number(v), off, true);
  const sregs = b.vcpu.getSregs();
  sregs.cs.selector = 0;
  sregs.cs.base = 0n;
  b.vcpu.setSregs(sregs);
  b.vcpu.setRegs({ ...b.vcpu.getRegs(), rip: BigInt(ip), rsp: 0x7000n, rflags: 2n | rflags });
}
