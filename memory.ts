/**
 * Guest memory: page-aligned, zero-filled host memory that a memory slot
 * maps into the guest, viewed without copying.
 *
 * @module
 */
import { Errno } from "./abi/errno.ts";
import { KvmError } from "./errors.ts";
import { type Kernel, type Mapping, unmap } from "./kernel.ts";

/** Host memory for a guest: see `Vm.allocateMemory`. */
export interface GuestMemory {
  /** Host view of the memory: zero-copy, page aligned, zero filled at allocation. */
  readonly bytes: Uint8Array;
  /** The size in bytes, a multiple of the page size. */
  readonly size: number;
  /** Unmaps the memory and detaches `bytes` (its length becomes 0), so a stale view can never touch unmapped memory. Idempotent. */
  free(): void;
}

/** The facade's GuestMemory: the mapping, and the slots that currently use it. */
export class MappedMemory implements GuestMemory, Disposable {
  readonly size: number;
  readonly #kernel: Kernel;
  #mapping: Mapping | undefined;
  readonly #bytes: Uint8Array;
  /** Slots of live VMs backed by this memory, as "vm#slot" keys. */
  readonly users = new Set<string>();
  /**
   * vCPUs of closed VMs that other threads still hold: their descriptors
   * keep the kernel's VM, and so its slots, alive, and their next KVM_RUN
   * would execute whatever these addresses hold by then.
   */
  readonly holders = new Set<{ readonly what: string; live(): boolean }>();

  constructor(kernel: Kernel, mapping: Mapping) {
    this.#kernel = kernel;
    this.#mapping = mapping;
    this.size = mapping.length;
    // SAFETY: the view covers exactly the mapping, and free() detaches it before munmap.
    this.#bytes = new Uint8Array(mapping.buffer);
  }

  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** The mapping's address as the backend sees it (KVM's userspace_addr). */
  address(operation: string): bigint {
    if (!this.#mapping) throw new KvmError(operation, Errno.EFAULT, "the guest memory was freed");
    return this.#mapping.address;
  }

  /** The kernel that mapped this memory. */
  get kernel(): Kernel {
    return this.#kernel;
  }

  free(): void {
    const mapping = this.#mapping;
    if (!mapping) return;
    if (this.users.size > 0) {
      throw new KvmError(
        "munmap",
        Errno.EBUSY,
        `the memory still backs ${listSome([...this.users])}; delete the slot or close the VM first`,
      );
    }
    for (const h of this.holders) if (!h.live()) this.holders.delete(h);
    if (this.holders.size > 0) {
      const what = listSome([...this.holders].map((h) => h.what));
      throw new KvmError("munmap", Errno.EBUSY, `${what} may still run on this memory; close it there first`);
    }
    this.#mapping = undefined;
    // Detach every view first: after transfer(0) the old buffer has length 0,
    // so no Uint8Array made from it can reach the unmapped pages.
    unmap(this.#kernel, mapping);
  }

  [Symbol.dispose](): void {
    this.free();
  }
}

/** The first few of `items`, then how many more: a message stays short whatever the count. */
function listSome(items: string[], most = 4): string {
  const shown = items.slice(0, most).join(", ");
  return items.length <= most ? shown : `${shown} and ${items.length - most} more`;
}
