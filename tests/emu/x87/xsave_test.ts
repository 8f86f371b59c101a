/**
 * XSAVE, XRSTOR, XSAVEOPT, XGETBV and XSETBV on the emulator, for the state
 * components it has (x87 and SSE): 64-bit guests at CPL 0 that set
 * CR4.OSXSAVE and XCR0, fill x87 and SSE state, save it, clobber it,
 * restore it and report; the saved area is checked against FXSAVE's image
 * and the XSAVE header, the init-state rules of XRSTOR, the #GP, #UD and
 * #NM cases, CPUID leaves 1 and 0xD, and KVM_SET_XCRS. A CPL 3 64-bit
 * program runs on both backends (kvm_pvm runs it natively) and compares
 * the saved legacy region and XSTATE_BV.
 *
 * @module
 */
import { deepEqual, equal, throws } from "node:assert/strict";
import { backendTest } from "../../_support/harness.ts";
import { vendorTest } from "./_guest.ts";
import {
  GDT_ADDR,
  load,
  longMode,
  type Machine,
  machine,
  pageTables64,
  runToOut,
  SEL_CODE3,
  SEL_DATA3,
  view,
} from "../../_support/guests.ts";
import type { Kvm } from "../../../mod.ts";

const EMU = { only: ["emu"] as const };
/** The XSAVE area, FXSAVE's image for comparison, inputs and outputs of the programs. */
const AREA = 0x2000, FXAREA = 0x2400, IN = 0x4000, OUT = 0x4200;
const IDT = 0x3000, STUBS = 0x3800;
const DONE = 0xff;

// deno-fmt-ignore
const OSXSAVE = [
  0x0f, 0x20, 0xe0, // mov rax, cr4
  0x48, 0x0f, 0xba, 0xe8, 0x12, // bts rax, 18          ; CR4.OSXSAVE
  0x0f, 0x22, 0xe0, // mov cr4, rax
];
/** XSETBV with XCR0 = `v`. */
// deno-fmt-ignore
const xsetbv = (v: number) => [
  0x31, 0xc9, // xor ecx, ecx
  0x31, 0xd2, // xor edx, edx
  0xb8, v, 0, 0, 0, // mov eax, v
  0x0f, 0x01, 0xd1, // xsetbv
];
/** mov eax, v; xor edx, edx: the requested-feature bitmap. */
const rfbm = (v: number) => [0xb8, v, 0, 0, 0, 0x31, 0xd2];
/** A [disp32] operand (ModRM with reg `r`, SIB without base or index). */
const abs = (r: number, a: number) => [(r << 3) | 4, 0x25, a & 0xff, (a >> 8) & 0xff, 0, 0];
// deno-fmt-ignore
const FILL = [
  0xdb, 0xe3, // fninit
  0xd9, 0xe8, // fld1
  0xd9, 0xeb, // fldpi
  0xf3, 0x0f, 0x6f, ...abs(0, IN), // movdqu xmm0, [IN]
  0xf3, 0x44, 0x0f, 0x6f, ...abs(7, IN + 16), // movdqu xmm15, [IN + 16]
  0x0f, 0xae, ...abs(2, IN + 32), // ldmxcsr [IN + 32]     ; 0x3f80: round down
];
// deno-fmt-ignore
const CLOBBER = [
  0xdb, 0xe3, // fninit
  0x66, 0x0f, 0xef, 0xc0, // pxor xmm0, xmm0
  0x66, 0x45, 0x0f, 0xef, 0xff, // pxor xmm15, xmm15
  0x0f, 0xae, ...abs(2, IN + 36), // ldmxcsr [IN + 36]     ; 0x1f80
];
// deno-fmt-ignore
const REPORT = [
  0xf3, 0x0f, 0x7f, ...abs(0, OUT), // movdqu [OUT], xmm0
  0xf3, 0x44, 0x0f, 0x7f, ...abs(7, OUT + 16), // movdqu [OUT + 16], xmm15
  0x0f, 0xae, ...abs(3, OUT + 32), // stmxcsr [OUT + 32]
  0x0f, 0xae, ...abs(0, FXAREA), // fxsave [FXAREA]
];
const XSAVE = [0x0f, 0xae, ...abs(4, AREA)]; // xsave [AREA]
const XSAVE64 = [0x48, 0x0f, 0xae, ...abs(4, AREA)]; // xsave64 [AREA]
const XSAVEOPT = [0x0f, 0xae, ...abs(6, AREA)]; // xsaveopt [AREA]
const XRSTOR = [0x0f, 0xae, ...abs(5, AREA)]; // xrstor [AREA]
const XRSTOR64 = [0x48, 0x0f, 0xae, ...abs(5, AREA)]; // xrstor64 [AREA]
const FXSAVE = [0x0f, 0xae, ...abs(0, FXAREA)]; // fxsave [FXAREA]
/** mov dword [a], v */
const store = (a: number, v: number) => [0xc7, ...abs(0, a), v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24];
const END = [0xb0, DONE, 0xe6, 0x80, 0xf4]; // mov al, 0xff; out 0x80, al; hlt

