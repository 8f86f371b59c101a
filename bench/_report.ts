/**
 * What the benchmarks share in their reports: the runtime's name, the median
 * and a table with a header. (A `main` whose exception becomes one line is
 * examples/_shared.ts's `runMain`.)
 *
 * @module
 */
import process from "node:process";

/** "Deno 2.x.y" or "Bun 1.x.y": the runtime this benchmark runs under. */
export function runtimeName(): string {
  const g = globalThis as unknown as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (g.Bun !== undefined) return `Bun ${g.Bun.version}`;
  if (g.Deno !== undefined) return `Deno ${g.Deno.version.deno}`;
  return `unknown runtime (${process.version})`;
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Prints rows as a table under `header`: the first column (labels) aligned left, the others (numbers) right. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: readonly string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("-|-"));
  for (const r of rows) console.log(line(r));
}
