/**
 * GDB remote serial protocol framing: `$payload#cs` packets with a modulo-256
 * checksum, `+`/`-` acknowledgements (until no-ack mode), `}`-escaping of
 * binary data, and the out-of-band interrupt byte 0x03. Payloads are handled
 * as "binary strings" (one char per byte, 0-255), so binary data (`X`) and
 * text share one type.
 *
 * @module
 */

/** The largest payload the stub accepts and advertises (qSupported PacketSize, in hex 0x4000). */
export const PACKET_SIZE = 0x4000;

/** What the framer found in the byte stream. */
export type FrameEvent =
  /** A packet whose checksum matched (escapes already undone). `overflow`: longer than PACKET_SIZE, payload dropped. */
  | { kind: "packet"; payload: string; overflow: boolean }
  /** A packet whose checksum did not match (or was not hex): answered with `-` in ack mode. */
  | { kind: "bad-checksum" }
  /** `+` from the client. */
  | { kind: "ack" }
  /** `-` from the client: resend the last packet. */
  | { kind: "nack" }
  /** The interrupt byte 0x03 (Ctrl-C) outside a packet. */
  | { kind: "interrupt" };

const enum State {
  Idle,
  Data,
  Escape,
  Sum1,
  Sum2,
}

/**
 * Incremental packet parser: feed it whatever the socket delivered, get
 * complete events back. Bytes outside packets other than `+`, `-` and 0x03
 * are ignored, as the protocol asks; a `$` inside a packet starts a new one
 * (the client gave up on the old one).
 */
export class PacketReader {
  #state = State.Idle;
  #chunks: string[] = [];
  #length = 0;
  #sum = 0;
  #got = 0;
  #overflow = false;
  readonly #limit: number;

  constructor(limit = PACKET_SIZE) {
    this.#limit = limit;
  }

  /** Parses `bytes` and returns the events they complete. */
  feed(bytes: Uint8Array): FrameEvent[] {
    const events: FrameEvent[] = [];
    for (const b of bytes) {
      switch (this.#state) {
        case State.Idle:
          if (b === 0x24) this.#start();
          else if (b === 0x2b) events.push({ kind: "ack" });
          else if (b === 0x2d) events.push({ kind: "nack" });
          else if (b === 0x03) events.push({ kind: "interrupt" });
          break;
        case State.Data:
        case State.Escape:
          if (b === 0x24) {
            this.#start();
            break;
          }
          if (b === 0x23 && this.#state === State.Data) {
            this.#state = State.Sum1;
            break;
          }
          this.#sum = (this.#sum + b) & 0xff;
          if (this.#state === State.Data && b === 0x7d) {
            this.#state = State.Escape;
            break;
          }
          this.#push(this.#state === State.Escape ? b ^ 0x20 : b);
          this.#state = State.Data;
          break;
        case State.Sum1:
          this.#got = hexDigit(b) << 4;
          this.#state = State.Sum2;
          break;
        case State.Sum2: {
          const got = this.#got | hexDigit(b);
          this.#state = State.Idle;
          if (got < 0 || got !== this.#sum) events.push({ kind: "bad-checksum" });
          else {events.push({
              kind: "packet",
              payload: this.#overflow ? "" : this.#chunks.join(""),
              overflow: this.#overflow,
            });}
          this.#chunks = [];
          break;
        }
      }
    }
    return events;
  }

  #start(): void {
    this.#state = State.Data;
    this.#chunks = [];
    this.#length = 0;
    this.#sum = 0;
    this.#overflow = false;
  }

  #push(b: number): void {
    if (this.#overflow) return;
    if (++this.#length > this.#limit) {
      // Past the limit nothing more is kept: a client cannot make the stub hold an unbounded packet.
      this.#overflow = true;
      this.#chunks = [];
      return;
    }
    this.#chunks.push(String.fromCharCode(b));
  }
}

/** The value of one ASCII hex digit, or a large negative number if `b` is not one. */
function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -0x1000;
}

/** Frames `payload` (a binary string) as `$…#cs`, escaping `$`, `#`, `}` and `*` (which would read as run-length). */
export function encodePacket(payload: string): Uint8Array {
  const out: number[] = [0x24];
  let sum = 0;
  for (let i = 0; i < payload.length; i++) {
    const c = payload.charCodeAt(i) & 0xff;
    if (c === 0x24 || c === 0x23 || c === 0x7d || c === 0x2a) {
      out.push(0x7d, c ^ 0x20);
      sum += 0x7d + (c ^ 0x20);
    } else {
      out.push(c);
      sum += c;
    }
  }
  out.push(0x23, HEX.charCodeAt((sum >> 4) & 0xf), HEX.charCodeAt(sum & 0xf));
  return new Uint8Array(out);
}

const HEX = "0123456789abcdef";

/** Bytes as lowercase hex pairs. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += HEX[b >> 4] + HEX[b & 0xf];
  return s;
}

/** Hex pairs as bytes, or undefined if `s` is not an even number of hex digits. */
export function fromHex(s: string): Uint8Array | undefined {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
}

/** Text (UTF-8) as hex pairs: console output and qRcmd replies. */
export function textToHex(text: string): string {
  return toHex(new TextEncoder().encode(text));
}

/** A hex number (as the protocol writes addresses, lengths and thread ids), or undefined if malformed or > 64 bits. */
export function parseHexNumber(s: string): bigint | undefined {
  if (!/^[0-9a-fA-F]{1,16}$/.test(s)) return undefined;
  return BigInt(`0x${s}`);
}

/** A binary string (one char per byte) as bytes. */
export function binaryToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** Bytes as a binary string. */
export function bytesToBinary(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x2000) s += String.fromCharCode(...bytes.subarray(i, i + 0x2000));
  return s;
}
