/**
 * Test vectors kept as data: a text file with one case per line, read at
 * run time through node:fs (which Deno and Bun both provide). Lines starting
 * with `#` describe the file's fields; blank lines are skipped.
 *
 * @module
 */

import { readFileSync } from "node:fs";

/** The cases of the vector file at `url` (e.g. `new URL("./vectors.txt", import.meta.url)`), one per line. */
export function readVectors(url: URL): string[] {
  return readFileSync(url, "utf8").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
}
