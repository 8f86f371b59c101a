/**
 * Hardware task switches in 32-bit protected mode: a far JMP to a TSS
 * (busy bits moved, no back link, CR0.TS set, the outgoing state saved),
 * a far CALL through a task gate and the IRET with NT that returns, an
 * INT through a task gate in the IDT, and an exception through a task gate
 * with its error code pushed on the new task's stack.
 *
 * A host KVM that cannot switch tasks (on kvm_pvm the kernel's instruction
 * emulator runs this CPL 0 code, and a far JMP to a TSS is
 * KVM_EXIT_INTERNAL_ERROR) skips its half, naming what {@linkcode probeTaskSwitch} saw.
 *
 * @module
 */
import { benchTest } from "../_support/guests.ts";
import { probeTaskSwitch } from "../_support/probes.ts";
import {
  type Bench,
  descriptor,
  enter,
  expectOut,
  FREE_INDEX,
  gate,
  K_CODE,
  K_DATA,
  setGdt,
  setIdt,
} from "../_support/sys.ts";

/** The second task's TSS, and its selector (0x40); 0x48 is a task gate to it. */
const TSS_A = 0x3100;

/** Builds task A: a 32-bit available TSS at TSS_A starting at `eip` with eax 0xaaaa0001 and esp 0x5000. */
function taskA(b: Bench, eip: number): void {
  const v = b.view;
  v.setUint32(TSS_A + 0x20, eip, true);
  v.setUint32(TSS_A + 0x24, 2, true);
  v.setUint32(TSS_A + 0x28, 0xaaaa0001, true);
  v.setUint32(TSS_A + 0x38, 0x5000, true);
  [K_DATA, K_CODE, K_DATA, K_DATA, K_DATA, K_DATA].forEach((sel, i) => v.setUint32(TSS_A + 0x48 + 4 * i, sel, true));
  setGdt(b, FREE_INDEX, descriptor(TSS_A, 0x67, 9, { s: 0, db: 0 }));
  setGdt(b, FREE_INDEX + 1, gate(5, 0x40, 0));
}

// 0x1000: mov eax, 0x11 / jmp 0x40:0
// 0x1100 (task A): out eax / str eax / out / mov eax, cr0 / and eax, 8 / out / pushfd / pop eax / out
//   out [0x3100] (back link), [0x52c] (old TSS descriptor, high dword), [0x544] (new one),
//   [0x3020] (saved EIP), [0x3028] (saved EAX), esp, cs / hlt
benchTest("JMP to a TSS: state saved, busy bits moved, TS set, no back link or NT", probeTaskSwitch, {
  0x1000: "b811000000ea000000004000",
  0x1100:
    "e7e90f00c8e7e90f20c083e008e7e99c58e7e9a100310000e7e9a12c050000e7e9a144050000e7e9a120300000e7e9a128300000e7e9" +
    "89e0e7e98cc8e7e9f4",
}, (b) => {
  enter(b);
  taskA(b, 0x1100);
  expectOut(b.vcpu, [0xaaaa0001, 0x40, 8, 2, 0, 0x8900, 0x8b00, 0x100c, 0x11, 0x5000, 8]);
});

// 0x1000: mov eax, 0x22 / call 0x48:0 (task gate) / out eax / str eax / out / pushfd / pop eax / out
//   out [0x544] (task A's descriptor), [0x3120] (task A's saved EIP) / int 0x30 (task gate) / out eax / hlt
// 0x1100 (task A): again: out eax / pushfd / pop eax / out / out [0x3100] (back link) / mov eax, 0x33 / iret
//   jmp again
benchTest("CALL and INT through task gates nest (NT, back link); IRET returns to the caller's task", probeTaskSwitch, {
  0x1000: "b8220000009a000000004800e7e90f00c8e7e99c58e7e9a144050000e7e9a120310000e7e9cd30e7e9f4",
  0x1100: "e7e99c58e7e9a100310000e7e9b833000000cfebeb",
}, (b) => {
  enter(b, { idtLimit: 0x40 * 8 - 1 });
  taskA(b, 0x1100);
  setIdt(b, 0x30, gate(5, 0x40, 0));
  expectOut(b.vcpu, [
    0xaaaa0001, // task A's eax
    0x4002, // NT
    0x28, // back link
    0x22, // the caller's eax, restored from its TSS
    0x28,
    0x2,
    0x8900, // task A no longer busy
    0x1113, // its EIP, saved by the IRET
    0x33, // task A again, through the IDT, with its saved eax
    0x4002,
    0x28,
    0x1113, // the caller's eax at the INT
  ]);
});

// 0x1000: mov ax, 0x23 / mov ss, ax (#GP(0x20), vector 13 is a task gate)
// 0x1200 (task A): out [esp] / out esp / out [0x3100] / out [0x3020] / hlt
benchTest("an exception through a task gate pushes its error code on the new task's stack", probeTaskSwitch, {
  0x1000: "66b823008ed0",
  0x1200: "8b0424e7e989e0e7e9a100310000e7e9a120300000e7e9f4",
}, (b) => {
  enter(b);
  taskA(b, 0x1200);
  setIdt(b, 13, gate(5, 0x40, 0));
  expectOut(b.vcpu, [0x20, 0x5000 - 4, 0x28, 0x1004]);
});
