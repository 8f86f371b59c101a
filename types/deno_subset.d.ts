// The part of the Deno namespace kvmkit uses, for `tsc --noEmit` (which has
// bun-types but not Deno's). `deno check` uses Deno's own declarations, so
// any drift between the two shows up there.

declare namespace Deno {
  type PointerObject = { readonly __brand: "PointerObject" };
  type PointerValue = PointerObject | null;
  type ForeignSymbol = { name?: string; parameters: readonly string[]; result: string };
  // deno-lint-ignore no-explicit-any
  function dlopen<S extends Record<string, ForeignSymbol>>(path: string, symbols: S): { symbols: any; close(): void };
  const UnsafePointerView: { getArrayBuffer(pointer: PointerObject, byteLength: number): ArrayBuffer };
  const UnsafePointer: { create(value: bigint): PointerValue };
  const permissions: {
    querySync(desc: { name: "ffi" } | { name: "read"; path?: string }): { state: "granted" | "denied" | "prompt" };
  };
  function test(
    options: { name: string; fn: () => unknown; ignore?: boolean; sanitizeResources?: boolean; sanitizeOps?: boolean },
  ): void;
  const args: string[];
  function exit(code?: number): never;
}