const XMM0 = "00112233445566778899aabbccddeeff", XMM15 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const PI = "35c26821a2da0fc90040"; // the 80-bit pi FLDPI loads, in memory order

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * Runs `code` at 0x1000 in 64-bit mode at CPL 0 with the host's supported CPUID, an IDT whose handlers `out`
 * their vector to port 0x80, and the inputs at IN; returns the value the program (or a handler) wrote.
 */
function run(kvm: Kvm, code: readonly number[], setup?: (m: Machine) => void): { m: Machine; port80: number } {
  const m = machine(kvm);
  const pages = Array.from({ length: 8 }, (_, i) => ({ linear: i * 0x1000, physical: i * 0x1000, flags: 3 }));
  const cr3 = pageTables64(m.mem, 0x8000, pages);
  longMode(m.vcpu, m.mem, 0x1000, cr3);
  m.vcpu.setCpuid2(kvm.supportedCpuid());
  const v = view(m.mem);
  v.setBigUint64(GDT_ADDR + 8, 0x00af9a000000ffffn, true); // the CS descriptor, 64-bit, for interrupt delivery
  for (let vec = 0; vec < 32; vec++) {
    const h = STUBS + 8 * vec;
    load(m.mem, h, [0xb0, vec, 0xe6, 0x80, 0xf4]); // mov al, vec; out 0x80, al; hlt
    v.setBigUint64(IDT + 16 * vec, BigInt(h & 0xffff) | (0x08n << 16n) | (0x8en << 40n), true);
    v.setBigUint64(IDT + 16 * vec + 8, 0n, true);
  }
  const s = m.vcpu.getSregs();
  s.idt = { base: BigInt(IDT), limit: 16 * 32 - 1 };
  s.cr4 |= 0x600n; // OSFXSR, OSXMMEXCPT
  m.vcpu.setSregs(s);
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rsp: 0x7000n });
  m.mem.bytes.set(fromHex(XMM0 + XMM15), IN);
  v.setUint32(IN + 32, 0x3f80, true);
  v.setUint32(IN + 36, 0x1f80, true);
  m.mem.bytes.fill(0xcc, AREA, AREA + 512);
  setup?.(m);
  load(m.mem, 0x1000, [...code, ...END]);
  return { m, port80: runToOut(m.vcpu, 0x80) };
}

function fromHex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g)!.map((x) => parseInt(x, 16)));
}

/** Runs `code` and checks that it ends with the exception `vector` (or DONE). */
function expectVector(kvm: Kvm, code: readonly number[], vector: number, msg: string): void {
  const { m, port80 } = run(kvm, code);
  using _ = m;
  equal(port80, vector, msg);
}

function bytes(m: Machine, at: number, n: number): Uint8Array {
  return m.mem.bytes.slice(at, at + n);
}

/** Runs `code` to its end with the XSAVE header zeroed first; returns the 576-byte XSAVE area it leaves. */
function savedArea(kvm: Kvm, code: readonly number[]): Uint8Array {
  const { m, port80 } = run(kvm, code, (mm) => mm.mem.bytes.fill(0, AREA + 512, AREA + 576));
  using _ = m;
  equal(port80, DONE);
  return bytes(m, AREA, 576);
}

