/**
 * KVM_IRQFD on the emulator: an eventfd (made by the program, so a real
 * descriptor) whose signal raises a GSI. The emulator cannot be woken by the
 * kernel, so it reads each registered eventfd without blocking whenever time
 * acts on its devices (every few thousand instructions, and every
 * millisecond while a vCPU sleeps); a resampling irqfd holds its line up
 * until the guest's EOI and then signals its resample eventfd.
 *
 * @module
 */
import { Errno } from "../../abi/errno.ts";
import { KVM_IRQFD_FLAG_DEASSIGN, KVM_IRQFD_FLAG_RESAMPLE } from "../../abi/constants.ts";
import { threadLibc } from "../../ffi/bind.ts";
import type { Irqchip } from "./irqchip.ts";
import { SOURCE_USER } from "./routing.ts";

/** KVM_IRQFD with the kvm_irqfd in `v`: 0 or -errno. */
export function irqfd(chip: Irqchip | null, v: DataView): number {
  if (v.byteLength < 16) return -Errno.EFAULT;
  const fd = v.getInt32(0, true), gsi = v.getUint32(4, true), flags = v.getUint32(8, true);
  const resamplefd = v.getInt32(12, true);
  if (flags & ~(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE)) return -Errno.EINVAL;
  if (chip === null) return -Errno.EAGAIN;
  const list = chip.irqfds;
  if (flags & KVM_IRQFD_FLAG_DEASSIGN) {
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i].fd === fd && list[i].gsi === gsi) {
        if (list[i].resamplefd >= 0) chip.setGsi(SOURCE_USER, gsi, 0);
        list.splice(i, 1);
      }
    }
    return 0;
  }
  if (fd < 0) return -Errno.EBADF;
  if (list.some((f) => f.fd === fd)) return -Errno.EBUSY;
  let libc;
  try {
    libc = threadLibc();
  } catch {
    return -Errno.EBADF;
  }
  const buf = new Uint8Array(8);
  chip.readIrqfd ??= (efd) => libc.read(efd, buf) === 8;
  chip.signalFd ??= (efd) => {
    new DataView(buf.buffer).setBigUint64(0, 1n, true);
    libc.write(efd, buf);
  };
  list.push({ fd, gsi, resamplefd: flags & KVM_IRQFD_FLAG_RESAMPLE ? resamplefd : -1 });
  // A signal that came before the registration counts, as the kernel's poll of the eventfd sees it.
  chip.pollIrqfds();
  return 0;
}
