/**
 * ioctl request numbers, computed the way the kernel's `_IOC` macros do
 * (include/uapi/asm-generic/ioctl.h): direction in bits 30-31, size in bits
 * 16-29, type in bits 8-15, number in bits 0-7.
 *
 * @module
 */

/** `_IOC_NONE`: no data transferred. */
export const IOC_NONE = 0;
/** `_IOC_WRITE`: userspace writes, the kernel reads. */
export const IOC_WRITE = 1;
/** `_IOC_READ`: the kernel writes, userspace reads. */
export const IOC_READ = 2;

/** `KVMIO`: the ioctl type byte of every KVM request. */
export const KVMIO = 0xae;

/** `_IOC(dir, type, nr, size)`, as an unsigned 32-bit number. */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  if (size < 0 || size >= 1 << 14) throw new RangeError(`ioctl size ${size} does not fit in 14 bits`);
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}

/** `_IO(KVMIO, nr)`. */
export function io(nr: number): number {
  return ioc(IOC_NONE, KVMIO, nr, 0);
}

/** `_IOR(KVMIO, nr, type)` where `size` is `sizeof(type)`. */
export function ior(nr: number, size: number): number {
  return ioc(IOC_READ, KVMIO, nr, size);
}

/** `_IOW(KVMIO, nr, type)` where `size` is `sizeof(type)`. */
export function iow(nr: number, size: number): number {
  return ioc(IOC_WRITE, KVMIO, nr, size);
}

/** `_IOWR(KVMIO, nr, type)` where `size` is `sizeof(type)`. */
export function iowr(nr: number, size: number): number {
  return ioc(IOC_READ | IOC_WRITE, KVMIO, nr, size);
}

/** The parts of a request number: `_IOC_DIR`, `_IOC_TYPE`, `_IOC_NR`, `_IOC_SIZE`. */
export function iocParts(request: number): { dir: number; type: number; nr: number; size: number } {
  return {
    dir: request >>> 30,
    type: (request >>> 8) & 0xff,
    nr: request & 0xff,
    size: (request >>> 16) & 0x3fff,
  };
}
