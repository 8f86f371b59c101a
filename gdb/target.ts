/**
 * Run control for the GDB stub: the vCPUs run on the stub's thread in short
 * slices (`run({ timeoutMs })`), yielding to the event loop between slices
 * so that the socket is served and Ctrl-C is heard while the guest runs.
 * Debug exits become stop events; every other exit goes to the VMM's
 * `onExit`, which handles it (I/O, MMIO, HLT) and says whether the guest
 * goes on, stops, or has finished.
 *
 * @module
 */
import { KvmError, type Vcpu, type VcpuExit, type Vm } from "../mod.ts";
import { Breakpoints, type DebugStop } from "./breakpoints.ts";
import { GuestMemoryAccess } from "./memory.ts";
import { yieldMacrotask } from "../internal/yield.ts";

/** What the VMM's exit handler decides: keep running, stop (reporting a signal to gdb), or the guest has exited. */
export type GdbExitAction = "resume" | { stop: number } | { exited: number };

/** The VMM's handler of the exits that are not the stub's own (I/O, MMIO, HLT, shutdown, ...). */
export type GdbExitHandler = (exit: VcpuExit, vcpu: Vcpu) => GdbExitAction | void;

/** Why the guest is not running. `thread` is the 1-based gdb thread id (vCPU index + 1). */
export type StopEvent =
  | { kind: "stopped"; thread: number; signal: number; debug?: DebugStop }
  | { kind: "exited"; code: number }
  | { kind: "killed" };

/** What one vCPU does when the guest resumes: continue, single-step, or stay stopped. */
export type ResumeAction = "c" | "s" | undefined;

/** Signals as gdb numbers them. */
export const SIGINT = 2, SIGILL = 4, SIGTRAP = 5, SIGSEGV = 11;

/** Exits after which the vCPU cannot go on. */
const FATAL = new Set<VcpuExit["reason"]>(["shutdown", "fail_entry", "internal_error", "unknown"]);

/**
 * One slice of KVM_RUN. An AP that an INIT/SIPI has just taken out of
 * wait-for-SIPI answers EAGAIN (the kernel's vcpu_run does): undefined, and
 * the next slice runs it.
 */
function runSlice(vcpu: Vcpu, timeoutMs: number): VcpuExit | undefined {
  try {
    return vcpu.run({ timeoutMs });
  } catch (e) {
    if (e instanceof KvmError && e.code === "EAGAIN") return undefined;
    throw e;
  }
}

/** Options of {@linkcode DebugTarget}. */
export interface DebugTargetOptions {
  onExit?: GdbExitHandler;
  /** How long one vCPU runs before the event loop gets a turn. Default 20 ms. */
  sliceMs?: number;
  /** Whether Z0 plants int3 (the backend honours KVM_GUESTDBG_USE_SW_BP) or uses debug registers. */
  softwareBreakpoints: boolean;
  /** Called each time gdb resumes the guest (continue or step), before it runs. */
  onResume?: () => void;
}

/** The guest under debug: its vCPUs, memory, breakpoints and run state. */
export class DebugTarget {
  readonly vm: Vm;
  readonly vcpus: readonly Vcpu[];
  readonly memory: GuestMemoryAccess;
  readonly breakpoints: Breakpoints;
  readonly #onExit?: GdbExitHandler;
  readonly #onResume?: () => void;
  readonly #sliceMs: number;
  /** "running" while a resume is in progress. */
  state: "stopped" | "running" | "exited" | "killed" = "stopped";
  /** The last stop, for `?`. */
  lastStop: StopEvent = { kind: "stopped", thread: 1, signal: SIGTRAP };
  #interrupted = false;
  /** The exit code the VMM ended the guest with while it ran (see {@linkcode DebugTarget.exit}). */
  #exitCode?: number;
  #loop?: Promise<StopEvent>;
  /** The guest-debug settings last applied to each vCPU, as JSON, to skip unchanged ioctls. */
  readonly #applied = new Map<Vcpu, string>();
  /** vCPUs whose last step ended in drain(), with the pc it ended on. */
  readonly #drainedStep = new Map<Vcpu, bigint>();
  /** Resolves when the guest has exited or been killed. */
  readonly finished: Promise<StopEvent>;
  #finish!: (e: StopEvent) => void;

