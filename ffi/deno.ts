/**
 * libc through `Deno.dlopen`. Loaded only under Deno, and only when the kvm
 * backend is chosen; needs `--allow-ffi`.
 *
 * @module
 */
import type { Libc } from "./libc.ts";

const symbols = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  ioctlInt: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  mmap: { parameters: ["usize", "usize", "i32", "i32", "i32", "i64"], result: "usize" },
  munmap: { parameters: ["usize", "usize"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  gettid: { parameters: [], result: "i32" },
  __libc_current_sigrtmin: { parameters: [], result: "i32" },
  pthread_sigmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  timer_create: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  timer_settime: { parameters: ["usize", "i32", "buffer", "pointer"], result: "i32" },
  sigtimedwait: { parameters: ["buffer", "pointer", "buffer"], result: "i32" },
  getpid: { parameters: [], result: "i32" },
  tgkill: { parameters: ["i32", "i32", "i32"], result: "i32" },
  signal: { parameters: ["i32", "usize"], result: "usize" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
} as const;

/** Binds libc.so.6 with Deno's FFI. Throws if FFI is not permitted or libc cannot be loaded. */
export function bindDenoLibc(): Libc {
  const lib = Deno.dlopen("libc.so.6", symbols);
  const s = lib.symbols;
  // errno is thread-local: its address is fixed for this (the JS) thread, so
  // one 4-byte view of it serves every later read on this thread.
  // SAFETY: __errno_location never returns null and the TLS slot lives as long as the thread.
  const errnoCell = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(s.__errno_location()!, 4));
  // Deno's fast FFI path takes u64 arguments as bigints; a number there
  // falls back to a call twice as slow. Request numbers are few and fixed, so
  // each is converted once.
  const requests = new Map<number, bigint>();
  const big = (request: number) => {
    let b = requests.get(request);
    if (b === undefined) requests.set(request, b = BigInt(request));
    return b;
  };
  return {
    open: (path, flags) => s.open(path as Uint8Array<ArrayBuffer>, flags),
    close: (fd) => s.close(fd),
    // SAFETY: `arg` is a live JS buffer sized to the request's struct; the kernel uses it only during the call.
    ioctl: (fd, request, arg) => s.ioctl(fd, big(request), arg as Uint8Array<ArrayBuffer>),
    ioctlInt: (fd, request, value) => s.ioctlInt(fd, big(request), value === 0 ? 0n : BigInt(value)),
    mmap: (length, prot, flags, fd) => BigInt.asIntN(64, BigInt(s.mmap(0n, BigInt(length), prot, flags, fd, 0n))),
    munmap: (address, length) => s.munmap(address, BigInt(length)),
    errno: () => errnoCell[0],
    view(address, length) {
      // SAFETY: callers pass an address they mapped with mmap and its exact length.
      return Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(address)!, length);
    },
    gettid: () => s.gettid(),
    sigrtmin: () => s.__libc_current_sigrtmin(),
    pthreadSigmask: (how, set, old) =>
      s.pthread_sigmask(how, set as Uint8Array<ArrayBuffer> | null, old as Uint8Array<ArrayBuffer> | null),
    timerCreate: (clock, sigevent, timerid) =>
      s.timer_create(clock, sigevent as Uint8Array<ArrayBuffer>, timerid as Uint8Array<ArrayBuffer>),
    timerSettime: (timer, flags, spec) => s.timer_settime(timer, flags, spec as Uint8Array<ArrayBuffer>, null),
    sigtimedwait: (set, timeout) =>
      s.sigtimedwait(set as Uint8Array<ArrayBuffer>, null, timeout as Uint8Array<ArrayBuffer>),
    getpid: () => s.getpid(),
    tgkill: (tgid, tid, sig) => s.tgkill(tgid, tid, sig),
    // SIG_IGN is the handler value 1.
    ignoreSignal: (sig) => (BigInt.asUintN(64, BigInt(s.signal(sig, 1n))) === (1n << 64n) - 1n ? -1 : 0),
    eventfd: (initval, flags) => s.eventfd(initval, flags),
    // SAFETY: read and write touch exactly buf.length bytes of a live JS buffer, during the call only.
    read: (fd, buf) => Number(s.read(fd, buf as Uint8Array<ArrayBuffer>, BigInt(buf.length))),
    write: (fd, buf) => Number(s.write(fd, buf as Uint8Array<ArrayBuffer>, BigInt(buf.length))),
  };
}
