// Bun's declarations for `tsc --noEmit`. Named here rather than in
// tsconfig.json's "types", which Deno also reads: `deno doc` would try to
// resolve bun-types' own `bun:*` imports and warn about each of them.
/// <reference types="bun-types" />
