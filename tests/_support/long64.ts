/**
 * A 64-bit test bench for the long-mode siblings of the part-1 conformance
 * tests: the machine of `_long_mode.ts` (GDT, TSS with RSP0 and IST1, 4-level
 * page tables) plus reporting stubs for the 32 exception vectors, in the
 * style of `_support/sys.ts`. A stub reports an exception with four 32-bit `out`s
 * to port 0xe9 (vector, error code or 0, the low half of the pushed RIP,
 * the pushed CS) and halts at CPL 0; RSP then points at the frame's RIP, so
 * a test can read the rest of the frame (RFLAGS, RSP, SS) from memory.
 *
 * @module
 */
import type { Kvm } from "../../mod.ts";
import {
  enterLongMode,
  LM_CODE,
  LM_STACK,
  type LongMachine,
  longMachine,
  type LongModeOptions,
  setGate,
} from "./long_mode.ts";
import { hex } from "./sys.ts";

/** Where the 32 stubs live (16 bytes each), and the common report code after them. */
export const STUBS64 = 0x1000;
const REPORT64 = STUBS64 + 0x200;
// report: pop rax / out 0xe9, eax / pop rax / out 0xe9, eax / mov rax, [rsp] / out 0xe9, eax
//         mov rax, [rsp+8] / out 0xe9, eax / hlt
const REPORT64_CODE = "58 e7e9 58 e7e9 488b0424 e7e9 488b442408 e7e9 f4";
/** Vectors that push an error code. */
const HAS_CODE = new Set([8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);

/** Points IDT vectors 0-31 at reporting stubs (`push 0` when the CPU pushes no code, `push vector`, `jmp report`). */
export function installStubs(m: LongMachine): void {
  m.mem.bytes.set(hex(REPORT64_CODE), REPORT64);
  for (let n = 0; n < 32; n++) {
    const at = STUBS64 + 16 * n, stub = HAS_CODE.has(n) ? [0x90, 0x90] : [0x6a, 0x00];
    const rel = REPORT64 - (at + 9);
    m.mem.bytes.set([...stub, 0x6a, n, 0xe9, rel & 0xff, (rel >> 8) & 0xff, 0, 0], at);
    setGate(m.mem, n, BigInt(at));
  }
}

/** Options of {@linkcode bench64}. */
export interface Bench64Options extends LongModeOptions {
  /** Where the code goes and starts (default LM_CODE). */
  at?: number;
}

/**
 * A {@linkcode LongMachine} with the reporting stubs, `code` (hex) at
 * LM_CODE (or `options.at`), and the vCPU in 64-bit mode there at
 * `options.cpl` (0 by default), RSP = LM_STACK.
 */
export function bench64(kvm: Kvm, code: string, options: Bench64Options = {}): LongMachine {
  const m = longMachine(kvm);
  installStubs(m);
  const at = options.at ?? LM_CODE;
  m.mem.bytes.set(hex(code), at);
  enterLongMode(m.vcpu, BigInt(at), { rsp: BigInt(LM_STACK), ...options });
  return m;
}

/** Writes hex `code` at guest-physical `at`. */
export function put64(m: LongMachine, at: number, code: string): void {
  m.mem.bytes.set(hex(code), at);
}
