/**
 * The CPU object: architectural state plus the accessors every instruction
 * uses (segmented memory, stack, ModRM operands, port I/O), the MMIO and
 * port-I/O exits with the kernel's completion semantics, and the caches.
 *
 * Completion: an instruction that reads from MMIO or from a port exits
 * with EXIT before changing any state; userspace writes the data into
 * kvm_run; on the next KVM_RUN the instruction runs again and its reads,
 * in order, take the replayed data. Writes (OUT, MMIO stores) complete the
 * instruction and exit after it.
 *
 * @module
 */
import { KVM_EXIT_IO, KVM_EXIT_MMIO } from "../../abi/constants.ts";
import type { CpuidEntry } from "../../abi/structs.ts";
import type { MemSlots } from "../memslots.ts";
import type { Vendor } from "../vendor.ts";
import { checkWatch } from "./debug.ts";
import { type CoreExit, takeExit } from "./exit.ts";
import { EXIT, fault, GP, SSF } from "./fault.ts";
import { AC, FlagState, VM } from "./flags.ts";
import type { Insn } from "./insn.ts";
import { Memory, type MemoryHost } from "./memory.ts";
import type { BlockCompilerMode } from "./compiler_mode.ts";
import { BlockCache } from "./jit/run.ts";
import type { Block } from "./jit/block.ts";
import { TableSlot, walk } from "./paging.ts";
import { FETCH, READ, WalkCache, WRITE } from "./walk_cache.ts";
import { CR0_PG, CR4_SMAP, EFER_LMA } from "./control_bits.ts";
import { AR_DB, AR_L, AR_UNUSABLE, CS, ESP, FS, SS } from "./state.ts";
import { addRsp, ea64, in64, linear64, peekLong, popLong, pushLong, TWO47, TWO48 } from "./long/access.ts";

/** What dropping a written code page counts as toward the run loop's alarm, in instructions (Cpu.work). */
const CODE_WRITE_WORK = 256;

/**
 * The in-kernel devices a CPU talks to without exiting (emu/irqchip): ports,
 * MMIO ranges, and the interrupt controller asked at instruction boundaries.
 */
export interface CpuDevices {
  /** An IN of `size` bytes from `port`, or -1 when no device claims the port (userspace answers). */
  portIn(port: number, size: number): number;
  /** An OUT; false when no device claims the port. */
  portOut(port: number, size: number, value: number): boolean;
  /** A read of `len` bytes at physical `phys` outside RAM, or undefined when no device claims the address. */
  mmioRead(phys: number, len: number): number | undefined;
  /** A write; false when no device claims the address. */
  mmioWrite(phys: number, len: number, value: number): boolean;
  /**
   * Acknowledges the interrupt the CPU takes now (IF=1, no shadow): its vector, or -1 when none is deliverable,
   * in which case the controller also clears `intrRequest` until something changes.
   */
  acknowledge(): number;
  /** PAUSE (F3 90) was executed: a spin-wait, which pause-loop exiting may end (the irqchip's vCPU scheduling). */
  pause?(): void;
}

