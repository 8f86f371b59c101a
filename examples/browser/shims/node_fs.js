// node:fs in a browser: kvmkit reads a file only under Bun (/proc/cpuinfo), never here.
export function readFileSync(path) {
  throw new Error(`no file system in a browser: ${path}`);
}
