/**
 * The structs of the vCPU ioctls: registers, special registers, MSRs,
 * CPUID, FPU and XSAVE state, events, debug registers, XCRs, the local
 * APIC page, guest debugging, translation, the signal mask, and the sync
 * registers of kvm_run. Declared as structs.ts declares every struct
 * (kernel member names and types, in the header's order; sizes and
 * offsets from the generated `_layout.ts`).
 *
 * @module
 */
import { f, type Field, StructCodec, u16, u32, u64, u8 } from "./_struct.ts";

/** `struct kvm_regs`: KVM_GET_REGS / KVM_SET_REGS. */
export interface Regs {
  /** RAX. */
  rax: bigint;
  /** RBX. */
  rbx: bigint;
  /** RCX. */
  rcx: bigint;
  /** RDX. */
  rdx: bigint;
  /** RSI. */
  rsi: bigint;
  /** RDI. */
  rdi: bigint;
  /** RSP, the stack pointer. */
  rsp: bigint;
  /** RBP. */
  rbp: bigint;
  /** R8 (64-bit mode). */
  r8: bigint;
  /** R9 (64-bit mode). */
  r9: bigint;
  /** R10 (64-bit mode). */
  r10: bigint;
  /** R11 (64-bit mode). */
  r11: bigint;
  /** R12 (64-bit mode). */
  r12: bigint;
  /** R13 (64-bit mode). */
  r13: bigint;
  /** R14 (64-bit mode). */
  r14: bigint;
  /** R15 (64-bit mode). */
  r15: bigint;
  /** RIP, the instruction pointer (an offset from CS.base). */
  rip: bigint;
  /** RFLAGS; bit 1 always reads as 1 (X86_EFLAGS_FIXED). */
  rflags: bigint;
}
/** The members of `struct kvm_regs`, in order. */
export const REG_NAMES = [
  "rax",
  "rbx",
  "rcx",
  "rdx",
  "rsi",
  "rdi",
  "rsp",
  "rbp",
  "r8",
  "r9",
  "r10",
  "r11",
  "r12",
  "r13",
  "r14",
  "r15",
  "rip",
  "rflags",
] as const;
/** Codec of `struct kvm_regs`. */
export const kvmRegs = new StructCodec<Regs>("kvm_regs", REG_NAMES.map((n) => f(n, u64)));

/** `struct kvm_segment`. */
export interface Segment {
  /** The base address (the hidden part of the segment register). */
  base: bigint;
  /** The limit in bytes (already scaled by `g`). */
  limit: number;
  /** The visible selector. */
  selector: number;
  /** The descriptor type (4 bits: code/data and access bits, or the system type). */
  type: number;
  /** P: 1 if the segment is present. */
  present: number;
  /** DPL: the descriptor privilege level (0-3). */
  dpl: number;
  /** D/B: 1 for a 32-bit segment. */
  db: number;
  /** S: 1 for a code or data segment, 0 for a system segment. */
  s: number;
  /** L: 1 for a 64-bit code segment. */
  l: number;
  /** G: 1 if the limit counts 4 KiB pages. */
  g: number;
  /** AVL: the bit available to software. */
  avl: number;
  /** 1 if the segment is unusable (a null selector was loaded). */
  unusable: number;
}
/** Codec of `struct kvm_segment`. */
export const kvmSegment = new StructCodec<Segment>("kvm_segment", [
  f("base", u64),
  f("limit", u32),
  f("selector", u16),
  f("type", u8),
  f("present", u8),
  f("dpl", u8),
  f("db", u8),
  f("s", u8),
  f("l", u8),
  f("g", u8),
  f("avl", u8),
  f("unusable", u8),
]);

/** `struct kvm_dtable`. */
export interface DTable {
  /** The table's linear base address. */
  base: bigint;
  /** The table's limit (its size in bytes minus 1). */
  limit: number;
}
/** Codec of `struct kvm_dtable`. */
export const kvmDtable = new StructCodec<DTable>("kvm_dtable", [f("base", u64), f("limit", u16)]);

