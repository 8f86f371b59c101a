/**
 * EventFd: a Linux eventfd(2), the notification object KVM_IOEVENTFD and
 * KVM_IRQFD connect to guest I/O and interrupt lines. It is always
 * non-blocking (EFD_NONBLOCK) and close-on-exec, so that `read()` never
 * blocks the JavaScript thread.
 *
 * @module
 */
import { Errno } from "./abi/errno.ts";
import { KvmError } from "./errors.ts";
import { threadLibc } from "./ffi/bind.ts";
import { EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, type Libc } from "./ffi/libc.ts";
import { check, int, z } from "./internal/validate.ts";

/** Options of {@linkcode EventFd.create}. */
export interface EventFdOptions {
  /** The counter's initial value. Default 0. */
  initval?: number;
  /** EFD_SEMAPHORE: each read() takes 1 from the counter instead of all of it. */
  semaphore?: boolean;
}

const optionsSchema = z.strictObject({
  initval: int(0, 0xffff_ffff).optional(),
  semaphore: z.boolean().optional(),
}).optional();

const U64_MAX_MINUS_1 = (1n << 64n) - 2n;
const addSchema = z.union([z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), z.bigint().min(1n)])
  .transform((v) => BigInt(v))
  .pipe(z.bigint().max(U64_MAX_MINUS_1));

/**
 * An eventfd: a 64-bit counter in the kernel that writes add to and reads
 * take. Give it to `vm.ioeventfd` (the guest's writes signal it) or
 * `vm.irqfd` (signalling it raises a guest interrupt).
 *
 * @example
 * ```ts
 * using doorbell = EventFd.create();
 * vm.ioeventfd({ addr: 0x600, len: 1, pio: true, eventFd: doorbell });
 * vcpu.run(); // the guest's `out 0x600` did not exit
 * console.log(doorbell.read()); // how many times it rang
 * ```
 */
export class EventFd implements Disposable {
  readonly #libc: Libc;
  #fd: number;
  readonly #buf = new Uint8Array(8);
  readonly #view = new DataView(this.#buf.buffer);

  /** @internal Use {@linkcode EventFd.create}. */
  constructor(libc: Libc, fd: number) {
    this.#libc = libc;
    this.#fd = fd;
  }

  /** eventfd(2) with EFD_NONBLOCK | EFD_CLOEXEC. Needs FFI (Deno: --allow-ffi) on either backend. */
  static create(options?: EventFdOptions): EventFd {
    const o = check(optionsSchema, options, "options") ?? {};
    let libc: Libc;
    try {
      libc = threadLibc();
    } catch (e) {
      throw new KvmError("eventfd", Errno.ENOSYS, (e as Error).message);
    }
    const flags = EFD_NONBLOCK | EFD_CLOEXEC | (o.semaphore ? EFD_SEMAPHORE : 0);
    const fd = libc.eventfd(o.initval ?? 0, flags);
    if (fd < 0) throw new KvmError("eventfd", libc.errno());
    return new EventFd(libc, fd);
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** The descriptor, or a KvmError EBADF for `operation` once closed. */
  fd(operation = "eventfd"): number {
    if (this.#fd < 0) throw new KvmError(operation, Errno.EBADF, "the eventfd is closed");
    return this.#fd;
  }

  /** write(2): adds `n` (default 1) to the counter. Throws KvmError EAGAIN if the counter would overflow. */
  signal(n: number | bigint = 1): void {
    const fd = this.fd("write");
    const v = check(addSchema, n, "n");
    this.#view.setBigUint64(0, v, true);
    if (this.#libc.write(fd, this.#buf) !== 8) throw new KvmError("write", this.#libc.errno(), "eventfd");
  }

  /**
   * read(2): takes the counter (or 1 of it, with `semaphore`) and returns
   * it; 0n when the counter is 0 (nothing happened since the last read).
   */
  read(): bigint {
    const fd = this.fd("read");
    if (this.#libc.read(fd, this.#buf) === 8) return this.#view.getBigUint64(0, true);
    const errno = this.#libc.errno();
    if (errno === Errno.EAGAIN) return 0n;
    throw new KvmError("read", errno, "eventfd");
  }

  /** Closes the eventfd. KVM keeps its own reference while an ioeventfd or irqfd uses it. Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    this.#libc.close(fd);
  }

  /** Closes the descriptor, for `using`: see {@linkcode EventFd.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
