/**
 * Linux errno values (asm-generic/errno-base.h and errno.h) that KVM and
 * libc report, and their names. Both backends speak these numbers.
 *
 * @module
 */

/** errno numbers by name, as on Linux x86_64. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ENODATA: 61,
  ETIME: 62,
  EOVERFLOW: 75,
  EBADFD: 77,
  EILSEQ: 84,
  EOPNOTSUPP: 95,
  ENOTSUP: 95,
  ENOBUFS: 105,
  EALREADY: 114,
  EINPROGRESS: 115,
  ECANCELED: 125,
  ETIMEDOUT: 110,
  EHWPOISON: 133,
} as const;

const names = new Map<number, string>();
for (const [name, value] of Object.entries(Errno)) {
  if (!names.has(value)) names.set(value, name);
}

/** The symbolic name of an errno value, e.g. 22 -> "EINVAL"; "E<n>" when unknown. */
export function errnoName(errno: number): string {
  return names.get(errno) ?? `E${errno}`;
}
