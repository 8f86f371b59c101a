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
 * import { Kvm } from "@kvmkit/kvmkit";
 * import { serveGdb } from "@kvmkit/kvmkit/gdb";
 *
 * using kvm = Kvm.open({ backend: "emu" });
 * using vm = kvm.createVm();
 * const mem = vm.allocateMemory(0x10000);
 * mem.bytes.set([0xb0, 0x41, 0xe6, 0xe9, 0xf4], 0x1000); // mov al, 'A'; out 0xe9, al; hlt
 * vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem });
 * using vcpu = vm.createVcpu(0);
 * const sregs = vcpu.getSregs();
 * sregs.cs.base = 0n;
 * sregs.cs.selector = 0;
 * vcpu.setSregs(sregs);
 * vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n, rflags: 2n });
 *
 * // wait: true (the default) keeps the guest stopped until gdb attaches and continues:
 * //   gdb -ex 'target remote 127.0.0.1:<port>'
 * const server = await serveGdb(vm, [vcpu], {
 *   port: 0, // any free port: server.port
 *   wait: false,
 *   onExit: (exit) => {
 *     if (exit.reason === "io") console.log(String.fromCharCode(exit.data[0]));
 *     if (exit.reason === "hlt") return { exited: 0 };
 *   },
 * });
 * console.log(await server.done); // { reason: "exited", code: 0 }
 * ```
 *
 * @module
 */
export { type GdbOutcome, type GdbServer, type GdbServerOptions, serveGdb } from "./server.ts";
export type { GdbExitAction, GdbExitHandler } from "./target.ts";
export { probeSoftwareBreakpoints } from "./breakpoints.ts";