/** `struct kvm_sregs`: KVM_GET_SREGS / KVM_SET_SREGS. */
export interface Sregs {
  /** The CS segment register. */
  cs: Segment;
  /** The DS segment register. */
  ds: Segment;
  /** The ES segment register. */
  es: Segment;
  /** The FS segment register. */
  fs: Segment;
  /** The GS segment register. */
  gs: Segment;
  /** The SS segment register. */
  ss: Segment;
  /** The task register. */
  tr: Segment;
  /** The LDT register. */
  ldt: Segment;
  /** The GDT register. */
  gdt: DTable;
  /** The IDT register. */
  idt: DTable;
  /** CR0 (X86_CR0_* bits). */
  cr0: bigint;
  /** CR2, the last page-fault address. */
  cr2: bigint;
  /** CR3, the page-table root. */
  cr3: bigint;
  /** CR4 (X86_CR4_* bits). */
  cr4: bigint;
  /** CR8, the task-priority register. */
  cr8: bigint;
  /** The EFER MSR (EFER_* bits). */
  efer: bigint;
  /** The APIC base MSR (MSR_IA32_APICBASE). */
  apicBase: bigint;
  /** A pending external interrupt, one bit per vector (at most one bit set; without an in-kernel irqchip). */
  interruptBitmap: [bigint, bigint, bigint, bigint];
}
/** Codec of `struct kvm_sregs`. */
export const kvmSregs = new StructCodec<Sregs>("kvm_sregs", [
  ...sregsCommon(),
  f("interrupt_bitmap", u64, 4),
]);

/** The members kvm_sregs and kvm_sregs2 share: segments, descriptor tables, control registers, EFER, APIC base. */
function sregsCommon(): Field[] {
  return [
    ...["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"].map((n) => f(n, kvmSegment)),
    f("gdt", kvmDtable),
    f("idt", kvmDtable),
    ...["cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base"].map((n) => f(n, u64)),
  ];
}

/** `struct kvm_msr_entry`. */
export interface MsrEntry {
  /** The MSR index (MSR_* constants). */
  index: number;
  /** The MSR's value. */
  data: bigint;
}
/** Codec of `struct kvm_msr_entry`. */
export const kvmMsrEntry = new StructCodec<MsrEntry>("kvm_msr_entry", [f("index", u32), f("data", u64)]);

/** `struct kvm_msrs` header (the entries follow it): KVM_GET_MSRS / KVM_SET_MSRS. */
export const kvmMsrs = new StructCodec<{ nmsrs: number }>("kvm_msrs", [f("nmsrs", u32), f("entries", u8, 0)]);

/** `struct kvm_msr_list` header (`__u32 indices[]` follows): KVM_GET_MSR_INDEX_LIST. */
export const kvmMsrList = new StructCodec<{ nmsrs: number }>("kvm_msr_list", [f("nmsrs", u32), f("indices", u8, 0)]);

/** `struct kvm_translation`: KVM_TRANSLATE. */
export interface KvmTranslation {
  linearAddress: bigint;
  physicalAddress: bigint;
  valid: number;
  writeable: number;
  usermode: number;
}
/** Codec of `struct kvm_translation`. */
export const kvmTranslation = new StructCodec<KvmTranslation>("kvm_translation", [
  f("linear_address", u64),
  f("physical_address", u64),
  f("valid", u8),
  f("writeable", u8),
  f("usermode", u8),
]);

/** `struct kvm_interrupt`: KVM_INTERRUPT. */
export const kvmInterrupt = new StructCodec<{ irq: number }>("kvm_interrupt", [f("irq", u32)]);

/** `struct kvm_guest_debug_arch`. */
export interface KvmGuestDebugArch {
  debugreg: bigint[];
}
/** Codec of `struct kvm_guest_debug_arch`. */
export const kvmGuestDebugArch = new StructCodec<KvmGuestDebugArch>("kvm_guest_debug_arch", [f("debugreg", u64, 8)]);

/** `struct kvm_guest_debug`: KVM_SET_GUEST_DEBUG. */
export interface KvmGuestDebug {
  control: number;
  arch: KvmGuestDebugArch;
}
/** Codec of `struct kvm_guest_debug`. */
export const kvmGuestDebug = new StructCodec<KvmGuestDebug>("kvm_guest_debug", [
  f("control", u32),
  f("arch", kvmGuestDebugArch),
]);

/** `struct kvm_cpuid_entry2`. */
export interface CpuidEntry {
  /** The leaf (EAX on input to CPUID). */
  function: number;
  /** The subleaf (ECX on input), where `flags` has KVM_CPUID_FLAG_SIGNIFCANT_INDEX. */
  index: number;
  /** KVM_CPUID_FLAG_* bits. */
  flags: number;
  /** EAX as CPUID returns it. */
  eax: number;
  /** EBX as CPUID returns it. */
  ebx: number;
  /** ECX as CPUID returns it. */
  ecx: number;
  /** EDX as CPUID returns it. */
  edx: number;
}
/** Codec of `struct kvm_cpuid_entry2`. */
export const kvmCpuidEntry2 = new StructCodec<CpuidEntry>("kvm_cpuid_entry2", [
  f("function", u32),
  f("index", u32),
  f("flags", u32),
  f("eax", u32),
  f("ebx", u32),
  f("ecx", u32),
  f("edx", u32),
]);

