/**
 * One descriptor of a backend, owned by one facade object. Every ioctl goes
 * through here: a closed handle throws EBADF without touching the old
 * descriptor number (the kernel may have handed it to another file), and a
 * refusal becomes a KvmError naming the ioctl. Methods that validate their
 * arguments call `fd()` first, so that a closed object answers EBADF whatever
 * it is given.
 *
 * @module
 */
import { Errno } from "./abi/errno.ts";
import { KvmError } from "./errors.ts";
import type { Kernel } from "./kernel.ts";
import type { StructCodec } from "./abi/_struct.ts";

/** The key under which Kvm and Vm keep their Handle for the package's own use (vCPU handoff). */
export const HANDLE: unique symbol = Symbol("kvmkit.handle");

/** A descriptor and the kernel it belongs to. */
export class Handle {
  readonly kernel: Kernel;
  readonly #what: string;
  #fd: number;
  /** Why this handle no longer owns its descriptor (it was handed to another thread), or undefined. */
  #moved: string | undefined;
  /** A borrowed descriptor belongs to another object: close() forgets it without closing it. */
  readonly #borrowed: boolean;

  constructor(kernel: Kernel, fd: number, what: string, options: { borrowed?: boolean } = {}) {
    this.kernel = kernel;
    this.#fd = fd;
    this.#what = what;
    this.#borrowed = options.borrowed ?? false;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** The descriptor, or a KvmError EBADF for `operation` when closed. */
  fd(operation: string): number {
    if (this.#fd < 0) {
      if (this.#moved) throw new KvmError(operation, Errno.EBUSY, this.#moved);
      throw new KvmError(operation, Errno.EBADF, `the ${this.#what} is closed`);
    }
    return this.#fd;
  }

  /** Gives the descriptor up to another owner: later calls throw EBUSY with `why`; close() will not close it. */
  move(why: string): number {
    const fd = this.fd("handoff");
    this.#fd = -1;
    this.#moved = why;
    return fd;
  }

  /** An ioctl with a pointer argument; returns the kernel's non-negative result. */
  ioctl(operation: string, request: number, arg: Uint8Array): number {
    const r = this.kernel.ioctl(this.fd(operation), request, arg);
    if (r < 0) throw this.#refused(operation, r);
    return r;
  }

  /** An ioctl with an integer argument. */
  ioctlValue(operation: string, request: number, value = 0): number {
    const r = this.kernel.ioctlValue(this.fd(operation), request, value);
    if (r < 0) throw this.#refused(operation, r);
    return r;
  }

  /** An ioctl that fills struct `codec` (a KVM_GET_*): the struct it returned. */
  get<T>(operation: string, request: number, codec: StructCodec<T>): T {
    return codec.fromBytes(this.getBytes(operation, request, codec));
  }

  /** An ioctl that fills struct `codec`, returned as its bytes. */
  getBytes(operation: string, request: number, codec: StructCodec<unknown>): Uint8Array {
    const buf = codec.alloc();
    this.ioctl(operation, request, buf);
    return buf;
  }

  /**
   * An ioctl that takes struct `codec` (a KVM_SET_*) made from what `checked` returns (the caller's argument,
   * checked); a closed handle answers EBADF before the argument is looked at.
   */
  set<T>(operation: string, request: number, codec: StructCodec<T>, checked: () => T): void {
    this.fd(operation);
    this.ioctl(operation, request, codec.toBytes(checked()));
  }

  /** The KvmError for a refusal `-errno`, with the backend's reason where it gives one. */
  #refused(operation: string, r: number): KvmError {
    return new KvmError(operation, -r, this.kernel.takeErrorDetail?.());
  }

  /** Closes the descriptor once; later calls do nothing. */
  close(): void {
    this.#moved = undefined;
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    if (!this.#borrowed) this.kernel.close(fd);
  }
}
