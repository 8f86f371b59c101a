/**
 * The command line of diff/cli.ts, parsed and checked.
 *
 * @module
 */
import { type Mode, MODES } from "./env.ts";
import { familiesFor } from "./generate.ts";
import { FAMILY_NAMES } from "./table.ts";

/** What the user asked for. */
export interface CliOptions {
  mode: Mode;
  cases: number;
  seed: number;
  /** Undefined: every family valid in the mode. */
  families?: string[];
  /** The backend compared with the oracle (kvm: a self-check of the harness). */
  candidate: "emu" | "kvm";
  /** The most minimised disagreements written to the corpus in this run. */
  save: number;
  /** Compare the flags the manuals leave undefined too (the host CPU's values as the reference). */
  strictFlags: boolean;
  /** The vendor personality of the emulator candidate (default: the host's). */
  vendor?: "intel" | "amd";
  /** Print every disagreement's differences, not just the first few. */
  verbose: boolean;
  help: boolean;
}

/** The usage text. */
export const USAGE = `usage: deno task diff --mode 16|32|64 --cases N --seed S [options]
       bun diff/cli.ts --mode 16|32|64 --cases N --seed S [options]

Runs N generated cases on the kvm backend (the oracle) and on the candidate,
prints agreement per instruction family, writes minimised disagreements to
tests/corpus/<mode>-<family>-<seed>-<n>.json, and exits 1 on a disagreement.

options:
  --family F[,F...]   only these families (${FAMILY_NAMES.join(", ")})
  --candidate emu|kvm the backend to check (default emu; kvm checks the harness itself)
  --save N            write at most N corpus files (default 10; 0: none)
  --strict-flags      compare the flags the manuals leave undefined too: the emulator's
                      vendor personality must reproduce what this host's CPU computes
  --vendor intel|amd  the emulator's vendor personality (default: the host's)
  --verbose           print every disagreement in full
  --help              this text`;

function int(name: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text);
  if (text === undefined || !Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`${name}: expected an integer from ${min} to ${max}, got ${text ?? "nothing"}`);
  }
  return n;
}

/** `text` if it is one of `choices`; else a RangeError naming `name` and the choices ("a, b or c"). */
function oneOf<const T extends string>(name: string, text: string | undefined, choices: readonly T[]): T {
  if (choices.includes(text as T)) return text as T;
  const list = `${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}`;
  throw new RangeError(`${name}: expected ${list}, got ${text}`);
}

/** Parses `argv` (without the runtime and script). Throws RangeError naming the bad argument. */
export function parseArgs(argv: readonly string[]): CliOptions {
  const o: CliOptions = {
    mode: "64",
    cases: 100,
    seed: 1,
    candidate: "emu",
    save: 10,
    strictFlags: false,
    verbose: false,
    help: false,
  };
  let modeGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes("=") ? argv[i].split("=", 2) : [argv[i], undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case "--mode":
        o.mode = oneOf("--mode", value(), MODES);
        modeGiven = true;
        break;
      case "--cases":
        o.cases = int("--cases", value(), 1, 100_000_000);
        break;
      case "--seed":
        o.seed = int("--seed", value(), 0, 0xffff_ffff);
        break;
      case "--family":
        o.families = value()?.split(",").filter(Boolean) ?? [];
        break;
      case "--candidate":
        o.candidate = oneOf("--candidate", value(), ["emu", "kvm"]);
        break;
      case "--save":
        o.save = int("--save", value(), 0, 1_000_000);
        break;
      case "--strict-flags":
        o.strictFlags = true;
        break;
      case "--vendor":
        o.vendor = oneOf("--vendor", value(), ["intel", "amd"]);
        break;
      case "--verbose":
        o.verbose = true;
        break;
      case "--help":
      case "-h":
        o.help = true;
        break;
      default:
        throw new RangeError(`unknown argument "${argv[i]}" (try --help)`);
    }
  }
  if (!modeGiven && !o.help) throw new RangeError("--mode is required (16, 32 or 64)");
  if (o.families) {
    const valid = familiesFor(o.mode);
    for (const f of o.families) {
      if (!FAMILY_NAMES.includes(f)) {
        throw new RangeError(`--family: unknown family "${f}" (${FAMILY_NAMES.join(", ")})`);
      }
      if (!valid.includes(f)) throw new RangeError(`--family: "${f}" has no instruction valid in mode ${o.mode}`);
    }
    if (o.families.length === 0) throw new RangeError("--family: give at least one family");
  }
  return o;
}
