/**
 * `serveGdb`: a GDB remote stub on a TCP port, over node:net (which Deno and
 * Bun both provide). One client at a time; a client that connects while the
 * guest runs stops it (gdb expects a stopped target when it attaches).
 *
 * @module
 */
import { createServer, type Socket } from "node:net";
import type { Vcpu, Vm } from "../mod.ts";
import { probeSoftwareBreakpoints } from "./breakpoints.ts";
import { GdbSession } from "./session.ts";
import { DebugTarget, type GdbExitHandler, type ResumeAction, type StopEvent } from "./target.ts";

/** Options of {@linkcode serveGdb}. */
export interface GdbServerOptions {
  /** TCP port. Default 1234; 0 picks a free one (see {@linkcode GdbServer.port}). */
  port?: number;
  /** Address to listen on. Default "127.0.0.1": only this machine can attach. */
  hostname?: string;
  /**
   * The VMM's handler of every exit that is not the stub's (I/O, MMIO, HLT,
   * shutdown, ...), called on the stub's thread while the guest runs.
   * Return nothing or "resume" to go on, `{ stop: signal }` to stop and tell
   * gdb, `{ exited: code }` when the guest is done. Without a handler every
   * such exit stops the guest with SIGTRAP.
   */
  onExit?: GdbExitHandler;
  /**
   * Stop before the first instruction until gdb continues (QEMU's `-S`).
   * Default true; with false the guest runs at once and a client that
   * attaches stops it.
   */
  wait?: boolean;
  /**
   * How Z0 breakpoints work: "auto" (default) probes whether the backend
   * honours KVM_GUESTDBG_USE_SW_BP and otherwise uses debug registers; true
   * forces int3, false forces debug registers.
   */
  softwareBreakpoints?: "auto" | boolean;
  /** Called each time gdb resumes the guest (continue or step), before it runs. */
  onResume?: () => void;
  /** How long a vCPU runs before the socket gets a turn, in ms. Default 20. */
  sliceMs?: number;
  /** Where the stub says what it does (listening, breakpoint fallback). Default: only the fallback, on stderr. */
  log?: (message: string) => void;
}

/** How a debugging session ended. */
export type GdbOutcome = { reason: "exited"; code: number } | { reason: "killed" } | { reason: "closed" };

/** A listening stub. */
export interface GdbServer extends AsyncDisposable {
  /** The port it listens on (useful with `port: 0`). */
  readonly port: number;
  /** The address it listens on. */
  readonly hostname: string;
  /** Whether Z0 plants int3 (true) or uses debug registers (false). */
  readonly softwareBreakpoints: boolean;
  /** Says how breakpoints are implemented here, and why. */
  readonly breakpointNote: string;
  /** The guest's run state: stopped (for gdb), running, exited or killed. */
  readonly state: "stopped" | "running" | "exited" | "killed";
  /** @internal The guest's run state and breakpoints, for tests. */
  readonly target: DebugTarget;
  /** Resolves when the guest exits (the exit handler said so), gdb kills it, or the server is closed. */
  readonly done: Promise<GdbOutcome>;
  /**
   * The VMM ends the guest itself (a timeout, its user quit): a running
   * guest stops and gdb gets the exit reply (W) with `code`; then the
   * client is disconnected and `done` resolves with `{ reason: "exited", code }`.
   */
  exit(code: number): Promise<void>;
  /** Stops the guest, disconnects the client and stops listening. */
  close(): Promise<void>;
}

/**
 * Serves the GDB remote protocol for `vcpus` of `vm` (gdb thread n is
 * `vcpus[n - 1]`). The stub runs the vCPUs itself, on this thread, in short
 * slices, so keep this thread's event loop free; the VMM handles the exits
 * through `onExit`.
 *
 * @example
 * ```ts
 * import { Kvm } from "@kvmkit/kvmkit";
 * import { serveGdb } from "@kvmkit/kvmkit/gdb";
 *
 * using kvm = Kvm.open({ backend: "emu" });
 * using vm = kvm.createVm();
 * using vcpu = vm.createVcpu(0);
 * // ... guest memory and registers ...
 * const server = await serveGdb(vm, [vcpu], { port: 0, wait: true });
 * console.log(`gdb -ex 'target remote 127.0.0.1:${server.port}'`);
 * await server.close();
 * ```
 */