backendTest("XSETBV, XGETBV, XSAVE and XRSTOR of x87 and SSE state at CPL 0 in 64-bit mode", (kvm) => {
  // deno-fmt-ignore
  const code = [
    ...OSXSAVE, ...xsetbv(3),
    0x0f, 0x01, 0xd0, // xgetbv
    0x89, ...abs(0, OUT + 48), // mov [OUT + 48], eax
    0x89, ...abs(2, OUT + 52), // mov [OUT + 52], edx
    ...FILL,
    ...FXSAVE, // the FXSAVE image of the same state
    ...rfbm(3), ...XSAVE,
    ...CLOBBER,
    ...rfbm(3), ...XRSTOR,
    ...REPORT.slice(0, -8),
    0xdb, 0x3c, 0x25, (OUT + 64) & 0xff, (OUT + 64) >> 8, 0, 0, // fstp tword [OUT + 64]
    0xdb, 0x3c, 0x25, (OUT + 80) & 0xff, (OUT + 80) >> 8, 0, 0, // fstp tword [OUT + 80]
  ];
  const fx = (m: Machine) => m.mem.bytes.fill(0xee, FXAREA, FXAREA + 512);
  const { m, port80 } = run(kvm, code, fx);
  using _ = m;
  equal(port80, DONE);
  const v = view(m.mem);
  deepEqual([v.getUint32(OUT + 48, true), v.getUint32(OUT + 52, true)], [3, 0], "XGETBV");
  // The legacy region is FXSAVE's image up to the XMM registers; bytes 416-511 are not written.
  const area = bytes(m, AREA, 576), fxImage = bytes(m, FXAREA, 512);
  equal(hex(area.subarray(0, 416)), hex(fxImage.subarray(0, 416)));
  equal(hex(area.subarray(416, 512)), "cc".repeat(96));
  equal(v.getUint16(AREA, true), 0x37f, "FCW");
  equal(v.getUint8(AREA + 4), 0xc0, "abridged FTW: two registers");
  deepEqual([v.getUint32(AREA + 24, true), v.getUint32(AREA + 28, true)], [0x3f80, 0xffff], "MXCSR, MXCSR_MASK");
  equal(hex(area.subarray(32, 42)), PI, "ST0");
  equal(hex(area.subarray(160, 176)), XMM0);
  equal(hex(area.subarray(400, 416)), XMM15);
  // Header: XSTATE_BV = 3, the rest zero.
  equal(hex(area.subarray(512, 576)), "03" + "00".repeat(63));
  // Restored.
  equal(hex(bytes(m, OUT, 16)), XMM0);
  equal(hex(bytes(m, OUT + 16, 16)), XMM15);
  equal(v.getUint32(OUT + 32, true), 0x3f80);
  equal(hex(bytes(m, OUT + 64, 10)), PI);
  equal(hex(bytes(m, OUT + 80, 10)), "0000000000000080ff3f");
}, EMU);

backendTest("XSAVE64/XRSTOR64 and XSAVEOPT: 64-bit FIP/FDP, RFBM selects the components", (kvm) => {
  // deno-fmt-ignore
  const code = [
    ...OSXSAVE, ...xsetbv(3), ...FILL,
    0x48, ...FXSAVE, // fxsave64 [FXAREA]
    ...rfbm(3), ...XSAVE64,
    ...CLOBBER,
    ...rfbm(3), ...XRSTOR64,
    ...REPORT.slice(0, -8), // the registers, not the FXSAVE
  ];
  const { m, port80 } = run(kvm, code);
  using _ = m;
  equal(port80, DONE);
  equal(hex(bytes(m, AREA, 416)), hex(bytes(m, FXAREA, 416)), "XSAVE64 = FXSAVE64 image");
  equal(hex(bytes(m, OUT, 16)), XMM0);
  equal(hex(bytes(m, OUT + 16, 16)), XMM15);
  // RFBM = 2 (SSE only): the x87 part and XSTATE_BV bit 0 are untouched; MXCSR is saved.
  // deno-fmt-ignore
  const sse = [...OSXSAVE, ...xsetbv(3), ...FILL, ...rfbm(2), ...XSAVEOPT];
  const a = savedArea(kvm, sse);
  equal(hex(a.subarray(0, 24)), "cc".repeat(24), "x87 not saved");
  equal(hex(a.subarray(32, 160)), "cc".repeat(128), "ST not saved");
  equal(hex(a.subarray(24, 32)), "803f0000ffff0000");
  equal(hex(a.subarray(160, 176)), XMM0);
  equal(hex(a.subarray(512, 520)), "0200000000000000");
  // RFBM = 1 with XCR0 = 1 (x87 only): MXCSR and the XMM registers are not saved.
  // deno-fmt-ignore
  const x87 = [...OSXSAVE, ...xsetbv(1), ...FILL, ...rfbm(3), ...XSAVE];
  const b = savedArea(kvm, x87);
  equal(hex(b.subarray(24, 32)), "cc".repeat(8), "MXCSR not saved");
  equal(hex(b.subarray(160, 176)), "cc".repeat(16));
  equal(hex(b.subarray(32, 42)), PI);
  equal(hex(b.subarray(512, 520)), "0100000000000000");
}, EMU);

