/**
 * One gdb connection: bytes in, framing, acknowledgements, dispatch to the
 * handlers, replies out, and the stop reply when a resumed guest stops.
 * Transport-free (the server gives it a `write` function), so tests can
 * drive it byte by byte.
 *
 * @module
 */
import { dispatch, type SessionContext, stopReply } from "./handlers.ts";
import { encodePacket, PacketReader } from "./packet.ts";
import { type Arch, archOf } from "./registers.ts";
import type { DebugTarget, ResumeAction } from "./target.ts";

const ACK = new Uint8Array([0x2b]);
const NACK = new Uint8Array([0x2d]);

/** A gdb session over a {@linkcode DebugTarget}. */
export class GdbSession implements SessionContext {
  readonly target: DebugTarget;
  arch: Arch;
  gThread = 1;
  cThread = -1;
  noAckRequested = false;
  readonly gdbFeatures = new Set<string>();
  readonly breakpointNote: string;
  /** What the session ended with: "detach", "kill", or undefined while it lasts. */
  ended: "detach" | "kill" | undefined;
  readonly #write: (bytes: Uint8Array) => void;
  readonly #reader = new PacketReader();
  #noAck = false;
  #last: Uint8Array = encodePacket("");
  #closed = false;
  /** Whether a stop reply is owed (a resume is in progress). */
  #awaitingStop = false;

  constructor(target: DebugTarget, write: (bytes: Uint8Array) => void, breakpointNote: string) {
    this.target = target;
    this.#write = write;
    this.breakpointNote = breakpointNote;
    this.arch = archOf(target.vcpus[0]);
  }

  /** Bytes from the client. */
  receive(bytes: Uint8Array): void {
    for (const event of this.#reader.feed(bytes)) {
      if (this.#closed) return;
      switch (event.kind) {
        case "interrupt":
          if (this.#awaitingStop) void this.target.interrupt();
          break;
        case "nack":
          if (!this.#noAck) this.#write(this.#last);
          break;
        case "bad-checksum":
          if (!this.#noAck) this.#write(NACK);
          break;
        case "packet": {
          if (!this.#noAck) this.#write(ACK);
          const reply = event.overflow ? "E01" : dispatch(this, event.payload);
          if (reply !== undefined) this.#send(reply);
          if (this.noAckRequested) this.#noAck = true; // from the packet after QStartNoAckMode's OK
          break;
        }
        case "ack":
          break;
      }
    }
  }

  #send(payload: string): void {
    if (this.#closed) return;
    this.#last = encodePacket(payload);
    this.#write(this.#last);
  }

  resume(actions: readonly ResumeAction[]): void {
    this.#awaitingStop = true;
    void this.target.resume(actions).then((event) => {
      if (!this.#awaitingStop || this.#closed) return;
      this.#awaitingStop = false;
      if (event.kind === "stopped") this.gThread = event.thread;
      this.#send(stopReply(this, event));
    });
  }

  detach(): void {
    this.ended = "detach";
    this.target.breakpoints.clear();
    // gdb's D resumes the guest; it then runs on, its exits going to the VMM, until it exits or a client attaches.
    queueMicrotask(() => void this.target.resume(this.target.vcpus.map(() => "c")));
  }

  kill(): void {
    this.ended = "kill";
    this.target.kill();
  }

  /**
   * The client went away. Detached or killed: nothing more to do. Otherwise,
   * as gdb's `disconnect` says, the guest is not resumed: a stopped guest
   * stays stopped, waiting for the next client; a running one runs on. The
   * breakpoints go either way (a new client starts with none).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#awaitingStop = false;
    if (this.ended) return;
    this.target.breakpoints.clear();
    if (this.target.state === "running") {
      const all = this.target.vcpus.map((): ResumeAction => "c");
      void this.target.interrupt().then(() => this.target.resume(all));
    }
  }
}
