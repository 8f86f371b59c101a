#!/usr/bin/env node
// Builds the npm package's contents into dist/: ES modules and .d.ts files
// compiled by tsc from the TypeScript sources (which stay the source of
// truth), for Node, Bun and Deno's npm: specifiers. Run by `npm pack` and
// `npm publish` (the prepack script). bin/kvmkit.mjs, the `kvmkit` command,
// runs dist/vmm/cli.js.
//
// tsc rewrites relative `.ts` imports to `.js` in the JavaScript it emits
// (rewriteRelativeImportExtensions) but leaves them as `.ts` in declaration
// files, which the .js next to them must satisfy instead: rewritten here.
// Dependencies are imported as `npm:name@range` (so that Deno needs no import
// map); the package names them plainly, as package.json's dependencies.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");

rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json"], {
  cwd: root,
  // tsc's diagnostics go to stderr: `npm pack --json` prints the pack report on stdout.
  stdio: ["ignore", 2, 2],
});
if (tsc.error) throw tsc.error;
if (tsc.status !== 0) {
  console.error("build_npm: tsc failed");
  process.exit(tsc.status ?? 1);
}

/** Every file under `dir`, recursively. */
function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]
  );
}

let files = 0;
for (const file of walk(dist)) {
  files++;
  if (!file.endsWith(".js") && !file.endsWith(".d.ts")) continue;
  const text = readFileSync(file, "utf8");
  let fixed = text.replace(
    /(from\s+|import\()(["'])npm:((?:@[^/"'@]+\/)?[^/"'@]+)@[^/"']*(\/[^"']*)?\2/g,
    "$1$2$3$4$2",
  );
  if (file.endsWith(".d.ts")) {
    fixed = fixed.replace(/(from\s+|import\()(["'])(\.{1,2}\/[^"']*)\.ts\2/g, "$1$2$3.js$2");
  } else {
    // Worker scripts are named by URL (`new Worker(new URL("./x.ts", import.meta.url))`), which tsc leaves alone.
    fixed = fixed.replace(/(new URL\(\s*)(["'])(\.{1,2}\/[^"']*)\.ts\2(\s*,\s*import\.meta\.url)/g, "$1$2$3.js$2$4");
  }
  if (/new URL\(\s*["']\.{1,2}\/[^"']*\.ts["']/.test(fixed)) {
    throw new Error(`build_npm: ${file}: a URL names a .ts file`);
  }
  if (fixed.includes('"npm:') || fixed.includes("'npm:")) {
    throw new Error(`build_npm: ${file}: an npm: specifier is left`);
  }
  if (fixed !== text) writeFileSync(file, fixed);
}
console.error(`build_npm: ${files} files in dist/`);
