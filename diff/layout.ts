/**
 * The guest-physical memory map of the differential harness, its GDT
 * selectors and its I/O ports. Everything lives in the first MiB so that
 * real mode can reach it; page tables identity-map it.
 *
 * @module
 */

/** Guest memory: 1 MiB at guest-physical 0, one slot. */
export const MEMORY_SIZE = 0x10_0000;
/** The real-mode interrupt vector table. */
export const IVT = 0x0000;
/** The GDT (see the SEL_* selectors). */
export const GDT = 0x1000;
/** The IDTs: 64-bit gates (16 bytes each), 32-bit gates, 16-bit gates. */
export const IDT64 = 0x2000;
export const IDT32 = 0x2200;
export const IDT16 = 0x2300;
/** Task-state segments, each with an I/O permission bitmap (see DONE_PORT). */
export const TSS64 = 0x3000;
export const TSS32 = 0x3100;
/** Offset of the I/O permission bitmap inside each TSS, and its length in bytes. */
export const IOMAP_OFFSET = 0x68;
export const IOMAP_BYTES = 0x20;
/** Exception handler stubs, 32 bytes per vector, one block per mode. */
export const HANDLERS_REAL = 0x4000;
export const HANDLERS_PM16 = 0x4400;
export const HANDLERS_32 = 0x4800;
export const HANDLERS_64 = 0x4c00;
export const HANDLER_STRIDE = 32;
/** The ring-0 stack that a CPL 3 -> 0 exception switches to (TSS rsp0/esp0): its top. */
export const RING0_STACK_TOP = 0x6000;
/** The bytes below RING0_STACK_TOP compared after a case (exception frames land there). */
export const RING0_STACK_WATCH = 0x100;
/** 32-bit paging: page directory and one page table (linear 0-4 MiB). */
export const PD32 = 0x10000;
export const PT32 = 0x11000;
/** 4-level paging: PML4, PDPT, PD and one page table (linear 0-2 MiB). */
export const PML4 = 0x12000;
export const PDPT = 0x13000;
export const PD64 = 0x14000;
export const PT64 = 0x15000;
/** The end of the system area: everything below is built once and checked after each case. */
export const SYSTEM_END = 0x16000;
/** The case's code: one page. */
export const CODE = 0x20000;
export const CODE_SIZE = 0x1000;
/**
 * The case's data area: four pages. Under paging pages 0 and 1 are
 * read/write, page 2 read-only and page 3 not present (to provoke #PF);
 * without paging all four are ordinary memory.
 */
export const DATA = 0x30000;
export const DATA_SIZE = 0x4000;
/** Offsets in the data area of the read/write, read-only and not-present parts. */
export const RW_END = 0x2000;
export const RO_END = 0x3000;
/** The stack zone inside the data area, as offsets: the stack pointer is kept within it. */
export const STACK_LOW = 0x0a00;
export const STACK_HIGH = 0x1600;

/** The port a case writes to when it is done (`out DONE_PORT, al`). */
export const DONE_PORT = 0xd0;
/** The ports an exception handler writes its vector and its error code to. */
export const VECTOR_PORT = 0xd1;
export const ERROR_PORT = 0xd2;

/** The four segment-base choices, as distances (env.ts baseChoice turns them into bases per mode). */
export const SEGMENT_DELTAS: readonly number[] = [0, 0x10, 0x100, 0x1000];

/** GDT selectors (index << 3; RPL added where a segment is loaded at CPL 3). */
export const SEL_CODE64_0 = 0x08;
export const SEL_DATA_0 = 0x10;
export const SEL_CODE32_0 = 0x18;
export const SEL_CODE64_3 = 0x20 | 3;
export const SEL_CODE32_3 = 0x28 | 3;
export const SEL_TSS64 = 0x30; // 16 bytes: 0x30 and 0x38
export const SEL_TSS32 = 0x40;
export const SEL_CODE16_CASE = 0x48; // base CODE, limit 0xffff
export const SEL_CODE16_LOW = 0x50; // base 0, limit 0xffff (the 16-bit handlers)
/** Four 16-bit data segments and four 4 GiB-limit DPL 3 data segments, one per base choice (env.ts baseChoice). */
export const SEL_DATA16 = 0x58; // + 8k
export const SEL_DATA32_3 = 0x78 | 3; // + 8k
/** GDT limit (bytes - 1). */
export const GDT_LIMIT = 0x98 - 1;

/** Vectors whose exceptions push an error code (protected and long mode). */
export const ERROR_CODE_VECTORS: ReadonlySet<number> = new Set([8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);