  constructor(vm: Vm, vcpus: readonly Vcpu[], options: DebugTargetOptions) {
    if (vcpus.length === 0) throw new RangeError("vcpus: at least one vCPU is needed");
    this.vm = vm;
    this.vcpus = vcpus;
    this.memory = new GuestMemoryAccess(vm);
    this.breakpoints = new Breakpoints(this.memory, options.softwareBreakpoints);
    this.#onExit = options.onExit;
    this.#onResume = options.onResume;
    this.#sliceMs = options.sliceMs ?? 20;
    this.finished = new Promise((resolve) => this.#finish = resolve);
  }

  /** Whether the guest can still run (it has neither exited nor been killed). */
  get alive(): boolean {
    return this.state === "stopped" || this.state === "running";
  }

  /**
   * Resumes the vCPUs with their actions (index = vCPU); those without one
   * stay stopped. Resolves at the first stop: a debug exit, an interrupt, or
   * what the exit handler decided. While a resume runs, another returns it.
   */
  resume(actions: readonly ResumeAction[]): Promise<StopEvent> {
    if (this.#loop) return this.#loop;
    if (!this.alive) return Promise.resolve(this.lastStop);
    this.#interrupted = false;
    this.state = "running";
    this.#onResume?.();
    const loop = this.#run(actions).catch((e): StopEvent => {
      // A vCPU that cannot run any more (closed under us): the guest is gone.
      console.error(`gdb stub: ${e instanceof Error ? e.message : String(e)}`);
      return { kind: "exited", code: 255 };
    }).then((event) => {
      this.#loop = undefined;
      this.lastStop = event;
      this.state = event.kind === "stopped" ? "stopped" : event.kind === "exited" ? "exited" : "killed";
      if (event.kind !== "stopped") this.#finish(event);
      return event;
    });
    this.#loop = loop;
    return loop;
  }

