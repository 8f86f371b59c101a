/**
 * Breakpoints and watchpoints as gdb's Z/z packets ask for them, and the
 * `GuestDebug` settings (KVM_SET_GUEST_DEBUG) that make the vCPUs stop at
 * them:
 *
 * - Z0 software breakpoints write int3 into guest memory and turn on
 *   KVM_GUESTDBG_USE_SW_BP, where the backend honours it; where it does not
 *   (see {@linkcode probeSoftwareBreakpoints}), they use a debug register
 *   like Z1, which limits them to four together with Z1-Z4.
 * - Z1 hardware breakpoints and Z2/Z3/Z4 write/read/access watchpoints use
 *   DR0-DR3. x86 has no read-only watchpoint: Z3 watches reads and writes. A
 *   watched range is split into aligned pieces of 1, 2, 4 or 8 bytes, one
 *   debug register each.
 *
 * @module
 */
import type { GuestDebug, HardwareBreakpoint, Kvm, Vcpu, VcpuExit } from "../mod.ts";
import type { GuestMemoryAccess } from "./memory.ts";

/** The Z packet types: 0 software, 1 hardware breakpoint, 2 write, 3 read, 4 access watchpoint. */
export type ZType = 0 | 1 | 2 | 3 | 4;

/** A debug register in use. */
interface Slot {
  type: ZType;
  /** The address and length gdb asked for (reported back in watch stop replies). */
  addr: bigint;
  len: number;
  hw: HardwareBreakpoint;
}

/** What a debug exit was, for the stop reply. */
export type DebugStop =
  | { kind: "step" }
  | { kind: "swbreak" }
  | { kind: "hwbreak" }
  | { kind: "watch" | "rwatch" | "awatch"; addr: bigint }
  | { kind: "trap" };

const DR_SLOTS = 4;
const INT3 = 0xcc;

/** The breakpoints and watchpoints of one debugging session. */
export class Breakpoints {
  readonly #memory: GuestMemoryAccess;
  /** Whether Z0 writes int3 (true) or takes a debug register (false). */
  readonly software: boolean;
  /** Software breakpoints by linear address: where the int3 went and the byte it replaced. */
  readonly #sw = new Map<bigint, { phys: bigint; saved: number }>();
  /** DR0-DR3 in order, without holes: slot i is DR<i> once guestDebug() has been applied. */
  #slots: Slot[] = [];
  /** Whether a watchpoint may be 8 bytes long (long mode). */
  long = true;

  constructor(memory: GuestMemoryAccess, software: boolean) {
    this.#memory = memory;
    this.software = software;
  }

  /** Z: inserts. Returns "" (OK), or an error message naming why not. */
  insert(type: ZType, addr: bigint, kind: number, vcpu: Vcpu): string | undefined {
    if (type === 0 && this.software) {
      if (this.#sw.has(addr)) return undefined;
      const phys = this.#memory.translate(vcpu, addr);
      if (phys === undefined) return `no memory at 0x${addr.toString(16)}`;
      const saved = this.#memory.readPhysical(phys, 1);
      if (saved.length !== 1 || !this.#memory.writePhysical(phys, new Uint8Array([INT3]))) {
        return `no RAM at 0x${addr.toString(16)}`;
      }
      this.#sw.set(addr, { phys, saved: saved[0] });
      return undefined;
    }
    if (this.#slots.some((s) => s && s.type === type && s.addr === addr && (type <= 1 || s.len === kind))) {
      return undefined; // already there: Z is idempotent
    }
    if (type <= 1) return this.#take([{ type, addr, len: 1, hw: { address: addr, kind: "exec" } }]);
    if (kind <= 0 || kind > 64) return `watchpoint length ${kind} out of range`;
    const hwKind = type === 2 ? "write" : "readwrite";
    return this.#take(
      split(addr, kind, this.long ? 8 : 4).map(([a, n]) => ({
        type,
        addr,
        len: kind,
        hw: { address: a, kind: hwKind, length: n },
      })),
    );
  }

