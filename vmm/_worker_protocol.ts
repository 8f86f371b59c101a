/**
 * The mailbox between a vCPU's Worker and the thread with the devices: one
 * SharedArrayBuffer per Worker, words first, then the I/O data.
 *
 * @module
 */

/** Word indices. STATE: 0 idle, 1 a request is posted, 2 answered. KIND: 0 port I/O, 1 MMIO. */
export const WORKER_CTL = {
  STATE: 0,
  KIND: 1,
  DIR: 2,
  PORT: 3,
  SIZE: 4,
  COUNT: 5,
  STOP: 6,
  ADDR_HI: 7,
} as const;

const WORDS_BYTES = 64;
/** A string I/O exit moves at most a page. */
const DATA_BYTES = 0x2000;

/** One Worker's mailbox. */
export class WorkerCtl {
  readonly buffer: SharedArrayBuffer;
  readonly words: Int32Array;
  readonly data: Uint8Array;

  constructor(buffer = new SharedArrayBuffer(WORDS_BYTES + DATA_BYTES)) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer, 0, WORDS_BYTES / 4);
    this.data = new Uint8Array(buffer, WORDS_BYTES);
  }
}
