/**
 * The suite's thin shim over the two test runners: `Deno.test` under Deno,
 * `bun:test` under Bun. Assertions come from node:assert/strict, which both
 * runtimes provide. Conformance tests go through {@linkcode backendTest} so
 * that one test body runs on every backend; where a backend cannot run here
 * the test is skipped and the reason printed.
 *
 * @module
 */
import { Kvm } from "../../mod.ts";
import type { BackendName } from "../../mod.ts";

type Body = () => void | Promise<void>;

interface Runner {
  test(name: string, fn: Body, options: TestOptions): void;
  skip(name: string): void;
}

/** How a test runs besides its body. */
export interface TestOptions {
  /** Bun only (Deno has no per-test limit): replaces the default 120 s. */
  timeoutMs?: number;
  /**
   * Why Deno's op and resource sanitizers are off for this test (a Worker, a child process or a timer that outlives
   * the body by design). Without it they are on: a test leaves no timer, promise or descriptor behind.
   */
  unsanitized?: string;
}

declare const Bun: unknown;

function pickRunner(): Runner {
  if (typeof Bun !== "undefined") {
    // Bun's import.meta.require: no import names "bun:test", so neither Deno's
    // type checker nor `deno publish` tries to resolve it.
    const bunRequire = (import.meta as unknown as { require: (specifier: string) => unknown }).require;
    const bt = bunRequire("bun:test") as {
      test: ((name: string, fn: Body, timeout?: number) => void) & { skip(name: string, fn: Body): void };
    };
    return {
      test: (name, fn, options) => bt.test(name, fn, options.timeoutMs ?? 120_000),
      skip: (name) => bt.test.skip(name, () => {}),
    };
  }
  return {
    test: (name, fn, options) => {
      const sanitize = options.unsanitized === undefined;
      Deno.test({ name, fn, sanitizeResources: sanitize, sanitizeOps: sanitize });
    },
    skip: (name) => Deno.test({ name, ignore: true, fn: () => {} }),
  };
}

const runner = pickRunner();

// libc is bound once per thread and stays loaded for the process's life (ffi/bind.ts); the emulator uses it too (the
// host's vendor). Bind it before any test, so that Deno's sanitizer does not charge the first test that opens a
// backend with a library it did not unload.
try {
  Kvm.open({ backend: "emu" }).close();
} catch {
  // No FFI permission here: nothing is loaded, so nothing to charge.
}

/** Registers a test; a number is {@linkcode TestOptions.timeoutMs}. */
export function test(name: string, fn: Body, options: number | TestOptions = {}): void {
  runner.test(name, fn, typeof options === "number" ? { timeoutMs: options } : options);
}

/** Registers a skipped test and prints why it was skipped. */
export function skip(name: string, reason: string): void {
  console.log(`skip: ${name}: ${reason}`);
  runner.skip(`${name} (skipped: ${reason})`);
}

/** Why a backend cannot run here, or undefined when it can. Probed once. */
const unavailable = new Map<BackendName, string | undefined>();

/** Why `backend` cannot run on this machine, or undefined when it can. */
export function backendUnavailable(backend: BackendName): string | undefined {
  if (!unavailable.has(backend)) {
    let reason: string | undefined;
    try {
      Kvm.open({ backend }).close();
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    }
    unavailable.set(backend, reason);
  }
  return unavailable.get(backend);
}

/** The backends every conformance test runs on. */
export const BACKENDS: readonly BackendName[] = ["kvm", "emu"];

/**
 * Registers `fn` once per backend as "`name` [backend]", with a fresh `Kvm`
 * that is closed afterwards. A backend that cannot run here is skipped with
 * its reason; `options.only` restricts the test to some backends, and
 * `options.vendor` fixes the emulator's personality (for expectations
 * recorded on one vendor's CPU; the default follows the host, which a
 * machine without /dev/kvm may not know).
 */
export function backendTest(
  name: string,
  fn: (kvm: Kvm, backend: BackendName) => void | Promise<void>,
  options: { only?: readonly BackendName[]; vendor?: "intel" | "amd" } & TestOptions = {},
): void {
  for (const backend of options.only ?? BACKENDS) {
    const full = `${name} [${backend}]`;
    const why = backendUnavailable(backend);
    if (why !== undefined) {
      skip(full, why);
      continue;
    }
    test(full, async () => {
      using kvm = Kvm.open(backend === "emu" && options.vendor ? { backend, vendor: options.vendor } : { backend });
      await fn(kvm, backend);
    }, options);
  }
}