  #take(slots: Slot[]): string | undefined {
    const free = DR_SLOTS - this.#slots.length;
    if (free < slots.length) {
      return `needs ${slots.length} debug register(s), ${free} free of ${DR_SLOTS}` +
        (this.software ? "" : " (breakpoints use debug registers on this backend)");
    }
    this.#slots.push(...slots);
    return undefined;
  }

  /** z: removes. Removing what is not there is not an error (gdb may remove twice). */
  remove(type: ZType, addr: bigint, kind: number): void {
    if (type === 0 && this.software) {
      const bp = this.#sw.get(addr);
      if (!bp) return;
      this.#sw.delete(addr);
      const now = this.#memory.readPhysical(bp.phys, 1);
      // Put the old byte back unless the guest has since written that byte itself.
      if (now.length === 1 && now[0] === INT3) this.#memory.writePhysical(bp.phys, new Uint8Array([bp.saved]));
      return;
    }
    this.#slots = this.#slots.filter((s) => !(s.type === type && s.addr === addr && (type <= 1 || s.len === kind)));
  }

  /** Removes everything (detach, disconnect), restoring the bytes under software breakpoints. */
  clear(): void {
    for (const addr of [...this.#sw.keys()]) this.remove(0, addr, 1);
    this.#slots = [];
  }

  /** How many are set. */
  get count(): number {
    return this.#sw.size + this.#slots.length;
  }

  /** The guest-debug settings: software breakpoints on if any int3 is planted, the debug registers, `step`. */
  guestDebug(step: boolean): GuestDebug | null {
    if (!step && this.#sw.size === 0 && this.#slots.length === 0) return null;
    const debug: GuestDebug = { singlestep: step, softwareBreakpoints: this.#sw.size > 0 };
    // Slot i becomes DR<i>, so DR6's B<i> bits name the slot.
    if (this.#slots.length > 0) debug.hardwareBreakpoints = this.#slots.map((s) => s.hw);
    return debug;
  }

  /** Masks planted int3 bytes in `bytes` read from linear `addr`: gdb sees the guest's own code. */
  mask(addr: bigint, bytes: Uint8Array): Uint8Array {
    for (const [bp, { saved }] of this.#sw) {
      const off = bp - addr;
      if (off >= 0n && off < BigInt(bytes.length)) bytes[Number(off)] = saved;
    }
    return bytes;
  }

  /** What a debug exit means. */
  classify(exit: Extract<VcpuExit, { reason: "debug" }>, stepping: boolean): DebugStop {
    if (exit.exception === 3) return this.#sw.has(exit.pc) ? { kind: "swbreak" } : { kind: "trap" };
    for (let i = 0; i < this.#slots.length; i++) {
      const s = this.#slots[i];
      if (!(exit.dr6 & (1n << BigInt(i)))) continue;
      if (s.type === 0) return { kind: "swbreak" };
      if (s.type === 1) return { kind: "hwbreak" };
      return { kind: s.type === 2 ? "watch" : s.type === 3 ? "rwatch" : "awatch", addr: s.addr };
    }
    if (stepping || exit.dr6 & (1n << 14n)) return { kind: "step" };
    return { kind: "trap" };
  }

  /** Lists what is set, for the monitor. */
  describe(): string[] {
    const lines = [...this.#sw.keys()].map((a) => `int3 at 0x${a.toString(16)}`);
    this.#slots.forEach((s, i) => {
      const what = ["breakpoint", "hw breakpoint", "write watchpoint", "read watchpoint", "access watchpoint"][s.type];
      lines.push(`DR${i}: ${what} at 0x${BigInt(s.hw.address).toString(16)} (${s.hw.length ?? 1} byte(s))`);
    });
    return lines;
  }
}

/** [addr, addr + len) as aligned pieces of at most `max` bytes. */
export function split(addr: bigint, len: number, max: number): [bigint, 1 | 2 | 4 | 8][] {
  const out: [bigint, 1 | 2 | 4 | 8][] = [];
  let a = addr;
  const end = addr + BigInt(len);
  while (a < end) {
    let n = max;
    while (n > 1 && (a % BigInt(n) !== 0n || a + BigInt(n) > end)) n >>= 1;
    out.push([a, n as 1 | 2 | 4 | 8]);
    a += BigInt(n);
  }
  return out;
}

/**
 * Whether `kvm`'s backend honours KVM_GUESTDBG_USE_SW_BP: undefined if it
 * does, else what it did instead. Runs int3 in a throwaway real-mode VM
 * whose #BP handler writes to a port; a debug exit means the backend caught
 * it. Some hosts' KVM (kvm_pvm) ignore the flag and deliver #BP to the guest.
 */
export function probeSoftwareBreakpoints(kvm: Kvm): string | undefined {
  try {
    using vm = kvm.createVm();
    const memory = vm.allocateMemory(0x10000);
    try {
      vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory });
      // 0x1000: int3; hlt. 0x1002: the #BP handler: mov al, 0x77; out 0xe9, al; hlt.
      memory.bytes.set([0xcc, 0xf4, 0xb0, 0x77, 0xe6, 0xe9, 0xf4], 0x1000);
      new DataView(memory.bytes.buffer).setUint32(3 * 4, 0x1002, true); // IVT[3] = 0000:1002
      using vcpu = vm.createVcpu(0);
      const sregs = vcpu.getSregs();
      sregs.cs.base = 0n;
      sregs.cs.selector = 0;
      vcpu.setSregs(sregs);
      vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n, rsp: 0x8000n, rflags: 2n });
      vcpu.setGuestDebug({ softwareBreakpoints: true });
      const exit = vcpu.run({ timeoutMs: 2000 });
      if (exit.reason === "debug" && exit.exception === 3) return undefined;
      return `KVM_GUESTDBG_USE_SW_BP is ignored (int3 gave a ${exit.reason} exit, not a debug exit)`;
    } finally {
      vm.close();
      memory.free();
    }
  } catch (e) {
    return `software breakpoints could not be probed: ${e instanceof Error ? e.message : String(e)}`;
  }
}
