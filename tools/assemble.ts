/**
 * Re-assembles every guest source, examples/*.asm and tests/guests/*.asm, to
 * the .bin file beside it with nasm (`nasm -f bin`, with `-i` naming the
 * source's folder for its %include files). The .bin files are
 * committed, so running the examples and tests never needs nasm; run this
 * after editing an .asm file.
 *
 * Run:
 *
 *   deno task asm
 *   deno run --allow-read --allow-write --allow-run tools/assemble.ts
 *   bun tools/assemble.ts
 *
 * When nasm is not installed it says so and exits with status 0, leaving the
 * committed .bin files as they are. It exits with status 1 when nasm rejects
 * a source.
 *
 * Programs are started with node:child_process under Bun and with
 * Deno.Command under Deno: Deno's node:child_process reads environment
 * variables (NODE_V8_COVERAGE) and so would need --allow-env, which
 * `deno task asm` does not grant.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository root: the parent of tools/. */
const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The directories whose .asm files are guests. */
const SOURCE_DIRS = ["examples", join("tests", "guests")];

/** What a finished program left behind. */
interface ProgramResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** The part of Deno's API this tool uses, typed here so that tsc under Bun needs no Deno types. */
interface DenoCommandApi {
  Command: new (
    command: string,
    options: { args: string[]; stdout: "piped"; stderr: "piped" },
  ) => {
    outputSync(): { code: number; stdout: Uint8Array; stderr: Uint8Array };
  };
}

/** Deno's API when running under Deno, else undefined. */
const deno = (globalThis as unknown as { Deno?: DenoCommandApi }).Deno;

/**
 * Runs `command` to completion and returns its status and output. Throws
 * when it cannot be started: an error named "NotFound" (Deno) or with code
 * "ENOENT" (Bun, Node) when it is not installed, "NotCapable" (Deno) without
 * --allow-run.
 */
function runProgram(command: string, args: string[]): ProgramResult {
  if (deno !== undefined) {
    const out = new deno.Command(command, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const text = new TextDecoder();
    return {
      status: out.code,
      stdout: text.decode(out.stdout),
      stderr: text.decode(out.stderr),
    };
  }
  const out = spawnSync(command, args, { encoding: "utf8" });
  if (out.error) throw out.error;
  return { status: out.status ?? 1, stdout: out.stdout, stderr: out.stderr };
}

/** The error's `code` (e.g. "ENOENT"), when it has one. */
function errorCode(e: unknown): string | undefined {
  if (typeof e === "object" && e !== null && "code" in e) {
    const code = (e as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/** The error's `name` (e.g. "NotCapable" for a Deno permission refusal). */
function errorName(e: unknown): string | undefined {
  return e instanceof Error ? e.name : undefined;
}

/** nasm's version line, or undefined (with the reason printed) when it cannot be run. */
function nasmVersion(): string | undefined {
  let result: ProgramResult;
  try {
    result = runProgram("nasm", ["-v"]);
  } catch (e) {
    if (errorCode(e) === "ENOENT" || errorName(e) === "NotFound") {
      console.log(
        "nasm is not installed: the committed .bin files are left as they " +
          "are. Install nasm (e.g. apt-get install nasm) to re-assemble.",
      );
    } else if (
      errorName(e) === "NotCapable" || errorName(e) === "PermissionDenied"
    ) {
      console.log(
        "nasm could not be started without --allow-run: run " +
          "`deno task asm` (deno run --allow-read --allow-write --allow-run " +
          "tools/assemble.ts).",
      );
    } else {
      console.log(`nasm could not be started (${String(e)}): nothing done.`);
    }
    return undefined;
  }
  if (result.status !== 0) {
    console.log(`\`nasm -v\` failed (status ${result.status}): nothing done.`);
    return undefined;
  }
  return result.stdout.trim();
}

/** Every .asm file in the source directories, as absolute paths. */
function guestSources(): string[] {
  const sources: string[] = [];
  for (const dir of SOURCE_DIRS) {
    const abs = join(ROOT, dir);
    if (!existsSync(abs)) continue;
    for (const name of readdirSync(abs).sort()) {
      if (name.endsWith(".asm")) sources.push(join(abs, name));
    }
  }
  return sources;
}

/** The bytes of `path`, or undefined when it does not exist yet. */
function readIfExists(path: string): Uint8Array | undefined {
  return existsSync(path) ? readFileSync(path) : undefined;
}

/** Whether two byte arrays hold the same bytes. */
function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length &&
    a.every((v, i) => v === b[i]);
}

function main(): number {
  const version = nasmVersion();
  if (version === undefined) return 0;
  console.log(version);
  const sources = guestSources();
  if (sources.length === 0) {
    console.log("no .asm files in examples/ or tests/guests/");
    return 0;
  }
  let failures = 0;
  for (const source of sources) {
    const output = source.slice(0, -".asm".length) + ".bin";
    const before = readIfExists(output);
    const shown = `${relative(ROOT, source)} -> ${relative(ROOT, output)}`;
    // -i: a guest's %include files (tests/guests/_console.inc) are found beside it.
    const result = runProgram("nasm", ["-f", "bin", "-i", dirname(source) + sep, "-o", output, source]);
    if (result.status !== 0) {
      process.stderr.write(result.stderr);
      console.error(`${shown}: nasm failed (status ${result.status})`);
      failures++;
      continue;
    }
    const after = readFileSync(output);
    const note = before === undefined ? "new" : sameBytes(before, after) ? "unchanged" : "changed";
    console.log(`${shown}: ${after.length} bytes (${note})`);
  }
  return failures === 0 ? 0 : 1;
}

process.exitCode = main();