/** The CPU. */
export class Cpu extends FlagState implements MemoryHost {
  readonly mem: Memory;
  readonly vendor: Vendor;
  /** Exits waiting to be reported, oldest first. */
  readonly exits: CoreExit[] = [];
  /** Data for the reads of the instruction being restarted, in order. */
  readonly replay: Uint8Array[] = [];
  replayPos = 0;
  /** EIP of the next instruction; control transfers write it. */
  nextEip = 0;
  /** Decoded instructions by physical page, then by offset in the page. */
  readonly code = new Map<number, (Insn | undefined)[]>();
  /** Compiled blocks (jit/): one cache for the VM's CPUs (`sharedBlocks`). */
  readonly blocks: BlockCache;
  /**
   * The block where the last chain of blocks stopped with an exit queued, its budget spent or an interrupt raised,
   * the exit it left by, and EIP and RIP's high half then: the next chain goes on through that exit's link while EIP
   * is still there (jit/run.ts runChain). Null when none.
   */
  chainFrom: Block | null = null;
  chainExit = 0;
  chainEip = 0;
  chainRipHigh = 0;
  /**
   * The last chain ended where no block starts (blockAt found none at CS:EIP): the run loop's interpreter takes the
   * next instruction without asking runChain, which would look for the same block again.
   */
  chainMissed = false;
  #run: number;
  /**
   * Counts KVM_RUNs (vcpu.ts sets it to one more at each): a decoded instruction or block is compared with memory once
   * per run (host writes). The number set is raised above every other CPU's of the VM (BlockCache.newRun), so that a
   * block one of them checked in its run is not taken as checked by another.
   */
  get runEpoch(): number {
    return this.#run;
  }
  set runEpoch(n: number) {
    this.#run = this.blocks.newRun(n);
  }
  /** The memory slots' generation this CPU last dropped its code for (`dropCode`), or -1. */
  #codeSlots = -1;
  /** Changes whenever decoded code is dropped, so that a running block notices a write to its own page. */
  codeGen = 0;
  /**
   * Work done since the run loop last asked its alarm, beyond the instructions it counts: REP iterations, blocks
   * compiled. The loop adds it to its count, so that a long instruction or compile churn cannot hold a run past its
   * deadline (exec.ts).
   */
  work = 0;
  /** A vector queued by KVM_INTERRUPT, or -1. */
  pendingIrq = -1;
  /** The in-kernel irqchip and PIT (KVM_CREATE_IRQCHIP), or null: every port and MMIO access exits. */
  devices: CpuDevices | null = null;
  /** The interrupt controller may have an interrupt for this CPU: the run loop asks it (devices.acknowledge). */
  intrRequest = false;
  /** Interrupts are blocked for one instruction after STI / MOV SS / POP SS. */
  shadow = 0;
  /** The instruction about to run follows a MOV SS or POP SS: its debug exceptions are held (debug.ts). */
  movSsBlocking = false;
  /** DR6 bits of the debug traps a MOV SS or POP SS held until the next instruction boundary but one. */
  heldDebug = 0;
  halted = false;
  /** KVM_SET_GUEST_DEBUG state: the control word, and debugreg[0-7] as numbers (exact below 2^53). */
  debugControl = 0;
  readonly debugRegs = new Float64Array(8);
  /**
   * The guest-debug DR0-DR3 as long mode compares them, exactly: the 48-bit linear form of a canonical address,
   * -1 (matching nothing) for a non-canonical one.
   */
  readonly debugLinear = new Float64Array(4);
  /** kvm_run.request_interrupt_window at the last KVM_RUN. */
  requestIrqWindow = false;
  /** A hardware breakpoint just reported at this linear address is not reported again (like RF). */
  skipBreakpointAt = -1;
  /** What the last internal error was about, for diagnostics. */
  lastError = "";
  /** The vCPU's CPUID leaves (KVM_SET_CPUID2). */
  cpuidTable: CpuidEntry[] = [];
  /** Armed breakpoints (debug.ts): bit 0 data (`lin` checks every access), bit 1 the guest's execution ones. */
  watch = 0;
  /** The data breakpoints (bits 0-3) the current instruction hit. */
  watchHits = 0;
  /** An exception queued by KVM_GUESTDBG_INJECT_DB/INJECT_BP, delivered before the next instruction, or -1. */
  pendingException = -1;
  /** The error code pushed with `pendingException` (KVM_SET_VCPU_EVENTS), or -1. */
  pendingErrorCode = -1;
  /**
   * `pendingException` was injected by KVM_SET_VCPU_EVENTS (the kernel's exception.injected), not queued by the
   * CPU or by KVM_SET_GUEST_DEBUG (exception.pending): KVM_SET_REGS cancels only the latter.
   */
  pendingInjected = false;
  /** Counts deliveries through the IVT/IDT (an instruction that delivers one is not single-stepped). */
  deliveries = 0;

