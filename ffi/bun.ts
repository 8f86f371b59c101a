/**
 * libc through `bun:ffi`. Loaded only under Bun, with Bun's synchronous
 * `import.meta.require`: no `import` statement names `bun:ffi`, so Deno,
 * Node, `deno publish` and bundlers never try to resolve it.
 *
 * @module
 */
import type { Libc } from "./libc.ts";

/** The part of bun:ffi used here. */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: readonly string[]; returns: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown> };
  toArrayBuffer(ptr: number, offset: number, length: number): ArrayBuffer;
}

/** Bun's `import.meta.require`; absent on every other runtime. */
const bunRequire = (import.meta as unknown as { require?: (specifier: string) => unknown }).require;
const ffi: BunFfi | undefined = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined" && bunRequire
  ? bunRequire("bun:ffi") as BunFfi
  : undefined;

/** Binds libc.so.6 with Bun's FFI. */
export function bindBunLibc(): Libc {
  if (!ffi) throw new Error("bun:ffi is only available under Bun");
  const { symbols: s } = ffi.dlopen("libc.so.6", {
    open: { args: ["ptr", "i32"], returns: "i32" },
    close: { args: ["i32"], returns: "i32" },
    ioctl: { args: ["i32", "u64", "ptr"], returns: "i32" },
    mmap: { args: ["ptr", "u64", "i32", "i32", "i32", "i64"], returns: "u64" },
    munmap: { args: ["u64", "u64"], returns: "i32" },
    __errno_location: { args: [], returns: "ptr" },
    gettid: { args: [], returns: "i32" },
    __libc_current_sigrtmin: { args: [], returns: "i32" },
    pthread_sigmask: { args: ["i32", "ptr", "ptr"], returns: "i32" },
    timer_create: { args: ["i32", "ptr", "ptr"], returns: "i32" },
    timer_settime: { args: ["u64", "i32", "ptr", "ptr"], returns: "i32" },
    sigtimedwait: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
    getpid: { args: [], returns: "i32" },
    tgkill: { args: ["i32", "i32", "i32"], returns: "i32" },
    signal: { args: ["i32", "u64"], returns: "u64" },
    eventfd: { args: ["u32", "i32"], returns: "i32" },
    read: { args: ["i32", "ptr", "u64"], returns: "i64" },
    write: { args: ["i32", "ptr", "u64"], returns: "i64" },
  });
  const { symbols: si } = ffi.dlopen("libc.so.6", {
    ioctl: { args: ["i32", "u64", "u64"], returns: "i32" },
  });
  const toArrayBuffer = ffi.toArrayBuffer;
  // SAFETY: the errno cell of this thread lives as long as the thread; reads happen on it.
  const errnoCell = new Int32Array(toArrayBuffer(s.__errno_location() as number, 0, 4));
  const open = s.open as (p: Uint8Array, f: number) => number;
  const close = s.close as (fd: number) => number;
  const ioctl = s.ioctl as (fd: number, r: number, a: Uint8Array | null) => number;
  const ioctlInt = si.ioctl as (fd: number, r: number, v: number) => number;
  const empty = new Uint8Array(8);
  return {
    open: (path, flags) => open(path, flags),
    close: (fd) => close(fd),
    // SAFETY: `arg` is a live JS buffer sized to the request's struct; the kernel uses it only during the call.
    ioctl: (fd, request, arg) => ioctl(fd, request, arg.length === 0 ? empty : arg),
    ioctlInt: (fd, request, value) => ioctlInt(fd, request, value),
    mmap: (length, prot, flags, fd) => BigInt.asIntN(64, BigInt(s.mmap(null, length, prot, flags, fd, 0) as bigint)),
    munmap: (address, length) => s.munmap(address, length) as number,
    errno: () => errnoCell[0],
    // SAFETY: callers pass an address they mapped with mmap and its exact length.
    view: (address, length) => toArrayBuffer(Number(address), 0, length),
    gettid: () => s.gettid() as number,
    sigrtmin: () => s.__libc_current_sigrtmin() as number,
    pthreadSigmask: (how, set, old) => s.pthread_sigmask(how, set, old) as number,
    timerCreate: (clock, sigevent, timerid) => s.timer_create(clock, sigevent, timerid) as number,
    timerSettime: (timer, flags, spec) => s.timer_settime(timer, flags, spec, null) as number,
    sigtimedwait: (set, timeout) => s.sigtimedwait(set, null, timeout) as number,
    getpid: () => s.getpid() as number,
    tgkill: (tgid, tid, sig) => s.tgkill(tgid, tid, sig) as number,
    // SIG_IGN is the handler value 1; SIG_ERR is all ones.
    ignoreSignal: (sig) => (BigInt.asUintN(64, BigInt(s.signal(sig, 1) as bigint)) === (1n << 64n) - 1n ? -1 : 0),
    eventfd: (initval, flags) => s.eventfd(initval, flags) as number,
    // SAFETY: read and write touch exactly buf.length bytes of a live JS buffer, during the call only.
    read: (fd, buf) => Number(s.read(fd, buf, buf.length) as bigint | number),
    write: (fd, buf) => Number(s.write(fd, buf, buf.length) as bigint | number),
  };
}
