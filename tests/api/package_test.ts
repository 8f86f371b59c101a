/**
 * The packages users install: the JSR package (`deno publish --dry-run`,
 * `deno doc --lint` on every entry point, the entry points imported by path
 * from a Deno project with no config of its own) and the npm package (the
 * tarball holds only the library; installed into a scratch project outside the
 * repository it runs a guest under Bun, Node and Deno through an `npm:`
 * specifier).
 *
 * The npm package is built from a staged copy of the sources in a temporary
 * directory, so that the repository's own dist/ is never touched. Nothing here
 * needs the network except the by-path Deno import, which fetches zod from the
 * npm registry once into Deno's cache (and says so, and stops, when it cannot).
 *
 * @module
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { skip, test } from "../_support/harness.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const deno = join(root, "node_modules", ".bin", "deno");
const bun = join(root, "node_modules", ".bin", "bun");

/** Runs a command to completion with colours off; never throws for a non-zero exit. */
function run(cmd: string, args: string[], cwd: string, timeoutMs = 180_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    cwd,
    encoding: "utf8",
    timeout: timeoutMs,
    maxBuffer: 1 << 26,
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
  });
}

/** stdout and stderr together, without colours. */
function output(r: SpawnSyncReturns<string>): string {
  // deno-lint-ignore no-control-regex
  return `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? `\n${r.error.message}` : ""}`.replace(/\x1b\[[0-9;]*m/g, "");
}

/** Asserts that `r` exited 0, showing its output otherwise. */
function assertOk(r: SpawnSyncReturns<string>, what: string): void {
  assert.equal(r.status, 0, `${what} exited ${r.status}:\n${output(r).slice(-4000)}`);
}

/** Why `cmd --version` cannot run here, or undefined when it can. */
function missing(cmd: string): string | undefined {
  const r = spawnSync(cmd, ["--version"], { encoding: "utf8", timeout: 30_000 });
  return r.status === 0 ? undefined : `${cmd} is not runnable here (${r.error?.message ?? `exit ${r.status}`})`;
}

const denoJson = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as {
  name: string;
  version: string;
  exports: Record<string, string>;
};
const packageJson = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  files?: string[];
  bin?: Record<string, string>;
};

/** What `deno publish` may ship: the library's modules and the package's papers. */
function isLibraryFile(path: string): boolean {
  if (["LICENSE", "README.md", "CHANGELOG.md", "deno.json"].includes(path)) return true;
  if (/_test\.ts$/.test(path)) return false;
  return /^[a-z_]+\.ts$/.test(path) || /^(abi|ffi|emu|gdb|internal|vmm)\/[\w/]+\.ts$/.test(path);
}