  constructor(slots: MemSlots, vendor: Vendor, blockCompiler: BlockCompilerMode = "on") {
    super();
    this.vendor = vendor;
    // Intel: FOP and FDP only for unmasked exceptions, FCS and FDS saved as zeros (vmx.ts advertises both).
    this.fpu.exceptionPointers = this.fpu.zeroSelectors = vendor.name === "intel";
    this.mem = new Memory(slots, this);
    this.blocks = sharedBlocks(slots, blockCompiler);
    this.#run = this.blocks.attach();
  }

  /** Default operand size of the code segment: 2 or 4, or 8 in 64-bit mode. */
  get codeSize(): number {
    if (in64(this)) return 8;
    return this.cr0 & 1 && !(this.eflRest & VM) && this.segAr[1] & AR_DB ? 4 : 2;
  }

  /** Stack address size: 2 or 4 (SS.B), or 8 in 64-bit mode. */
  get stackSize(): number {
    if (in64(this)) return 8;
    return this.cr0 & 1 && !(this.eflRest & VM) && this.segAr[SS] & AR_DB ? 4 : 2;
  }

  // ---- segmentation -------------------------------------------------------

  /** The linear address of seg:off for an access of `size` bytes, with the limit and type checks. */
  lin(seg: number, off: number, size: number, write: boolean): number {
    const ar = this.segAr[seg];
    // The common case first: a usable expand-up data segment (writable for a write), the access inside its limit,
    // nothing watched, not 64-bit mode. Every check below would pass; the address is base + offset.
    if (
      (ar & (AR_UNUSABLE | 0x1c | (write ? 2 : 0))) === (write ? 0x12 : 0x10) &&
      off <= this.segLimit[seg] - (size - 1) &&
      this.watch === 0 && !(this.efer & EFER_LMA && this.segAr[CS] & AR_L)
    ) {
      return (this.segBase[seg] + off) >>> 0;
    }
    // 64-bit mode, ES/CS/SS/DS (base 0), canonical, no alignment check possible, nothing watched: the 48-bit form.
    if (
      seg < FS && off >= -TWO47 && off + size <= TWO47 && this.watch === 0 && !(this.eflRest & AC) &&
      this.efer & EFER_LMA && this.segAr[CS] & AR_L
    ) {
      return off < 0 ? off + TWO48 : off;
    }
    return this.#linChecked(seg, off, size, write);
  }

