/**
 * The emulator's dispatch tables: one per descriptor kind (system.ts,
 * vm.ts, vcpu_ioctls.ts), each a map from request number to handler, one
 * line per ioctl the emulator implements, as kvm_main.c's switches read. A
 * request no table holds is one the emulator does not implement.
 *
 * @module
 */
import * as R from "../abi/requests.ts";

/** Performs one ioctl on `target`: the result, or -errno. `arg` is the struct (empty for a request given by value). */
export type IoctlHandler<T> = (target: T, arg: Uint8Array, value: number) => number;

/** Request number → handler. */
export type IoctlTable<T> = ReadonlyMap<number, IoctlHandler<T>>;

/** A table from `[request, handler]` lines. */
export function ioctlTable<T>(lines: readonly (readonly [number, IoctlHandler<T>])[]): IoctlTable<T> {
  return new Map(lines);
}

/** A DataView of an ioctl's struct argument. */
export function viewOf(arg: Uint8Array): DataView {
  return new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
}

let names: Map<number, string> | undefined;

/** The kernel's name of request number `request` (e.g. "KVM_SMI"), or its number in hex. */
export function requestName(request: number): string {
  names ??= new Map(Object.entries(R).map(([name, n]) => [(n as number) >>> 0, name]));
  return names.get(request >>> 0) ?? `ioctl 0x${(request >>> 0).toString(16)}`;
}
