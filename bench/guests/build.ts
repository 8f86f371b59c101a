/**
 * Assembles the benchmark guests (bench/guests/NAME.asm -> NAME_32.bin with
 * -DBITS64=0 and NAME_64.bin with -DBITS64=1, nasm -f bin) and writes
 * manifest.json from the images and the models in workloads.ts, keeping the
 * "verified" notes of images whose bytes did not change. Without nasm the
 * committed images are kept and only the manifest is written.
 *
 * Run:
 *
 *   deno run --allow-read --allow-write --allow-run --allow-env bench/guests/build.ts
 *   bun bench/guests/build.ts
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { imagePath } from "./kvmkit_runner.ts";
import type { Manifest, ManifestMode } from "./manifest.ts";
import { MANIFEST_PATH } from "./manifest.ts";
import { BOOT_INSTRUCTIONS, checksumText, iterationInstructions, REPORT_INSTRUCTIONS, WORKLOADS } from "./workloads.ts";
import type { GuestMode, Workload } from "./workloads.ts";
import { runMain } from "../../examples/_shared.ts";

const DIR = fileURLToPath(new URL(".", import.meta.url));

/** Assembles NAME.asm for both modes; false when nasm is missing (said once). */
function assemble(name: string): boolean {
  for (const mode of [32, 64] as const) {
    const r = spawnSync("nasm", [
      "-f",
      "bin",
      `-DBITS64=${mode === 64 ? 1 : 0}`,
      "-o",
      imagePath(name, mode),
      `${name}.asm`,
    ], {
      cwd: DIR,
      encoding: "utf8",
    });
    if (r.error) {
      console.log(`nasm cannot be run (${r.error.message}): keeping the committed images`);
      return false;
    }
    if (r.status !== 0) throw new Error(`nasm ${name}.asm (${mode}-bit) failed:\n${r.stderr}`);
  }
  return true;
}

/** The manifest entry of `w` in `mode`, keeping `old` verification notes if the image is unchanged. */
function modeEntry(w: Workload, mode: GuestMode, old: ManifestMode | undefined): ManifestMode {
  const sha256 = createHash("sha256").update(readFileSync(imagePath(w.name, mode))).digest("hex");
  return {
    image: `${w.name}_${mode}.bin`,
    sha256,
    instructions: {
      fixed: BOOT_INSTRUCTIONS[mode] + REPORT_INSTRUCTIONS + w.mainFixed,
      perIteration: iterationInstructions(w, mode),
    },
    verified: old?.sha256 === sha256 ? old.verified : [],
  };
}

function main(): number {
  const old = existsSync(MANIFEST_PATH) ? JSON.parse(readFileSync(MANIFEST_PATH, "utf8")) as Manifest : undefined;
  let nasm = true;
  for (const w of WORKLOADS) if (nasm) nasm = assemble(w.name);
  const manifest: Manifest = {
    about: "Benchmark guests: 64 KiB firmware images (reset vector at 0xffff0), booted from real mode into " +
      "32-bit protected mode or 64-bit long mode with 4 KiB paging over 16 MiB; N iterations read from 0x500; " +
      "the checksum is printed as 8 hex digits on port 0xe9, then 0 is written to port 0xf4, then hlt. " +
      "See _boot.inc and workloads.ts.",
    counting: "Dynamic instructions from the reset vector's jmp to hlt, both included: fixed + perIteration * N. " +
      "A rep string instruction counts once per iteration.",
    workloads: WORKLOADS.map((w) => {
      const prev = old?.workloads.find((o) => o.name === w.name);
      return {
        name: w.name,
        description: w.description,
        source: `${w.name}.asm`,
        modes: { "32": modeEntry(w, 32, prev?.modes["32"]), "64": modeEntry(w, 64, prev?.modes["64"]) },
        checksums: Object.fromEntries([1, 2, 10, 1000].map((n) => [String(n), checksumText(w.checksum(n))])),
      };
    }),
  };
  writeFileSync(MANIFEST_PATH, JSON.stringify(manifest, null, 2) + "\n");
  console.log(`${nasm ? "assembled and " : ""}wrote ${MANIFEST_PATH} (${WORKLOADS.length} workloads)`);
  return 0;
}

runMain("build", main);
