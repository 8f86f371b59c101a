/**
 * Memory slots of an emulated VM (KVM_SET_USER_MEMORY_REGION,
 * KVM_GET_DIRTY_LOG), with the checks of the kernel's
 * __kvm_set_memory_region: page alignment, flags, overlap, and the rule
 * that an existing slot may move or change its dirty-log flag but not
 * change size, host address or read-only flag.
 *
 * @module
 */
import { Errno } from "../abi/errno.ts";
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY } from "../abi/constants.ts";
import type { KvmUserspaceMemoryRegion } from "../abi/structs.ts";
import type { AddressSpace } from "./address_space.ts";

/** KVM_USER_MEM_SLOTS on x86 (KVM_CAP_NR_MEMSLOTS). */
export const EMU_USER_MEM_SLOTS = 32764;
const PAGE = 4096;

/** One memory slot: guest-physical range backed by a host mapping. */
export interface MemSlot {
  readonly id: number;
  flags: number;
  gpa: number;
  readonly size: number;
  readonly userspaceAddr: number;
  /** The host bytes, or undefined when userspace_addr is not mapped (the guest then faults with EFAULT). */
  readonly bytes: Uint8Array | undefined;
  /** One bit per page while KVM_MEM_LOG_DIRTY_PAGES is set. */
  dirty: Uint8Array | undefined;
}

/** The bytes of a slot's dirty bitmap: one bit per page, rounded up to 64 bits as the kernel does. */
export function dirtyBitmapBytes(size: number): number {
  return Math.ceil(size / PAGE / 64) * 8;
}

/** Marks the page at byte `offset` of `slot` in its dirty log, while KVM_MEM_LOG_DIRTY_PAGES is set. */
export function markPageDirty(slot: MemSlot, offset: number): void {
  if (slot.flags & KVM_MEM_LOG_DIRTY_PAGES && slot.dirty) {
    const page = (offset / PAGE) | 0;
    slot.dirty[page >> 3] |= 1 << (page & 7);
  }
}

/** The slots of one VM. `generation` changes on every successful update. */
export class MemSlots {
  readonly byId = new Map<number, MemSlot>();
  /** The slots sorted by guest-physical address, kept in order as slots come, move and go. */
  readonly sorted: MemSlot[] = [];
  generation = 0;
  /** Changes with `generation` and whenever cached write translations must go (a dirty log was read). */
  tlbGeneration = 0;
  #space: AddressSpace;

  constructor(space: AddressSpace) {
    this.#space = space;
  }

  /** KVM_SET_USER_MEMORY_REGION: 0 or -errno. */
  set(r: KvmUserspaceMemoryRegion): number {
    const { EINVAL, EEXIST } = Errno;
    const size = Number(r.memorySize), gpa = Number(r.guestPhysAddr), uaddr = Number(r.userspaceAddr);
    if (r.memorySize % BigInt(PAGE) !== 0n) return -EINVAL;
    if (r.guestPhysAddr % BigInt(PAGE) !== 0n) return -EINVAL;
    if (r.userspaceAddr % BigInt(PAGE) !== 0n || r.userspaceAddr >= 1n << 47n) return -EINVAL;
    if ((r.flags & ~(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) !== 0) return -EINVAL;
    if (r.slot >>> 16 > 1 || (r.slot & 0xffff) >= EMU_USER_MEM_SLOTS) return -EINVAL;
    if (r.guestPhysAddr + r.memorySize >= 1n << 64n) return -EINVAL;
    if (r.slot >>> 16 !== 0) return size === 0 ? -EINVAL : 0; // the SMM address space: accepted, never used
    const old = this.byId.get(r.slot);
    if (size === 0) {
      if (!old) return -EINVAL;
      this.byId.delete(r.slot);
      this.#unsort(old);
      return this.#changed();
    }
    if (old) {
      if (uaddr !== old.userspaceAddr || size !== old.size || ((r.flags ^ old.flags) & KVM_MEM_READONLY)) {
        return -EINVAL;
      }
      if (gpa !== old.gpa && this.#overlaps(gpa, size, old)) return -EEXIST;
      this.#unsort(old);
      old.gpa = gpa;
      this.#sort(old);
      old.flags = r.flags;
      if (r.flags & KVM_MEM_LOG_DIRTY_PAGES) old.dirty ??= new Uint8Array(dirtyBitmapBytes(size));
      else old.dirty = undefined;
      return this.#changed();
    }
    if (this.#overlaps(gpa, size, undefined)) return -EEXIST;
    // SAFETY: the view covers only [uaddr, uaddr+size) of a live emulator mapping.
    const bytes = this.#space.resolve(uaddr, size);
    const slot: MemSlot = {
      id: r.slot,
      flags: r.flags,
      gpa,
      size,
      userspaceAddr: uaddr,
      bytes,
      dirty: r.flags & KVM_MEM_LOG_DIRTY_PAGES ? new Uint8Array(dirtyBitmapBytes(size)) : undefined,
    };
    this.byId.set(r.slot, slot);
    this.#sort(slot);
    return this.#changed();
  }

  /** KVM_GET_DIRTY_LOG: copies the slot's bitmap to `bitmapAddr` and clears it. */
  getDirtyLog(slot: number, bitmapAddr: bigint): number {
    if (slot >>> 16 > 1 || (slot & 0xffff) >= EMU_USER_MEM_SLOTS) return -Errno.EINVAL;
    const s = this.byId.get(slot);
    if (!s || !s.dirty) return -Errno.ENOENT;
    const out = this.#space.resolve(bitmapAddr, s.dirty.length);
    if (!out) return -Errno.EFAULT;
    out.set(s.dirty);
    s.dirty.fill(0);
    // Pages must be write-protected again so that the next write is logged: the vCPUs drop their TLBs.
    this.tlbGeneration++;
    return 0;
  }

  /** The slot holding guest-physical address `gpa`, or undefined. */
  find(gpa: number): MemSlot | undefined {
    const list = this.sorted;
    let lo = 0, hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = list[mid];
      if (gpa < s.gpa) hi = mid - 1;
      else if (gpa >= s.gpa + s.size) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  /** The index in `sorted` of the first slot that ends above `gpa` (slots never overlap: ends ascend too). */
  #firstEndingAbove(gpa: number): number {
    const list = this.sorted;
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].gpa + list[mid].size <= gpa) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whether [gpa, gpa+size) meets a slot other than `except`: O(log n). */
  #overlaps(gpa: number, size: number, except: MemSlot | undefined): boolean {
    const list = this.sorted;
    for (let i = this.#firstEndingAbove(gpa); i < list.length && list[i].gpa < gpa + size; i++) {
      if (list[i] !== except) return true;
    }
    return false;
  }

  /** Puts `slot` into `sorted` at its place. */
  #sort(slot: MemSlot): void {
    this.sorted.splice(this.#firstEndingAbove(slot.gpa), 0, slot);
  }

  /** Takes `slot` out of `sorted`. */
  #unsort(slot: MemSlot): void {
    const i = this.#firstEndingAbove(slot.gpa);
    if (this.sorted[i] === slot) this.sorted.splice(i, 1);
  }

  #changed(): number {
    this.generation++;
    this.tlbGeneration++;
    return 0;
  }
}
