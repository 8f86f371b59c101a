/**
 * The boot stub of the benchmark images (_boot.inc), done by the host: the
 * same page tables written into guest memory and the same register state set
 * with KVM_SET_SREGS/KVM_SET_REGS, so that the vCPU starts at the image's
 * `booted` label as if the stub had run. For hypervisors that cannot switch
 * modes from inside the guest: on this project's machines kvm_pvm stops the
 * guest (shutdown) when it turns on paging itself or sets EFER.LME with
 * wrmsr, while the same state set by the host runs; and it runs no 32-bit
 * paging at all (neither 32-bit nor PAE tables), so 32-bit guests can be
 * started with paging off (`paging: false`: linear = physical, the same
 * results).
 *
 * @module
 */
import { EFER_LMA, EFER_LME, X86_CR0_PE, X86_CR0_PG, X86_CR0_WP, X86_CR4_PAE } from "../../constants.ts";
import type { Vcpu } from "../../mod.ts";
import { flatSegment } from "../../examples/_shared.ts";
import type { GuestMode } from "./workloads.ts";
import { GUEST_RAM_SIZE, IMAGE_SIZE } from "./workloads.ts";

/** The page-table root and stack top of _boot.inc. */
const PT_ROOT = 0x10000;
const STACK_TOP = 0x9f000;
/** Where the image keeps the addresses of `booted` and of the GDT. */
const HEADER_OFFSET = 0xffe0;
/** The GDT's selectors and size (_boot.inc). */
const SEL_CODE32 = 0x08, SEL_DATA = 0x10, SEL_CODE64 = 0x18, GDT_LIMIT = 4 * 8 - 1;

/** The instructions the stub executes before `booted` (reset vector included). */
export const INSTRUCTIONS_BEFORE_BOOTED: Readonly<Record<GuestMode, number>> = {
  32: 1 + 7 + 5 + 3 + 4 * 5 + 3 + 4096 * 5 + 5,
  64: 1 + 7 + 5 + 2 + 3 + 8 * 5 + 3 + 4096 * 5 + 3 + 2 + 4 + 3 + 1 + 1,
};

/** Writes the identity page tables _boot.inc builds for `mode` into `ram` (guest memory from 0). */
function writePageTables(ram: Uint8Array, mode: GuestMode): void {
  const view = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  const pages = GUEST_RAM_SIZE >>> 12;
  if (mode === 32) {
    for (let i = 0; i < pages >>> 10; i++) view.setUint32(PT_ROOT + 4 * i, PT_ROOT + 0x1000 * (i + 1) + 3, true);
    for (let i = 0; i < pages; i++) view.setUint32(PT_ROOT + 0x1000 + 4 * i, i * 0x1000 + 3, true);
  } else {
    view.setUint32(PT_ROOT, PT_ROOT + 0x1003, true);
    view.setUint32(PT_ROOT + 0x1000, PT_ROOT + 0x2003, true);
    for (let i = 0; i < pages >>> 9; i++) {
      view.setUint32(PT_ROOT + 0x2000 + 8 * i, PT_ROOT + 0x1000 * (i + 3) + 3, true);
    }
    for (let i = 0; i < pages; i++) view.setUint32(PT_ROOT + 0x3000 + 8 * i, i * 0x1000 + 3, true);
  }
}

/**
 * Puts the guest in the state _boot.inc leaves at `booted`: page tables in
 * `ram`, the image's GDT, flat segments, paging on (32-bit paging, or PAE
 * with long mode; for 32-bit, `paging: false` leaves it off), the stack
 * pointer, and rip at `booted`.
 */
export function bootOnHost(
  vcpu: Vcpu,
  ram: Uint8Array,
  options: { image: Uint8Array; mode: GuestMode; paging?: boolean },
): void {
  const { image, mode, paging = true } = options;
  if (mode === 64 && !paging) throw new RangeError("options.paging: long mode needs paging");
  if (image.length !== IMAGE_SIZE) throw new RangeError(`image: ${image.length} bytes, expected ${IMAGE_SIZE}`);
  const header = new DataView(image.buffer, image.byteOffset + HEADER_OFFSET, 8);
  const booted = header.getUint32(0, true), gdt = header.getUint32(4, true);
  writePageTables(ram, mode);
  const sregs = vcpu.getSregs();
  // Flat segments, as the stub's GDT entries load them.
  const data = flatSegment(SEL_DATA, "data");
  sregs.cs = mode === 64 ? flatSegment(SEL_CODE64, "code64") : flatSegment(SEL_CODE32, "code32");
  sregs.ds = sregs.es = sregs.ss = data;
  sregs.gdt = { base: BigInt(gdt), limit: GDT_LIMIT };
  sregs.cr0 |= paging ? X86_CR0_PE | X86_CR0_PG | X86_CR0_WP : X86_CR0_PE;
  sregs.cr3 = BigInt(PT_ROOT);
  if (mode === 64) {
    sregs.cr4 |= X86_CR4_PAE;
    sregs.efer |= EFER_LME | EFER_LMA;
  }
  vcpu.setSregs(sregs);
  // The stub leaves eax = cr0 (32) or the EFER/cr0 scratch values; main never reads them.
  vcpu.setRegs({ ...vcpu.getRegs(), rip: BigInt(booted), rsp: BigInt(STACK_TOP), rflags: 2n });
}
