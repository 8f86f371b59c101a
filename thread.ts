/**
 * vCPUs in other threads: the receiving side of `Vcpu.handoff()`. A Worker
 * that receives a {@linkcode VcpuHandoff} calls {@linkcode adoptVcpu} to get
 * a Vcpu of its own. On kvm it binds libc on its thread, maps kvm_run
 * itself, and blocks the run signal there (KVM_SET_SIGNAL_MASK), so that
 * timeouts and `kick()` reach it; guest memory needs nothing: it is one
 * mapping in the process, shared by address. On the emulator its calls are
 * performed by the owner's emulator through a mailbox (_proxy.ts).
 *
 * @example
 * ```ts
 * // main thread
 * const worker = new Worker(new URL("./vcpu_worker.ts", import.meta.url), { type: "module" });
 * worker.postMessage(vm.createVcpu(1).handoff());
 *
 * // vcpu_worker.ts
 * import { adoptVcpu } from "./mod.ts";
 * self.onmessage = (e) => {
 *   using vcpu = adoptVcpu(e.data);
 *   while (vcpu.run().reason !== "hlt") {}
 * };
 * ```
 *
 * @module
 */
import { Errno } from "./abi/errno.ts";
import { kvmKernel } from "./backend.ts";
import { type Mapping, unmap } from "./kernel.ts";
import { ProxyKernel } from "./_proxy.ts";
import { KvmError } from "./errors.ts";
import { Handle } from "./_handle.ts";
import { Kvm } from "./kvm.ts";
import { Vcpu, type VcpuHandoff } from "./vcpu.ts";
import { Vm } from "./vm.ts";
import { check, int, z } from "./validate.ts";

const fd = int(-1, 0x7fff_ffff);
const handoffSchema = z.strictObject({
  backend: z.enum(["kvm", "emu"]),
  id: int(0, 0xffff_ffff),
  kvmFd: fd,
  vmFd: int(0, 0x7fff_ffff),
  vcpuFd: int(0, 0x7fff_ffff),
  mmapSize: int(1, 1 << 30),
  shared: z.instanceof(SharedArrayBuffer),
  mailbox: z.instanceof(SharedArrayBuffer).optional(),
});

/**
 * Makes this thread the runner of a vCPU handed off by `Vcpu.handoff()`.
 * The returned Vcpu owns the vCPU descriptor; its `vm` and `vm.kvm` borrow
 * the handing thread's descriptors (closing them here does not close them),
 * so that thread must keep its Vm open while this one runs the vCPU.
 */
export function adoptVcpu(handoff: VcpuHandoff): Vcpu {
  const h = check(handoffSchema, handoff, "handoff");
  if (h.backend === "emu") return adoptEmulated(h);
  const kernel = kvmKernel();
  const kvm = new Kvm(new Handle(kernel, h.kvmFd, "kvm handle", { borrowed: true }), "kvm", undefined);
  const vm = new Vm(kvm, new Handle(kernel, h.vmFd, "vm", { borrowed: true }), h.mmapSize);
  const run = kernel.mmap(h.vcpuFd, h.mmapSize);
  if (typeof run === "number") throw new KvmError("mmap", -run, `kvm_run of vCPU ${h.id}`);
  const r = kernel.prepareVcpu(h.vcpuFd);
  if (r < 0) {
    unmap(kernel, run);
    throw new KvmError("KVM_SET_SIGNAL_MASK", -r);
  }
  if (Atomics.load(new Int32Array(h.shared), 0) !== 0) {
    unmap(kernel, run);
    throw new KvmError("adoptVcpu", Errno.EBUSY, `vCPU ${h.id} is already adopted by another thread`);
  }
  const vcpu = new Vcpu(vm, h.id, new Handle(kernel, h.vcpuFd, "vcpu"), run, h.shared);
  vm.adoptVcpu(vcpu);
  return vcpu;
}

/** The emulator's side of adoptVcpu: a Vcpu whose calls the owner's emulator performs (_proxy.ts). */
function adoptEmulated(h: z.infer<typeof handoffSchema>): Vcpu {
  if (!h.mailbox) throw new TypeError("handoff.mailbox: an emulated vCPU's handoff carries a mailbox");
  if (ProxyKernel.servedHere(h.mailbox)) {
    throw new KvmError(
      "adoptVcpu",
      Errno.EDEADLK,
      `vCPU ${h.id} is emulated on this thread, which would wait for itself: adopt it in a Worker`,
    );
  }
  const kernel = new ProxyKernel(h.mailbox, h.vcpuFd, h.mmapSize);
  if (!kernel.claim()) {
    throw new KvmError("adoptVcpu", Errno.EBUSY, `vCPU ${h.id} is already adopted by another thread`);
  }
  const kvm = new Kvm(new Handle(kernel, -1, "kvm handle", { borrowed: true }), "emu", undefined);
  const vm = new Vm(kvm, new Handle(kernel, h.vmFd, "vm", { borrowed: true }), h.mmapSize);
  const run = kernel.mmap(h.vcpuFd, h.mmapSize) as Mapping;
  const vcpu = new Vcpu(vm, h.id, new Handle(kernel, h.vcpuFd, "vcpu"), run, h.shared);
  vm.adoptVcpu(vcpu);
  return vcpu;
}

export type { VcpuHandoff };
