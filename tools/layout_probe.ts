/**
 * Asks the C compiler for the kernel's struct layouts and request numbers:
 * writes a small C program that includes <linux/kvm.h> and prints
 * `sizeof`/`offsetof` of every member the codecs declare (and the value of
 * every request macro asked for), compiles it with gcc, and runs it.
 * Used by tools/gen_layout.ts (to generate abi/_layout.ts) and by the
 * layout test (to prove it).
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Sizes and member offsets by struct name. */
export type Layout = Record<string, { size: number; offsets: Record<string, number> }>;

/** What the compiler said, or why it could not be asked. */
export type ProbeResult =
  | { ok: true; layout: Layout; requests: Record<string, number> }
  | { ok: false; reason: string };

/** The C compiler to use: $CC, else gcc. */
export function compiler(): string {
  return (typeof process !== "undefined" && process.env?.CC) || "gcc";
}

/** Compiles and runs the probe for these structs (name -> member paths) and request macros. */
export function probe(structs: Record<string, string[]>, requestNames: string[] = []): ProbeResult {
  const lines: string[] = [
    "#include <stdio.h>",
    "#include <stddef.h>",
    "#include <linux/kvm.h>",
    "int main(void) {",
  ];
  for (const [name, paths] of Object.entries(structs)) {
    lines.push(`  printf("S %s %zu\\n", "${name}", sizeof(struct ${name}));`);
    for (const p of paths) {
      lines.push(`  printf("F %s %s %zu\\n", "${name}", "${p}", offsetof(struct ${name}, ${p}));`);
    }
  }
  for (const r of requestNames) {
    lines.push(`  printf("R %s %lu\\n", "${r}", (unsigned long)(${r}));`);
  }
  lines.push("  return 0;", "}");

  const dir = mkdtempSync(join(tmpdir(), "kvmkit-layout-"));
  try {
    const src = join(dir, "probe.c");
    const exe = join(dir, "probe");
    writeFileSync(src, lines.join("\n") + "\n");
    try {
      execFileSync(compiler(), ["-o", exe, src], { stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      const err = e as { code?: string; stderr?: Uint8Array };
      if (err.code === "ENOENT") return { ok: false, reason: `no C compiler (${compiler()} not found)` };
      const msg = err.stderr ? new TextDecoder().decode(err.stderr) : String(e);
      if (/linux\/kvm\.h: No such file/.test(msg)) {
        return { ok: false, reason: "no <linux/kvm.h> (install linux-libc-dev)" };
      }
      throw new Error(`the layout probe did not compile:\n${msg}`);
    }
    const out = new TextDecoder().decode(execFileSync(exe));
    const layout: Layout = {};
    const requests: Record<string, number> = {};
    for (const line of out.trim().split("\n")) {
      const [kind, a, b, c] = line.split(" ");
      if (kind === "S") layout[a] = { size: Number(b), offsets: {} };
      else if (kind === "F") layout[a].offsets[b] = Number(c);
      else if (kind === "R") requests[a] = Number(b);
    }
    return { ok: true, layout, requests };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
