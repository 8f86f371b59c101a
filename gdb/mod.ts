/**
 * A GDB remote stub for kvmkit guests, on both backends: `serveGdb(vm,
 * vcpus, options)` listens on 127.0.0.1 (unless told otherwise) and lets gdb
 * stop, inspect and step the guest. One gdb thread per vCPU; registers in
 * the x86-64 view (with segments, fs_base/gs_base, x87, SSE and the system
 * registers) or the i386 view when the guest is not in long mode; memory on
 * guest-virtual addresses through the guest's page tables; software and
 * hardware breakpoints and watchpoints through KVM_SET_GUEST_DEBUG;
 * `monitor info registers` and `monitor xp` for the machine.
 *
 * The stub runs the vCPUs on its own thread in short slices; exits that are
 * not its own go to the VMM's `onExit`.
 *
 * @example
 * ```ts
 * import { Kvm } from "../mod.ts";
 * import { serveGdb } from "./mod.ts";
 *
 * using kvm = Kvm.open();
 * using vm = kvm.createVm();
 * // ... memory, vcpu, registers ...
 * const server = await serveGdb(vm, [vcpu], {
 *   port: 1234,
 *   onExit: (exit) => {
 *     if (exit.reason === "io" && exit.port === 0xe9) console.log(exit.data[0]);
 *     if (exit.reason === "hlt") return { exited: 0 };
 *   },
 * });
 * // $ gdb guest.elf -ex 'target remote 127.0.0.1:1234' -ex 'break main' -ex 'continue'
 * await server.done;
 * ```
 *
 * @module
 */
export { type GdbOutcome, type GdbServer, type GdbServerOptions, serveGdb } from "./server.ts";
export {
  DebugTarget,
  type DebugTargetOptions,
  type GdbExitAction,
  type GdbExitHandler,
  type ResumeAction,
  type StopEvent,
} from "./target.ts";
export { GdbSession } from "./session.ts";
export { type DebugStop, probeSoftwareBreakpoints, type ZType } from "./breakpoints.ts";