  /** {@linkcode lin} with every check. */
  #linChecked(seg: number, off: number, size: number, write: boolean): number {
    if (this.efer & EFER_LMA && this.segAr[CS] & AR_L) {
      const lin = linear64(this, seg, off, size);
      if (this.watch & 1) checkWatch(this, lin, size, write);
      return lin;
    }
    const ar = this.segAr[seg];
    if (this.cr0 & 1 && !(this.eflRest & VM)) {
      if (ar & AR_UNUSABLE) fault(seg === SS ? SSF : GP, 0);
      if (write ? (ar & 0x1a) !== 0x12 : (ar & 0x1a) === 0x18) fault(seg === SS ? SSF : GP, 0);
    }
    const limit = this.segLimit[seg], last = off + size - 1;
    if ((ar & 0x1c) === 0x14) {
      // Expand-down data segment: valid offsets are above the limit.
      const top = ar & AR_DB ? 0xffffffff : 0xffff;
      if (off <= limit || last > top) fault(seg === SS ? SSF : GP, 0);
    } else if (last > limit) fault(seg === SS ? SSF : GP, 0);
    const lin = (this.segBase[seg] + off) >>> 0;
    if (this.watch & 1) checkWatch(this, lin, size, write);
    return lin;
  }

  read(seg: number, off: number, size: number): number {
    return this.mem.read(this.lin(seg, off, size, false), size);
  }

  write(seg: number, off: number, size: number, v: number): void {
    this.mem.write(this.lin(seg, off, size, true), size, v);
  }

  // ---- stack --------------------------------------------------------------

  /** Pushes `size` bytes (2 or 4). */
  push(v: number, size: number): void {
    const ss = this.stackSize;
    if (ss === 8) pushLong(this, v, size);
    else if (ss === 4) {
      const sp = (this.r32[ESP << 1] - size) >>> 0;
      this.write(SS, sp, size, v);
      this.r32[ESP << 1] = sp;
    } else {
      const sp = (this.r16[ESP << 2] - size) & 0xffff;
      this.write(SS, sp, size, v);
      this.r16[ESP << 2] = sp;
    }
  }

  /** Pops `size` bytes (2 or 4). */
  pop(size: number): number {
    const ss = this.stackSize;
    if (ss === 8) return popLong(this, size);
    if (ss === 4) {
      const sp = this.r32[ESP << 1];
      const v = this.read(SS, sp, size);
      this.r32[ESP << 1] = sp + size;
      return v;
    }
    const sp = this.r16[ESP << 2];
    const v = this.read(SS, sp, size);
    this.r16[ESP << 2] = sp + size;
    return v;
  }

  /** Reads the stack `depth` bytes above SP without popping. */
  peek(depth: number, size: number): number {
    if (this.stackSize === 8) return peekLong(this, depth, size);
    const sp = this.stackSize === 4 ? (this.r32[ESP << 1] + depth) >>> 0 : (this.r16[ESP << 2] + depth) & 0xffff;
    return this.read(SS, sp, size);
  }

  /** Adds `n` to the stack pointer with the stack's address size. */
  addSp(n: number): void {
    const ss = this.stackSize;
    if (ss === 8) addRsp(this, n);
    else if (ss === 4) this.r32[ESP << 1] += n;
    else this.r16[ESP << 2] += n;
  }

  // ---- ModRM operands -----------------------------------------------------

  /** The effective address (offset) of a memory operand. */
  ea(d: Insn): number {
    if (d.mode === 8) return ea64(this, d);
    let a = d.disp;
    if (d.base >= 0) a += this.r32[d.base << 1];
    if (d.index >= 0) a += this.r32[d.index << 1] << d.scale;
    return d.asize === 2 ? a & 0xffff : a >>> 0;
  }

  /** The segment of a memory operand. */
  seg(d: Insn): number {
    return d.seg >= 0 ? d.seg : d.eaSeg;
  }

  /** Reads the r/m operand of size `d.size`. */
  readRm(d: Insn): number {
    if (d.mod === 3) return this.getReg(d.rm, d.size);
    if (d.rmw) return this.readForWrite(this.seg(d), this.ea(d), d.size);
    return this.read(this.seg(d), this.ea(d), d.size);
  }

  /** The read of a read-modify-write: checked and translated as a write (a #PF says W/R = 1). */
  readForWrite(seg: number, off: number, size: number): number {
    const lin = this.lin(seg, off, size, true);
    this.mem.probeWrite(lin, size);
    return this.mem.read(lin, size);
  }

  /** Writes the r/m operand of size `d.size`. */
  writeRm(d: Insn, v: number): void {
    if (d.mod === 3) this.setReg(d.rm, d.size, v);
    else this.write(this.seg(d), this.ea(d), d.size, v);
  }

  /** Reads the r/m operand with an explicit size. */
  readRmSize(d: Insn, size: number): number {
    if (d.mod === 3) return this.getReg(d.rm, size);
    return this.read(this.seg(d), this.ea(d), size);
  }

  // ---- exits and completion -----------------------------------------------

  /** Forgets the replayed reads consumed so far (a REP iteration committed them). */
  commitReplay(): void {
    if (this.replayPos) {
      this.replay.splice(0, this.replayPos);
      this.replayPos = 0;
    }
  }

  /** Takes the next replayed read, or undefined when the instruction must exit for it. */
  #replayed(): Uint8Array | undefined {
    return this.replayPos < this.replay.length ? this.replay[this.replayPos++] : undefined;
  }

  mmioRead(phys: number, len: number): number {
    if (this.devices !== null && len <= 4) {
      const v = this.devices.mmioRead(phys, len);
      if (v !== undefined) return v;
    }
    return le(this.mmioReadBytes(phys, len), len);
  }

  /** An MMIO read of `len` (up to 8) bytes: the replayed data, or an exit (throws EXIT). */
  mmioReadBytes(phys: number, len: number): Uint8Array {
    if (this.devices !== null && len <= 4) {
      const v = this.devices.mmioRead(phys, len);
      if (v !== undefined) return leBytes(v, len);
    }
    const r = this.#replayed();
    if (r) return r;
    const e = takeExit(KVM_EXIT_MMIO);
    e.addr = phys;
    e.size = len;
    this.exits.push(e);
    throw EXIT;
  }

  /** An MMIO write of the first `len` (up to 8) bytes of `data`: queues the exit; the instruction completes. */
  mmioWriteBytes(phys: number, len: number, data: Uint8Array): void {
    if (this.devices !== null && len <= 4 && this.devices.mmioWrite(phys, len, le(data, len))) return;
    const e = takeExit(KVM_EXIT_MMIO);
    e.addr = phys;
    e.size = len;
    e.dir = 1;
    e.data = new Uint8Array(8);
    e.data.set(data.subarray(0, len));
    this.exits.push(e);
  }

  mmioWrite(phys: number, len: number, value: number): void {
    if (this.devices !== null && len <= 4 && this.devices.mmioWrite(phys, len, value)) return;
    const data = new Uint8Array(8);
    for (let i = 0; i < len; i++) {
      data[i] = value & 0xff;
      value = Math.floor(value / 256);
    }
    this.mmioWriteBytes(phys, len, data);
  }

  /** IN: the data userspace supplied for `count` items, or an exit (throws EXIT). */
  portIn(port: number, size: number, count: number): Uint8Array {
    if (this.devices !== null) {
      const first = this.devices.portIn(port, size);
      if (first >= 0) {
        const out = new Uint8Array(size * count);
        for (let i = 0; i < count; i++) out.set(leBytes(i ? this.devices.portIn(port, size) : first, size), i * size);
        return out;
      }
    }
    const r = this.#replayed();
    if (r) return r;
    const e = takeExit(KVM_EXIT_IO);
    e.dir = 0;
    e.port = port;
    e.size = size;
    e.count = count;
    this.exits.push(e);
    throw EXIT;
  }

  /** OUT of one value of `size` bytes: queues the exit; the instruction completes. */
  portOutValue(port: number, size: number, value: number): void {
    if (this.devices !== null && this.devices.portOut(port, size, value)) return;
    const e = takeExit(KVM_EXIT_IO);
    e.dir = 1;
    e.port = port;
    e.size = size;
    e.count = 1;
    e.value = value;
    this.exits.push(e);
  }

  /** OUT: queues the exit; the instruction completes. */
  portOut(port: number, size: number, data: Uint8Array, count: number): void {
    if (this.devices !== null && this.devices.portOut(port, size, le(data, size))) {
      for (let i = 1; i < count; i++) this.devices.portOut(port, size, le(data.subarray(i * size), size));
      return;
    }
    const e = takeExit(KVM_EXIT_IO);
    e.dir = 1;
    e.port = port;
    e.size = size;
    e.count = count;
    e.data = data;
    this.exits.push(e);
  }

  // ---- translation and caches ---------------------------------------------

  /**
   * The CPL moved: between 3 and 0-2 the TLB serves the other level's entries. Entering CPL 0-2 under CR4.SMAP drops
   * them all, as every CPL change once did: EFLAGS.AC (which SMAP's checks read) may have changed at CPL 3.
   */
  protected override cplChanged(_from: number, to: number): void {
    this.mem.setUser(to === 3);
    if (to !== 3 && this.cr4 & CR4_SMAP) this.mem.flush();
  }

  /** Translations of walks whose result no TLB entry holds: MMIO pages, and (`sysWalks`) the CPU's implicit accesses. */
  readonly walks = new WalkCache();
  readonly sysWalks = new WalkCache();
  /** The RAM slot the page walks last read an entry from (paging.ts). */
  readonly tableSlot = new TableSlot();

  translate(lin: number, write: boolean, fetch: boolean): number {
    if (!(this.cr0 & CR0_PG)) return lin;
    const mem = this.mem, sys = mem.sys, user = this.cpl === 3 && !sys;
    // Under SMAP an explicit supervisor data access also depends on EFLAGS.AC, which the cache does not record.
    if (this.cr4 & CR4_SMAP && !user && !sys && !fetch) return walk(this, lin, write, user, fetch);
    const right = write ? WRITE : fetch ? FETCH : READ;
    const cache = sys ? this.sysWalks : this.walks, known = cache.lookup(lin, right, mem.epoch);
    if (known >= 0) return known;
    const phys = walk(this, lin, write, user, fetch);
    cache.store(lin, phys, right, mem.epoch);
    return phys;
  }

  /** INVLPG of linear `lin` (48-bit form in 64-bit mode): its TLB entries and cached walks go. */
  invalidatePage(lin: number): void {
    this.mem.flushPage(lin);
    this.walks.drop(lin);
    this.sysWalks.drop(lin);
  }

  /** Drops the decoded instructions and compiled blocks of physical page `pfn` (it was written). */
  codeWritten(pfn: number): void {
    this.code.delete(pfn);
    this.blocks.dropPage(pfn, this.runEpoch);
    this.codeGen++;
    // Decoding the page's code again costs about as much as running a few hundred instructions.
    this.work += CODE_WRITE_WORK;
  }

  /**
   * Drops all decoded code: the slots changed since this CPU last ran (vcpu.ts, before a run), or the vCPU is being
   * closed (exec.ts releaseCode). The VM's blocks go once for a change of the slots (the first CPU to see it drops
   * them), and once the last CPU has released its code.
   */
  dropCode(): void {
    this.code.clear();
    this.chainFrom = null;
    this.mem.codePfns.clear();
    this.codeGen++;
    const generation = this.mem.slots.generation;
    if (generation !== this.#codeSlots) {
      this.#codeSlots = generation;
      this.blocks.dropAll(generation);
    } else this.blocks.leave();
  }

  /**
   * An interrupt may have become deliverable: the run loop asks the controller before the next instruction, and a
   * running compiled block stops after the current one (its stop check sees codeGen change).
   */
  requestInterrupt(): void {
    this.intrRequest = true;
    this.codeGen++;
  }

  /** Raises #GP(0) unless CPL is 0 (privileged instructions). */
  requireCpl0(): void {
    if (this.cr0 & 1 && (this.cpl !== 0 || this.eflRest & VM)) fault(GP, 0);
  }
}

/** Each VM's block cache, by its memory slots (one MemSlots per VM). */
const vmBlocks = new WeakMap<MemSlots, BlockCache>();

/**
 * The block cache of the VM whose slots are `slots`: the CPUs of a VM share their compiled blocks, their arrival
 * counts and their promotions (jit/cache.ts), as they run the same code. Made in the mode of its first CPU (the VM's).
 */
function sharedBlocks(slots: MemSlots, mode: BlockCompilerMode): BlockCache {
  let cache = vmBlocks.get(slots);
  if (cache === undefined) vmBlocks.set(slots, cache = new BlockCache(mode));
  return cache;
}

function leBytes(v: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (v >>> (8 * i)) & 0xff;
  return b;
}

function le(b: Uint8Array, n: number): number {
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + b[i];
  return v;
}
