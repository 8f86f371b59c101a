/**
 * How an instruction stops early: a guest exception (`CpuFault`, delivered
 * through the IVT/IDT), an exit to userspace that restarts the instruction
 * (`EXIT`), or an instruction the core does not implement
 * (`Unimplemented`, which becomes KVM_EXIT_INTERNAL_ERROR).
 *
 * @module
 */
import type { Exec } from "./insn.ts";

/** Exception vectors. */
export const DE = 0, DB = 1, NMI = 2, BP = 3, OFV = 4, BR = 5, UD = 6, NM = 7, DF = 8, TS = 10, NP = 11;
export const SSF = 12, GP = 13, PF = 14, MF = 16, AC = 17;

/** A guest exception raised by an instruction; `code` is -1 when the vector pushes no error code. */
export class CpuFault {
  readonly vector: number;
  readonly code: number;
  constructor(vector: number, code: number) {
    this.vector = vector;
    this.code = code;
  }
}

/** Thrown when the instruction must exit to userspace and be restarted on the next KVM_RUN. */
export const EXIT: { readonly exit: true } = { exit: true };

/** Thrown for an instruction the core does not implement. */
export class Unimplemented {
  readonly what: string;
  constructor(what: string) {
    this.what = what;
  }
}

/** Raises exception `vector` (with an error code, or -1 for none). */
export function fault(vector: number, code = -1): never {
  throw new CpuFault(vector, code);
}

/** The semantics of an invalid opcode: #UD. */
export const execUd: Exec = () => {
  throw new CpuFault(UD, -1);
};

/** The semantics of an opcode the core lacks: KVM_EXIT_INTERNAL_ERROR. */
export const execUnimplemented: Exec = (_cpu, d) => {
  const map = d.op > 0x2ff ? "0f 3a " : d.op > 0x1ff ? "0f 38 " : d.op > 0xff ? "0f " : "";
  throw new Unimplemented(`opcode ${d.vex ? "vex " : ""}${map}${(d.op & 0xff).toString(16)} /${d.reg}`);
};
