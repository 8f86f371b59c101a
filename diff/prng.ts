/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32)
 * written with 32-bit integer arithmetic only, so that a seed gives the same
 * stream on every JavaScript engine: Deno's V8 and Bun's JavaScriptCore.
 *
 * @module
 */

/** splitmix32: spreads a 32-bit value over all bits; used to derive seeds. */
export function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * The sfc32 generator itself, from its first three state words (the counter starts at 1), warmed up by
 * twelve rounds. Prng seeds it through mix32; other generators (the SSE and x87 differential tests') seed it
 * their own way.
 */
export class Sfc32 {
  #a: number;
  #b: number;
  #c: number;
  #d = 1;

  constructor(a: number, b: number, c: number) {
    this.#a = a;
    this.#b = b;
    this.#c = c;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** The next 32 random bits, as an unsigned number. */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }
}

/**
 * A deterministic random stream. `new Prng(seed, stream)` gives independent
 * streams for the same seed (e.g. one per case index).
 *
 * @example
 * ```ts
 * const r = new Prng(1, 7);
 * const n = r.below(10); // 0..9, the same on Deno and Bun
 * ```
 */
export class Prng extends Sfc32 {
  constructor(seed: number, stream = 0) {
    const a = mix32(seed >>> 0), b = mix32(a ^ (stream >>> 0));
    super(a, b, mix32(b ^ 0x6a09e667));
  }

  /** A uniform integer in [0, n) for 0 < n <= 2^32 (rejection sampling: no bias). */
  below(n: number): number {
    if (n <= 1) return 0;
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    for (;;) {
      const x = this.u32();
      if (x < limit) return x % n;
    }
  }

  /** A uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  /** True with probability `num`/`den`. */
  chance(num: number, den: number): boolean {
    return this.below(den) < num;
  }

  /** One element of `items`, uniformly. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  /** One element of `items` with integer weights. */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of items) total += w;
    let x = this.below(total);
    for (const [item, w] of items) {
      if (x < w) return item;
      x -= w;
    }
    return items[items.length - 1][0];
  }

  /** `bits` random bits (1..64) as a bigint. */
  bits(bits: number): bigint {
    const hi = BigInt(this.u32());
    const lo = BigInt(this.u32());
    return BigInt.asUintN(bits, (hi << 32n) | lo);
  }

  /**
   * An "interesting" value of `bits` bits: mostly uniform, sometimes a
   * boundary (0, 1, all ones, the sign bit and its neighbours) or a small number.
   */
  value(bits: number): bigint {
    const k = this.below(16);
    const size = BigInt(bits);
    if (k === 0) return 0n;
    if (k === 1) return BigInt.asUintN(bits, -1n);
    if (k === 2) return 1n << (size - 1n);
    if (k === 3) return (1n << (size - 1n)) - 1n;
    if (k === 4) return BigInt(this.below(16));
    if (k === 5) return BigInt.asUintN(bits, -BigInt(this.range(1, 16)));
    return this.bits(bits);
  }

  /** Fills `out` with random bytes. */
  fill(out: Uint8Array): void {
    const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
    let i = 0;
    for (; i + 4 <= out.length; i += 4) v.setUint32(i, this.u32(), true);
    for (; i < out.length; i++) out[i] = this.u32() & 0xff;
  }
}
