/**
 * Guest memory as gdb addresses it: guest-virtual (linear) addresses
 * translated page by page through the vCPU's page tables (KVM_TRANSLATE),
 * and guest-physical addresses (for the `xp` monitor command) looked up in
 * the VM's memory slots. Addresses outside RAM (MMIO, holes) are not
 * readable: a read stops there, as the protocol allows.
 *
 * @module
 */
import type { Vcpu, Vm } from "../mod.ts";

const PAGE = 0x1000n;

/** Physical and virtual access to one VM's memory. */
export class GuestMemoryAccess {
  readonly #vm: Vm;

  constructor(vm: Vm) {
    this.#vm = vm;
  }

  /** The host view of the guest-physical bytes [addr, addr + len) if one slot holds them all. */
  #physView(addr: bigint, len: number): Uint8Array | undefined {
    for (const r of this.#vm.memoryRegions()) {
      const bytes = r.memory.bytes;
      const start = r.guestPhysAddr;
      if (addr >= start && addr + BigInt(len) <= start + BigInt(bytes.length)) {
        const offset = Number(addr - start);
        return bytes.subarray(offset, offset + len);
      }
    }
    return undefined;
  }

  /** Reads guest-physical memory: the bytes up to the first one outside RAM (possibly none). */
  readPhysical(addr: bigint, len: number): Uint8Array {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = addr + BigInt(done);
      const chunk = Math.min(len - done, Number(PAGE - (a % PAGE)));
      const view = this.#physView(a, chunk);
      if (!view) break;
      out.set(view, done);
      done += chunk;
    }
    return out.subarray(0, done);
  }

  /** Writes guest-physical memory; false (and nothing written) if any byte is outside RAM. */
  writePhysical(addr: bigint, data: Uint8Array): boolean {
    const views: Uint8Array[] = [];
    for (let done = 0; done < data.length;) {
      const a = addr + BigInt(done);
      const chunk = Math.min(data.length - done, Number(PAGE - (a % PAGE)));
      const view = this.#physView(a, chunk);
      if (!view) return false;
      views.push(view);
      done += chunk;
    }
    let done = 0;
    for (const v of views) {
      v.set(data.subarray(done, done + v.length));
      done += v.length;
    }
    return true;
  }

  /** The guest-physical address of linear address `addr` as `vcpu` sees it, or undefined if not mapped. */
  translate(vcpu: Vcpu, addr: bigint): bigint | undefined {
    try {
      const t = vcpu.translate(BigInt.asUintN(64, addr));
      return t.valid ? t.physicalAddress : undefined;
    } catch {
      return undefined; // a non-canonical address, or a backend that refuses: not mapped
    }
  }

  /** Reads linear memory through `vcpu`'s page tables: the bytes up to the first unmapped or non-RAM one. */
  readVirtual(vcpu: Vcpu, addr: bigint, len: number): Uint8Array {
    const parts: Uint8Array[] = [];
    let done = 0;
    while (done < len) {
      const a = addr + BigInt(done);
      const chunk = Math.min(len - done, Number(PAGE - (a % PAGE)));
      const phys = this.translate(vcpu, a);
      if (phys === undefined) break;
      const bytes = this.readPhysical(phys, chunk);
      parts.push(bytes);
      done += bytes.length;
      if (bytes.length < chunk) break;
    }
    const out = new Uint8Array(done);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** Writes linear memory through `vcpu`'s page tables; false (and nothing written) if any byte is unreachable. */
  writeVirtual(vcpu: Vcpu, addr: bigint, data: Uint8Array): boolean {
    const pieces: { phys: bigint; from: number; to: number }[] = [];
    for (let done = 0; done < data.length;) {
      const a = addr + BigInt(done);
      const chunk = Math.min(data.length - done, Number(PAGE - (a % PAGE)));
      const phys = this.translate(vcpu, a);
      if (phys === undefined || this.#physView(phys, chunk) === undefined) return false;
      pieces.push({ phys, from: done, to: done + chunk });
      done += chunk;
    }
    for (const p of pieces) this.writePhysical(p.phys, data.subarray(p.from, p.to));
    return true;
  }
}
