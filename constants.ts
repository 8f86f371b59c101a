/**
 * The numbers kvmkit's methods take and return: KVM capabilities for
 * `checkExtension`/`enableCap` (`KVM_CAP_*`), MP states for `setMpState`
 * (`KVM_MP_STATE_*`), exit reasons, memory-slot, guest-debug, ioeventfd,
 * irqfd, MSR-filter and clock flags, MSR indices, CR0/CR4/EFER/RFLAGS/DR6/DR7
 * bits, and the Linux errno numbers a `KvmError` carries. Values as in
 * include/uapi/linux/kvm.h, arch/x86/include/uapi/asm/kvm.h and the SDM.
 *
 * @example
 * ```ts
 * import { Kvm } from "@kvmkit/kvmkit";
 * import { KVM_CAP_USER_MEMORY, KVM_MP_STATE_RUNNABLE } from "@kvmkit/kvmkit/constants";
 *
 * using kvm = Kvm.open({ backend: "emu" });
 * console.log(kvm.checkExtension(KVM_CAP_USER_MEMORY)); // 1
 * using vm = kvm.createVm();
 * using vcpu = vm.createVcpu(0);
 * vcpu.setMpState(KVM_MP_STATE_RUNNABLE);
 * ```
 *
 * @module
 */
export * from "./abi/constants.ts";
export { Errno, errnoName } from "./abi/errno.ts";
