/**
 * x87 state through the public API on the emulator: FNSTENV/FNSAVE/FRSTOR
 * in the 16-bit real-mode format, FXSAVE/FXRSTOR images per vendor, #MF on
 * a waiting instruction with CR0.NE and #NM with CR0.TS, and
 * KVM_GET_FPU/KVM_SET_FPU (see tests/emu/x87/_guest.ts for why these run on
 * the emulator only).
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { load, machine, protectedMode, realMode, SEL_CODE0, view } from "../../_support/guests.ts";
import { bytes, hex, run32, x87Test } from "./_guest.ts";

x87Test("x87 guest: #MF at FWAIT with CR0.NE, none without; #NM with CR0.TS", (kvm) => {
  // deno-fmt-ignore
  const code = [
    0xdb, 0xe3, // fninit
    0xd9, 0x2d, 0x44, 0x10, 0x00, 0x00, // fldcw [cw]
    0xd9, 0xe8, // fld1
    0xd9, 0xee, // fldz
    0xde, 0xf9, // fdivp st1
    0xdf, 0xe0, // fnstsw ax
    0x66, 0xa3, 0x46, 0x10, 0x00, 0x00, // mov [sw1], ax
    0x9b, // fwait
    0xe6, 0x10, // out 0x10, al
    0xdf, 0xe0, // fnstsw ax
    0x66, 0xa3, 0x48, 0x10, 0x00, 0x00, // mov [sw2], ax
    0xdb, 0xe2, // fnclex
    0x8b, 0x04, 0x24, // mov eax, [esp]
    0xa3, 0x4c, 0x10, 0x00, 0x00, // mov [mfeip], eax
    0x0f, 0x20, 0xc0, // mov eax, cr0
    0x83, 0xc8, 0x08, // or eax, 8
    0x0f, 0x22, 0xc0, // mov cr0, eax
    0xd9, 0xe8, // fld1
    0xe6, 0x11, // out 0x11, al
    0x8b, 0x04, 0x24, // mov eax, [esp]
    0xa3, 0x50, 0x10, 0x00, 0x00, // mov [nmeip], eax
    0x0f, 0x06, // clts
    0xe6, 0x12, // out 0x12, al
    0x7b, 0x03, // cw: dw 0x037b
    0x00, 0x00, // sw1: dw 0
    0x00, 0x00, // sw2: dw 0
    0x90, 0x90, // align 4
    0x00, 0x00, 0x00, 0x00, // mfeip: dd 0
    0x00, 0x00, 0x00, 0x00, // nmeip: dd 0
  ];
  for (const ne of [true, false]) {
    using m = machine(kvm);
    load(m.mem, 0x1000, code);
    protectedMode(m.vcpu, m.mem, 0x1000, 0);
    const v = view(m.mem);
    for (const [vector, handler] of [[16, 0x1019], [7, 0x1038]]) {
      v.setUint32(0x800 + 8 * vector, (SEL_CODE0 << 16) | handler, true);
      v.setUint32(0x804 + 8 * vector, 0x8e00, true); // present, DPL 0, 32-bit interrupt gate
    }
    const s = m.vcpu.getSregs();
    s.idt = { base: 0x800n, limit: 255 };
    if (ne) s.cr0 |= 0x20n;
    m.vcpu.setSregs(s);
    const exit = m.vcpu.run({ timeoutMs: 5000 });
    if (exit.reason !== "io") throw new Error(`exit ${exit.reason}`);
    if (ne) {
      equal(exit.port, 0x12);
      // FSW after the unmasked divide by zero (B, TOP 6, ES, ZE: FDIVP neither stored nor popped),
      // read before FWAIT and in the #MF handler; #MF reported at the FWAIT (0x1016), #NM at the FLD1 (0x1034).
      equal(bytes(m, 0x1046, 4), "84b084b0");
      equal(bytes(m, 0x104c, 8), "1610000034100000");
    } else {
      // Without CR0.NE the FERR# path is not modelled: FWAIT goes on.
      equal(exit.port, 0x10);
      equal(bytes(m, 0x1046, 4), "84b00000");
    }
  }
});

x87Test("x87 guest: FNSAVE, FRSTOR and FNSTENV in the 16-bit real-mode format", (kvm, vendor) => {
  // deno-fmt-ignore
  const code = [
    0xdb, 0xe3, // fninit
    0xd9, 0xe8, // fld1
    0xd9, 0xeb, // fldpi
    0xdd, 0x36, 0x00, 0x20, // fnsave [0x2000]
    0xd9, 0xe8, // fld1
    0xdd, 0x26, 0x00, 0x20, // frstor [0x2000]
    0xd9, 0x36, 0x00, 0x21, // fnstenv [0x2100]
    0xdb, 0x3e, 0x00, 0x22, // fstp tword [0x2200]
    0xe6, 0x10, // out 0x10, al
  ];
  using m = machine(kvm);
  load(m.mem, 0x1000, code);
  realMode(m.vcpu, 0x1000);
  equal(m.vcpu.run({ timeoutMs: 5000 }).reason, "io");
  // FCW, FSW (TOP 6), FTW, FIP 15-0 (linear 0x1004: FLDPI), FIP 19-16 << 12 | FOP, FDP 0, 0. FOP is the
  // FLDPI's (0x1eb) on AMD; on Intel FNINIT's 0, no instruction having incurred an unmasked exception.
  const env = `7f030030ff0f0410${vendor === "amd" ? "eb01" : "0000"}00000000`;
  equal(bytes(m, 0x2000, 14), env);
  equal(bytes(m, 0x200e, 20), "35c26821a2da0fc90040" + "0000000000000080ff3f");
  equal(bytes(m, 0x2100, 14), env); // restored by FRSTOR, the FLD1 between forgotten
  equal(bytes(m, 0x2200, 10), "35c26821a2da0fc90040");
});

x87Test(
  "x87 guest: KVM_SET_FPU loads ST(0) and the tags; KVM_GET_FPU's last opcode and pointers by vendor",
  (kvm, vendor) => {
    // deno-fmt-ignore
    const code = [
    0xd9, 0x1d, 0x10, 0x10, 0x00, 0x00, // fstp dword [x]
    0xdd, 0x05, 0x14, 0x10, 0x00, 0x00, // fld qword [y]
    0xe6, 0x10, // out 0x10, al
    0x90, 0x90, // align 4
    0x00, 0x00, 0x00, 0x00, // x: dd 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe8, 0xbf, // y: dq -0.75
  ];
    using m = run32(kvm, code, 3, (mm) => {
      const f = mm.vcpu.getFpu();
      f.fpr[0] = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0xa0, 0x00, 0x40, 0, 0, 0, 0, 0, 0]); // 2.5
      f.fsw = 0x3800; // TOP 7
      f.ftwx = 0x80; // R7 valid
      mm.vcpu.setFpu(f);
    });
    equal(bytes(m, 0x1010, 4), "00002040"); // 2.5f
    const f = m.vcpu.getFpu();
    equal(hex(f.fpr[0]), "00000000000000c0febf000000000000"); // -0.75
    // FLD m64 at 0x1006 (DD 05) reading 0x1014. An AMD part drops these in the XSAVE at the exit unless ES is
    // set (kvm on the AMD host reports zeros); Intel keeps them, but records FOP and FDP only for an
    // instruction with an unmasked exception: FIP alone is the FLD's.
    const pointers = vendor === "amd" ? [0, 0n, 0n] : [0, 0x1006n, 0n];
    deepEqual([f.fcw, f.fsw, f.ftwx, f.lastOpcode, f.lastIp, f.lastDp], [0x37f, 0x3800, 0x80, ...pointers]);
  },
);

x87Test(
  "x87 guest: FXSAVE/FXRSTOR image (AMD saves FOP/FIP/FDP only with ES set; Intel always, FCS/FDS as zeros)",
  (kvm, vendor) => {
    // deno-fmt-ignore
    const code = [
    0xdb, 0xe3, // fninit
    0xd9, 0xe8, // fld1
    0xd9, 0xeb, // fldpi
    0x0f, 0xae, 0x05, 0x00, 0x20, 0x00, 0x00, // fxsave [0x2000]
    0xdb, 0xe3, // fninit
    0x0f, 0xae, 0x0d, 0x00, 0x20, 0x00, 0x00, // fxrstor [0x2000]
    0xdb, 0x3d, 0x00, 0x23, 0x00, 0x00, // fstp tword [0x2300]
    0xdb, 0x3d, 0x0a, 0x23, 0x00, 0x00, // fstp tword [0x230a]
    0xe6, 0x10, // out 0x10, al
  ];
    using m = run32(kvm, code);
    // FCW, FSW (TOP 6), abridged FTW 0xc0, FOP, FIP, FCS, FDP, FDS, MXCSR, MXCSR_MASK; on the AMD host:
    // 7f030030c000 then zeros to byte 24, 801f0000, ffff0200 (this core's MXCSR_MASK is 0000ffff). Intel saves
    // FIP (the FLDPI's), FOP and FDP as FNINIT left them (no unmasked exception since) and FCS, FDS as zeros.
    const pointers = vendor === "amd" ? "0000" + "0".repeat(32) : "0000" + "0410000000000000" + "0000000000000000";
    equal(bytes(m, 0x2000, 32), "7f030030c000" + pointers + "801f0000ffff0000");
    equal(bytes(m, 0x2020, 32), "35c26821a2da0fc90040000000000000" + "0000000000000080ff3f000000000000");
    equal(bytes(m, 0x2300, 20), "35c26821a2da0fc90040" + "0000000000000080ff3f");
  },
);
