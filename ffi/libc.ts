/**
 * The few libc functions kvmkit calls, as one interface with a binding per
 * runtime (ffi/deno.ts through `Deno.dlopen`, ffi/bun.ts through `bun:ffi`).
 * It knows nothing of KVM: it passes integers and bytes.
 *
 * Every function returns what libc returns (-1 on failure); `errno()` reads
 * the calling thread's errno and must be called right after the failing
 * call, on the same thread, before anything else can change it.
 *
 * @module
 */

/** A binding of libc for the running runtime. */
export interface Libc {
  /** open(2). `path` is a NUL-terminated string. */
  open(path: Uint8Array, flags: number): number;
  /** close(2). */
  close(fd: number): number;
  /** ioctl(2) with a pointer argument (the bytes of `arg`). */
  ioctl(fd: number, request: number, arg: Uint8Array): number;
  /** ioctl(2) with an integer argument. */
  ioctlInt(fd: number, request: number, value: number): number;
  /** mmap(2) at no fixed address; returns the address, or -1n (MAP_FAILED). */
  mmap(length: number, prot: number, flags: number, fd: number): bigint;
  /** munmap(2). */
  munmap(address: bigint, length: number): number;
  /** The calling thread's errno. */
  errno(): number;
  /** An ArrayBuffer over `length` bytes of foreign memory at `address`. */
  view(address: bigint, length: number): ArrayBuffer;
  /** gettid(2). */
  gettid(): number;
  /** `__libc_current_sigrtmin()`: the first real-time signal libc leaves to applications. */
  sigrtmin(): number;
  /** pthread_sigmask(3): `set` and `old` are 128-byte sigset_t buffers (either may be null). */
  pthreadSigmask(how: number, set: Uint8Array | null, old: Uint8Array | null): number;
  /** timer_create(2); writes the timer id into `timerid` (8 bytes). */
  timerCreate(clock: number, sigevent: Uint8Array, timerid: Uint8Array): number;
  /** timer_settime(2) with a 32-byte itimerspec. */
  timerSettime(timer: bigint, flags: number, spec: Uint8Array): number;
  /** sigtimedwait(2) with a 16-byte timespec; returns the signal number or -1. */
  sigtimedwait(set: Uint8Array, timeout: Uint8Array): number;
  /** getpid(2). */
  getpid(): number;
  /** tgkill(2): sends `sig` to thread `tid` of process `tgid`. */
  tgkill(tgid: number, tid: number, sig: number): number;
  /** signal(2) with SIG_IGN: the process ignores `sig` wherever it is not blocked. */
  ignoreSignal(sig: number): number;
  /** eventfd(2): a new eventfd with counter `initval`; returns the descriptor or -1. */
  eventfd(initval: number, flags: number): number;
  /** read(2) into `buf` (all of it); returns the byte count or -1. */
  read(fd: number, buf: Uint8Array): number;
  /** write(2) of `buf` (all of it); returns the byte count or -1. */
  write(fd: number, buf: Uint8Array): number;
}

/** Flags and numbers for these calls (Linux x86_64, glibc). */
export const O_RDWR = 0o2;
export const O_CLOEXEC = 0o2000000;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const SIG_BLOCK = 0;
export const CLOCK_MONOTONIC = 1;
export const SIGEV_THREAD_ID = 4;
export const EFD_SEMAPHORE = 0o1;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
/** sizeof(sigset_t) in glibc. */
export const SIGSET_T_SIZE = 128;
/** sizeof(struct sigevent). */
export const SIGEVENT_SIZE = 64;

/** A NUL-terminated UTF-8 copy of `s`, for a `const char *` argument. */
export function cString(s: string): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}