backendTest("XRSTOR: components not in XSTATE_BV get their init state, MXCSR is loaded with RFBM[1]", (kvm) => {
  // deno-fmt-ignore
  const code = [
    ...OSXSAVE, ...xsetbv(3), ...FILL,
    ...rfbm(3), ...XSAVE,
    ...store(AREA + 512, 1), // XSTATE_BV = x87 only
    ...store(AREA + 24, 0x5f80), // MXCSR in the image: round up
    ...rfbm(3), ...XRSTOR, // SSE: XMM registers zeroed, MXCSR from memory
    ...REPORT,
    ...store(AREA + 512, 0), // XSTATE_BV = 0
    ...rfbm(1), ...XRSTOR, // x87 only: FNINIT state with zeroed registers; SSE untouched
    0x0f, 0xae, ...abs(0, 0x2800), // fxsave [0x2800]
  ];
  const { m, port80 } = run(kvm, code);
  using _ = m;
  equal(port80, DONE);
  const v = view(m.mem);
  equal(hex(bytes(m, OUT, 32)), "00".repeat(32), "XMM0 and XMM15 in their init state");
  equal(v.getUint32(OUT + 32, true), 0x5f80, "MXCSR loaded although XSTATE_BV[1] = 0");
  equal(hex(bytes(m, FXAREA + 32, 10)), PI, "x87 restored from memory");
  const after = bytes(m, 0x2800, 512);
  equal(new DataView(after.buffer).getUint16(0, true), 0x37f, "FCW init");
  equal(hex(after.subarray(2, 24)), "00".repeat(22), "FSW, FTW, FOP, FIP, FDP init");
  equal(hex(after.subarray(32, 160)), "00".repeat(128), "registers zeroed");
  equal(new DataView(after.buffer).getUint32(24, true), 0x5f80, "MXCSR untouched with RFBM = 1");
}, EMU);

backendTest("XSAVE family faults: #UD without CR4.OSXSAVE, #GP for bad XCR0, ECX, alignment, header; #NM", (kvm) => {
  const UD = 6, NM = 7, GP = 13;
  expectVector(kvm, [0x31, 0xc9, 0x0f, 0x01, 0xd0], UD, "XGETBV without OSXSAVE");
  expectVector(kvm, xsetbv(1), UD, "XSETBV without OSXSAVE");
  expectVector(kvm, [...rfbm(3), ...XSAVE], UD, "XSAVE without OSXSAVE");
  expectVector(kvm, [...rfbm(3), ...XRSTOR], UD, "XRSTOR without OSXSAVE");
  expectVector(kvm, [...OSXSAVE, 0xb9, 1, 0, 0, 0, 0x0f, 0x01, 0xd0], GP, "XGETBV with ECX = 1");
  expectVector(kvm, [...OSXSAVE, ...xsetbv(2)], GP, "XSETBV without x87");
  expectVector(kvm, [...OSXSAVE, ...xsetbv(7)], GP, "XSETBV with AVX");
  expectVector(kvm, [...OSXSAVE, ...xsetbv(0)], GP, "XSETBV with 0");
  // deno-fmt-ignore
  expectVector(kvm, [...OSXSAVE, 0xb9, 1, 0, 0, 0, 0x31, 0xd2, 0xb8, 3, 0, 0, 0, 0x0f, 0x01, 0xd1], GP, "XSETBV ECX = 1");
  // deno-fmt-ignore
  expectVector(kvm, [...OSXSAVE, 0x31, 0xc9, 0xba, 1, 0, 0, 0, 0xb8, 3, 0, 0, 0, 0x0f, 0x01, 0xd1], GP, "XSETBV EDX = 1");
  expectVector(kvm, [...OSXSAVE, ...xsetbv(3), ...rfbm(3), 0x0f, 0xae, ...abs(4, AREA + 16)], GP, "XSAVE misaligned");
  expectVector(kvm, [...OSXSAVE, ...xsetbv(3), ...rfbm(3), 0x0f, 0xae, ...abs(5, AREA + 32)], GP, "XRSTOR misaligned");
  const rst = (bv: number, xcr0 = 3, at = AREA + 512) => [
    ...OSXSAVE,
    ...xsetbv(3),
    ...rfbm(3),
    ...XSAVE,
    ...xsetbv(xcr0),
    ...store(at, bv),
    ...rfbm(3),
    ...XRSTOR,
  ];
  expectVector(kvm, rst(3), DONE, "a valid XRSTOR");
  expectVector(kvm, rst(4), GP, "XSTATE_BV with AVX");
  expectVector(kvm, rst(2, 1), GP, "XSTATE_BV[1] with XCR0 = 1");
  expectVector(kvm, rst(1, 3, AREA + 516), GP, "XSTATE_BV high bits");
  expectVector(kvm, rst(1, 3, AREA + 520), GP, "XCOMP_BV not 0");
  expectVector(kvm, rst(0x80000000, 3, AREA + 524), GP, "XCOMP_BV[63] (compacted form, not supported)");
  expectVector(kvm, rst(1, 3, AREA + 532), GP, "header bytes 16-23");
  expectVector(kvm, rst(0x10000, 3, AREA + 24), GP, "MXCSR reserved bits");
  // deno-fmt-ignore
  const ts = [
    0x0f, 0x20, 0xc0, // mov rax, cr0
    0x48, 0x83, 0xc8, 0x08, // or rax, 8             ; CR0.TS
    0x0f, 0x22, 0xc0, // mov cr0, rax
  ];
  expectVector(kvm, [...OSXSAVE, ...xsetbv(3), ...ts, ...rfbm(3), ...XSAVE], NM, "XSAVE with CR0.TS");
  expectVector(kvm, [...OSXSAVE, ...xsetbv(3), ...ts, 0x0f, 0x01, 0xd0], DONE, "XGETBV ignores CR0.TS");
}, EMU);

