/**
 * The regression corpus format: one JSON file per minimised case, holding
 * the case and the outcome the oracle (kvm) gave when it was recorded. Big
 * integers are hex strings; memory is stored as the runs of bytes that differ
 * from the case's initial image, which the data-area seed regenerates.
 *
 * @module
 */
import type { Case, Insn } from "./case.ts";
import type { Difference } from "./compare.ts";
import type { Env } from "./env.ts";
import { DATA_SIZE, RING0_STACK_WATCH } from "./layout.ts";
import type { ExitRecord, Outcome, SegState } from "./outcome.ts";
import { SEGS } from "./outcome.ts";
import { fillData } from "./runner.ts";

/** The format tag every corpus file carries. */
export const CORPUS_FORMAT = "kvmkit-diff-case/1";

/** A corpus file, as JSON. */
export interface CorpusEntry {
  format: string;
  /** The case: see {@linkcode caseToJson}. */
  case: CaseJson;
  /** The oracle's outcome when the case was recorded. */
  expected: OutcomeJson;
  /** The backend that recorded `expected` (always "kvm"). */
  recordedOn: string;
  /** The flags masked when it was recorded, and why. */
  masked: string[];
  /** rflags bits the oracle was known to get wrong for this case (hex), and why: masked on replay too. */
  extra?: { rflags: string; why: string }[];
  /**
   * The vendor of the CPU that recorded it (absent: "amd", the host of the first entries). The emulator
   * replays it with that personality: some defined behaviour differs between vendors too.
   */
  vendor?: "intel" | "amd";
  /** Recorded with the undefined flags compared too: replayed so on the emulator, and on a kvm host of `vendor`. */
  strictFlags?: boolean;
  /** Set while the candidate still disagrees: which candidate, and the differences it showed. */
  open?: { candidate: string; differences: Difference[] };
}

/** A case as JSON. */
export interface CaseJson {
  env: Env;
  family: string;
  seed: number;
  index: number;
  regs: string[];
  rflags: string;
  memory: number;
  groups: InsnJson[][];
}

/** An instruction as JSON (bytes as a hex string). */
export type InsnJson = Omit<Insn, "bytes"> & { bytes: string };

/** An outcome as JSON. */
export interface OutcomeJson {
  exits: ExitRecord[];
  regs: string[];
  segs: Record<string, { selector: number; base: string; limit: number; attrs: number }>;
  cr2: string;
  /** [offset into the compared memory, hex bytes] runs that differ from the initial image. */
  memory: [number, string][];
}

const hex = (v: bigint) => `0x${v.toString(16)}`;
const bytesHex = (b: ArrayLike<number>) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const hexBytes = (s: string) => Array.from({ length: s.length / 2 }, (_, i) => parseInt(s.slice(2 * i, 2 * i + 2), 16));

/** The compared memory image of `c` before it runs: its data area, then the (zeroed) ring-0 stack watch. */
export function initialMemory(c: Case): Uint8Array {
  const m = new Uint8Array(DATA_SIZE + RING0_STACK_WATCH);
  fillData(m.subarray(0, DATA_SIZE), c.memory);
  return m;
}

/** `c` as JSON. */
export function caseToJson(c: Case): CaseJson {
  return {
    env: c.env,
    family: c.family,
    seed: c.seed,
    index: c.index,
    regs: c.regs.map(hex),
    rflags: hex(c.rflags),
    memory: c.memory,
    groups: c.groups.map((g) => g.insns.map((i) => ({ ...i, bytes: bytesHex(i.bytes) }))),
  };
}

/** A case from JSON. */
export function caseFromJson(j: CaseJson): Case {
  return {
    env: j.env,
    family: j.family,
    seed: j.seed,
    index: j.index,
    regs: j.regs.map((r) => BigInt(r)),
    rflags: BigInt(j.rflags),
    memory: j.memory,
    groups: j.groups.map((g) => ({ insns: g.map((i) => ({ ...i, bytes: hexBytes(i.bytes) })) })),
  };
}

/** `o` (an outcome of `c`) as JSON. */
export function outcomeToJson(c: Case, o: Outcome): OutcomeJson {
  const init = initialMemory(c);
  const memory: [number, string][] = [];
  for (let i = 0; i < o.memory.length; i++) {
    if (o.memory[i] === init[i]) continue;
    let j = i;
    while (j + 1 < o.memory.length && o.memory[j + 1] !== init[j + 1]) j++;
    memory.push([i, bytesHex(o.memory.subarray(i, j + 1))]);
    i = j;
  }
  const segs = Object.fromEntries(SEGS.map((s) => [s, { ...o.segs[s], base: hex(o.segs[s].base) }]));
  return { exits: o.exits, regs: o.regs.map(hex), segs, cr2: hex(o.cr2), memory };
}

/** An outcome of `c` from JSON. */
export function outcomeFromJson(c: Case, j: OutcomeJson): Outcome {
  const memory = initialMemory(c);
  for (const [at, bytes] of j.memory) memory.set(hexBytes(bytes), at);
  const segs = Object.fromEntries(
    SEGS.map((s) => [s, { ...j.segs[s], base: BigInt(j.segs[s].base) } satisfies SegState]),
  ) as Outcome["segs"];
  return { exits: j.exits, regs: j.regs.map((r) => BigInt(r)), segs, cr2: BigInt(j.cr2), memory };
}

/** The file name of a corpus entry: <mode>-<family>-<seed>-<index>.json. */
export function corpusName(c: Case): string {
  return `${c.env.mode}-${c.family}-${c.seed}-${c.index}.json`;
}

/** Parses a corpus file's text, checking its format tag. */
export function parseEntry(text: string, name: string): CorpusEntry {
  const e = JSON.parse(text) as CorpusEntry;
  if (e.format !== CORPUS_FORMAT) throw new Error(`${name}: format "${e.format}", expected "${CORPUS_FORMAT}"`);
  return e;
}