/** `struct kvm_cpuid2` header (entries follow): KVM_GET_SUPPORTED_CPUID, KVM_GET_CPUID2, KVM_SET_CPUID2. */
export const kvmCpuid2 = new StructCodec<{ nent: number }>("kvm_cpuid2", [f("nent", u32), f("entries", u8, 0)]);

/** `struct kvm_fpu`: KVM_GET_FPU / KVM_SET_FPU. `fpr` and `xmm` are 16-byte registers. */
export interface Fpu {
  /** The eight x87 registers ST(0)-ST(7) as stored by FXSAVE: 16 bytes each, the 80-bit value in the low 10. */
  fpr: Uint8Array[];
  /** The x87 control word. */
  fcw: number;
  /** The x87 status word. */
  fsw: number;
  /** The abridged tag word (one bit per register: 1 = valid). */
  ftwx: number;
  /** The last x87 opcode (FOP). */
  lastOpcode: number;
  /** The last x87 instruction pointer (FIP). */
  lastIp: bigint;
  /** The last x87 data pointer (FDP). */
  lastDp: bigint;
  /** The sixteen XMM registers, 16 bytes each. */
  xmm: Uint8Array[];
  /** MXCSR, the SSE control and status register. */
  mxcsr: number;
}
/** Codec of `struct kvm_fpu`. */
export const kvmFpu = new StructCodec<Fpu>("kvm_fpu", [
  f("fpr", { bytes: 16 }, 8),
  f("fcw", u16),
  f("fsw", u16),
  f("ftwx", u8),
  f("last_opcode", u16),
  f("last_ip", u64),
  f("last_dp", u64),
  f("xmm", { bytes: 16 }, 16),
  f("mxcsr", u32),
]);

/** `struct kvm_lapic_state`: KVM_GET_LAPIC / KVM_SET_LAPIC, 1024 bytes of APIC registers. */
export const kvmLapicState = new StructCodec<{ regs: Uint8Array }>("kvm_lapic_state", [f("regs", { bytes: 1024 })]);

/** `struct kvm_mp_state`: KVM_GET_MP_STATE / KVM_SET_MP_STATE. */
export const kvmMpState = new StructCodec<{ mpState: number }>("kvm_mp_state", [f("mp_state", u32)]);

/** `struct kvm_vcpu_events`: KVM_GET_VCPU_EVENTS / KVM_SET_VCPU_EVENTS. */
export interface VcpuEvents {
  /** The pending or injected exception: vector `nr`, `errorCode` where `hasErrorCode`. */
  exception: { injected: number; nr: number; hasErrorCode: number; pending: number; errorCode: number };
  /** The injected interrupt (vector `nr`), and `shadow` (KVM_X86_SHADOW_INT_MOV_SS / _STI). */
  interrupt: { injected: number; nr: number; soft: number; shadow: number };
  /** NMI state: injected, pending, masked. */
  nmi: { injected: number; pending: number; masked: number };
  /** The vector of a pending SIPI. */
  sipiVector: number;
  /** KVM_VCPUEVENT_VALID_* bits: which members to apply on set. */
  flags: number;
  /** SMM state: in SMM, SMI pending, SMM entered inside an NMI, INIT latched. */
  smi: { smm: number; pending: number; smmInsideNmi: number; latchedInit: number };
  /** A pending triple fault (KVM_CAP_X86_TRIPLE_FAULT_EVENT). */
  tripleFault: { pending: number };
  /** 1 if `exceptionPayload` is valid (KVM_CAP_EXCEPTION_PAYLOAD). */
  exceptionHasPayload: number;
  /** The exception's payload: CR2 for #PF, DR6 bits for #DB. */
  exceptionPayload: bigint;
}
/** Codec of `struct kvm_vcpu_events`. */
export const kvmVcpuEvents = new StructCodec<VcpuEvents>("kvm_vcpu_events", [
  f("exception", {
    group: [
      f("exception.injected", u8),
      f("exception.nr", u8),
      f("exception.has_error_code", u8),
      f("exception.pending", u8),
      f("exception.error_code", u32),
    ],
  }),
  f("interrupt", {
    group: [
      f("interrupt.injected", u8),
      f("interrupt.nr", u8),
      f("interrupt.soft", u8),
      f("interrupt.shadow", u8),
    ],
  }),
  f("nmi", { group: [f("nmi.injected", u8), f("nmi.pending", u8), f("nmi.masked", u8)] }),
  f("sipi_vector", u32),
  f("flags", u32),
  f("smi", {
    group: [
      f("smi.smm", u8),
      f("smi.pending", u8),
      f("smi.smm_inside_nmi", u8),
      f("smi.latched_init", u8),
    ],
  }),
  f("triple_fault", { group: [f("triple_fault.pending", u8)] }),
  f("exception_has_payload", u8),
  f("exception_payload", u64),
]);