  /** Ctrl-C: stops a running guest (kicking the vCPUs) and resolves with the stop; a stopped one stays so. */
  interrupt(): Promise<StopEvent> {
    if (!this.#loop) return Promise.resolve(this.lastStop);
    this.#interrupted = true;
    for (const v of this.vcpus) v.kick();
    return this.#loop;
  }

  /** `k`: the guest will not run again. */
  kill(): void {
    this.#interrupted = true;
    if (!this.alive) return;
    this.state = "killed";
    this.lastStop = { kind: "killed" };
    this.#finish(this.lastStop);
  }

  /**
   * The VMM ends the guest from outside its exits (a timeout, the user
   * quit): a running guest is stopped and its resume ends with `exited`
   * (gdb gets W with `code`); a stopped one is finished at once.
   */
  async exit(code: number): Promise<void> {
    if (!this.alive) return;
    if (this.#loop) {
      this.#exitCode = code;
      await this.interrupt();
    }
    if (!this.alive) return; // the resume ended with the exit
    this.state = "exited";
    this.lastStop = { kind: "exited", code };
    this.#finish(this.lastStop);
  }

  /** Applies the breakpoints (and single-step for `step`) to `vcpu` if they changed. */
  applyDebug(vcpu: Vcpu, step: boolean): void {
    const debug = this.breakpoints.guestDebug(step);
    const key = JSON.stringify(debug, (_, v) => typeof v === "bigint" ? v.toString() : v);
    if (this.#applied.get(vcpu) === key) return;
    vcpu.setGuestDebug(debug);
    this.#applied.set(vcpu, key);
  }

  async #run(actions: readonly ResumeAction[]): Promise<StopEvent> {
    const running = this.vcpus.flatMap((_, i) => actions[i] ? [i] : []);
    for (const i of running) this.applyDebug(this.vcpus[i], actions[i] === "s");
    let last = running[0] ?? 0;
    for (;;) {
      for (const i of running) {
        if (this.#interrupted) break;
        if (!this.alive) return this.lastStop;
        last = i;
        const vcpu = this.vcpus[i];
        const exit = runSlice(vcpu, this.#sliceMs);
        if (exit === undefined || this.#isStaleStep(vcpu, exit)) continue;
        const event = this.#handle(i, vcpu, exit, actions[i] === "s");
        if (event) return event;
      }
      if (!this.alive) return this.lastStop;
      if (this.#exitCode !== undefined) return { kind: "exited", code: this.#exitCode };
      if (this.#interrupted || running.length === 0) return { kind: "stopped", thread: last + 1, signal: SIGINT };
      await yieldMacrotask();
    }
  }

  #handle(i: number, vcpu: Vcpu, exit: VcpuExit, step: boolean): StopEvent | undefined {
    const thread = i + 1;
    if (exit.reason === "intr") return undefined; // the slice is over (or a kick: checked by the loop)
    if (exit.reason === "debug") {
      return { kind: "stopped", thread, signal: SIGTRAP, debug: this.breakpoints.classify(exit, step) };
    }
    const action = this.#onExit?.(exit, vcpu);
    if (typeof action === "object" && "exited" in action) return { kind: "exited", code: action.exited };
    if (typeof action === "object" && "stop" in action) return { kind: "stopped", thread, signal: action.stop };
    if (FATAL.has(exit.reason)) {
      return { kind: "stopped", thread, signal: exit.reason === "shutdown" ? SIGSEGV : SIGILL };
    }
    if (!this.#onExit) return { kind: "stopped", thread, signal: SIGTRAP }; // nobody handles it: show it to gdb
    if (step && (exit.reason === "io" || exit.reason === "mmio")) return this.#completeStep(thread, vcpu);
    return undefined;
  }

  /**
   * A step whose instruction exited for I/O or MMIO: completes the
   * instruction without running further (KVM_RUN with immediate_exit) and
   * ends the step there. Letting the next run finish it instead is not
   * reliable: some hosts' KVM drop the single-step trap of an instruction
   * completed after an I/O exit, and step one instruction too far.
   */
  #completeStep(thread: number, vcpu: Vcpu): StopEvent | undefined {
    // A string instruction may exit again as it completes (bounded: a stuck device cannot hang the stub).
    for (let i = 0; i < 4096; i++) {
      const exit = vcpu.drain();
      if (exit === undefined || (exit.reason !== "io" && exit.reason !== "mmio")) break;
      const action = this.#onExit?.(exit, vcpu);
      if (typeof action === "object" && "exited" in action) return { kind: "exited", code: action.exited };
      if (typeof action === "object" && "stop" in action) return { kind: "stopped", thread, signal: action.stop };
    }
    const pc = vcpu.getRegs().rip + vcpu.getSregs().cs.base;
    this.#drainedStep.set(vcpu, BigInt.asUintN(64, pc));
    return { kind: "stopped", thread, signal: SIGTRAP, debug: { kind: "step" } };
  }

  /**
   * Whether `exit` is the single-step trap of an instruction the stub
   * already completed with drain(): a backend that had queued it (the
   * emulator) reports it at the next run, at the pc the step ended on.
   */
  #isStaleStep(vcpu: Vcpu, exit: VcpuExit): boolean {
    const pc = this.#drainedStep.get(vcpu);
    if (pc === undefined || exit.reason === "intr") return false;
    this.#drainedStep.delete(vcpu);
    return exit.reason === "debug" && exit.exception === 1 && exit.pc === pc && (exit.dr6 & (1n << 14n)) !== 0n;
  }
}