backendTest("CPUID: XSAVE, OSXSAVE following CR4.OSXSAVE, leaf 0xD; KVM_SET_XCRS accepts 1 and 3", (kvm) => {
  const supported = kvm.supportedCpuid();
  const leaf = (fn: number, index = 0) => supported.find((e) => e.function === fn && e.index === index)!;
  equal(leaf(0, 0).eax >= 0xd, true, "max basic leaf");
  equal((leaf(1).ecx >>> 26) & 3, 1, "XSAVE, and OSXSAVE clear in the supported table");
  deepEqual([leaf(0xd).eax, leaf(0xd).ebx, leaf(0xd).ecx, leaf(0xd).edx], [3, 576, 576, 0]);
  equal(leaf(0xd, 1).eax & 1, 1, "XSAVEOPT");
  // deno-fmt-ignore
  const cpuid1 = (at: number) => [
    0xb8, 1, 0, 0, 0, // mov eax, 1
    0x0f, 0xa2, // cpuid
    0x89, ...abs(1, at), // mov [at], ecx
  ];
  const { m, port80 } = run(kvm, [...cpuid1(OUT), ...OSXSAVE, ...cpuid1(OUT + 4)]);
  using _ = m;
  equal(port80, DONE);
  const v = view(m.mem);
  deepEqual([(v.getUint32(OUT, true) >>> 27) & 1, (v.getUint32(OUT + 4, true) >>> 27) & 1], [0, 1], "OSXSAVE");
  equal(Number(m.vcpu.getSregs().cr4 >> 18n) & 1, 1);
  deepEqual(m.vcpu.getXcrs(), [{ xcr: 0, value: 1n }]);
  m.vcpu.setXcrs([{ xcr: 0, value: 3n }]);
  deepEqual(m.vcpu.getXcrs(), [{ xcr: 0, value: 3n }]);
  m.vcpu.setXcrs([{ xcr: 0, value: 1n }]);
  for (const value of [0n, 2n, 7n]) throws(() => m.vcpu.setXcrs([{ xcr: 0, value }]), /EINVAL/);
  throws(() => m.vcpu.setXcrs([{ xcr: 1, value: 1n }]), /EINVAL/);
  // Without XSAVE in the guest's CPUID, CR4.OSXSAVE is refused.
  const noXsave = supported.map((e) => e.function === 1 ? { ...e, ecx: (e.ecx & ~(1 << 26)) >>> 0 } : e);
  using m2 = machine(kvm);
  m2.vcpu.setCpuid2(noXsave);
  const s = m2.vcpu.getSregs();
  throws(() => m2.vcpu.setSregs({ ...s, cr4: s.cr4 | (1n << 18n) }));
}, EMU);

/**
 * The same save and restore at CPL 3: kvm_pvm runs CPL 3 natively, so on the kvm backend the host CPU's XSAVE is
 * the reference, with the expectations of the vendor it presents; the emulator runs it once per personality.
 * A backend whose CPUID offers no XSAVE must refuse CR4.OSXSAVE instead.
 */