/** `struct kvm_debugregs`: KVM_GET_DEBUGREGS / KVM_SET_DEBUGREGS. */
export interface DebugRegs {
  /** DR0-DR3, the breakpoint addresses. */
  db: bigint[];
  /** DR6, the debug status. */
  dr6: bigint;
  /** DR7, the debug control. */
  dr7: bigint;
  /** `kvm_debugregs.flags`; 0. */
  flags: bigint;
}
/** Codec of `struct kvm_debugregs`. */
export const kvmDebugregs = new StructCodec<DebugRegs>("kvm_debugregs", [
  f("db", u64, 4),
  f("dr6", u64),
  f("dr7", u64),
  f("flags", u64),
]);

/** `struct kvm_xcr`. */
export interface Xcr {
  /** The extended control register's number (0 for XCR0). */
  xcr: number;
  /** Its value. */
  value: bigint;
}
/** Codec of `struct kvm_xcr`. */
export const kvmXcr = new StructCodec<Xcr>("kvm_xcr", [f("xcr", u32), f("value", u64)]);

/** `struct kvm_xcrs`: KVM_GET_XCRS / KVM_SET_XCRS (at most KVM_MAX_XCRS = 16). */
export interface KvmXcrs {
  nrXcrs: number;
  flags: number;
  xcrs: Xcr[];
}
/** Codec of `struct kvm_xcrs`. */
export const kvmXcrs = new StructCodec<KvmXcrs>("kvm_xcrs", [
  f("nr_xcrs", u32),
  f("flags", u32),
  f("xcrs", kvmXcr, 16),
]);

/** `struct kvm_signal_mask` header (`len` bytes of sigset follow): KVM_SET_SIGNAL_MASK. */
export const kvmSignalMask = new StructCodec<{ len: number }>("kvm_signal_mask", [f("len", u32), f("sigset", u8, 0)]);

/** `struct kvm_xsave`: KVM_GET_XSAVE / KVM_SET_XSAVE / KVM_GET_XSAVE2 (4096 bytes, or KVM_CAP_XSAVE2's size). */
export const kvmXsave = new StructCodec<{ region: Uint8Array }>("kvm_xsave", [f("region", { bytes: 4096 })]);

/** `struct kvm_sregs2`: KVM_GET_SREGS2 / KVM_SET_SREGS2 (kvm_sregs without the interrupt bitmap, with PDPTRs). */
export interface Sregs2 extends Omit<Sregs, "interruptBitmap"> {
  /** KVM_SREGS2_FLAGS_PDPTRS_VALID: `pdptrs` hold the PAE page-directory pointers. */
  flags: bigint;
  /** The four PAE page-directory pointers, valid with KVM_SREGS2_FLAGS_PDPTRS_VALID. */
  pdptrs: [bigint, bigint, bigint, bigint];
}
/** Codec of `struct kvm_sregs2`. */
export const kvmSregs2 = new StructCodec<Sregs2>("kvm_sregs2", [
  ...sregsCommon(),
  f("flags", u64),
  f("pdptrs", u64, 4),
]);

/** `struct kvm_sync_regs`: the register sets KVM_RUN stores in and loads from `kvm_run.s` (KVM_CAP_SYNC_REGS). */
export interface KvmSyncRegs {
  regs: Regs;
  sregs: Sregs;
  events: VcpuEvents;
}
/** Codec of `struct kvm_sync_regs`. */
export const kvmSyncRegs = new StructCodec<KvmSyncRegs>("kvm_sync_regs", [
  f("regs", kvmRegs),
  f("sregs", kvmSregs),
  f("events", kvmVcpuEvents),
]);
