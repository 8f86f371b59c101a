/**
 * The block compiler's mode, a setting of the emulated CPU: the facade's
 * `Kvm.open({ blockCompiler })`, the emulator's kernel, VM and CPU pass it
 * down without knowing the compiler (jit/), which reads it.
 *
 * @module
 */

/** How the block compiler runs: not at all, on blocks reached often (jit/cache.ts HOT), or on every block at once. */
export type BlockCompilerMode = "off" | "on" | "eager";
