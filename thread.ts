/**
 * vCPUs in other threads: the receiving side of `Vcpu.handoff()`. A Worker
 * that receives a {@linkcode VcpuHandoff} calls {@linkcode adoptVcpu} to get
 * a Vcpu of its own. On kvm it binds libc on its thread, maps kvm_run
 * itself, and blocks the run signal there (KVM_SET_SIGNAL_MASK), so that
 * timeouts and `kick()` reach it; guest memory needs nothing: it is one
 * mapping in the process, shared by address. On the emulator its calls are
 * performed by the owner's emulator through a mailbox (emu/proxy.ts). Each
 * backend's kernel does its part (`Kernel.adoptVcpu`).
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
import { adoptingKernel } from "./backend.ts";
import { Handle } from "./_handle.ts";
import { Kvm } from "./kvm.ts";
import { Vcpu, type VcpuHandoff } from "./vcpu.ts";
import { Vm } from "./vm.ts";
import { check, int, z } from "./internal/validate.ts";

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
  const kernel = adoptingKernel(h.backend, h);
  const run = kernel.adoptVcpu(h);
  const kvm = new Kvm(new Handle(kernel, h.kvmFd, "kvm handle", { borrowed: true }), h.backend, undefined);
  const vm = new Vm(kvm, new Handle(kernel, h.vmFd, "vm", { borrowed: true }), h.mmapSize);
  const vcpu = new Vcpu(vm, h.id, new Handle(kernel, h.vcpuFd, "vcpu"), run, h.shared);
  vm.adoptVcpu(vcpu);
  return vcpu;
}

export type { VcpuHandoff };
