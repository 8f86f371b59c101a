/**
 * The VM ioctls of the in-kernel irqchip and PIT: KVM_CREATE_IRQCHIP,
 * KVM_IRQ_LINE(_STATUS), KVM_GET/SET_IRQCHIP, KVM_SET_GSI_ROUTING,
 * KVM_SIGNAL_MSI, KVM_CREATE_PIT2 and KVM_GET/SET_PIT2, with the errnos of
 * the kernel's x86.c and irq_comm.c. (KVM_IRQFD is irqfd.ts.)
 *
 * @module
 */
import { Errno } from "../../abi/errno.ts";
import { KVM_PIT_SPEAKER_DUMMY } from "../../abi/constants.ts";
import { Irqchip, KVM_IRQCHIP_SIZE } from "./irqchip.ts";
import { PIT_STATE2_SIZE } from "./pit.ts";
import { parseRoutes, SOURCE_USER } from "./routing.ts";

/** The part of a VM these ioctls use. */
export interface IrqchipVm {
  /** The VM's irqchip, or null before KVM_CREATE_IRQCHIP. */
  irqchip: Irqchip | null;
  /** The VM's vCPUs (the irqchip must come before the first). */
  readonly vcpus: ReadonlyMap<number, unknown>;
}

/** KVM_CREATE_IRQCHIP: EEXIST for a second one, EINVAL once a vCPU exists. */
export function createIrqchip(vm: IrqchipVm): number {
  if (vm.irqchip) return -Errno.EEXIST;
  if (vm.vcpus.size) return -Errno.EINVAL;
  vm.irqchip = new Irqchip();
  return 0;
}

/** KVM_IRQ_LINE (and with `status`, KVM_IRQ_LINE_STATUS, which writes the delivery status back). */
export function irqLine(chip: Irqchip | null, view: DataView, status: boolean): number {
  if (!chip) return -Errno.ENXIO;
  if (view.byteLength < 8) return -Errno.EFAULT;
  const r = chip.setGsi(SOURCE_USER, view.getUint32(0, true), view.getUint32(4, true) ? 1 : 0);
  if (status) view.setInt32(0, r, true);
  return 0;
}

/** KVM_GET_IRQCHIP or (with `set`) KVM_SET_IRQCHIP. */
export function irqchipState(chip: Irqchip | null, arg: Uint8Array, set: boolean): number {
  if (!chip) return -Errno.ENXIO;
  if (arg.byteLength < KVM_IRQCHIP_SIZE) return -Errno.EFAULT;
  return set ? chip.set(arg) : chip.get(arg);
}

/** KVM_SET_GSI_ROUTING: replaces the routing table. */
export function setGsiRouting(chip: Irqchip | null, arg: Uint8Array): number {
  if (!chip) return -Errno.EINVAL;
  const routes = parseRoutes(arg);
  if (typeof routes === "number") return routes;
  chip.routes = routes;
  return 0;
}

/** KVM_SIGNAL_MSI: kvm_msi's flags must be 0. */
export function signalMsi(chip: Irqchip | null, view: DataView): number {
  if (!chip) return -Errno.EINVAL;
  if (view.byteLength < 32) return -Errno.EFAULT;
  if (view.getUint32(12, true) !== 0) return -Errno.EINVAL;
  return chip.signalMsi(view.getUint32(0, true), view.getUint32(8, true));
}

/** KVM_CREATE_PIT2: ENOENT without an irqchip, EEXIST for a second one. */
export function createPit2(chip: Irqchip | null, view: DataView): number {
  if (view.byteLength < 4) return -Errno.EFAULT;
  if (!chip) return -Errno.ENOENT;
  if (chip.pit) return -Errno.EEXIST;
  chip.createPit((view.getUint32(0, true) & KVM_PIT_SPEAKER_DUMMY) !== 0);
  return 0;
}

/** KVM_GET_PIT2 or (with `set`) KVM_SET_PIT2. */
export function pitState(chip: Irqchip | null, view: DataView, set: boolean): number {
  if (!chip?.pit) return -Errno.ENXIO;
  if (view.byteLength < PIT_STATE2_SIZE) return -Errno.EFAULT;
  if (set) chip.pit.load(view);
  else chip.pit.save(view);
  return 0;
}