test("package: deno publish --dry-run passes with no warning and ships only the library", () => {
  const r = run(deno, ["publish", "--dry-run", "--allow-dirty"], root);
  assertOk(r, "deno publish --dry-run");
  const text = output(r);
  assert.doesNotMatch(text, /warning/i, `deno publish warned:\n${text.slice(-4000)}`);
  assert.match(text, /Success Dry run complete/);
  assert.match(text, /Checking for slow types in the public API/);
  const prefix = `file://${root}`;
  const files = [...text.matchAll(/^\s+(file:\/\/\S+) \(/gm)].map((m) => decodeURI(m[1]).slice(prefix.length));
  assert.ok(files.includes("mod.ts") && files.includes("constants.ts") && files.includes("LICENSE"), files.join(" "));
  const stray = files.filter((f) => !isLibraryFile(f));
  assert.deepEqual(stray, [], `files that are not the library: ${stray.join(", ")}`);
  for (const entry of Object.values(denoJson.exports)) assert.ok(files.includes(entry.replace(/^\.\//, "")), entry);
  assert.equal(denoJson.exports["./vmm"], "./vmm/mod.ts", "the platform is an entry point");
  assert.equal(denoJson.exports["./cli"], "./vmm/cli.ts", "the command is an entry point (jsr:@kvmkit/kvmkit/cli)");
  assert.equal(denoJson.version, packageJson.version, "deno.json and package.json name the same version");
});

test("package: deno doc --lint passes on every entry point of deno.json", () => {
  const entries = Object.values(denoJson.exports);
  assert.ok(entries.length >= 2, "at least . and ./constants");
  const r = run(deno, ["doc", "--lint", ...entries], root);
  assertOk(r, `deno doc --lint ${entries.join(" ")}`);
  assert.doesNotMatch(output(r), /error|warning/i, output(r).slice(-4000));
});

let stagedDir: string | undefined;

/**
 * A copy of what the npm build reads (sources, tsconfig.build.json, the build
 * script, the package's papers) in a temporary directory, with the
 * repository's node_modules linked in for tsc and zod's types.
 */
function staged(): string {
  if (stagedDir) return stagedDir;
  const dir = mkdtempSync(join(tmpdir(), "kvmkit-pack-"));
  for (const name of readdirSync(root)) {
    if (/^[a-z_]+\.ts$/.test(name) && !name.startsWith("t_")) cpSync(join(root, name), join(dir, name));
  }
  for (const name of ["abi", "ffi", "emu", "gdb", "internal", "vmm", "bin", "types"]) {
    cpSync(join(root, name), join(dir, name), { recursive: true });
  }
  for (const name of ["package.json", "tsconfig.build.json", "LICENSE", "README.md", "CHANGELOG.md"]) {
    if (existsSync(join(root, name))) cpSync(join(root, name), join(dir, name));
  }
  mkdirSync(join(dir, "tools"));
  cpSync(join(root, "tools", "build_npm.mjs"), join(dir, "tools", "build_npm.mjs"));
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  return stagedDir = dir;
}

/** Removes the staged copy (the last test that needs it calls this). */
function removeStaged(): void {
  if (stagedDir) rmSync(stagedDir, { recursive: true, force: true });
  stagedDir = undefined;
}

interface PackReport {
  files: { path: string; size: number }[];
  entryCount: number;
  size: number;
  unpackedSize: number;
  filename: string;
}

const npmMissing = missing("npm");
if (npmMissing) {
  skip("package: npm pack lists only the library", npmMissing);
} else {
  test("package: npm pack lists only the library", () => {
    const r = run("npm", ["pack", "--dry-run", "--json"], staged());
    assertOk(r, "npm pack --dry-run");
    const [report] = JSON.parse(r.stdout) as PackReport[];
    const paths = report.files.map((f) => f.path);
    const papers = ["LICENSE", "README.md", "CHANGELOG.md", "package.json"];
    const stray = paths.filter((p) =>
      !papers.includes(p) && p !== "bin/kvmkit.mjs" && !/^dist\/[\w/]+\.(js|d\.ts)$/.test(p)
    );
    assert.deepEqual(stray, [], `files that are not the library: ${stray.join(", ")}`);
    const entries = ["mod", "constants", "gdb/mod", "vmm/mod"].flatMap((m) => [`dist/${m}.js`, `dist/${m}.d.ts`]);
    // The command (bin/kvmkit.mjs runs dist/vmm/cli.js) and the vCPU Worker's script, which no import names.
    for (const p of [...entries, "dist/vmm/cli.js", "dist/vmm/_vcpu_worker.js", "bin/kvmkit.mjs", "LICENSE"]) {
      assert.ok(paths.includes(p), `${p} is in the tarball`);
    }
    assert.ok(!paths.some((p) => /(^|\/)(tests|tools|bench|examples|diff)\//.test(p) || /_test\./.test(p)));
    assert.ok(packageJson.dependencies?.zod, "zod is a dependency, not a devDependency");
    assert.equal(packageJson.bin?.kvmkit, "bin/kvmkit.mjs", "the kvmkit command");
    console.log(`npm pack: ${report.entryCount} files, ${report.size} bytes packed, ${report.unpackedSize} unpacked`);
    if (missing(bun)) removeStaged(); // no install test follows to use it
  });
}

/** The scratch program: a real-mode guest writes "OK" to port 0xe9; a bad slot must be a RangeError (zod). */
const GUEST_PROGRAM = `
const results = [];
for (const backend of ["emu", "auto"]) {
  const kvm = Kvm.open({ backend });
  const vm = kvm.createVm();
  const mem = vm.allocateMemory(0x10000);
  mem.bytes.set([0xb0, 0x4f, 0xe6, 0xe9, 0xb0, 0x4b, 0xe6, 0xe9, 0xf4], 0x1000);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memory: mem });
  let validated = false;
  try {
    vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0x1001, memory: mem });
  } catch (e) {
    validated = e instanceof RangeError;
  }
  const vcpu = vm.createVcpu(0);
  const sregs = vcpu.getSregs();
  sregs.cs.base = 0n;
  sregs.cs.selector = 0;
  vcpu.setSregs(sregs);
  vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n, rflags: 2n });
  let out = "";
  for (let exit = vcpu.run(); exit.reason !== "hlt"; exit = vcpu.run()) {
    if (exit.reason === "io") out += String.fromCharCode(exit.data[0]);
  }
  const cap = kvm.checkExtension(KVM_CAP_USER_MEMORY);
  vm.close();
  mem.free();
  results.push({ backend: kvm.backend, fallbackReason: kvm.fallbackReason, out, cap, validated });
  kvm.close();
}
console.log("RESULT " + JSON.stringify(results));
`;

interface GuestResult {
  backend: string;
  fallbackReason?: string;
  out: string;
  cap: number;
  validated: boolean;
}

/** The results line the scratch program printed, checked: both backends ran the guest and validated. */
function checkResults(r: SpawnSyncReturns<string>, runtime: string): GuestResult[] {
  assertOk(r, runtime);
  const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
  assert.ok(line, `${runtime} printed no result:\n${output(r).slice(-4000)}`);
  const results = JSON.parse(line.slice("RESULT ".length)) as GuestResult[];
  assert.equal(results.length, 2);
  for (const res of results) {
    assert.equal(res.out, "OK", `${runtime} ${res.backend}`);
    assert.equal(res.cap, 1, `${runtime} ${res.backend}: KVM_CAP_USER_MEMORY`);
    assert.equal(res.validated, true, `${runtime} ${res.backend}: an unaligned slot is a RangeError`);
  }
  assert.equal(results[0].backend, "emu");
  console.log(
    `${runtime}: ${results.map((x) => `${x.backend}${x.fallbackReason ? ` (${x.fallbackReason})` : ""}`).join(", ")}`,
  );
  return results;
}

const bunMissing = npmMissing ?? missing(bun);
if (bunMissing) {
  skip("package: the npm tarball installed into a scratch project runs a guest", bunMissing);
} else {
  test("package: the npm tarball installed into a scratch project runs a guest on Bun, Node and Deno (npm:)", () => {
    const tarballs = mkdtempSync(join(tmpdir(), "kvmkit-tarballs-"));
    const project = mkdtempSync(join(tmpdir(), "kvmkit-scratch-"));
    try {
      installAndRun(tarballs, project);
    } finally {
      for (const dir of [tarballs, project]) rmSync(dir, { recursive: true, force: true });
      removeStaged();
    }
  });
}

/** Packs kvmkit and zod into `tarballs`, installs them into the scratch `project` with Bun, runs the guest there. */
function installAndRun(tarballs: string, project: string): void {
  const packed = run("npm", ["pack", "--json", "--pack-destination", tarballs], staged());
  assertOk(packed, "npm pack");
  const kvmkitTgz = join(tarballs, (JSON.parse(packed.stdout) as PackReport[])[0].filename);
  // zod from the repository's node_modules, packed: the install needs no network.
  const zodPacked = run(
    "npm",
    ["pack", "--json", "--pack-destination", tarballs, join(root, "node_modules", "zod")],
    root,
  );
  assertOk(zodPacked, "npm pack zod");
  const zodTgz = join(tarballs, (JSON.parse(zodPacked.stdout) as PackReport[])[0].filename);

  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({
      name: "kvmkit-scratch",
      private: true,
      type: "module",
      dependencies: { kvmkit: `file:${kvmkitTgz}` },
      overrides: { zod: `file:${zodTgz}` },
    }),
  );
  const imports = `import { Kvm } from "kvmkit";\nimport { KVM_CAP_USER_MEMORY } from "kvmkit/constants";\n`;
  writeFileSync(join(project, "main.mjs"), imports + GUEST_PROGRAM);
  const npmImports = imports.replaceAll('"kvmkit', `"npm:kvmkit@${packageJson.version}`);
  writeFileSync(join(project, "main_npm_specifier.mjs"), npmImports + GUEST_PROGRAM);
  // Deno resolves npm: specifiers from the project's node_modules (installed by Bun) instead of the registry.
  writeFileSync(join(project, "deno.json"), JSON.stringify({ nodeModulesDir: "manual" }));

  assertOk(run(bun, ["install"], project), "bun install");
  assert.ok(existsSync(join(project, "node_modules", "kvmkit", "dist", "mod.js")));
  assert.ok(!existsSync(join(project, "node_modules", "kvmkit", "mod.ts")), "no TypeScript sources in the package");

  // The .d.ts files: a TypeScript user's program type-checks against them, and a wrong call does not.
  writeFileSync(
    join(project, "check.ts"),
    `import { Kvm } from "kvmkit";\nimport { KVM_CAP_USER_MEMORY } from "kvmkit/constants";\n` +
      `using kvm = Kvm.open({ backend: "emu" });\nexport const cap: number = kvm.checkExtension(KVM_CAP_USER_MEMORY);\n` +
      `// @ts-expect-error: no such backend\nKvm.open({ backend: "qemu" });\n` +
      `import { Machine, type MachineResult } from "kvmkit/vmm";\n` +
      `export async function boot(m: Machine): Promise<MachineResult["reason"]> {\n  return (await m.run()).reason;\n}\n`,
  );
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2024", "ESNext.Disposable"],
        types: [],
        strict: true,
        noEmit: true,
        skipLibCheck: false,
      },
      files: ["check.ts"],
    }),
  );
  assertOk(
    run(join(root, "node_modules", ".bin", "tsc"), ["-p", "."], project),
    "tsc on the installed package's types",
  );

  checkResults(run(bun, ["main.mjs"], project), "Bun");
  const nodeMissing = missing("node");
  if (nodeMissing) {
    console.log(`skip: the Node half: ${nodeMissing}`);
  } else {
    const [, auto] = checkResults(run("node", ["main.mjs"], project), "Node");
    assert.equal(auto.backend, "emu", "Node has no FFI: auto falls back to the emulator");
    assert.match(auto.fallbackReason ?? "", /no FFI/);
  }
  checkResults(run(deno, ["run", "--allow-read", "--allow-ffi", "main_npm_specifier.mjs"], project), "Deno (npm:)");
  checkPlatformAndCommand(project, nodeMissing);
}

/** The platform entry point: the flat guest of vmm/mod.ts's example writes 1 to isa-debug-exit. */
const VMM_PROGRAM = `import { Machine } from "kvmkit/vmm";
const file = { name: "guest.bin", data: new Uint8Array([0xb0, 0x01, 0xe6, 0xf4]) }; // mov al, 1; out 0xf4, al
const machine = Machine.create({
  backend: "emu", memory: 16 * 2 ** 20, flat: { file, mode: "real", at: 0x7c00 }, debugExit: 0xf4,
});
try {
  const result = await machine.run();
  console.log("VMM " + result.reason + " " + result.exitCode);
} finally {
  machine.close();
}
`;

/**
 * "kvmkit/vmm" runs a guest under Bun and Node, and the package's `kvmkit`
 * command runs a flat guest (COM1 output, the CMOS memory size, the
 * isa-debug-exit status as the process's) through `npx` (Node), `bunx --bun`
 * and Deno's `npm:` specifier; a bad flag is a usage error.
 */
function checkPlatformAndCommand(project: string, nodeMissing: string | undefined): void {
  writeFileSync(join(project, "vmm.mjs"), VMM_PROGRAM);
  const runtimes: [string, string, string[]][] = [["Bun", bun, ["vmm.mjs"]]];
  if (!nodeMissing) runtimes.push(["Node", "node", ["vmm.mjs"]]);
  for (const [name, cmd, args] of runtimes) {
    const r = run(cmd, args, project, 60_000);
    assertOk(r, `${name}: kvmkit/vmm`);
    assert.match(r.stdout, /^VMM debug-exit 3$/m, `${name}: kvmkit/vmm`);
  }

  assert.ok(existsSync(join(project, "node_modules", ".bin", "kvmkit")), "the install links the kvmkit command");
  const guest = fileURLToPath(new URL("../guests/vmm_flat_real.bin", import.meta.url));
  const argv = ["run", "--backend", "emu", "--mem", "48M", "--flat", guest, "--mode", "real"];
  argv.push("--at", "0x7c00", "--debug-exit", "0xf4");
  const commands: [string, string, string[]][] = [
    ["bunx --bun kvmkit", bun, ["x", "--bun", "kvmkit"]],
    ["deno run npm:kvmkit", deno, ["run", "-A", `npm:kvmkit@${packageJson.version}`]],
  ];
  if (!nodeMissing) commands.push(["npx kvmkit", "npx", ["--no-install", "kvmkit"]]);
  else console.log(`skip: npx kvmkit: ${nodeMissing}`);
  for (const [name, cmd, prefix] of commands) {
    const r = run(cmd, [...prefix, ...argv], project, 60_000);
    assert.equal(r.stdout, "real mode: RAM MiB 0x0030\n", `${name}:\n${output(r).slice(-2000)}`);
    assert.equal(r.status, (3 << 1) | 1, `${name}: the guest's isa-debug-exit status is the process's`);
    assert.match(r.stderr, /^kvmkit: debug-exit \(isa-debug-exit 7\) after [\d.]+ s; backend emu, 1 vCPU/m, name);
    const bad = run(cmd, [...prefix, "run", "--cpus", "many"], project, 60_000);
    assert.equal(bad.status, 2, `${name} run --cpus many: ${output(bad).slice(-1000)}`);
    assert.match(bad.stderr, /--cpus: "many" is not an integer/, name);
    console.log(`${name}: the flat guest ran, exit status ${r.status}`);
  }
}

test("package: mod.ts and constants.ts import by path from a Deno project with no config of its own", () => {
  const project = mkdtempSync(join(tmpdir(), "kvmkit-bypath-"));
  const url = (name: string) => new URL(`../../${name}`, import.meta.url).href;
  writeFileSync(
    join(project, "main.ts"),
    `import { Kvm } from ${JSON.stringify(url("mod.ts"))};\n` +
      `import { KVM_CAP_USER_MEMORY } from ${JSON.stringify(url("constants.ts"))};\n` + GUEST_PROGRAM,
  );
  let r: SpawnSyncReturns<string>;
  try {
    r = run(deno, ["run", "--allow-read", "--allow-ffi", "main.ts"], project);
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
  if (r.status !== 0 && /registry\.npmjs\.org|error sending request|dns error|network/i.test(output(r))) {
    // The one network use of this file: zod from the npm registry into Deno's cache.
    console.log(`skip: by-path import: zod could not be fetched from the npm registry:\n${output(r).slice(-1000)}`);
    return;
  }
  assert.doesNotMatch(output(r), /not a dependency/);
  checkResults(r, "Deno (by path)");
});

test("package: vmm/cli.ts runs by path from a Deno project with no config (as jsr:@kvmkit/kvmkit/cli does)", () => {
  const project = mkdtempSync(join(tmpdir(), "kvmkit-clipath-"));
  const cli = new URL("../../vmm/cli.ts", import.meta.url).href;
  const guest = fileURLToPath(new URL("../guests/vmm_flat_real.bin", import.meta.url));
  let r: SpawnSyncReturns<string>;
  try {
    const argv = ["run", "--backend", "emu", "--mem", "48M", "--flat", guest, "--mode", "real", "--at", "0x7c00"];
    r = run(deno, ["run", "-A", cli, ...argv, "--debug-exit", "0xf4"], project, 120_000);
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
  if (r.status !== 0 && /registry\.npmjs\.org|error sending request|dns error|network/i.test(output(r))) {
    console.log(`skip: cli.ts by path: zod could not be fetched from the npm registry:\n${output(r).slice(-1000)}`);
    return;
  }
  assert.equal(r.stdout, "real mode: RAM MiB 0x0030\n", output(r).slice(-2000));
  assert.equal(r.status, (3 << 1) | 1);
});

const chromiumMissing = missing("chromium");
if (chromiumMissing) {
  skip("package: the browser example boots the hello guest in headless Chromium", chromiumMissing);
} else {
  test("package: the browser example boots the hello guest in headless Chromium", async () => {
    const dir = staged();
    try {
      assertOk(run("node", ["tools/build_npm.mjs"], dir), "build_npm");
      cpSync(join(root, "examples", "browser"), join(dir, "examples", "browser"), { recursive: true });
      cpSync(join(root, "examples", "hello.bin"), join(dir, "examples", "hello.bin"));
      const server = spawn("node", [join(dir, "examples", "browser", "serve.mjs"), dir, "0"], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      try {
        const url = await new Promise<string>((resolve, reject) => {
          let text = "";
          server.stdout.on("data", (chunk) => {
            text += chunk;
            const m = text.match(/listening on (\S+)/);
            if (m) resolve(m[1]);
          });
          server.on("exit", (code) => reject(new Error(`serve.mjs exited ${code}`)));
        });
        const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
          const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"];
          const c = spawn("chromium", [
            ...args,
            "--virtual-time-budget=10000",
            "--dump-dom",
            `${url}examples/browser/`,
          ]);
          let stdout = "", stderr = "";
          c.stdout.on("data", (d) => stdout += d);
          c.stderr.on("data", (d) => stderr += d);
          const timer = setTimeout(() => c.kill(), 120_000);
          c.on("close", (status) => {
            clearTimeout(timer);
            resolve({ status, stdout, stderr });
          });
        });
        assert.equal(r.status, 0, r.stderr.slice(-2000));
        assert.match(r.stdout, /data-status="halted">Hello from a kvmkit guest!/, r.stdout.slice(-2000));
        assert.match(r.stdout, /backend: <span id="backend">emu \(no FFI/);
        console.log("Chromium: the hello guest halted after writing its greeting");
      } finally {
        server.kill();
      }
    } finally {
      removeStaged();
    }
  });
}