vendorTest("XSAVE/XRSTOR at CPL 3 in 64-bit mode: the legacy region and XSTATE_BV", (kvm, vendor) => {
  using m = machine(kvm);
  // deno-fmt-ignore
  const code = [
    ...FILL,
    ...rfbm(3), ...XSAVE,
    ...CLOBBER,
    ...rfbm(3), ...XRSTOR,
    ...REPORT.slice(0, -8),
    0x88, ...abs(0, 0x3000), // mov [0x3000], al       ; MMIO: the end
  ];
  load(m.mem, 0x1000, code);
  m.mem.bytes.set(fromHex(XMM0 + XMM15), IN);
  const v = view(m.mem);
  v.setUint32(IN + 32, 0x3f80, true);
  v.setUint32(IN + 36, 0x1f80, true);
  m.mem.bytes.fill(0xcc, AREA, AREA + 512);
  const pages = [0x1000, AREA, IN, 0xe000].map((p) => ({ linear: p, physical: p, flags: 7 }));
  const cr3 = pageTables64(m.mem, 0x8000, [...pages, { linear: 0x3000, physical: 0x40000, flags: 7 }]);
  longMode(m.vcpu, m.mem, 0x1000, cr3);
  const cpuid = kvm.supportedCpuid();
  m.vcpu.setCpuid2(cpuid);
  const s = m.vcpu.getSregs();
  s.cs = { ...s.cs, selector: SEL_CODE3, dpl: 3 };
  for (const k of ["ds", "es", "ss"] as const) s[k] = { ...s[k], selector: SEL_DATA3, dpl: 3 };
  s.cr4 |= (1n << 18n) | 0x600n; // OSXSAVE, OSFXSR, OSXMMEXCPT
  // With CR4.OSXSAVE set XSAVE and XRSTOR must run; a backend may refuse the bit only when its CPUID offers no
  // XSAVE. (kvm_pvm takes it although its leaf 1 leaves XSAVE out: the guest runs on the host's CR4.)
  let refused = false;
  try {
    m.vcpu.setSregs(s);
    refused = (m.vcpu.getSregs().cr4 & (1n << 18n)) === 0n;
  } catch {
    refused = true;
  }
  if (refused) {
    equal((cpuid.find((e) => e.function === 1)?.ecx ?? 0) & (1 << 26), 0, "CR4.OSXSAVE refused, XSAVE in CPUID");
    console.log("XSAVE at CPL 3: this backend offers no XSAVE and refuses CR4.OSXSAVE; nothing more to run");
    return;
  }
  m.vcpu.setXcrs([{ xcr: 0, value: 3n }]);
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rflags: 2n, rsp: 0xf000n });
  const exit = m.vcpu.run({ timeoutMs: 5000 });
  equal(exit.reason, "mmio", "the program ran to its end: XSAVE and XRSTOR did not fault");
  const area = bytes(m, AREA, 576);
  // FCW, FSW (TOP = 6), abridged FTW, FOP, FIP, FCS, FDP, FDS, MXCSR; MXCSR_MASK is the CPU's own. AMD saves
  // FOP/FIP/FDP as zeros (ES clear); Intel saves FIP (the FLDPI at 0x1004), FOP and FDP as FNINIT left them
  // (no unmasked exception since) and FCS, FDS as zeros (CPUID.(EAX=7,ECX=0):EBX[13]).
  const pointers = vendor === "amd" ? "00".repeat(18) : "0000" + "04100000" + "00".repeat(12);
  const st = (r: string) => r + "00".repeat(6);
  const legacy = "7f030030c000" + pointers + "803f0000" + "--------" + st(PI) +
    st("0000000000000080ff3f") + "00".repeat(96) + XMM0 + "00".repeat(224) + XMM15;
  const got = hex(area.subarray(0, 416));
  equal(got.slice(0, 56) + "--------" + got.slice(64), legacy, "legacy region");
  equal(area[512] & 3, 3, "XSTATE_BV");
  equal(hex(bytes(m, OUT, 32)), XMM0 + XMM15, "restored XMM0, XMM15");
  equal(v.getUint32(OUT + 32, true), 0x3f80, "restored MXCSR");
  const f = m.vcpu.getFpu();
  deepEqual([f.fcw, hex(f.fpr[0].subarray(0, 10))], [0x37f, PI], "restored x87");
});