export async function serveGdb(vm: Vm, vcpus: readonly Vcpu[], options: GdbServerOptions = {}): Promise<GdbServer> {
  const log = options.log ?? (() => {});
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 1234;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`options.port: ${port} is not a port`);
  let software: boolean;
  let breakpointNote: string;
  if (options.softwareBreakpoints === undefined || options.softwareBreakpoints === "auto") {
    const lacking = probeSoftwareBreakpoints(vm.kvm);
    software = lacking === undefined;
    breakpointNote = software
      ? `breakpoints: int3 (software, backend ${vm.kvm.backend})`
      : `breakpoints: debug registers, at most 4 with watchpoints (backend ${vm.kvm.backend}: ${lacking})`;
  } else {
    software = options.softwareBreakpoints;
    breakpointNote = `breakpoints: ${software ? "int3 (software)" : "debug registers"} (chosen by the VMM)`;
  }
  // Say so when breakpoints fall back to debug registers (there are only four): by default on stderr.
  if (!software) (options.log ?? console.warn)(`gdb stub: ${breakpointNote}`);
  const target = new DebugTarget(vm, vcpus, {
    onExit: options.onExit,
    onResume: options.onResume,
    sliceMs: options.sliceMs,
    softwareBreakpoints: software,
  });
  const all = vcpus.map((): ResumeAction => "c");

  let session: GdbSession | undefined;
  let socket: Socket | undefined;
  let resolveDone!: (o: GdbOutcome) => void;
  const done = new Promise<GdbOutcome>((r) => resolveDone = r);

  const server = createServer((s) => {
    if (socket || !target.alive) {
      s.destroy(); // one client at a time; none once the guest is gone
      return;
    }
    socket = s;
    s.setNoDelay(true);
    const pending: Uint8Array[] = [];
    let ready = false;
    s.on("data", (data: Uint8Array) => {
      if (ready && session) session.receive(data);
      else pending.push(data);
    });
    const drop = () => {
      if (socket !== s) return;
      socket = undefined;
      session?.close();
      session = undefined;
    };
    s.on("close", drop);
    s.on("error", drop);
    // Attaching stops a running guest first, so the client's `?` finds it stopped.
    void target.interrupt().then(() => {
      if (socket !== s) return;
      session = new GdbSession(target, (bytes) => s.write(bytes), breakpointNote);
      ready = true;
      for (const data of pending.splice(0)) session.receive(data);
    });
  });

  let listening = true;
  const stopListening = () =>
    new Promise<void>((r) => {
      if (!listening) return r();
      listening = false;
      server.close(() => r());
    });
  void target.finished.then((e: StopEvent) => {
    // Give the client its W/X reply before the connection goes.
    setTimeout(() => {
      socket?.end();
      void stopListening();
      resolveDone(e.kind === "exited" ? { reason: "exited", code: e.code } : { reason: "killed" });
    }, 50);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  log(`gdb stub: listening on ${hostname}:${bound}`);
  if (options.wait === false) void target.resume(all);

  const close = async () => {
    if (target.alive) {
      await target.interrupt();
      target.kill();
    }
    socket?.destroy();
    await stopListening();
    resolveDone({ reason: "closed" });
  };
  return {
    get state() {
      return target.state;
    },
    port: bound,
    hostname,
    softwareBreakpoints: software,
    breakpointNote,
    target,
    done,
    exit: (code: number) => target.exit(code),
    close,
    [Symbol.asyncDispose]: close,
  };
}
